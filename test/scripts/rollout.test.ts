import { randomUUID } from "node:crypto";
import { DynamoDBClient, PutItemCommand } from "@aws-sdk/client-dynamodb";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { EXIT, type CliIo } from "../../app/src/cli-kit";
import { ParameterStoreConfig } from "../../app/src/config";
import { LEDGER, parameterName, runtimeParameterName } from "../../app/src/contract";
import { ROLLOUT_GATE, checkMove, evaluateGate, percentile, recentDates, type LedgerOutcome } from "../../scripts/lib/rollout";
import { OPERATOR_ACTIONS, iamActionOf } from "../../scripts/lib/operator-actions";
import { rolloutCli, type RolloutClients } from "../../scripts/rollout";
import { resolveStage } from "../../scripts/lib/stage-env";
import { REGION, TEST_CREDENTIALS, createLedgerTable, motoUrl, putParameters } from "../support/app-fixtures";

const NOW = new Date("2026-12-01T15:00:00Z"); // 10:00 in New York: digest date 2026-12-01
const awsConfig = () => ({ region: REGION, endpoint: motoUrl(), credentials: TEST_CREDENTIALS, maxAttempts: 2 });

function collectingIo(isTTY = false): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, isTTY, stdout: (t) => void out.push(t), stderr: (t) => void err.push(t) };
}

interface Item {
  date: string;
  provider?: string;
  state: "sent" | "failed" | "unknown" | "in_progress";
  latencyMs?: number;
}

/** A deployed local stage below a fresh root, with its own ledger table holding `items` (the documented schema). */
async function stage(opts: { sesPercent?: string; useSes?: string; sendgridKey?: boolean; items?: Item[] } = {}) {
  const root = `/rollout-${randomUUID().slice(0, 8)}`;
  const ssm = new SSMClient(awsConfig());
  const ddb = new DynamoDBClient(awsConfig());
  await putParameters(ssm, root, {
    from: "digest@example.com",
    to: "reader@example.com",
    feeds: '[{"url":"http://127.0.0.1:9/a","name":"A"}]',
    sesPercent: opts.sesPercent ?? "10",
    useSes: opts.useSes ?? "true",
    ...(opts.sendgridKey === false ? {} : { sendgridApiKey: `demo-sendgrid-${randomUUID()}` }),
  });
  await ssm.send(new PutParameterCommand({ Name: runtimeParameterName(root, "sesRollback"), Value: "none", Type: "String", Overwrite: true }));
  const table = await createLedgerTable(ddb);
  const A = LEDGER.attributes;
  let n = 0;
  for (const i of opts.items ?? []) {
    await ddb.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          [LEDGER.partitionKey]: { S: i.date },
          [LEDGER.sortKey]: { S: `r${n++}@example.com` },
          [A.state]: { S: i.state },
          ...(i.provider ? { [A.provider]: { S: i.provider } } : {}),
          ...(i.latencyMs !== undefined ? { [A.latencyMs]: { N: String(i.latencyMs) } } : {}),
        },
      }),
    );
  }
  const env = { AWS_ENDPOINT_URL: motoUrl(), AWS_REGION: REGION, VIBE_PARAMETER_ROOT: root, VIBE_LEDGER_TABLE: table, VIBE_STAGE: "local" };
  const percent = async () => (await ssm.send(new GetParameterCommand({ Name: parameterName(root, "sesPercent") }))).Parameter?.Value;
  const rollbackValue = async () => (await ssm.send(new GetParameterCommand({ Name: runtimeParameterName(root, "sesRollback") }))).Parameter?.Value;
  return { root, ssm, ddb, table, env, percent, rollbackValue };
}

async function rollout(env: Record<string, string>, argv: string[], opts: { tty?: boolean; c?: RolloutClients } = {}) {
  const io = collectingIo(opts.tty === true);
  const code = await rolloutCli(io, { env, now: () => NOW, ...(opts.c ? { clients: () => opts.c! } : { clients: () => ({ ssm: new SSMClient(awsConfig()), ddb: new DynamoDBClient(awsConfig()) }) }) }).run(argv);
  const lines = opts.tty ? [] : io.out.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, result: (lines[lines.length - 1] ?? {}) as Record<string, any>, stdout: io.out.join(""), stderr: io.err.join("") }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const [D0, D1, D2, D3, , , , D7] = recentDates(NOW, 8);
/** `n` sent items of `provider` on `date` with latencies base, base+step, ... */
const sent = (date: string, provider: string, n: number, base = 10, step = 10): Item[] => Array.from({ length: n }, (_, i) => ({ date, provider, state: "sent", latencyMs: base + i * step }));
/** Three days of healthy data: SES fast with no failures, SendGrid slower. */
const healthy = (): Item[] => [D0!, D1!, D2!].flatMap((d) => [...sent(d, "ses", 4, 20, 5), ...sent(d, "sendgrid", 6, 150, 20)]);

describe("rollout status", () => {
  test("when the ledger holds a week of outcomes, it reports per provider sent, failed, unknown and p50/p95 latency over the 7 digest dates", async () => {
    const s = await stage({
      sesPercent: "50",
      items: [
        ...sent(D0!, "ses", 10), // 10..100 ms
        { date: D1!, provider: "ses", state: "failed" },
        { date: D1!, provider: "ses", state: "unknown" },
        ...sent(D2!, "sendgrid", 4, 200, 100), // 200..500 ms
        { date: D2!, provider: "sendgrid", state: "in_progress" },
        { date: D3!, state: "failed" },
        ...sent(D7!, "ses", 5, 5000), // eight days ago: outside the window
      ],
    });
    const r = await rollout(s.env, ["status", "--stage", "local"]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.result).toMatchObject({ ok: true, useSes: true, sesPercent: 50, stageData: { sesPercent: 100 }, rollback: null, window: { from: recentDates(NOW, 7)[6], to: D0, days: 7 } });
    expect(r.result.providers.ses).toEqual({ sent: 10, failed: 1, unknown: 1, inProgress: 0, failureRate: 2 / 12, p50Ms: 50, p95Ms: 100, latencySamples: 10 });
    expect(r.result.providers.sendgrid).toMatchObject({ sent: 4, inProgress: 1, failureRate: 0, p50Ms: 300, p95Ms: 500 });
    expect(r.result.providers.none).toMatchObject({ failed: 1 });
    expect(Object.keys(r.result.days)).toEqual(recentDates(NOW, 7));
    expect(r.result.days[D1!].ses).toMatchObject({ failed: 1, unknown: 1, sent: 0 });
  });

  test("in a terminal, it prints the flag, the share and its drift from the stage data, the next step's gate and the table", async () => {
    const s = await stage({ sesPercent: "50", items: sent(D0!, "ses", 2) });
    const r = await rollout(s.env, ["status", "--stage", "local"], { tty: true });
    expect(r.stdout).toMatch(/use_ses +true/);
    expect(r.stdout).toMatch(/ses_percent +50 +\(modules\/stages\.ts says 100: the next deploy writes 100 back\)/);
    expect(r.stdout).toMatch(/next step +100: gate not met\n +- SES has outcomes on 1 of the 3 digest days/);
    expect(r.stdout).toMatch(new RegExp(`${D0} +ses +2 +0 +0 +0 +0\\.0% +10 +20`));
    expect(r.stdout).toMatch(/7 days +ses +2 /);
  });

  test("when a rollback is in force, it says since when, why, and every field of its record (the evidence)", async () => {
    const s = await stage();
    const record = { state: "rolled_back", at: "2026-12-01T12:07:00.000Z", reason: "ses-failure-rate", detail: "3 of 40 SES sends failed in 10 min (7.5% > 5%)", runId: "run-1", digestDate: D0, evidence: { attempts: 40, failures: 3, windowMs: 600000, bound: 0.061 } };
    await s.ssm.send(new PutParameterCommand({ Name: runtimeParameterName(s.root, "sesRollback"), Value: JSON.stringify(record), Type: "String", Overwrite: true }));
    const r = await rollout(s.env, ["status", "--stage", "local"], { tty: true });
    expect(r.stdout).toContain("rollback     IN FORCE since 2026-12-01T12:07:00.000Z: ses-failure-rate: 3 of 40 SES sends failed in 10 min (7.5% > 5%) (run run-1, digest 2026-12-01)");
    expect(r.stdout).toMatch(/evidence: attempts=40 failures=3 windowMs=600000 bound=0\.061/);
    const j = await rollout(s.env, ["status", "--stage", "local"]);
    expect(j.result.rollback).toEqual(record);
  });

  test("when the ledger cannot be read (not a permission problem), it still reports the parameters and says why the days are missing", async () => {
    const s = await stage();
    const r = await rollout({ ...s.env, VIBE_LEDGER_TABLE: "no-such-table-here" }, ["status", "--stage", "local"]);
    expect(r.code).toBe(EXIT.ok);
    expect(r.result.sesPercent).toBe(10);
    expect(String(r.result.ledgerError)).toMatch(/ResourceNotFound/);
  });

  test("when reading the ledger is denied, it fails with exit 2 (the operator's permissions)", async () => {
    const s = await stage();
    const ddb = new DynamoDBClient(awsConfig());
    ddb.middlewareStack.add(() => async () => {
      throw Object.assign(new Error("denied"), { name: "AccessDeniedException", $metadata: { httpStatusCode: 400, requestId: "r-1" } });
    }, { step: "initialize" });
    const r = await rollout(s.env, ["status", "--stage", "local"], { c: { ssm: new SSMClient(awsConfig()), ddb } });
    expect(r.code).toBe(EXIT.config);
    expect(r.result).toMatchObject({ code: "AWS_ACCESS_DENIED" });
  });

  test("when reading the parameters fails, it exits 1 with the AWS error's code and request id", async () => {
    const s = await stage();
    const ssm = new SSMClient(awsConfig());
    ssm.middlewareStack.add(() => async () => {
      throw Object.assign(new Error("boom"), { name: "InternalServerError", $metadata: { httpStatusCode: 500, requestId: "r-500" } });
    }, { step: "initialize" });
    const r = await rollout(s.env, ["status", "--stage", "local"], { c: { ssm, ddb: new DynamoDBClient(awsConfig()) } });
    expect(r.code).toBe(EXIT.failed);
    expect(String(r.result.message)).toContain("r-500");
  });
});

describe("rollout set", () => {
  test.each<[string, string, string, string, () => Item[]]>([
    ["skipping a step", "10", "50", "ROLLOUT_STEP_REFUSED", healthy],
    ["a share that is not a step", "10", "30", "ROLLOUT_STEP_REFUSED", healthy],
    ["too few days of SES data", "10", "25", "ROLLOUT_GATE_NOT_MET", () => sent(D0!, "ses", 5).concat(sent(D0!, "sendgrid", 5))],
    ["SES failing more than SendGrid", "25", "50", "ROLLOUT_GATE_NOT_MET", () => [...healthy(), { date: D0!, provider: "ses", state: "failed" }, { date: D1!, provider: "ses", state: "unknown" }]],
    ["SES slower than SendGrid", "25", "50", "ROLLOUT_GATE_NOT_MET", () => [D0!, D1!, D2!].flatMap((d) => [...sent(d, "ses", 4, 900, 10), ...sent(d, "sendgrid", 4, 100, 10)])],
  ])("when %s (%s -> %s), it refuses with %s (exit 1) and leaves ses_percent alone", async (_label, from, to, code, items) => {
    const s = await stage({ sesPercent: from, items: items() });
    const r = await rollout(s.env, ["set", to, "--stage", "local"]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ ok: false, code });
    expect(await s.percent()).toBe(from);
  });

  test("when the gate passes, it moves one step up and says a deploy writes the stage's value back", async () => {
    const s = await stage({ sesPercent: "25", items: healthy() });
    const r = await rollout(s.env, ["set", "50", "--stage", "local"], { tty: true });
    expect(r.code).toBe(EXIT.ok);
    expect(await s.percent()).toBe("50");
    expect(r.stdout).toContain("ses_percent 25 -> 50 on stage local (gate passed)");
    expect(r.stdout).toContain("a deploy writes the stage's value (100, modules/stages.ts) back unless sesPercent is changed there too");
    const cfg = await new ParameterStoreConfig(s.ssm, { root: s.root, ttlSeconds: 0 }).load();
    expect(cfg.sesPercent).toBe(50);
  });

  test("when moving from 0 to the first step, no gate applies (SES has no data yet)", async () => {
    const s = await stage({ sesPercent: "0" });
    expect((await rollout(s.env, ["set", "10", "--stage", "local"])).code).toBe(EXIT.ok);
    expect(await s.percent()).toBe("10");
  });

  test("when a rollback is in force, moving up is refused but moving down is allowed", async () => {
    const s = await stage({ sesPercent: "25", items: healthy() });
    expect((await rollout(s.env, ["rollback", "--stage", "local"])).code).toBe(EXIT.ok);
    const up = await rollout(s.env, ["set", "50", "--stage", "local"]);
    expect(up.result).toMatchObject({ code: "ROLLOUT_ROLLED_BACK" });
    expect((await rollout(s.env, ["set", "0", "--stage", "local"])).code).toBe(EXIT.ok);
    expect(await s.percent()).toBe("0");
  });

  test("when moving down, any step is allowed without data", async () => {
    const s = await stage({ sesPercent: "100" });
    expect((await rollout(s.env, ["set", "10", "--stage", "local"])).code).toBe(EXIT.ok);
    expect(await s.percent()).toBe("10");
  });

  test("with --force, it writes a refused move and says what it forced past", async () => {
    const s = await stage({ sesPercent: "10" });
    const r = await rollout(s.env, ["set", "100", "--stage", "local", "--force"]);
    expect(r.code).toBe(EXIT.ok);
    expect(await s.percent()).toBe("100");
    expect(r.result).toMatchObject({ forced: true, warnings: expect.arrayContaining([expect.stringMatching(/^forced past: from 10 the next step is 25/)]) });
  });

  test("when the share is already the one asked for, it writes nothing", async () => {
    const s = await stage({ sesPercent: "25" });
    const r = await rollout(s.env, ["set", "25", "--stage", "local"]);
    expect(r.result).toMatchObject({ ok: true, changed: false });
  });

  test("when use_ses is false, it writes the share and warns that it has no effect", async () => {
    const s = await stage({ sesPercent: "100", useSes: "false" });
    const r = await rollout(s.env, ["set", "50", "--stage", "local"]);
    expect(r.result.warnings).toEqual(expect.arrayContaining([expect.stringContaining("use_ses is false")]));
  });

  test.each(["150", "-1", "ten", "25.5"])("when the percent is %p, it exits 64", async (p) => {
    const s = await stage();
    expect((await rollout(s.env, ["set", p, "--stage", "local"])).code).toBe(EXIT.usage);
    expect(await s.percent()).toBe("10");
  });
});

describe("rollout rollback and clear", () => {
  test("when rollback is forced, the sender's next config load sees a manual rollback with the operator's detail; clear removes it", async () => {
    const s = await stage();
    const r = await rollout(s.env, ["rollback", "--stage", "local", "--detail", "bounce spike at SES, INC-42"]);
    expect(r.code).toBe(EXIT.ok);
    const cfg = await new ParameterStoreConfig(s.ssm, { root: s.root, ttlSeconds: 0 }).load();
    expect(cfg.sesRollback).toMatchObject({ state: "rolled_back", reason: "manual", detail: "bounce spike at SES, INC-42", at: NOW.toISOString() });
    const again = await rollout(s.env, ["rollback", "--stage", "local"]);
    expect(again.result).toMatchObject({ changed: false });
    const cleared = await rollout(s.env, ["clear", "--stage", "local"]);
    expect(cleared.result).toMatchObject({ changed: true, cleared: { reason: "manual" } });
    expect(await s.rollbackValue()).toBe("none");
    expect((await new ParameterStoreConfig(s.ssm, { root: s.root, ttlSeconds: 0 }).load()).sesRollback).toBeUndefined();
    expect((await rollout(s.env, ["clear", "--stage", "local"])).result).toMatchObject({ changed: false, cleared: null });
  });

  test("when the stage has no SendGrid key, rollback refuses (it would stop all mail) unless --force", async () => {
    const s = await stage({ sendgridKey: false });
    const r = await rollout(s.env, ["rollback", "--stage", "local"]);
    expect(r.code).toBe(EXIT.failed);
    expect(r.result).toMatchObject({ code: "ROLLOUT_NO_FALLBACK" });
    expect(await s.rollbackValue()).toBe("none");
    expect((await rollout(s.env, ["rollback", "--stage", "local", "--force"])).code).toBe(EXIT.ok);
  });

  test.each(["ops@example.com asked", "", "two\nlines"])("when --detail is %j, it exits 64 and records nothing", async (detail) => {
    const s = await stage();
    expect((await rollout(s.env, ["rollback", "--stage", "local", "--detail", detail])).code).toBe(EXIT.usage);
    expect(await s.rollbackValue()).toBe("none");
  });
});

describe("rollout's AWS calls", () => {
  test.each([
    ["rollout status", ["status"]],
    ["rollout set", ["set", "100", "--force"]],
    ["rollout rollback", ["rollback"]],
    ["rollout clear", ["clear"]],
  ])("the AWS calls of %s are exactly the actions docs/runbook.md lists (KMS aside: SSM and DynamoDB make those)", async (command, argv) => {
    const s = await stage({ sesPercent: "50" });
    const calls = new Set<string>();
    const ssm = new SSMClient(awsConfig());
    const ddb = new DynamoDBClient(awsConfig());
    for (const [client, service] of [[ssm, "ssm"], [ddb, "dynamodb"]] as const) {
      (client.middlewareStack as SSMClient["middlewareStack"]).add((next, ctx) => async (a) => (calls.add(iamActionOf(service, String(ctx.commandName))), next(a)), { step: "initialize", name: `record-${randomUUID()}` });
    }
    const r = await rollout(s.env, [...argv, "--stage", "local"], { c: { ssm, ddb } });
    expect(r.code).toBe(EXIT.ok);
    const listed = new Set(OPERATOR_ACTIONS[command]!.map((a) => a.action).filter((a) => !a.startsWith("kms:")));
    expect([...calls].sort()).toEqual([...listed].sort());
  });
});

describe("stage resolution (modules/stages.ts, the local stage's exports)", () => {
  test("a real stage comes from the stage data alone: its region, root, the stack's ledger table, SendGrid's API", () => {
    const s = resolveStage("prod", { VIBE_LEDGER_TABLE: "ignored", VIBE_PARAMETER_ROOT: "/ignored" });
    expect(s).toMatchObject({ name: "prod", region: "us-east-1", parameterRoot: "/vibecoding", ledgerTable: "vibe-digest-prod-delivery-ledger", sendgridBaseUrl: "https://api.sendgrid.com", credentialsMode: "task-role", overrides: [] });
    expect(s.endpoint).toBeUndefined();
  });

  test("the local stage takes what .local/env.sh exports, and says which variables it used", () => {
    const s = resolveStage("local", { AWS_ENDPOINT_URL: "http://127.0.0.1:4566", VIBE_LEDGER_TABLE: "t-1", VIBE_SENDGRID_BASE_URL: "http://127.0.0.1:9/", VIBE_STAGE: "local" });
    expect(s).toMatchObject({ endpoint: "http://127.0.0.1:4566", ledgerTable: "t-1", sendgridBaseUrl: "http://127.0.0.1:9", senderUser: "vibe-digest-local-sender", credentialsMode: "access-key" });
    expect(s.overrides).toEqual(["AWS_ENDPOINT_URL", "VIBE_LEDGER_TABLE", "VIBE_SENDGRID_BASE_URL"]);
  });

  test.each<[Record<string, string>, string]>([
    [{ AWS_REGION: "../../etc" }, "AWS_REGION"],
    [{ VIBE_PARAMETER_ROOT: "vibecoding" }, "VIBE_PARAMETER_ROOT"],
    [{ VIBE_LEDGER_TABLE: "a b" }, "VIBE_LEDGER_TABLE"],
    [{ VIBE_SENDER_USER: "no spaces allowed" }, "VIBE_SENDER_USER"],
    [{ VIBE_SENDGRID_BASE_URL: "ftp://x" }, "VIBE_SENDGRID_BASE_URL"],
  ])("when the local environment holds %j, it refuses with STAGE_ENV_INVALID naming %s", (env, name) => {
    expect(() => resolveStage("local", env)).toThrow(expect.objectContaining({ code: "STAGE_ENV_INVALID", exitCode: EXIT.config, message: expect.stringContaining(name) }));
  });
});

describe("rollout command line", () => {
  test("when --help is given, it names the runbook steps, the environment and the exit codes", async () => {
    const io = collectingIo(true);
    expect(await rolloutCli(io).run(["--help"])).toBe(EXIT.ok);
    expect(io.out.join("")).toMatch(/0 -> 10 -> 25 -> 50 -> 100[\s\S]*Environment:[\s\S]*VIBE_LEDGER_TABLE[\s\S]*Exit codes:[\s\S]*\n\s+64\s/);
  });

  test.each([["status"], ["set", "10"], ["rollback"], ["clear"]])("when %s runs without --stage, it exits 64", async (...argv) => {
    expect((await rollout({}, argv)).code).toBe(EXIT.usage);
  });
});

describe("the runbook's steps and gate", () => {
  test.each<[number, number, "up" | "down" | "same", boolean, boolean]>([
    [0, 10, "up", false, false],
    [10, 25, "up", false, true],
    [25, 50, "up", false, true],
    [50, 100, "up", false, true],
    [10, 50, "up", true, true],
    [0, 25, "up", true, false],
    [25, 30, "up", true, false],
    [100, 0, "down", false, false],
    [50, 25, "down", false, false],
    [25, 25, "same", false, false],
    [30, 50, "up", false, true],
  ])("moving %i -> %i is %s, refused %p, gated %p", (from, to, direction, refused, gated) => {
    const m = checkMove(from, to);
    expect([m.direction, m.refused !== undefined, m.gated]).toEqual([direction, refused, gated]);
  });

  const days = (n: number, ses: Partial<Item>, sg: Partial<Item>): LedgerOutcome[] =>
    recentDates(NOW, n).flatMap((date) => [
      ...Array.from({ length: 10 }, () => ({ date, provider: "ses", state: "sent", latencyMs: 50, ...ses }) as LedgerOutcome),
      ...Array.from({ length: 10 }, () => ({ date, provider: "sendgrid", state: "sent", latencyMs: 100, ...sg }) as LedgerOutcome),
    ]);

  test("when SES has as many good days as the gate needs, it passes; one day fewer, it does not", () => {
    expect(evaluateGate(days(ROLLOUT_GATE.minSesDays, {}, {})).passed).toBe(true);
    expect(evaluateGate(days(ROLLOUT_GATE.minSesDays - 1, {}, {})).passed).toBe(false);
  });

  test("when SES's p95 is exactly the allowed multiple of SendGrid's it passes, and above it fails", () => {
    expect(evaluateGate(days(3, { latencyMs: 100 * ROLLOUT_GATE.p95Ratio }, {})).passed).toBe(true);
    expect(evaluateGate(days(3, { latencyMs: 100 * ROLLOUT_GATE.p95Ratio + 1 }, {})).passed).toBe(false);
  });

  test("when SES fails above the rollback trigger, it fails even if SendGrid fails as often", () => {
    const bad = days(3, {}, {}).map((o, i) => (i % 10 === 0 ? { ...o, state: "failed" } : o)); // 10% on both
    expect(evaluateGate(bad).reasons).toEqual([expect.stringContaining("above 5%")]);
  });

  test.each<[string, number, number | null, number[]]>([
    ["no samples", 0.5, null, []],
    ["one sample", 0.95, 7, [7]],
    ["1..4", 0.5, 2, [1, 2, 3, 4]],
    ["1..4", 0.95, 4, [1, 2, 3, 4]],
    ["1..100", 0.95, 95, Array.from({ length: 100 }, (_, i) => i + 1)],
  ])("the nearest-rank percentile of %s at %p is %p", (_label, q, want, xs) => {
    expect(percentile(xs, q)).toBe(want);
  });
});
