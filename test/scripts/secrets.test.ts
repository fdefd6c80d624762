import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { DescribeParametersCommand, GetParameterCommand, GetParametersCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { EXIT, type CliIo } from "../../app/src/cli-kit";
import { SECRET_PLACEHOLDER, parameterName } from "../../app/src/contract";
import { SecretCommandError, putSecret, resolveSecretKey, secretStatus, secretValueFromStdin } from "../../scripts/lib/secrets";
import { secretsCli } from "../../scripts/secrets";

const motoUrl = () => process.env.MOTO_URL!;
const ssm = () => new SSMClient({ region: "us-east-1", endpoint: motoUrl(), credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 2 });
// A SendGrid-shaped canary, assembled at run time.
const sgKey = () => `${["S", "G."].join("")}${randomUUID().replace(/-/g, "")}.${randomUUID().replace(/-/g, "")}`;

/** Declares the secrets the way the stack does: SecureStrings holding the placeholder. */
async function deployPlaceholders(client: SSMClient, root: string, keyId: string): Promise<void> {
  for (const key of ["awsAccessKeyId", "awsSecretAccessKey", "sendgridApiKey", "unsubscribeSigningKey"] as const) {
    await client.send(new PutParameterCommand({ Name: parameterName(root, key), Value: SECRET_PLACEHOLDER, Type: "SecureString", KeyId: keyId }));
  }
}

function collectingIo(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, isTTY: false, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) };
}

/** Runs the command in-process against moto with `stdin` as the piped value. */
async function run(argv: string[], o: { stdin?: Uint8Array | string; env?: NodeJS.ProcessEnv; client?: SSMClient } = {}) {
  const io = collectingIo();
  const code = await secretsCli({
    io,
    env: o.env ?? { AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl() },
    readStdin: async () => (typeof o.stdin === "string" ? Buffer.from(o.stdin, "utf8") : (o.stdin ?? Buffer.alloc(0))),
    ssm: () => o.client ?? ssm(),
  }).run(argv);
  const lines = io.out.join("").trim().split("\n").filter(Boolean);
  return { code, result: lines.length ? (JSON.parse(lines[lines.length - 1]) as Record<string, unknown>) : {}, all: io.out.join("") + io.err.join("") };
}

describe("operator secrets", () => {
  test("when a secret is put, it is stored as a SecureString under the key the stack assigned", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    const keyId = `alias/vibe-digest-${randomUUID()}`;
    await deployPlaceholders(client, root, keyId);
    const canary = sgKey();

    const version = await putSecret(client, root, "sendgridApiKey", canary);

    const name = parameterName(root, "sendgridApiKey");
    const got = await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    const described = await client.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [name] }] }));
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

  test("when the secret exists as a plain String, put refuses with NOT_SECURE_STRING and writes nothing", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    await client.send(new PutParameterCommand({ Name: `${root}/sendgrid/api_key`, Value: "unset", Type: "String" }));
    const err = await putSecret(client, root, "sendgridApiKey", sgKey()).catch((e: unknown) => e);
    expect((err as SecretCommandError).code).toBe("NOT_SECURE_STRING");
    expect((err as Error).message).toContain(`${root}/sendgrid/api_key`);
    const got = await client.send(new GetParameterCommand({ Name: `${root}/sendgrid/api_key` }));
    expect([got.Parameter?.Type, got.Parameter?.Value]).toEqual(["String", "unset"]);
  });

  test.each(["", "   ", SECRET_PLACEHOLDER, "none", "-", "UNSET"])("when the value is %p, it refuses with EMPTY_VALUE", async (value) => {
    const err = await putSecret(ssm(), "/vibecoding", "sendgridApiKey", value).catch((e: unknown) => e);
    expect((err as SecretCommandError).code).toBe("EMPTY_VALUE");
  });

  const key = sgKey();
  test.each([
    ["sendgridApiKey", "an inner space", `${key.slice(0, 10)} ${key.slice(10)}`],
    ["sendgridApiKey", "two trailing newlines", `${key}\n\n`.replace(/\n$/, "")],
    ["sendgridApiKey", "a trailing space", `${key} `],
    ["sendgridApiKey", "U+FFFD", `${key}\ufffd`],
    ["awsSecretAccessKey", "a tab", `${key.slice(0, 10)}\t${key.slice(10)}`],
    ["unsubscribeSigningKey", "31 characters", "k".repeat(31)],
    ["unsubscribeSigningKey", "whitespace", `${"k".repeat(20)} ${"k".repeat(20)}`],
  ] as const)("when %s has %s, put refuses with VALUE_INVALID naming the parameter, not the value", async (k, _what, value) => {
    const err = await putSecret(ssm(), "/vibecoding", k, value).catch((e: unknown) => e);
    expect((err as SecretCommandError).code).toBe("VALUE_INVALID");
    expect((err as Error).message).toContain(parameterName("/vibecoding", k));
    expect((err as Error).message).not.toContain(value.trim().slice(0, 10));
  });

  test.each([
    ["bytes that are not UTF-8", Buffer.from([0x53, 0x47, 0x2e, 0xff, 0xfe, 0x41])],
    ["a lone UTF-8 continuation byte", Buffer.from([0x41, 0x80, 0x42])],
    ["more than 4096 bytes", Buffer.alloc(4097, 0x41)],
  ])("when standard input holds %s, it is refused with VALUE_INVALID (not turned into U+FFFD)", (_what, bytes) => {
    expect(() => secretValueFromStdin(bytes)).toThrow(expect.objectContaining({ code: "VALUE_INVALID" }));
  });

  test.each([
    ["abc\n", "abc"],
    ["abc\r\n", "abc"],
    ["abc\n\n", "abc\n"],
    ["abc", "abc"],
  ])("when standard input is %j, the value is %j (only the one line break echo adds is dropped)", (input, value) => {
    expect(secretValueFromStdin(Buffer.from(input, "utf8"))).toBe(value);
  });

  test.each(["email/from_address", "aws/region", "nope"])("when %p is named, it is not a secret and is refused", (name) => {
    expect(() => resolveSecretKey(name)).toThrow(expect.objectContaining({ code: "UNKNOWN_SECRET" }));
  });

  test.each([
    ["sendgrid/api_key", "sendgridApiKey"],
    ["aws/access_key_id", "awsAccessKeyId"],
    ["awsSecretAccessKey", "awsSecretAccessKey"],
    ["email/unsubscribe_signing_key", "unsubscribeSigningKey"],
  ])("when %p is named, it resolves to %p", (name, k) => {
    expect(resolveSecretKey(name)).toBe(k);
  });

  test("when status is asked, it tells set, placeholder, missing, invalid and insecure apart, without values", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    await deployPlaceholders(client, root, "alias/test");
    const canary = `AKIA${randomUUID().replace(/-/g, "").slice(0, 16).toUpperCase()}`;
    await putSecret(client, root, "awsAccessKeyId", canary);
    // Written behind the command's back: a value the run would refuse, and a plain String.
    await client.send(new PutParameterCommand({ Name: `${root}/aws/secret_access_key`, Value: "has a space", Type: "SecureString", Overwrite: true }));
    await client.send(new PutParameterCommand({ Name: `${root}/other/x`, Value: "x", Type: "String" }));
    const stringRoot = `/t-${randomUUID()}`;
    await client.send(new PutParameterCommand({ Name: `${stringRoot}/sendgrid/api_key`, Value: sgKey(), Type: "String" }));

    const status = await secretStatus(client, root);
    const other = await secretStatus(client, stringRoot);

    expect(status).toEqual({
      [parameterName(root, "awsAccessKeyId")]: "set",
      [parameterName(root, "awsSecretAccessKey")]: "invalid",
      [parameterName(root, "sendgridApiKey")]: "placeholder",
      [parameterName(root, "unsubscribeSigningKey")]: "placeholder",
    });
    expect(other[parameterName(stringRoot, "sendgridApiKey")]).toBe("insecure");
    expect(other[parameterName(stringRoot, "awsAccessKeyId")]).toBe("missing");
    expect(JSON.stringify(status)).not.toContain(canary);
  });
});

describe("npm run secrets (the command line)", () => {
  test("when --help is asked, it lists the commands, the environment and the exit codes", async () => {
    const io = collectingIo();
    expect(await secretsCli({ io, env: {} }).run(["--help"])).toBe(EXIT.ok);
    const help = io.out.join("");
    for (const s of ["put [options] <name>", "status", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE", "Exit codes:", "64", "sendgrid/api_key"]) expect(help).toContain(s);
  });

  test("when a value is put through the command, it is stored and the output carries only the name and version", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    await deployPlaceholders(client, root, "alias/test");
    const canary = sgKey();
    const r = await run(["put", "sendgrid/api_key", "--stage", "local", "--root", root], { stdin: `${canary}\n` });
    expect(r.code).toBe(EXIT.ok);
    expect(r.result).toEqual({ ok: true, parameter: `${root}/sendgrid/api_key`, version: 2, exitCode: 0 });
    expect(r.all).not.toContain(canary);
    expect((await client.send(new GetParameterCommand({ Name: `${root}/sendgrid/api_key`, WithDecryption: true }))).Parameter?.Value).toBe(canary);
  });

  test.each([
    ["a key with an inner space", "SG.abc def", EXIT.failed, "VALUE_INVALID"],
    ["a key with two trailing newlines", "SG.abcdef\n\n", EXIT.failed, "VALUE_INVALID"],
    ["bytes that are not UTF-8", Buffer.from([0x53, 0x47, 0x2e, 0xc3, 0x28]), EXIT.failed, "VALUE_INVALID"],
    ["nothing", "", EXIT.failed, "EMPTY_VALUE"],
  ])("when put is given %s, it exits %i with %s and writes nothing", async (_what, stdin, code, errorCode) => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    await deployPlaceholders(client, root, "alias/test");
    const r = await run(["put", "sendgrid/api_key", "--stage", "local", "--root", root], { stdin });
    expect([r.code, r.result.code]).toEqual([code, errorCode]);
    expect((await client.send(new GetParameterCommand({ Name: `${root}/sendgrid/api_key`, WithDecryption: true }))).Parameter?.Value).toBe(SECRET_PLACEHOLDER);
  });

  test("when the parameter is a plain String, put exits 2 with NOT_SECURE_STRING", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    await client.send(new PutParameterCommand({ Name: `${root}/sendgrid/api_key`, Value: "unset", Type: "String" }));
    const r = await run(["put", "sendgrid/api_key", "--stage", "local", "--root", root], { stdin: sgKey() });
    expect([r.code, r.result.code]).toEqual([EXIT.config, "NOT_SECURE_STRING"]);
  });

  test("when status finds a plain String secret, it exits 1 and says insecure", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    await deployPlaceholders(client, root, "alias/test");
    await client.send(new PutParameterCommand({ Name: `${root}/sendgrid/api_key`, Value: sgKey(), Type: "String", Overwrite: true }));
    const r = await run(["status", "--root", root]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ ok: false, secrets: { [`${root}/sendgrid/api_key`]: "insecure" } });
  });

  test.each([
    [["put", "sendgrid/api_key"], "no --stage"],
    [["put", "sendgrid/api_key", "--stage", "staging"], "an unknown stage"],
    [["put", "email/from_address", "--stage", "local"], "a parameter that is not a secret"],
    [["put", "sendgrid/api_key", "--stage", "local", "--root", "../etc"], "a bad --root"],
    [["status", "--nope"], "an unknown option"],
  ])("when run with %j (%s), it exits 64", async (argv) => {
    expect((await run(argv, { stdin: sgKey() })).code).toBe(EXIT.usage);
  });

  test.each([
    ["AWS_REGION", "../../etc/passwd"],
    ["AWS_DEFAULT_REGION", "nowhere"],
    ["AWS_ENDPOINT_URL", "garbage"],
    ["AWS_ENDPOINT_URL", "http://user:pw@127.0.0.1:1"],
  ])("when %s is %p, it exits 2 naming the variable, not the value", async (name, value) => {
    const env = { AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl(), [name]: value };
    if (name === "AWS_DEFAULT_REGION") delete (env as Record<string, string>).AWS_REGION;
    const r = await run(["status"], { env });
    expect([r.code, r.result.code]).toEqual([EXIT.config, "CONFIG_INVALID"]);
    expect(String(r.result.message)).toContain(name);
    expect(r.all).not.toContain(value);
  });

  test("when no credentials are found, it says so (AWS_CREDENTIALS_MISSING), not that they were rejected", async () => {
    const client = new SSMClient({
      region: "us-east-1",
      endpoint: motoUrl(),
      maxAttempts: 1,
      credentials: async () => {
        throw Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" });
      },
    });
    const r = await run(["status"], { client });
    expect([r.code, r.result.code]).toEqual([EXIT.config, "AWS_CREDENTIALS_MISSING"]);
  });

  test("when AWS rejects the credentials, it says so (AWS_CREDENTIALS_INVALID) with the request id", async () => {
    const client = new SSMClient({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } });
    const mock = mockClient(client);
    mock.on(GetParametersCommand).rejects(Object.assign(new Error("The security token included in the request is invalid"), { name: "UnrecognizedClientException", $metadata: { httpStatusCode: 400, requestId: "req-9" } }));
    const r = await run(["status"], { client });
    expect([r.code, r.result.code]).toEqual([EXIT.config, "AWS_CREDENTIALS_INVALID"]);
    expect(String(r.result.message)).toContain("req-9");
    mock.restore();
  });

  test("when run as a process with a value on stdin, it puts it and prints one JSON line without the value", async () => {
    const client = ssm();
    const root = `/t-${randomUUID()}`;
    await deployPlaceholders(client, root, "alias/test");
    const canary = sgKey();
    const project = path.join(__dirname, "..", "..");
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = execFile(
        path.join(project, "node_modules", ".bin", "tsx"),
        [path.join(project, "scripts", "secrets.ts"), "put", "sendgrid/api_key", "--stage", "local", "--root", root],
        { env: { ...process.env, AWS_ENDPOINT_URL: motoUrl(), AWS_REGION: "us-east-1", AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" }, timeout: 30_000 },
        (err, out, errOut) => (err ? reject(Object.assign(err, { errOut })) : resolve({ stdout: out, stderr: errOut })),
      );
      child.stdin!.end(`${canary}\n`);
    });
    const got = await client.send(new GetParameterCommand({ Name: `${root}/sendgrid/api_key`, WithDecryption: true }));
    expect(got.Parameter?.Value).toBe(canary);
    expect(JSON.parse(stdout.trim())).toEqual({ ok: true, parameter: `${root}/sendgrid/api_key`, version: 2, exitCode: 0 });
    expect(stdout + stderr).not.toContain(canary);
  });
});
