/**
 * `npm run rotate`: the command line, the SendGrid key (against the loopback SendGrid
 * emulator) and the unsubscribe signing key (against the suite's moto), each with a failure
 * at every step. The access key has its own file (it needs a moto that checks signatures).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { PassThrough } from "node:stream";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IAMClient } from "@aws-sdk/client-iam";
import { SESClient } from "@aws-sdk/client-ses";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { EXIT, type CliIo } from "../../app/src/cli-kit";
import { ParameterStoreConfig } from "../../app/src/config";
import { operatorParameterName, parameterName } from "../../app/src/contract";
import { unsubscribeToken, unsubscribeVerificationKeys, verifyUnsubscribeToken } from "../../app/src/unsubscribe";
import { OPERATOR_ACTIONS, iamActionOf } from "../../scripts/lib/operator-actions";
import { putSecureString } from "../../scripts/lib/rotation";
import { startSendGridServer, type SendGridServer } from "../../scripts/lib/sendgrid-server";
import { readStdinValue, rotateCli, type RotateClients } from "../../scripts/rotate";
import { REGION, TEST_CREDENTIALS, motoUrl, putParameters } from "../support/app-fixtures";

function collectingIo(isTTY = false): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, isTTY, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) };
}

interface Fault {
  readonly command: string;
  readonly nth?: number;
  readonly when?: (input: Record<string, unknown>) => boolean;
  readonly after?: boolean;
}
/** Fails the nth matching SDK call with a 500 (`after`: the request lands, the answer is lost). */
function injectFault(client: SSMClient, fault: Fault): void {
  let seen = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = (args as { input: Record<string, unknown> }).input;
      if (context.commandName === fault.command && (!fault.when || fault.when(input)) && ++seen === (fault.nth ?? 1)) {
        if (fault.after) await next(args);
        throw Object.assign(new Error("injected failure"), { name: "InternalFailure", $fault: "server", $metadata: { httpStatusCode: 500, requestId: "injected-request" } });
      }
      return next(args);
    },
    { step: "initialize", name: `inject-${randomUUID()}` },
  );
}

// Five attempts: moto's DescribeParameters walks every parameter of the shared server without a
// lock, and a write from the other jest worker during the walk makes it answer a 500 (an HTML
// page); the SDK's retry rides that out. Injected faults sit before the retry step, so they
// still fail exactly the call they name.
const awsConfig = () => ({ region: REGION, endpoint: motoUrl(), credentials: TEST_CREDENTIALS, maxAttempts: 5 });
function clients(faults: Fault[] = [], record?: Set<string>): RotateClients {
  const ssm = new SSMClient(awsConfig());
  for (const f of faults) injectFault(ssm, f);
  if (record) ssm.middlewareStack.add((next, ctx) => async (a) => (record.add(iamActionOf("ssm", String(ctx.commandName))), next(a)), { step: "initialize", name: `record-${randomUUID()}` });
  return { ssm, iam: new IAMClient(awsConfig()), ddb: new DynamoDBClient(awsConfig()), sesWith: (c) => new SESClient({ ...awsConfig(), credentials: c }) };
}

const keyShaped = () => `SG.${randomBytes(16).toString("base64url").slice(0, 22)}.${randomBytes(32).toString("base64url").slice(0, 43)}`;

let sendgrid: SendGridServer;
let oldKey: string;
let newKey: string;
let readOnlyKey: string;
beforeAll(async () => {
  [oldKey, newKey, readOnlyKey] = [keyShaped(), keyShaped(), keyShaped()];
  sendgrid = await startSendGridServer({ apiKeys: [oldKey, newKey, readOnlyKey], keyScopes: { [readOnlyKey]: ["scopes.read", "stats.read"] } });
});
afterAll(async () => {
  await sendgrid?.close();
});

/** A deployed local stage below a fresh root: the sender's parameters, SendGrid key `oldKey`, a signing key. */
async function stage(opts: { signingKey?: string | null } = {}) {
  const root = `/rot-${randomUUID().slice(0, 8)}`;
  const ssm = new SSMClient(awsConfig());
  const signingKey = opts.signingKey === undefined ? randomBytes(32).toString("base64url") : opts.signingKey;
  await putParameters(ssm, root, {
    from: "digest@example.com",
    to: "reader@example.com",
    feeds: '[{"url":"http://127.0.0.1:9/a","name":"A"}]',
    sendgridApiKey: oldKey,
    unsubscribe: "https://example.com/unsubscribe",
    ...(signingKey !== null ? { unsubscribeSigningKey: signingKey } : {}),
  });
  const env = { AWS_ENDPOINT_URL: motoUrl(), AWS_REGION: REGION, VIBE_PARAMETER_ROOT: root, VIBE_SENDGRID_BASE_URL: sendgrid.url, VIBE_STAGE: "local" };
  const read = async (name: string) => (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter?.Value;
  return { root, ssm, env, signingKey: signingKey ?? undefined, read };
}

async function rotate(env: Record<string, string>, argv: string[], opts: { c?: RotateClients; stdin?: string; now?: () => Date } = {}) {
  const io = collectingIo();
  const code = await rotateCli(io, { env, clients: () => opts.c ?? clients(), readStdin: async () => opts.stdin ?? "", ...(opts.now ? { now: opts.now } : {}) }).run(argv);
  const lines = io.out.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, result: lines[lines.length - 1] ?? {}, text: io.out.join("") + io.err.join("") };
}

/** Sends one message through the emulator with `key`: the HTTP status. */
async function sendWith(key: string): Promise<number> {
  const res = await fetch(`${sendgrid.url}/v3/mail/send`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ personalizations: [{ to: [{ email: "reader@example.com" }] }], from: { email: "digest@example.com" }, subject: "s", content: [{ type: "text/plain", value: "t" }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

describe("rotate: the command line", () => {
  test("when --help is given, it lists the three rotations, the environment and the exit codes", async () => {
    const io = collectingIo(true);
    expect(await rotateCli(io).run(["--help"])).toBe(EXIT.ok);
    const help = io.out.join("");
    expect(help).toMatch(/access-key[\s\S]*sendgrid-key[\s\S]*unsubscribe-signing-key/);
    expect(help).toMatch(/Environment:[\s\S]*AWS_PROFILE[\s\S]*VIBE_SENDGRID_BASE_URL[\s\S]*VIBE_STAGE/);
    expect(help).toMatch(/Exit codes:\n\s+0\s[\s\S]*\n\s+1\s[\s\S]*\n\s+2\s[\s\S]*\n\s+64\s/);
  });

  test.each([["access-key"], ["sendgrid-key"], ["unsubscribe-signing-key"]])("when %s is run without --stage, it exits 64 (no default stage)", async (what) => {
    expect((await rotate({}, [what])).code).toBe(EXIT.usage);
  });

  test.each(["dev", "prod"])("when access-key is asked for %s (a task-role stage), it refuses with exit 2 and touches nothing", async (name) => {
    const c = clients();
    const calls: string[] = [];
    c.ssm.middlewareStack.add((next, ctx) => async (a) => (calls.push(String(ctx.commandName)), next(a)), { step: "initialize" });
    const r = await rotate({}, ["access-key", "--stage", name], { c });
    expect(r.code).toBe(EXIT.config);
    expect(r.result).toMatchObject({ code: "ROTATE_WRONG_MODE" });
    expect(calls).toEqual([]);
  });

  test.each<[Record<string, string>, string]>([
    [{ VIBE_STAGE: "local" }, "VIBE_STAGE=local"],
    [{ AWS_ENDPOINT_URL: "http://127.0.0.1:5055" }, "AWS_ENDPOINT_URL"],
  ])("when --stage prod runs in a shell set up for local (%j), it refuses with exit 2 naming the variable", async (env, named) => {
    const r = await rotate(env, ["sendgrid-key", "--stage", "prod"], { stdin: newKey });
    expect(r.code).toBe(EXIT.config);
    expect(r.result).toMatchObject({ code: "STAGE_ENV_MISMATCH" });
    expect(String(r.result.message)).toContain(named);
  });

  test("when standard input is a terminal, reading the new value refuses with exit 64", async () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.ReadStream;
    await expect(readStdinValue(tty)).rejects.toMatchObject({ code: "USAGE", exitCode: EXIT.usage });
  });

  test("when standard input holds a value and a newline, it reads the value without the newline; over 4 KB it refuses", async () => {
    const pipe = new PassThrough();
    pipe.end("value-123\n");
    expect(await readStdinValue(pipe as unknown as NodeJS.ReadStream)).toBe("value-123");
    const big = new PassThrough();
    big.end("x".repeat(5000));
    await expect(readStdinValue(big as unknown as NodeJS.ReadStream)).rejects.toMatchObject({ code: "ROTATE_VALUE_INVALID" });
  });
});

describe("rotate sendgrid-key (SendGrid emulator)", () => {
  test("when SendGrid accepts the new key with mail.send, it is stored and the sender loads it; nothing of either key is printed", async () => {
    const s = await stage();
    const r = await rotate(s.env, ["sendgrid-key", "--stage", "local"], { stdin: newKey });
    expect(r.code).toBe(EXIT.ok);
    expect(await s.read(parameterName(s.root, "sendgridApiKey"))).toBe(newKey);
    const cfg = await new ParameterStoreConfig(s.ssm, { root: s.root, ttlSeconds: 0 }).load();
    expect(cfg.sendgridApiKey!.reveal()).toBe(newKey);
    expect(await sendWith(cfg.sendgridApiKey!.reveal())).toBe(202);
    expect(r.text).not.toContain(newKey);
    expect(r.text).not.toContain(oldKey);
    expect(sendgrid.requests.some((q) => q.path === "/v3/scopes" && q.status === 200)).toBe(true);
  });

  test.each<[string, string, number, () => string]>([
    ["SendGrid does not know the key", "ROTATE_VERIFY_FAILED", EXIT.failed, keyShaped],
    ["the key lacks mail.send", "ROTATE_VERIFY_FAILED", EXIT.failed, () => readOnlyKey],
    ["the key is the stored one", "ROTATE_SAME_VALUE", EXIT.failed, () => oldKey],
    ["the value has a space", "ROTATE_VALUE_INVALID", EXIT.config, () => "SG.a b"],
    ["the value is the placeholder", "ROTATE_VALUE_INVALID", EXIT.config, () => "unset"],
    ["the value is empty", "ROTATE_VALUE_INVALID", EXIT.config, () => ""],
  ])("when %s, it refuses (%s), the old key stays stored and SendGrid still accepts it", async (_label, code, exit, value) => {
    const s = await stage();
    const v = value();
    const r = await rotate(s.env, ["sendgrid-key", "--stage", "local"], { stdin: v });
    expect(r.code).toBe(exit);
    expect(r.result).toMatchObject({ ok: false, code });
    expect(await s.read(parameterName(s.root, "sendgridApiKey"))).toBe(oldKey);
    expect(await sendWith(oldKey)).toBe(202);
    if (v.length > 8) expect(r.text).not.toContain(v);
  });

  test("when SendGrid cannot be reached, it refuses and changes nothing", async () => {
    const s = await stage();
    const down = await startSendGridServer();
    const url = down.url;
    await down.close();
    const r = await rotate({ ...s.env, VIBE_SENDGRID_BASE_URL: url }, ["sendgrid-key", "--stage", "local"], { stdin: newKey });
    expect(r.result).toMatchObject({ code: "ROTATE_VERIFY_FAILED" });
    expect(String(r.result.message)).toContain("could not reach SendGrid");
    expect(await s.read(parameterName(s.root, "sendgridApiKey"))).toBe(oldKey);
  });

  test("when the local stage has no SendGrid URL exported, it says to source .local/env.sh (exit 2)", async () => {
    const s = await stage();
    const { VIBE_SENDGRID_BASE_URL: _dropped, ...env } = s.env;
    const r = await rotate(env, ["sendgrid-key", "--stage", "local"], { stdin: newKey });
    expect(r.code).toBe(EXIT.config);
    expect(String(r.result.hint)).toContain(".local/env.sh");
  });

  test.each<[string, Fault]>([
    ["reading the stored key", { command: "GetParameterCommand", nth: 1 }],
    ["writing the new key", { command: "PutParameterCommand" }],
    ["writing the new key (landed, answer lost)", { command: "PutParameterCommand", after: true }],
    ["reading it back", { command: "GetParameterCommand", nth: 2 }],
  ])("when %s fails, it exits 1, the old key is stored again and SendGrid still accepts it", async (_label, fault) => {
    const s = await stage();
    const r = await rotate(s.env, ["sendgrid-key", "--stage", "local"], { stdin: newKey, c: clients([fault]) });
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ code: "ROTATE_STEP_FAILED" });
    expect(String(r.result.message)).toContain("unchanged and still valid");
    expect(await s.read(parameterName(s.root, "sendgridApiKey"))).toBe(oldKey);
    expect(await sendWith(oldKey)).toBe(202);
  });

  test("when the stage declares no SendGrid key, it refuses with exit 2", async () => {
    const s = await stage();
    await s.ssm.send(new (await import("@aws-sdk/client-ssm")).DeleteParameterCommand({ Name: parameterName(s.root, "sendgridApiKey") }));
    const r = await rotate(s.env, ["sendgrid-key", "--stage", "local"], { stdin: newKey });
    expect(r.code).toBe(EXIT.config);
    expect(r.result).toMatchObject({ code: "ROTATE_NOT_DEPLOYED" });
  });
});

describe("rotate unsubscribe-signing-key", () => {
  const probe = "reader@example.com";
  /** The keys an endpoint verifies with, read as unsubscribe.ts says (current first, then previous). */
  async function endpointKeys(s: Awaited<ReturnType<typeof stage>>, now: Date) {
    const current = await s.read(parameterName(s.root, "unsubscribeSigningKey"));
    const previous = await s.read(operatorParameterName(s.root, "unsubscribeSigningKeyPrevious")).catch(() => undefined);
    return unsubscribeVerificationKeys(current, previous, now);
  }

  test("when it rotates, new links verify, links signed with the old key verify until the grace ends, and then they do not", async () => {
    const s = await stage();
    const t0 = new Date("2026-12-01T12:00:00Z");
    const r = await rotate(s.env, ["unsubscribe-signing-key", "--stage", "local", "--grace-days", "10"], { now: () => t0 });
    expect(r.code).toBe(EXIT.ok);
    const current = await s.read(parameterName(s.root, "unsubscribeSigningKey"));
    expect(current).not.toBe(s.signingKey);
    expect(r.result.previousValidUntil).toBe("2026-12-11T12:00:00.000Z");
    const oldToken = unsubscribeToken(s.signingKey!, probe);
    expect(verifyUnsubscribeToken(await endpointKeys(s, t0), probe, unsubscribeToken(current!, probe))).toBe(true);
    expect(verifyUnsubscribeToken(await endpointKeys(s, new Date("2026-12-11T11:59:59Z")), probe, oldToken)).toBe(true);
    expect(verifyUnsubscribeToken(await endpointKeys(s, new Date("2026-12-11T12:00:00Z")), probe, oldToken)).toBe(false);
    const cfg = await new ParameterStoreConfig(s.ssm, { root: s.root, ttlSeconds: 0 }).load();
    expect(cfg.unsubscribeSigningKey!.reveal()).toBe(current);
    for (const k of [current!, s.signingKey!]) expect(r.text).not.toContain(k);
  });

  test("when the previous key is still in its grace period, it refuses unless --force, and rotates once the grace has passed", async () => {
    const s = await stage();
    const t0 = new Date("2026-12-01T12:00:00Z");
    expect((await rotate(s.env, ["unsubscribe-signing-key", "--stage", "local"], { now: () => t0 })).code).toBe(EXIT.ok);
    const afterFirst = await s.read(parameterName(s.root, "unsubscribeSigningKey"));
    const again = await rotate(s.env, ["unsubscribe-signing-key", "--stage", "local"], { now: () => new Date("2026-12-20T00:00:00Z") });
    expect(again.code).toBe(EXIT.failed);
    expect(again.result).toMatchObject({ code: "ROTATE_GRACE_ACTIVE" });
    expect(await s.read(parameterName(s.root, "unsubscribeSigningKey"))).toBe(afterFirst);
    expect((await rotate(s.env, ["unsubscribe-signing-key", "--stage", "local", "--force"], { now: () => new Date("2026-12-20T00:00:00Z") })).code).toBe(EXIT.ok);
    expect((await rotate(s.env, ["unsubscribe-signing-key", "--stage", "local"], { now: () => new Date("2027-02-01T00:00:00Z") })).code).toBe(EXIT.ok);
  });

  test.each<[string, Fault]>([
    ["reading the current key", { command: "GetParameterCommand", nth: 1 }],
    ["reading the previous key", { command: "GetParameterCommand", nth: 2 }],
    ["keeping the previous key", { command: "PutParameterCommand", when: (i) => String(i.Name).endsWith("_previous") }],
    ["writing the new key", { command: "PutParameterCommand", when: (i) => String(i.Name).endsWith("/unsubscribe_signing_key") }],
    ["writing the new key (landed, answer lost)", { command: "PutParameterCommand", when: (i) => String(i.Name).endsWith("/unsubscribe_signing_key"), after: true }],
    ["checking the result", { command: "GetParameterCommand", nth: 3 }],
  ])("when %s fails, it exits 1, the old key is the current one again and its links still verify", async (_label, fault) => {
    const s = await stage();
    const now = new Date();
    const r = await rotate(s.env, ["unsubscribe-signing-key", "--stage", "local"], { c: clients([fault]), now: () => now });
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ code: "ROTATE_STEP_FAILED" });
    expect(await s.read(parameterName(s.root, "unsubscribeSigningKey"))).toBe(s.signingKey);
    expect(verifyUnsubscribeToken(await endpointKeys(s, now), probe, unsubscribeToken(s.signingKey!, probe))).toBe(true);
  });

  test("when the stage signs no links (no signing key parameter), it refuses with exit 2", async () => {
    const s = await stage({ signingKey: null });
    const r = await rotate(s.env, ["unsubscribe-signing-key", "--stage", "local"]);
    expect(r.code).toBe(EXIT.config);
    expect(r.result).toMatchObject({ code: "ROTATE_NOT_DEPLOYED" });
  });

  test.each(["0", "366", "ten"])("when --grace-days is %p, it exits 64", async (days) => {
    const s = await stage();
    expect((await rotate(s.env, ["unsubscribe-signing-key", "--stage", "local", "--grace-days", days])).code).toBe(EXIT.usage);
    expect(await s.read(parameterName(s.root, "unsubscribeSigningKey"))).toBe(s.signingKey);
  });
});

describe("the rotations' AWS calls", () => {
  test.each([
    ["rotate sendgrid-key", ["sendgrid-key"]],
    ["rotate unsubscribe-signing-key", ["unsubscribe-signing-key"]],
  ])("the AWS calls of %s are exactly the actions docs/rotation.md lists (KMS aside: SSM makes those)", async (command, argv) => {
    const s = await stage();
    const calls = new Set<string>();
    const r = await rotate(s.env, [...argv, "--stage", "local"], { c: clients([], calls), stdin: newKey });
    expect(r.code).toBe(EXIT.ok);
    const listed = new Set(OPERATOR_ACTIONS[command]!.map((a) => a.action).filter((a) => !a.startsWith("kms:")));
    expect([...calls].sort()).toEqual([...listed].sort());
  });
});

describe("putSecureString", () => {
  test("when it overwrites a SecureString, it keeps the KMS key the parameter had; a new one gets the key of the parameter it belongs with", async () => {
    const ssm = new SSMClient(awsConfig());
    const root = `/rot-${randomUUID().slice(0, 8)}`;
    const { PutParameterCommand, DescribeParametersCommand } = await import("@aws-sdk/client-ssm");
    await ssm.send(new PutParameterCommand({ Name: `${root}/a`, Value: "unset", Type: "SecureString", KeyId: "alias/test-params" }));
    await putSecureString(ssm, `${root}/a`, "v1");
    await putSecureString(ssm, `${root}/b`, "v2", `${root}/a`);
    const d = await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [`${root}/a`, `${root}/b`] }] }));
    expect(d.Parameters!.map((p) => p.KeyId)).toEqual(["alias/test-params", "alias/test-params"]);
  });
});
