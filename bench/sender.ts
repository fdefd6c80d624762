/**
 * Sender benchmarks (not tests), on loopback only: moto, feed servers and the fault proxy
 * are started here and stopped by PID / handle.
 *
 * - {@link measureFeeds}: 30 feeds each answering after 200 ms, fetched by the sender's own
 *   FeedFetcher (as the CLI wires it) against the floor (the slowest single feed alone), a
 *   pool of 5 at once and all 30 at once; interleaved.
 * - {@link measureSends}: sends per second of a whole run (the CLI's own wiring, SES only)
 *   against MaxSendRate 50, every AWS call behind an 80 ms loopback latency, with and
 *   without the DynamoDB ledger; interleaved.
 *
 *   npm run bench -- --only feeds|sends [--rounds N]
 *   npm run bench:sender        the checks above are not ratios: SSM calls per run, the SES
 *                               share per ses_percent, where the rollback trips for evenly
 *                               spread failures, and what a rerun of the same digest calls
 */
import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SESClient } from "@aws-sdk/client-ses";
import { SSMClient } from "@aws-sdk/client-ssm";
import { readEnv, senderDeps } from "../app/src/cli";
import { ENV } from "../app/src/contract";
import type { DeliveryProvider } from "../app/src/delivery/provider";
import { inSesShare } from "../app/src/delivery/rollout";
import { MigrationRouter } from "../app/src/delivery/router";
import { FeedFetcher, type FeedResult } from "../app/src/feeds";
import type { FeedSource } from "../app/src/validation";
import { runDigest, type RunSummary } from "../app/src/run";
import { startFeedServer } from "../scripts/lib/feed-server";
import { startMoto } from "../scripts/lib/moto";
import { createLedgerTable, putParameters, verifySender } from "../test/support/app-fixtures";
import { startFaultProxy, type FaultProxy } from "../test/support/fault-proxy";
import { benchFeedRoutes, benchFeedsJson, silentLogger, silentMetrics } from "./lib/fixtures";
import { interleave, stats, type Stats } from "./lib/measure";

const REGION = "us-east-1";
const CREDS = { accessKeyId: "bench", secretAccessKey: "bench" };

// The SDK clients the CLI's wiring creates read credentials from the environment: the
// benchmark talks to loopback only, so these are placeholders.
function benchCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = CREDS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = CREDS.secretAccessKey;
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.AWS_EC2_METADATA_DISABLED = "true";
}

/** The sender as the CLI wires it (app/src/cli.ts senderDeps), from an environment. */
function wiredSender(env: Record<string, string>) {
  return senderDeps(readEnv({ [ENV.region]: REGION, [ENV.logFormat]: "json", [ENV.stage]: "bench", ...env }, false), silentLogger, silentMetrics());
}

export interface FeedsResult {
  readonly feeds: number;
  readonly delayMs: number;
  /** The sender's FeedFetcher as the CLI wires it. */
  readonly sender: Stats;
  /** The slowest single feed alone (all answer after the same delay: any one). */
  readonly floor: Stats;
  readonly pool5: Stats;
  readonly all: Stats;
}

export async function measureFeeds(rounds: number, log: (line: string) => void = () => undefined, opts: { feeds?: number; delayMs?: number } = {}): Promise<FeedsResult> {
  const n = opts.feeds ?? 30;
  const delayMs = opts.delayMs ?? 200;
  const routes = benchFeedRoutes(n, delayMs);
  const server = await startFeedServer({ routes });
  const sources = JSON.parse(benchFeedsJson(server.url, routes)) as FeedSource[];
  const wired = wiredSender({ [ENV.endpointUrl]: "http://127.0.0.1:9", [ENV.parameterRoot]: "/bench" });
  const policy = { hosts: ["127.0.0.1"] };
  const timed = async (fetcher: { fetchAll: FeedFetcher["fetchAll"] }, list: typeof sources) => {
    const t0 = performance.now();
    const results: FeedResult[] = await fetcher.fetchAll(list, policy);
    const ms = performance.now() - t0;
    const failed = results.filter((r) => !r.ok);
    if (failed.length) throw new Error(`feeds failed in the benchmark: ${failed.map((f) => f.source.name).join(", ")}`);
    return ms;
  };
  try {
    await timed(wired.deps.feeds, sources.slice(0, 2)); // warm-up: parser and HTTP code loaded
    const samples = await interleave(
      rounds,
      {
        sender: () => timed(wired.deps.feeds, sources),
        floor: () => timed(wired.deps.feeds, sources.slice(0, 1)),
        pool5: () => timed(new FeedFetcher({ concurrency: 5 }), sources),
        all: () => timed(new FeedFetcher({ concurrency: n }), sources),
      },
      { after: (s, ms) => log(`round ${s.round}/${s.rounds} ${s.variant}: ${ms.toFixed(0)} ms`) },
    );
    log(`feeds: sender ${stats(samples.sender).median.toFixed(0)} ms, floor ${stats(samples.floor).median.toFixed(0)} ms, pool of 5 ${stats(samples.pool5).median.toFixed(0)} ms, all at once ${stats(samples.all).median.toFixed(0)} ms`);
    return { feeds: n, delayMs, sender: stats(samples.sender), floor: stats(samples.floor), pool5: stats(samples.pool5), all: stats(samples.all) };
  } finally {
    wired.close();
    await server.close();
  }
}

/** moto, one feed, and the fault proxy (no faults) in front of moto with a latency and SES's quota. */
async function sendWorld(latencyMs: number, maxSendRate: number) {
  benchCredentials();
  const moto = await startMoto();
  const routes = benchFeedRoutes(1);
  const feeds = await startFeedServer({ routes });
  const sesQuota = { maxSendRate, max24HourSend: 10_000_000 };
  const proxy = await startFaultProxy({ target: moto.url, seed: 1, latencyMs, sesQuota });
  // The same without the latency: what the emulator itself allows.
  const direct = await startFaultProxy({ target: moto.url, seed: 1, sesQuota });
  const client = { region: REGION, endpoint: moto.url, credentials: CREDS, maxAttempts: 2 };
  const ssm = new SSMClient(client);
  const ses = new SESClient(client);
  const ddb = new DynamoDBClient(client);
  return {
    moto,
    proxy,
    direct,
    /** A fresh parameter root (and ledger table), written straight to moto. */
    async stack(withLedger: boolean) {
      const id = randomUUID().slice(0, 8);
      const root = `/bench-${id}`;
      const from = `digest-${id}@bench.example.com`;
      await putParameters(ssm, root, { from, to: `reader-${id}@bench.example.org`, feeds: benchFeedsJson(feeds.url, routes) });
      await verifySender(ses, from);
      const table = withLedger ? await createLedgerTable(ddb, `bench-ledger-${id}`) : undefined;
      return { root, table };
    },
    async close() {
      ssm.destroy();
      ses.destroy();
      ddb.destroy();
      await proxy.close();
      await direct.close();
      await feeds.close();
      await moto.stop();
    },
  };
}

/** One whole run through the CLI's wiring against the proxy; `sends` are the SES send arrivals it caused. */
async function wiredRun(proxy: FaultProxy, stack: { root: string; table?: string }, recipients: string[]): Promise<{ summary: RunSummary; sends: number[] }> {
  const wired = wiredSender({
    [ENV.endpointUrl]: proxy.url,
    [ENV.parameterRoot]: stack.root,
    [ENV.emailTo]: recipients.join(","),
    ...(stack.table ? { [ENV.ledgerTable]: stack.table } : {}),
  });
  const before = proxy.sendArrivals.length;
  try {
    const summary = await runDigest(wired.deps, { ledgerSettleMs: 0 });
    return { summary, sends: proxy.sendArrivals.slice(before) };
  } finally {
    wired.close();
  }
}

export interface SendsResult {
  readonly recipients: number;
  readonly latencyMs: number;
  readonly maxSendRate: number;
  /** Sends per second, first to last SES request of the run, with and without the ledger. */
  readonly ledger: Stats;
  readonly noLedger: Stats;
  /** With the ledger and no added latency: the emulator's own ceiling on this machine. */
  readonly ledgerNoLatency: Stats;
  /** DynamoDB requests per recipient in the runs with the ledger (moto serves each one). */
  readonly ledgerCallsPerRecipient: number;
}

export async function measureSends(rounds: number, log: (line: string) => void = () => undefined, opts: { recipients?: number; latencyMs?: number; maxSendRate?: number } = {}): Promise<SendsResult> {
  const n = opts.recipients ?? 200;
  const latencyMs = opts.latencyMs ?? 80;
  const maxSendRate = opts.maxSendRate ?? 50;
  const world = await sendWorld(latencyMs, maxSendRate);
  const dynamo = () => Object.entries(world.proxy.seen).reduce((sum, [k, v]) => sum + (k.startsWith("dynamodb:") ? v : 0), 0);
  let ledgerCalls = 0;
  let ledgerRecipients = 0;
  const run = async (withLedger: boolean, proxy = world.proxy) => {
    const stack = await world.stack(withLedger);
    const list = Array.from({ length: n }, (_, i) => `r${i}.${stack.root.slice(7)}@b.example.org`);
    const d0 = dynamo();
    const { summary, sends } = await wiredRun(proxy, stack, list);
    if (withLedger && proxy === world.proxy) {
      ledgerCalls += dynamo() - d0;
      ledgerRecipients += n;
    }
    if (summary.sent !== n || sends.length !== n) throw new Error(`the send benchmark's run sent ${summary.sent} of ${n} (${sends.length} SES requests, exit ${summary.exitCode})`);
    return (sends.length - 1) / ((sends[sends.length - 1]! - sends[0]!) / 1000);
  };
  try {
    await run(false); // warm-up
    const samples = await interleave(
      rounds,
      { ledger: () => run(true), noLedger: () => run(false), ledgerNoLatency: () => run(true, world.direct) },
      { after: (s, rate) => log(`round ${s.round}/${s.rounds} ${{ ledger: "with the ledger", noLedger: "without the ledger", ledgerNoLatency: "with the ledger, no latency" }[s.variant]}: ${rate.toFixed(1)}/s of ${maxSendRate}/s`) },
    );
    return { recipients: n, latencyMs, maxSendRate, ledger: stats(samples.ledger), noLedger: stats(samples.noLedger), ledgerNoLatency: stats(samples.ledgerNoLatency), ledgerCallsPerRecipient: ledgerCalls / ledgerRecipients };
  } finally {
    await world.close();
  }
}

/** `npm run bench:sender`: what the sender does per run, printed (no baseline: counts and shares). */
async function main(): Promise<void> {
  const world = await sendWorld(0, 50);
  try {
    // SSM calls of a whole run (counted at the proxy: the CLI's own clients).
    const stack = await world.stack(true);
    const ssm0 = world.proxy.seen.ssm ?? 0;
    const first = await wiredRun(world.proxy, stack, [`one-${stack.root.slice(7)}@bench.example.org`]);
    console.log(`SSM calls per run: ${(world.proxy.seen.ssm ?? 0) - ssm0} (sent ${first.summary.sent}, exit ${first.summary.exitCode})`);
    // A rerun of the same digest: the ledger says who got it; nothing is sent twice.
    const seen0 = { ...world.proxy.seen };
    const rerun = await wiredRun(world.proxy, stack, [`one-${stack.root.slice(7)}@bench.example.org`]);
    const delta = Object.entries(world.proxy.seen).filter(([k, v]) => v !== (seen0[k] ?? 0)).map(([k, v]) => `${k} ${v - (seen0[k] ?? 0)}`);
    console.log(`rerun of the same digest: sent ${rerun.summary.sent}, skipped ${rerun.summary.skipped}, exit ${rerun.summary.exitCode}; calls: ${delta.join(", ")}`);
  } finally {
    await world.close();
  }

  const ids = Array.from({ length: 10_000 }, (_, i) => `user-${i}@example.net`);
  const shares = [1, 5, 10, 25, 50, 75, 90, 99].map((p) => ({ p, got: ids.filter((r) => inSesShare(r, p)).length / 100 }));
  console.log(`rollout over 10,000 ids (target -> SES share %): ${shares.map((x) => `${x.p}->${x.got.toFixed(2)}`).join(", ")}; max deviation ${Math.max(...shares.map((x) => Math.abs(x.got - x.p))).toFixed(2)} pp`);

  // Where does the rollback trip? SES failing every k-th send, 200 sends (bench/rollback-simulation.ts has random orders).
  for (const rate of [0.04, 0.05, 0.0526, 0.0625, 0.1, 1]) {
    const every = Math.round(1 / rate);
    let n = 0;
    const ses: DeliveryProvider = {
      name: "ses",
      limits: async () => ({ maxPerSecond: 1e6, remaining24h: Infinity }),
      send: async (m) => {
        n++;
        if (n % every === 0) throw Object.assign(new Error("x"), { code: "SES_MESSAGE_REJECTED", definitelyNotSent: true });
        return { messageId: m.to };
      },
    };
    const sg: DeliveryProvider = { name: "sendgrid", limits: async () => ({ maxPerSecond: 1e6, remaining24h: Infinity }), send: async (m) => ({ messageId: m.to }) };
    const router = new MigrationRouter({ ses, sendgrid: sg, useSes: true, sesPercent: 100 });
    for (let i = 0; i < 200 && !router.triggered; i++) await router.send({ from: "a@b.co", to: `r${i}@x.org`, subject: "s", html: "h", text: "t", date: new Date(), headers: {}, tags: {} }).catch(() => undefined);
    console.log(`rollback with SES failing 1 in ${every} (${(100 / every).toFixed(2)}%): ${router.triggered ? `trips after ${n} SES sends: ${router.triggered.detail}` : `does not trip in ${n} sends`}`);
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
