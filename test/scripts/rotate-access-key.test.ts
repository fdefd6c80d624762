/**
 * `npm run rotate -- access-key` against a moto that checks signatures (test/support/auth-moto.ts):
 * a pair that does not belong together is refused there with SignatureDoesNotMatch, as on
 * AWS, so "the sender's pair works" is a real check, not a string comparison.
 */
import { randomUUID } from "node:crypto";
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { IAMClient, ListAccessKeysCommand } from "@aws-sdk/client-iam";
import { GetSendQuotaCommand, SESClient } from "@aws-sdk/client-ses";
import { GetParameterHistoryCommand, GetParametersCommand, SSMClient } from "@aws-sdk/client-ssm";
import { EXIT, type CliIo } from "../../app/src/cli-kit";
import { ParameterStoreConfig } from "../../app/src/config";
import { LEDGER, parameterName } from "../../app/src/contract";
import { PAIR_LABEL_PREFIX, accessKeyPairLabel } from "../../app/src/credential-pair";
import { digestDate } from "../../app/src/render";
import { OPERATOR_ACTIONS, iamActionOf } from "../../scripts/lib/operator-actions";
import { putSecureString, type AccessKeyStep } from "../../scripts/lib/rotation";
import { rotateCli, type RotateClients } from "../../scripts/rotate";
import { createLedgerTable, putParameters } from "../support/app-fixtures";
import { startAuthMoto, type AuthMoto, type Credentials } from "../support/auth-moto";

let m: AuthMoto;
let table: string;

beforeAll(async () => {
  m = await startAuthMoto();
  const ddb = new DynamoDBClient(m.adminConfig());
  table = await createLedgerTable(ddb);
  ddb.destroy();
}, 60_000);
afterAll(async () => {
  await m?.stop();
});

function collectingIo(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, isTTY: false, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) };
}

/** Fails one SDK call of `command` (the nth matching one) with a 500; `after`: the request lands first and only the answer is lost. */
interface Fault {
  readonly command: string;
  readonly nth?: number;
  readonly when?: (input: Record<string, unknown>) => boolean;
  readonly after?: boolean;
}
function injectFault(client: { middlewareStack: { add: (...a: never[]) => void } }, fault: Fault, counter = { seen: 0 }): void {
  const mw = (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => {
    if (context.commandName === fault.command && (!fault.when || fault.when(args.input)) && ++counter.seen === (fault.nth ?? 1)) {
      if (fault.after) await next(args);
      throw Object.assign(new Error("injected failure"), { name: "InternalFailure", $fault: "server", $metadata: { httpStatusCode: 500, requestId: "injected-request" } });
    }
    return next(args);
  };
  (client.middlewareStack.add as unknown as (m: unknown, o: unknown) => void)(mw, { step: "initialize", name: `inject-${fault.command}-${randomUUID()}` });
}

interface Fx {
  readonly root: string;
  readonly user: string;
  readonly idName: string;
  readonly secretName: string;
  readonly ssm: SSMClient;
  readonly iam: IAMClient;
  readonly env: Record<string, string>;
  readonly old?: Credentials;
}

/** A deployed access-key stage below a fresh root, with its own sender user (and its first key unless `stored: false`). */
async function fixture(opts: { stored?: boolean } = {}): Promise<Fx> {
  const id = randomUUID().slice(0, 8);
  const root = `/rot-${id}`;
  const user = await m.createUser(`sender-${id}`, ["ses:GetSendQuota", "ses:SendRawEmail"]);
  const ssm = new SSMClient(m.adminConfig());
  await putParameters(ssm, root, { from: `digest@${id}.example.com`, to: `reader@${id}.example.com`, feeds: '[{"url":"http://127.0.0.1:9/a","name":"A"}]' });
  const idName = parameterName(root, "awsAccessKeyId");
  const secretName = parameterName(root, "awsSecretAccessKey");
  let old: Credentials | undefined;
  if (opts.stored !== false) {
    // What `npm run local` does: the first pair, put one parameter after the other.
    old = await m.createKey(user);
    await putSecureString(ssm, idName, old.accessKeyId);
    await putSecureString(ssm, secretName, old.secretAccessKey);
  }
  const env = { AWS_ENDPOINT_URL: m.url, AWS_REGION: "us-east-1", VIBE_PARAMETER_ROOT: root, VIBE_LEDGER_TABLE: table, VIBE_SENDER_USER: user, VIBE_STAGE: "local" };
  return { root, user, idName, secretName, ssm, iam: new IAMClient(m.adminConfig()), env, old };
}

/** Adds every command `client` sends to `into`, as the IAM action it needs ("ssm:GetParameters"). */
function recordCalls(client: { middlewareStack: { add: (...a: never[]) => void } }, service: string, into?: Set<string>): void {
  if (!into) return;
  const mw = (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
    into.add(iamActionOf(service, context.commandName ?? "?"));
    return next(args);
  };
  (client.middlewareStack.add as unknown as (m: unknown, o: unknown) => void)(mw, { step: "initialize", name: `record-${randomUUID()}` });
}

/** Operator clients (admin), each with the given faults; SES faults count GetSendQuota calls across every client made. */
function clients(faults: { ssm?: Fault[]; iam?: Fault[]; ddb?: Fault[]; ses?: Fault[] } = {}, record?: Set<string>): RotateClients {
  const ssm = new SSMClient(m.adminConfig());
  const iam = new IAMClient(m.adminConfig());
  const ddb = new DynamoDBClient(m.adminConfig());
  for (const f of faults.ssm ?? []) injectFault(ssm as never, f);
  for (const f of faults.iam ?? []) injectFault(iam as never, f);
  for (const f of faults.ddb ?? []) injectFault(ddb as never, f);
  recordCalls(ssm as never, "ssm", record);
  recordCalls(iam as never, "iam", record);
  recordCalls(ddb as never, "dynamodb", record);
  const sesCounters = (faults.ses ?? []).map(() => ({ seen: 0 }));
  return {
    ssm,
    iam,
    ddb,
    sesWith: (c) => {
      const ses = new SESClient({ ...m.adminConfig(1), credentials: c });
      (faults.ses ?? []).forEach((f, i) => injectFault(ses as never, f, sesCounters[i]));
      recordCalls(ses as never, "ses", record);
      return ses;
    },
  };
}

async function rotate(fx: Fx, c: RotateClients, extra: string[] = [], afterStep?: (s: AccessKeyStep) => Promise<void>) {
  const io = collectingIo();
  const code = await rotateCli(io, { env: fx.env, clients: () => c, readStdin: async () => "", sleep: async () => undefined, ...(afterStep ? { afterStep } : {}) }).run(["access-key", "--stage", "local", ...extra]);
  const lines = io.out.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, result: lines[lines.length - 1]!, text: io.out.join("") + io.err.join("") };
}

/** The pair the sender's own config loader reads now. */
async function senderPair(fx: Fx): Promise<Credentials | undefined> {
  const cfg = await new ParameterStoreConfig(fx.ssm, { root: fx.root, ttlSeconds: 0 }).load();
  return cfg.credentials ? { accessKeyId: cfg.credentials.accessKeyId.reveal(), secretAccessKey: cfg.credentials.secretAccessKey.reveal() } : undefined;
}

/** "ok", or the error name SES (moto with authentication) answers `c` with. */
async function sesAnswer(c: Credentials): Promise<string> {
  const ses = new SESClient({ ...m.adminConfig(1), credentials: c });
  try {
    await ses.send(new GetSendQuotaCommand({}));
    return "ok";
  } catch (err) {
    return (err as Error).name;
  } finally {
    ses.destroy();
  }
}

async function keysOf(fx: Fx): Promise<Record<string, string>> {
  const out = await fx.iam.send(new ListAccessKeysCommand({ UserName: fx.user }));
  return Object.fromEntries((out.AccessKeyMetadata ?? []).map((k) => [k.AccessKeyId!, k.Status!]));
}

describe("rotate access-key (moto with signature checks)", () => {
  test("when it rotates, the sender reads the new pair, SES accepts it, and the old key is deactivated", async () => {
    const fx = await fixture();
    const r = await rotate(fx, clients());
    expect(r.code).toBe(EXIT.ok);
    const now = await senderPair(fx);
    expect(now!.accessKeyId).not.toBe(fx.old!.accessKeyId);
    expect(await sesAnswer(now!)).toBe("ok");
    expect(await keysOf(fx)).toEqual({ [fx.old!.accessKeyId]: "Inactive", [now!.accessKeyId]: "Active" });
    expect(r.result).toMatchObject({ ok: true, what: "access-key", newKey: `…${now!.accessKeyId.slice(-4)}`, oldKey: `…${fx.old!.accessKeyId.slice(-4)}` });
  });

  test("when it rotates, no secret and no whole key id reaches the output", async () => {
    const fx = await fixture();
    const r = await rotate(fx, clients());
    const now = await senderPair(fx);
    for (const canary of [fx.old!.secretAccessKey, fx.old!.accessKeyId, now!.secretAccessKey, now!.accessKeyId]) expect(r.text).not.toContain(canary);
  });

  test("after every step, the pair the sender reads authenticates with SES (old before the switch, new after it)", async () => {
    const fx = await fixture();
    const seen: [AccessKeyStep, string, string][] = [];
    const r = await rotate(fx, clients(), [], async (step) => {
      const pair = await senderPair(fx);
      seen.push([step, pair!.accessKeyId === fx.old!.accessKeyId ? "old" : "new", await sesAnswer(pair!)]);
    });
    expect(r.code).toBe(EXIT.ok);
    const switched = seen.findIndex(([step]) => step === "write-id");
    expect(switched).toBeGreaterThan(0);
    expect(seen.every(([, , answer]) => answer === "ok")).toBe(true);
    expect(seen.slice(0, switched).every(([, which]) => which === "old")).toBe(true);
    expect(seen.slice(switched).every(([, which]) => which === "new")).toBe(true);
    expect(seen.map(([s]) => s)).toEqual(expect.arrayContaining(["write-secret", "pin-new", "write-id", "deactivate-old"]));
  });

  test("between the two writes, the latest values alone are a mismatched pair that SES refuses: the label is what keeps the sender's pair whole", async () => {
    const fx = await fixture();
    let naive: string | undefined;
    let sender: string | undefined;
    await rotate(fx, clients(), [], async (step) => {
      if (step !== "write-secret") return;
      const out = await fx.ssm.send(new GetParametersCommand({ Names: [fx.idName, fx.secretName], WithDecryption: true }));
      const v = (n: string) => out.Parameters!.find((p) => p.Name === n)!.Value!;
      naive = await sesAnswer({ accessKeyId: v(fx.idName), secretAccessKey: v(fx.secretName) });
      sender = await sesAnswer((await senderPair(fx))!);
    });
    expect(naive).toBe("SignatureDoesNotMatch");
    expect(sender).toBe("ok");
  });

  test("when a second rotation runs, it deletes the key the first one deactivated and keeps labels only for existing keys", async () => {
    const fx = await fixture();
    expect((await rotate(fx, clients())).code).toBe(EXIT.ok);
    const second = await senderPair(fx);
    const r = await rotate(fx, clients());
    expect(r.code).toBe(EXIT.ok);
    const third = await senderPair(fx);
    expect(await keysOf(fx)).toEqual({ [second!.accessKeyId]: "Inactive", [third!.accessKeyId]: "Active" });
    expect(r.result.deleted).toEqual([`…${fx.old!.accessKeyId.slice(-4)}`]);
    const history = await fx.ssm.send(new GetParameterHistoryCommand({ Name: fx.secretName }));
    const labels = (history.Parameters ?? []).flatMap((p) => p.Labels ?? []).filter((l) => l.startsWith(PAIR_LABEL_PREFIX)).sort();
    expect(labels).toEqual([accessKeyPairLabel(second!.accessKeyId), accessKeyPairLabel(third!.accessKeyId)].sort());
    expect(await sesAnswer(fx.old!)).toBe("InvalidClientTokenId");
  });

  test("the AWS calls of two rotations are exactly the actions docs/rotation.md lists for it (KMS aside: SSM makes those)", async () => {
    const fx = await fixture();
    const calls = new Set<string>();
    expect((await rotate(fx, clients({}, calls))).code).toBe(EXIT.ok);
    expect((await rotate(fx, clients({}, calls))).code).toBe(EXIT.ok);
    const listed = new Set(OPERATOR_ACTIONS["rotate access-key"]!.map((a) => a.action).filter((a) => !a.startsWith("kms:")));
    expect([...calls].sort()).toEqual([...listed].sort());
  });

  test("when no pair is stored yet, it creates and stores the first one", async () => {
    const fx = await fixture({ stored: false });
    const r = await rotate(fx, clients());
    expect(r.code).toBe(EXIT.ok);
    const pair = await senderPair(fx);
    expect(await sesAnswer(pair!)).toBe("ok");
    expect(Object.values(await keysOf(fx))).toEqual(["Active"]);
    expect(r.result.oldKey).toBeNull();
  });

  // A failure at each step before the switch: every change is undone, the old key is the one in use and works.
  test.each<[string, string, { ssm?: Fault[]; iam?: Fault[]; ses?: Fault[] }]>([
    ["list-keys", "ROTATE_STEP_FAILED", { iam: [{ command: "ListAccessKeysCommand" }] }],
    ["create-key", "ROTATE_STEP_FAILED", { iam: [{ command: "CreateAccessKeyCommand" }] }],
    ["verify-new", "ROTATE_VERIFY_FAILED", { ses: [{ command: "GetSendQuotaCommand", nth: 1 }] }],
    ["pin-old (checking the stored pair)", "ROTATE_STEP_FAILED", { ses: [{ command: "GetSendQuotaCommand", nth: 2 }] }],
    ["pin-old", "ROTATE_STEP_FAILED", { ssm: [{ command: "LabelParameterVersionCommand", nth: 1 }] }],
    ["write-secret", "ROTATE_STEP_FAILED", { ssm: [{ command: "PutParameterCommand", when: (i) => String(i.Name).endsWith("/aws/secret_access_key") }] }],
    ["write-secret (landed, answer lost)", "ROTATE_STEP_FAILED", { ssm: [{ command: "PutParameterCommand", when: (i) => String(i.Name).endsWith("/aws/secret_access_key"), after: true }] }],
    ["pin-new", "ROTATE_STEP_FAILED", { ssm: [{ command: "LabelParameterVersionCommand", nth: 2 }] }],
    ["write-id", "ROTATE_STEP_FAILED", { ssm: [{ command: "PutParameterCommand", when: (i) => String(i.Name).endsWith("/aws/access_key_id") }] }],
    ["write-id (landed, answer lost)", "ROTATE_STEP_FAILED", { ssm: [{ command: "PutParameterCommand", when: (i) => String(i.Name).endsWith("/aws/access_key_id"), after: true }] }],
    ["verify-stored", "ROTATE_VERIFY_FAILED", { ses: [{ command: "GetSendQuotaCommand", nth: 3 }] }],
  ])("when %s fails, it exits 1 with %s after undoing, and the old key is still the one in use and working", async (_step, code, faults) => {
    const fx = await fixture();
    const r = await rotate(fx, clients(faults));
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ ok: false, code });
    expect(String(r.result.message)).toMatch(/still uses the stored key|still active/);
    expect(String(r.result.hint)).toContain("npm run rotate -- access-key --stage local");
    const pair = await senderPair(fx);
    expect(pair).toEqual(fx.old);
    expect(await sesAnswer(pair!)).toBe("ok");
    expect(await keysOf(fx)).toEqual({ [fx.old!.accessKeyId]: "Active" });
    // And the next rotation goes through from that state.
    expect((await rotate(fx, clients())).code).toBe(EXIT.ok);
    expect(await sesAnswer((await senderPair(fx))!)).toBe("ok");
  });

  test("when deleting the previously deactivated key fails, nothing else changes and the current key stays in use", async () => {
    const fx = await fixture();
    expect((await rotate(fx, clients())).code).toBe(EXIT.ok);
    const current = await senderPair(fx);
    const r = await rotate(fx, clients({ iam: [{ command: "DeleteAccessKeyCommand" }] }));
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ code: "ROTATE_STEP_FAILED" });
    expect(await senderPair(fx)).toEqual(current);
    expect(await sesAnswer(current!)).toBe("ok");
    expect(await keysOf(fx)).toEqual({ [fx.old!.accessKeyId]: "Inactive", [current!.accessKeyId]: "Active" });
  });

  test("when deactivating the old key fails, the new pair is in use and works, the old key stays active, and it says how to finish", async () => {
    const fx = await fixture();
    const r = await rotate(fx, clients({ iam: [{ command: "UpdateAccessKeyCommand" }] }));
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ code: "ROTATE_INCOMPLETE" });
    expect(String(r.result.hint)).toContain(`aws iam update-access-key --user-name ${fx.user} --status Inactive`);
    const pair = await senderPair(fx);
    expect(pair!.accessKeyId).not.toBe(fx.old!.accessKeyId);
    expect(await sesAnswer(pair!)).toBe("ok");
    expect(await sesAnswer(fx.old!)).toBe("ok");
    expect((await keysOf(fx))[fx.old!.accessKeyId]).toBe("Active");
  });

  test("when dropping old labels fails, the rotation is done and it warns", async () => {
    const fx = await fixture();
    const r = await rotate(fx, clients({ ssm: [{ command: "GetParameterHistoryCommand" }] }));
    expect(r.code).toBe(EXIT.ok);
    expect(r.result.warnings).toEqual([expect.stringContaining("could not drop old labels")]);
    expect(await sesAnswer((await senderPair(fx))!)).toBe("ok");
  });

  test("when the sender user has another active key, it refuses and changes nothing", async () => {
    const fx = await fixture();
    const stray = await m.createKey(fx.user);
    const r = await rotate(fx, clients());
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ code: "ROTATE_UNKNOWN_ACTIVE_KEY" });
    expect(await keysOf(fx)).toEqual({ [fx.old!.accessKeyId]: "Active", [stray.accessKeyId]: "Active" });
    expect(await senderPair(fx)).toEqual(fx.old);
  });

  test("when the stored key belongs to another user, it refuses with exit 2", async () => {
    const fx = await fixture();
    const r = await rotate({ ...fx, env: { ...fx.env, VIBE_SENDER_USER: await m.createUser(`other-${randomUUID().slice(0, 8)}`, ["ses:GetSendQuota"]) } }, clients());
    expect(r.code).toBe(EXIT.config);
    expect(r.result).toMatchObject({ code: "ROTATE_KEY_NOT_OWNED" });
    expect(await senderPair(fx)).toEqual(fx.old);
  });

  test("when a run holds a live claim in today's ledger, it refuses unless --force", async () => {
    const fx = await fixture();
    const ddb = new DynamoDBClient(m.adminConfig());
    const own = await createLedgerTable(ddb);
    await ddb.send(
      new PutItemCommand({
        TableName: own,
        Item: {
          [LEDGER.partitionKey]: { S: digestDate(new Date()) },
          [LEDGER.sortKey]: { S: "reader@example.com" },
          [LEDGER.attributes.state]: { S: "in_progress" },
          [LEDGER.attributes.leaseUntil]: { N: String(Date.now() + 600_000) },
        },
      }),
    );
    ddb.destroy();
    const busy = { ...fx, env: { ...fx.env, VIBE_LEDGER_TABLE: own } };
    const r = await rotate(busy, clients());
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ code: "ROTATE_RUN_IN_PROGRESS" });
    expect(await senderPair(fx)).toEqual(fx.old);
    expect((await rotate(busy, clients(), ["--force"])).code).toBe(EXIT.ok);
  });

  test("when the ledger cannot be read, it warns and still rotates", async () => {
    const fx = await fixture();
    const r = await rotate(fx, clients({ ddb: [{ command: "QueryCommand" }] }));
    expect(r.code).toBe(EXIT.ok);
    expect(r.result.warnings).toEqual([expect.stringContaining("could not read the delivery ledger")]);
  });
});
