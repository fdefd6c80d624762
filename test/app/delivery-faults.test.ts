/**
 * The delivery fault matrix: whole runs against moto and the SendGrid emulator behind the
 * seeded fault proxy (test/support/fault-proxy.ts), one scenario per fault of issue #13.
 * After every run, what moto's SES and the SendGrid emulator recorded is compared with the
 * ledger: no recipient got two messages, and none was lost (a ledger `sent` without a
 * delivery or with another message id, or a delivery the ledger has as `failed` or absent,
 * which the next run would send again). Then a clean catch-up run must leave everyone
 * delivered exactly once, but for `unknown` recipients, which are reported, not resent.
 *
 * This file starts its own moto (it resets it between scenarios) and its own servers, all
 * on 127.0.0.1. N per scenario is in the table (100 to 200, so the matrix fits CI on 2
 * cores); FAULT_MATRIX_N=1000 runs every scenario at the list's maximum (docs/operations.md
 * has that table). Pacing is real but fast (SES 100/s through the proxy's quota rewrite,
 * SendGrid 100/s) except in the SIGTERM scenario (20/s, so the stop lands mid-list): moto
 * is the bottleneck.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SESClient, VerifyEmailIdentityCommand } from "@aws-sdk/client-ses";
import { SSMClient } from "@aws-sdk/client-ssm";
import { ParameterStoreConfig } from "../../app/src/config";
import { LEDGER } from "../../app/src/contract";
import { dispatchProviderFor } from "../../app/src/delivery/select";
import { SesClientCache } from "../../app/src/delivery/ses-client";
import { FeedFetcher } from "../../app/src/feeds";
import { DeliveryLedger, LEDGER_REQUEST_HANDLER, type LedgerItem } from "../../app/src/ledger";
import { digestDate } from "../../app/src/render";
import { RollbackStore } from "../../app/src/rollback";
import { runDigest, type RunSummary } from "../../app/src/run";
import { startFeedServer, type FeedServer } from "../../scripts/lib/feed-server";
import { startSendGridServer, type SendGridServer } from "../../scripts/lib/sendgrid-server";
import { captureLogger, putParameters, TEST_CREDENTIALS } from "../support/app-fixtures";
import { startFaultProxy, seededUnit, classify, type FaultProxy, type FaultRule } from "../support/fault-proxy";
import { startMoto, type MotoServer } from "../support/moto";

const REGION = "us-east-1";
const NOW = new Date("2026-11-28T12:00:00Z");
const DATE = digestDate(NOW);
const FEED = `<?xml version="1.0"?><rss version="2.0"><channel><title>Faults</title><link>https://faults.example.com/</link><description>d</description><item><title>One item</title><link>https://faults.example.com/1</link><description>short</description></item></channel></rss>`;

interface Scenario {
  readonly name: string;
  readonly n: number;
  readonly sesPercent: number;
  readonly aws?: readonly FaultRule[];
  readonly sendgrid?: readonly FaultRule[];
  /** How the faulted run goes: one run, two at once, or stopped (SIGTERM) after this share of results. */
  readonly mode?: "one" | "two" | { readonly stopAfter: number };
  /** Whether this scenario may leave recipients `unknown` (ambiguous answers). */
  readonly unknownAllowed?: boolean;
  /** Sends per second per provider. @default 100 */
  readonly ceiling?: number;
}

interface Row {
  scenario: string;
  n: number;
  sent: number;
  failed: number;
  unknown: number;
  duplicates: number;
  lost: number;
  afterCatchUp: { sent: number; unknown: number; duplicates: number; lost: number };
  ms: number;
  faults: Record<string, number>;
}

const SCENARIOS: Scenario[] = [
  { name: "no faults (control)", n: 100, sesPercent: 50 },
  { name: "throttling 10%", n: 200, sesPercent: 50, aws: [{ on: "ses:SendRawEmail", fault: "throttle", rate: 0.1 }], sendgrid: [{ on: "sendgrid:send", fault: "throttle", rate: 0.1 }] },
  { name: "throttling 30%", n: 200, sesPercent: 50, aws: [{ on: "ses:SendRawEmail", fault: "throttle", rate: 0.3 }], sendgrid: [{ on: "sendgrid:send", fault: "throttle", rate: 0.3 }] },
  { name: "throttling 50%", n: 200, sesPercent: 50, aws: [{ on: "ses:SendRawEmail", fault: "throttle", rate: 0.5 }], sendgrid: [{ on: "sendgrid:send", fault: "throttle", rate: 0.5 }] },
  {
    name: "resets after forwarding (SES, SendGrid 3%; DynamoDB 5%)",
    n: 200,
    sesPercent: 50,
    unknownAllowed: true,
    aws: [
      { on: "ses:SendRawEmail", fault: "reset-after-forward", rate: 0.03 },
      { on: ["dynamodb:UpdateItem", "dynamodb:Query"], fault: "reset-after-forward", rate: 0.05 },
    ],
    sendgrid: [{ on: "sendgrid:send", fault: "reset-after-forward", rate: 0.03 }],
  },
  {
    name: "5xx (SES 3% before, SendGrid 3% after forwarding; DynamoDB 5%)",
    n: 200,
    sesPercent: 50,
    unknownAllowed: true,
    aws: [
      { on: "ses:SendRawEmail", fault: "error-5xx", rate: 0.03 },
      { on: ["dynamodb:UpdateItem", "dynamodb:Query"], fault: "error-5xx", rate: 0.05 },
    ],
    sendgrid: [{ on: "sendgrid:send", fault: "error-5xx-after-forward", rate: 0.03 }],
  },
  { name: "lost DynamoDB answers (20% of writes)", n: 200, sesPercent: 50, aws: [{ on: "dynamodb:UpdateItem", fault: "reset-after-forward", rate: 0.2 }] },
  // Slower sends, so the stop finds recipients claimed and waiting for their slot, and untried ones.
  { name: "SIGTERM mid-run", n: 200, sesPercent: 50, mode: { stopAfter: 0.4 }, ceiling: 20 },
  { name: "two concurrent runs", n: 200, sesPercent: 50, mode: "two" },
  { name: "15-second DynamoDB endpoint outage", n: 200, sesPercent: 50, aws: [{ on: ["dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:GetItem"], fault: "outage", outage: { afterRequests: 150, durationMs: 15_000 } }] },
];

const sizeOverride = process.env.FAULT_MATRIX_N ? Number(process.env.FAULT_MATRIX_N) : undefined;

describe("the fault proxy", () => {
  test("when the same requests arrive in another order, the same ones are faulted (seeded by identity, not arrival)", () => {
    const body = (to: string) => `Action=SendRawEmail&Destinations.member.1=${encodeURIComponent(to)}`;
    const ids = Array.from({ length: 200 }, (_, i) => classify({}, "/", body(`r${i}@example.net`)));
    expect(ids[7]).toEqual({ kind: "ses:SendRawEmail", recipient: "r7@example.net" });
    const hit = (seed: number, order: typeof ids) => new Set(order.filter((c) => seededUnit(seed, 0, `${c.kind}|${c.recipient}`, 0) < 0.3).map((c) => c.recipient));
    const forward = hit(42, ids);
    expect(hit(42, [...ids].reverse())).toEqual(forward);
    expect(forward.size).toBeGreaterThan(40);
    expect(forward.size).toBeLessThan(80);
    expect(hit(43, ids)).not.toEqual(forward);
  });

  test("when latencyMs is set, a request reaches the upstream no sooner than that after it was sent", async () => {
    const arrived: number[] = [];
    const upstream = http.createServer((_req, res) => {
      arrived.push(performance.now());
      res.end("ok");
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
    const proxy = await startFaultProxy({ target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, seed: 1, latencyMs: 150 });
    try {
      const sent = performance.now();
      const res = await fetch(`${proxy.url}/`, { method: "POST", body: "Action=GetSendQuota" });
      expect(await res.text()).toBe("ok");
      expect(arrived).toHaveLength(1);
      expect(arrived[0]! - sent).toBeGreaterThanOrEqual(145);
    } finally {
      await proxy.close();
      await new Promise((r) => upstream.close(r));
    }
  });
});

describe("delivery under faults: exactly once, nothing lost", () => {
  let moto: MotoServer;
  let feeds: FeedServer;
  let sendgrid: SendGridServer;
  let aws: FaultProxy;
  let sg: FaultProxy;
  const rows: Row[] = [];

  beforeAll(async () => {
    moto = await startMoto();
    feeds = await startFeedServer({ routes: { "/faults.rss": { body: FEED } } });
    sendgrid = await startSendGridServer();
    aws = await startFaultProxy({ target: moto.url, seed: 13, sesQuota: { maxSendRate: 100, max24HourSend: 1_000_000 } });
    sg = await startFaultProxy({ target: sendgrid.url, seed: 13 });
  }, 60_000);

  afterAll(async () => {
    await Promise.all([aws?.close(), sg?.close(), sendgrid?.close(), feeds?.close()]);
    await moto?.stop();
    if (rows.length) {
      const head = "| scenario | N | sent | failed | unknown | duplicates | lost | after catch-up: sent / unknown / dup / lost | runtime |";
      const lines = rows.map((r) => `| ${r.scenario} | ${r.n} | ${r.sent} | ${r.failed} | ${r.unknown} | ${r.duplicates} | ${r.lost} | ${r.afterCatchUp.sent} / ${r.afterCatchUp.unknown} / ${r.afterCatchUp.duplicates} / ${r.afterCatchUp.lost} | ${(r.ms / 1000).toFixed(1)} s |`);
      process.stdout.write(`\nfault matrix\n${head}\n|---|---|---|---|---|---|---|---|---|\n${lines.join("\n")}\n`);
    }
  });

  /** A fresh stack on the reset moto: parameters, a verified sender, a ledger table. */
  async function stackFor(n: number, sesPercent: number) {
    await fetch(`${moto.url}/moto-api/reset`, { method: "POST" });
    const id = randomUUID().slice(0, 8);
    const root = `/faults-${id}`;
    const from = `digest-${id}@example.com`;
    const recipients = Array.from({ length: n }, (_, i) => `f${i}-${id}@example.net`);
    const client = { region: REGION, credentials: TEST_CREDENTIALS, maxAttempts: 2 };
    const ssm = new SSMClient({ ...client, endpoint: aws.url });
    await putParameters(ssm, root, { from, to: recipients.join(","), feeds: JSON.stringify([{ url: `${feeds.url}/faults.rss`, name: "Faults" }]), sesPercent: String(sesPercent), sendgridApiKey: `SG.faults-${id}` });
    const ses = new SESClient({ ...client, endpoint: moto.url });
    await ses.send(new VerifyEmailIdentityCommand({ EmailAddress: from }));
    ses.destroy();
    const ddb = new DynamoDBClient({ ...client, endpoint: aws.url, requestHandler: LEDGER_REQUEST_HANDLER });
    const table = `ledger-${id}`;
    await new DynamoDBClient({ ...client, endpoint: moto.url }).send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: LEDGER.partitionKey, AttributeType: "S" }, { AttributeName: LEDGER.sortKey, AttributeType: "S" }],
        KeySchema: [{ AttributeName: LEDGER.partitionKey, KeyType: "HASH" }, { AttributeName: LEDGER.sortKey, KeyType: "RANGE" }],
      }),
    );
    /** Provider requests started after the stop (there must be none). */
    const startedAfterStop: string[] = [];
    let stopSignal: AbortSignal | undefined;
    const run = async (opts: { signal?: AbortSignal; onResult?: () => void; ceiling?: number } = {}): Promise<RunSummary> => {
      stopSignal = opts.signal;
      const log = captureLogger();
      const sesClients = new SesClientCache({
        endpoint: aws.url,
        defaultCredentials: TEST_CREDENTIALS,
        create: (cfg) => {
          const c = new SESClient(cfg);
          c.middlewareStack.add(
            (next, ctx) => async (args) => {
              if (ctx.commandName === "SendRawEmailCommand" && stopSignal?.aborted) startedAfterStop.push("ses");
              return next(args);
            },
            { step: "initialize", name: "after-stop" },
          );
          return c;
        },
      });
      try {
        return await runDigest(
          {
            config: new ParameterStoreConfig(ssm, { root }),
            feeds: new FeedFetcher({ retries: 0 }),
            provider: (c, ctx) =>
              dispatchProviderFor(c, { ses: () => sesClients.get(c).client, logger: log.logger, sendgridBaseUrl: sg.url, sendgridMaxPerSecond: 100, rollbackStore: new RollbackStore(ssm, root) }, ctx),
            logger: log.logger,
            clock: () => NOW,
            ledger: new DeliveryLedger(ddb, table),
            rollbackStore: new RollbackStore(ssm, root),
          },
          { dispatch: { ceilingPerSecond: opts.ceiling ?? 100, baseBackoffMs: 50, maxBackoffMs: 1000, onResult: opts.onResult }, signal: opts.signal, shutdownGraceMs: 10_000, ledgerSettleMs: 20_000, ledgerPollMs: 200 },
        );
      } finally {
        sesClients.destroy();
      }
    };
    return { recipients, table, ddb, ssm, run, startedAfterStop };
  }

  /** Deliveries per recipient (moto SES and the SendGrid emulator), the ledger, and the checks. */
  async function audit(recipients: string[], table: string) {
    const res = await fetch(`${moto.url}/moto-api/data.json`);
    const data = (await res.json()) as { ses?: { RawMessage?: { id: string; destinations?: string[] }[] } };
    const ids = new Map<string, string[]>(recipients.map((r) => [r, []]));
    for (const m of data.ses?.RawMessage ?? []) for (const d of new Set(m.destinations ?? [])) ids.get(d)?.push(m.id);
    for (const a of sendgrid.accepted) for (const t of a.to) ids.get(t.toLowerCase())?.push(a.messageId);
    const items = await new DeliveryLedger(new DynamoDBClient({ region: REGION, credentials: TEST_CREDENTIALS, endpoint: moto.url }), table).items(DATE);
    let duplicates = 0;
    let lost = 0;
    const states: Record<string, number> = {};
    for (const r of recipients) {
      const got = ids.get(r)!;
      const item: LedgerItem | undefined = items.get(r);
      const state = item?.state ?? "absent";
      states[state] = (states[state] ?? 0) + 1;
      if (got.length > 1) duplicates++;
      if (state === "sent" && (got.length === 0 || !got.includes(item!.messageId!))) lost++;
      if (got.length > 0 && (state === "failed" || state === "absent")) lost++;
    }
    return { duplicates, lost, states, delivered: (r: string) => ids.get(r)!.length };
  }

  const accounted = (s: RunSummary) => s.sent + s.failed + s.unknown + s.skipped + s.inFlight + s.notTried;

  test.each(SCENARIOS.map((s) => [s.name, s] as const))("%s: 0 duplicates and 0 lost, before and after the catch-up run", async (_name, scenario) => {
    const n = sizeOverride ?? scenario.n;
    aws.setRules([]);
    sg.setRules([]);
    const s = await stackFor(n, scenario.sesPercent);
    aws.setRules(scenario.aws ?? []);
    sg.setRules(scenario.sendgrid ?? []);
    const t0 = Date.now();
    let summaries: RunSummary[];
    const mode = scenario.mode ?? "one";
    if (mode === "two") {
      summaries = await Promise.all([s.run({ ceiling: scenario.ceiling }), s.run({ ceiling: scenario.ceiling })]);
    } else if (mode === "one") {
      summaries = [await s.run({ ceiling: scenario.ceiling })];
    } else {
      const stop = new AbortController();
      let results = 0;
      let stoppedAt = 0;
      summaries = [await s.run({ ceiling: scenario.ceiling, signal: stop.signal, onResult: () => void (++results >= n * mode.stopAfter && !stop.signal.aborted && ((stoppedAt = Date.now()), stop.abort())) })];
      expect(summaries[0]).toMatchObject({ reason: "interrupted", exitCode: 143, inFlight: 0 });
      expect(summaries[0].notTried).toBeGreaterThan(0);
      // No SES request was started after the stop, and no SendGrid request reached its
      // proxy later than one already on the wire could (loopback: well under 250 ms).
      expect(s.startedAfterStop).toEqual([]);
      expect(sg.sendArrivals.filter((t) => t > stoppedAt + 250)).toEqual([]);
    }
    const ms = Date.now() - t0;
    for (const sum of summaries) {
      expect(accounted(sum)).toBe(n);
      // Throttling is backpressure, never an SES failure: the rollback must not trip on it.
      expect(sum.rollback?.triggered).toBeUndefined();
    }
    const faulted = await audit(s.recipients, s.table);
    expect({ duplicates: faulted.duplicates, lost: faulted.lost }).toEqual({ duplicates: 0, lost: 0 });
    expect(faulted.states.in_progress ?? 0).toBe(0);
    if (!scenario.unknownAllowed) expect(summaries.flatMap((x) => x.recipients.filter((r) => r.status === "unknown").map((r) => `${r.recipient}: ${String(r.error?.code)}`))).toEqual([]);
    if (mode === "two") expect(summaries[0].sent + summaries[1].sent).toBe(faulted.states.sent);

    // The catch-up run (no faults) sends what is left, once; unknown recipients stay unknown.
    const faults = { ...aws.injected, ...sg.injected };
    aws.setRules([]);
    sg.setRules([]);
    const catchUp = await s.run();
    expect(accounted(catchUp)).toBe(n);
    const after = await audit(s.recipients, s.table);
    expect({ duplicates: after.duplicates, lost: after.lost }).toEqual({ duplicates: 0, lost: 0 });
    expect((after.states.sent ?? 0) + (after.states.unknown ?? 0)).toBe(n);
    expect(after.states.unknown ?? 0).toBe(faulted.states.unknown ?? 0);
    rows.push({
      scenario: scenario.name,
      n,
      sent: faulted.states.sent ?? 0,
      failed: faulted.states.failed ?? 0,
      unknown: faulted.states.unknown ?? 0,
      duplicates: faulted.duplicates,
      lost: faulted.lost,
      afterCatchUp: { sent: after.states.sent ?? 0, unknown: after.states.unknown ?? 0, duplicates: after.duplicates, lost: after.lost },
      ms,
      faults,
    });
    s.ddb.destroy();
    s.ssm.destroy();
  }, sizeOverride ? 1_800_000 : 180_000);
});
