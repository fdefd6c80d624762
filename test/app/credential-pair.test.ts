import { GetParameterCommand, LabelParameterVersionCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { parameterName } from "../../app/src/contract";
import { accessKeyPairLabel, pinPairedSecret } from "../../app/src/credential-pair";
import { countCommands, ssmClient, uniqueRoot } from "../support/app-fixtures";

// Key-shaped test values assembled at run time.
const ID_A = ["AKIA", "PAIRTEST", "AAAA0001"].join("");
const ID_B = ["AKIA", "PAIRTEST", "BBBB0002"].join("");

async function pair(root: string, ssm: SSMClient, id: string, secret: string): Promise<number> {
  await ssm.send(new PutParameterCommand({ Name: parameterName(root, "awsAccessKeyId"), Value: id, Type: "SecureString", Overwrite: true }));
  const out = await ssm.send(new PutParameterCommand({ Name: parameterName(root, "awsSecretAccessKey"), Value: secret, Type: "SecureString", Overwrite: true }));
  return out.Version!;
}

const valuesOf = (root: string, id: string, secret: string) =>
  new Map([
    [parameterName(root, "awsAccessKeyId"), id],
    [parameterName(root, "awsSecretAccessKey"), secret],
  ]);

describe("pinPairedSecret (the sender's read of the access key pair)", () => {
  test("when the secret has a version labelled for the stored id, that version replaces the latest secret", async () => {
    const { root } = uniqueRoot();
    const ssm = ssmClient();
    const v1 = await pair(root, ssm, ID_A, "secret-of-a");
    await ssm.send(new LabelParameterVersionCommand({ Name: parameterName(root, "awsSecretAccessKey"), ParameterVersion: v1, Labels: [accessKeyPairLabel(ID_A)] }));
    // A rotation half done: the new secret is the latest, the id is still A's.
    await ssm.send(new PutParameterCommand({ Name: parameterName(root, "awsSecretAccessKey"), Value: "secret-of-b", Type: "SecureString", Overwrite: true }));
    const values = valuesOf(root, ID_A, "secret-of-b");
    await pinPairedSecret(ssm, root, values);
    expect(values.get(parameterName(root, "awsSecretAccessKey"))).toBe("secret-of-a");
  });

  test("when no version carries the label (a pair put by hand), the latest secret stays", async () => {
    const { root } = uniqueRoot();
    const ssm = ssmClient();
    await pair(root, ssm, ID_B, "secret-of-b");
    const calls = countCommands(ssm);
    const values = valuesOf(root, ID_B, "secret-of-b");
    await pinPairedSecret(ssm, root, values);
    expect(values.get(parameterName(root, "awsSecretAccessKey"))).toBe("secret-of-b");
    expect(calls).toEqual(["GetParameterCommand"]);
  });

  test.each([["unset", "x"], ["AKIA-unused", "unset"]])("when the id is %p and the secret %p (no static pair), it makes no call", async (id, secret) => {
    const { root } = uniqueRoot();
    const ssm = ssmClient();
    const calls = countCommands(ssm);
    const values = valuesOf(root, id, secret);
    await pinPairedSecret(ssm, root, values);
    expect(calls).toEqual([]);
    expect([...values.values()]).toEqual([id, secret]);
  });

  test("when the labelled read is denied, it fails with AWS_ACCESS_DENIED naming the secret's parameter, not a value", async () => {
    const ssm = new SSMClient({ region: "us-east-1" });
    const mock = mockClient(ssm);
    mock.on(GetParameterCommand).rejects(Object.assign(new Error(`denied for ${ID_A}`), { name: "AccessDeniedException", $metadata: { httpStatusCode: 400, requestId: "r-1" } }));
    const err = await pinPairedSecret(ssm, "/vibecoding", valuesOf("/vibecoding", ID_A, "secret-of-a")).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "AWS_ACCESS_DENIED", resource: "/vibecoding/aws/secret_access_key", requestId: "r-1" });
    expect((err as Error).message).not.toContain(ID_A);
    expect((err as Error).message).not.toContain("secret-of-a");
    mock.restore();
  });

  test("the label is a hash of the id (the id never appears in it) and a valid SSM label", () => {
    const label = accessKeyPairLabel(ID_A);
    expect(label).toMatch(/^pair1-[0-9a-f]{40}$/);
    expect(label).not.toContain(ID_A);
    expect(accessKeyPairLabel(ID_B)).not.toBe(label);
  });
});
