import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { DescribeParametersCommand, GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { SECRET_PLACEHOLDER, parameterName } from "../../app/src/contract";
import { SecretCommandError, putSecret, resolveSecretKey, secretStatus } from "../../scripts/lib/secrets";

const motoUrl = () => process.env.MOTO_URL!;
const ssm = () =>
  new SSMClient({ region: "us-east-1", endpoint: motoUrl(), credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 2 });

/** Declares the secrets the way the stack does: SecureStrings holding the placeholder. */
async function deployPlaceholders(client: SSMClient, root: string, keyId: string): Promise<void> {
  for (const key of ["awsAccessKeyId", "awsSecretAccessKey", "sendgridApiKey", "unsubscribeSigningKey"] as const) {
    await client.send(
      new PutParameterCommand({ Name: parameterName(root, key), Value: SECRET_PLACEHOLDER, Type: "SecureString", KeyId: keyId }),
    );
  }
}

describe("operator secrets", () => {
  test("when a secret is put, it is stored as a SecureString under the key the stack assigned", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    const keyId = `alias/vibe-digest-${randomUUID()}`;
    await deployPlaceholders(client, root, keyId);
    const canary = `canary-${randomUUID()}`;

    const version = await putSecret(client, root, "sendgridApiKey", canary);

    const name = parameterName(root, "sendgridApiKey");
    const got = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    const described = await client.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [name] }] }),
    );
    expect(version).toBe(2);
    expect(got.Parameter?.Value).toBe(canary);
    expect(got.Parameter?.Type).toBe("SecureString");
    expect(described.Parameters?.[0].KeyId).toBe(keyId);
  });

  test("when the stack is not deployed, it fails with NOT_DEPLOYED naming the parameter", async () => {
    const root = `/t-${randomUUID()}`;
    const err = await putSecret(ssm(), root, "sendgridApiKey", "x-value").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretCommandError);
    expect((err as SecretCommandError).code).toBe("NOT_DEPLOYED");
    expect((err as Error).message).toContain(`${root}/sendgrid/api_key`);
    expect((err as Error).message).not.toContain("x-value");
  });

  test.each(["", "   ", SECRET_PLACEHOLDER, "none", "-", "UNSET"])("when the value is %p, it refuses with EMPTY_VALUE", async (value) => {
    const err = await putSecret(ssm(), "/vibecoding", "sendgridApiKey", value).catch((e: unknown) => e);
    expect((err as SecretCommandError).code).toBe("EMPTY_VALUE");
  });

  test.each(["too-short", `has whitespace ${"x".repeat(40)}`])(
    "when the unsubscribe signing key is %p, it refuses with VALUE_INVALID naming the parameter, not the value",
    async (value) => {
      const err = await putSecret(ssm(), "/vibecoding", "unsubscribeSigningKey", value).catch((e: unknown) => e);
      expect((err as SecretCommandError).code).toBe("VALUE_INVALID");
      expect((err as Error).message).toContain("/vibecoding/email/unsubscribe_signing_key");
      expect((err as Error).message).not.toContain(value);
    },
  );

  test.each(["email/from_address", "aws/region", "nope"])("when %p is named, it is not a secret and is refused", (name) => {
    expect(() => resolveSecretKey(name)).toThrow(expect.objectContaining({ code: "UNKNOWN_SECRET" }));
  });

  test.each([
    ["sendgrid/api_key", "sendgridApiKey"],
    ["aws/access_key_id", "awsAccessKeyId"],
    ["awsSecretAccessKey", "awsSecretAccessKey"],
    ["email/unsubscribe_signing_key", "unsubscribeSigningKey"],
  ])("when %p is named, it resolves to %p", (name, key) => {
    expect(resolveSecretKey(name)).toBe(key);
  });

  test("when status is asked, it tells set from placeholder and missing, without values", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    await deployPlaceholders(client, root, "alias/test");
    const canary = `canary-${randomUUID()}`;
    await putSecret(client, root, "awsAccessKeyId", canary);

    const status = await secretStatus(client, root);

    expect(status).toEqual({
      [parameterName(root, "awsAccessKeyId")]: "set",
      [parameterName(root, "awsSecretAccessKey")]: "placeholder",
      [parameterName(root, "sendgridApiKey")]: "placeholder",
      [parameterName(root, "unsubscribeSigningKey")]: "placeholder",
    });
    expect(JSON.stringify(status)).not.toContain(canary);
  });

  test("when the command is given a value on stdin, it puts it and prints only the name and version", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    await deployPlaceholders(client, root, "alias/test");
    const canary = `canary-${randomUUID()}`;
    const project = path.join(__dirname, "..", "..");
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = execFile(
        path.join(project, "node_modules", ".bin", "tsx"),
        [path.join(project, "scripts", "secrets.ts"), "put", "sendgrid/api_key", "--root", root],
        {
          env: { ...process.env, AWS_ENDPOINT_URL: motoUrl(), AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" },
          timeout: 30_000,
        },
        (err, out, errOut) => (err ? reject(Object.assign(err, { errOut })) : resolve({ stdout: out, stderr: errOut })),
      );
      child.stdin!.end(`${canary}\n`);
    });
    const got = await client.send(new GetParameterCommand({ Name: `${root}/sendgrid/api_key`, WithDecryption: true }));
    expect(got.Parameter?.Value).toBe(canary);
    expect(stdout.trim()).toBe(`put ${root}/sendgrid/api_key (version 2)`);
    expect(stdout + stderr).not.toContain(canary);
  });
});
