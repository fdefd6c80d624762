/**
 * Sender benchmark (not a test): prints measurements and ratios against a baseline in one
 * run. Starts its own moto and feed server on loopback and stops them by PID / handle.
 *
 *   node_modules/.bin/tsx bench/sender.ts
 *
 * 1. SSM calls per run (counted by a middleware on the real moto-backed client).
 * 2. A full run (config -> 30 feeds -> render -> 1 recipient) end to end, with feeds
 *    fetched concurrently vs one at a time (baseline), each feed answering after 100 ms.
 * 3. Send rate achieved against a configured MaxSendRate (GetSendQuota's answer rewritten,
 *    since moto always says 1/s) and against a lower VIBE_MAX_SEND_RATE ceiling.
 * 4. Migration (#5): SES share of 10,000 recipient ids per ses_percent; where the automatic
 *    rollback trips for SES failure rates around the 5% bound; a 50-recipient run with the
 *    DynamoDB ledger vs without (time, DynamoDB calls per recipient), and the rerun's
 *    provider calls.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { SESClient, VerifyEmailIdentityCommand } from "@aws-sdk/client-ses";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { ParameterStoreConfig } from "../app/src/config";
import { dispatch } from "../app/src/delivery/dispatch";
import { SesProvider } from "../app/src/delivery/ses";
import { dispatchProviderFor } from "../app/src/delivery/select";
import { SesClientCache } from "../app/src/delivery/ses-client";
import { FeedFetcher } from "../app/src/feeds";
import { createLogger } from "../app/src/log";
import { runDigest } from "../app/src/run";
import { startFeedServer, SAMPLE_FEEDS_DIR, type FeedRoute } from "../scripts/lib/feed-server";
import { startMoto } from "../scripts/lib/moto";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { LEDGER } from "../app/src/contract";
import type { DeliveryProvider } from "../app/src/delivery/provider";
import { inSesShare } from "../app/src/delivery/rollout";
import { MigrationRouter } from "../app/src/delivery/router";
import { DeliveryLedger } from "../app/src/ledger";
import { FailureRateWindow } from "../app/src/rollback";
import { startSendGridServer } from "../scripts/lib/sendgrid-server";

const CREDS = { accessKeyId: "bench", secretAccessKey: "bench" };
const REGION = "us-east-1";
const silent = createLogger({ destination: { write: () => undefined } });

async function main(): Promise<void> {
  process.env.AWS_EC2_METADATA_DISABLED = "true";
  const moto = await startMoto();
  const rss = fs.readFileSync(path.join(SAMPLE_FEEDS_DIR, "vibe-blog.rss"), "utf8");
  const routes: Record<string, FeedRoute> = {};
  for (let i = 0; i < 30; i++) routes[`/f${i}.rss`] = { body: rss.replace(/vibe\.example\.com\/posts\//g, `f${i}.example.com/posts/`).replace(/<title>([^<]+)<\/title>/g, `<title>$1 #${i}</title>`), delayMs: 100 };
  const feeds = await startFeedServer({ routes });
  try {
    const ssm = new SSMClient({ region: REGION, endpoint: moto.url, credentials: CREDS, maxAttempts: 2 });
    const ses = new SESClient({ region: REGION, endpoint: moto.url, credentials: CREDS, maxAttempts: 2 });
    const root = `/bench-${randomUUID()}`;
    const from = "digest@bench.example.com";
    const put = (p: string, v: string, t: "String" | "StringList" | "SecureString" = "String") => ssm.send(new PutParameterCommand({ Name: `${root}/${p}`, Value: v, Type: t }));
    await Promise.all([
      put("aws/region", REGION),
      put("email/from_address", from),
      put("email/to_address", "reader@bench.example.org", "StringList"),
      put("email/use_ses", "true"),
      put("email/ses_percent", "100"),
      put("email/unsubscribe_url", "https://bench.example.com/unsubscribe"),
      put("aws/access_key_id", "unset", "SecureString"),
      put("aws/secret_access_key", "unset", "SecureString"),
      put("sendgrid/api_key", "unset", "SecureString"),
      put("digest/feeds", JSON.stringify(Object.keys(routes).map((r, i) => ({ url: `${feeds.url}${r}`, name: `Feed ${i}` })))),
      // The feeds are on loopback, which the sender reaches only when the allow-list names it.
      put("digest/feed_hosts", "127.0.0.1", "StringList"),
    ]);
    await ses.send(new VerifyEmailIdentityCommand({ EmailAddress: from }));

    let ssmCalls = 0;
    ssm.middlewareStack.add((next) => async (args) => {
      ssmCalls++;
      return next(args);
    }, { step: "initialize", name: "bench-count" });

    const runOnce = async (concurrency: number) => {
      const clients = new SesClientCache({ endpoint: moto.url, maxAttempts: 2, defaultCredentials: CREDS });
      const before = ssmCalls;
      const t0 = performance.now();
      const summary = await runDigest({
        config: new ParameterStoreConfig(ssm, { root }),
        feeds: new FeedFetcher({ concurrency }),
        provider: (c) => dispatchProviderFor(c, { ses: () => clients.get(c).client }),
        logger: silent,
      });
      const ms = performance.now() - t0;
      clients.destroy();
      if (summary.sent !== 1) throw new Error(`bench run did not send: ${JSON.stringify(summary.recipients)}`);
      return { ms, ssmCalls: ssmCalls - before, items: summary.items };
    };

    await runOnce(8); // warm-up (SDK and parser loading)
    const runs = [];
    for (let i = 0; i < 3; i++) runs.push(await runOnce(8));
    const baseline = await runOnce(1);
    const median = runs.map((r) => r.ms).sort((a, b) => a - b)[1];
    console.log(`SSM calls per run: ${runs[0].ssmCalls} (GetParametersByPath pages for 10 parameters)`);
    console.log(`run with 30 feeds (100 ms each) and 1 recipient: ${median.toFixed(0)} ms median of 3 (${runs[0].items} items)`);
    console.log(`  baseline, feeds one at a time: ${baseline.ms.toFixed(0)} ms  -> concurrent is ${(baseline.ms / median).toFixed(1)}x faster`);

    for (const [maxSendRate, ceiling, n] of [[10, undefined, 30], [10, 4, 16]] as [number, number | undefined, number][]) {
      const client = new SESClient({ region: REGION, endpoint: moto.url, credentials: CREDS, maxAttempts: 2 });
      client.middlewareStack.add((next, ctx) => async (args) => {
        const out = await next(args);
        if (ctx.commandName === "GetSendQuotaCommand") Object.assign(out.output as object, { MaxSendRate: maxSendRate, Max24HourSend: 1e6, SentLast24Hours: 0 });
        return out;
      }, { step: "initialize", name: "bench-quota" });
      const starts: number[] = [];
      client.middlewareStack.add((next, ctx) => async (args) => {
        if (ctx.commandName === "SendRawEmailCommand") starts.push(performance.now());
        return next(args);
      }, { step: "initialize", name: "bench-starts" });
      const msgs = Array.from({ length: n }, (_, i) => ({
        from,
        to: `r${i}@bench.example.org`,
        subject: "bench",
        html: "<p>x</p>",
        text: "x",
        date: new Date(),
        headers: {},
        tags: { run_id: "bench" },
      }));
      const out = await dispatch(new SesProvider(client), msgs, { ceilingPerSecond: ceiling });
      const sent = out.results.filter((r) => r.status === "sent").length;
      const span = (starts[starts.length - 1] - starts[0]) / 1000;
      const achieved = (starts.length - 1) / span;
      console.log(
        `send rate: MaxSendRate ${maxSendRate}/s${ceiling ? `, ceiling ${ceiling}/s` : ""}: ${sent}/${n} sent, achieved ${achieved.toFixed(2)}/s = ${(achieved / out.rate).toFixed(3)} of the enforced ${out.rate}/s`,
      );
      client.destroy();
    }
    await migration(moto.url, feeds.url);
    ssm.destroy();
    ses.destroy();
  } finally {
    await feeds.close();
    await moto.stop();
  }
}

/** Section 4: rollout shares, rollback trip points, ledger overhead. */
async function migration(motoUrl: string, feedsUrl: string): Promise<void> {
  const ids = Array.from({ length: 10_000 }, (_, i) => `user-${i}@example.net`);
  const shares = [1, 5, 10, 25, 50, 75, 90, 99].map((p) => ({ p, got: (ids.filter((r) => inSesShare(r, p)).length / 100) }));
  console.log(`rollout over 10,000 ids (target -> SES share %): ${shares.map((x) => `${x.p}->${x.got.toFixed(2)}`).join(", ")}; max deviation ${Math.max(...shares.map((x) => Math.abs(x.got - x.p))).toFixed(2)} pp`);

  // Where does the rollback trip? SES failing every k-th send (rate 1/k), 200 sends, min 20 attempts.
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
    const router = new MigrationRouter({ ses, sendgrid: sg, useSes: true, sesPercent: 100, window: new FailureRateWindow({ minAttempts: 20 }) });
    for (let i = 0; i < 200 && !router.triggered; i++) await router.send({ from: "a@b.co", to: `r${i}@x.org`, subject: "s", html: "h", text: "t", date: new Date(), headers: {}, tags: {} }).catch(() => undefined);
    console.log(`rollback with SES failing 1 in ${every} (${(100 / every).toFixed(2)}%): ${router.triggered ? `trips after ${n} SES sends: ${router.triggered.detail}` : `does not trip in ${n} sends`}`);
  }

  // Ledger overhead and rerun cost, 50 recipients, half SES (moto) half SendGrid (emulator).
  const sendgrid = await startSendGridServer();
  const ddb = new DynamoDBClient({ region: REGION, endpoint: motoUrl, credentials: CREDS, maxAttempts: 2 });
  let ddbCalls = 0;
  ddb.middlewareStack.add((next) => async (args) => {
    ddbCalls++;
    return next(args);
  }, { step: "initialize", name: "bench-ddb" });
  const table = `bench-ledger-${randomUUID().slice(0, 8)}`;
  await ddb.send(new CreateTableCommand({ TableName: table, BillingMode: "PAY_PER_REQUEST", AttributeDefinitions: [{ AttributeName: LEDGER.partitionKey, AttributeType: "S" }, { AttributeName: LEDGER.sortKey, AttributeType: "S" }], KeySchema: [{ AttributeName: LEDGER.partitionKey, KeyType: "HASH" }, { AttributeName: LEDGER.sortKey, KeyType: "RANGE" }] }));
  const ssm = new SSMClient({ region: REGION, endpoint: motoUrl, credentials: CREDS, maxAttempts: 2 });
  const ses = new SESClient({ region: REGION, endpoint: motoUrl, credentials: CREDS, maxAttempts: 1 });
  let sesCalls = 0;
  ses.middlewareStack.add((next, ctx) => async (args) => {
    sesCalls++;
    const out = await next(args);
    if (ctx.commandName === "GetSendQuotaCommand") Object.assign(out.output as object, { MaxSendRate: 50, Max24HourSend: 1e6, SentLast24Hours: 0 });
    return out;
  }, { step: "initialize", name: "bench-ses" });
  const setupRoot = async () => {
    const root = `/bench-mig-${randomUUID()}`;
    const from = `digest-${randomUUID().slice(0, 6)}@bench.example.com`;
    const put = (p: string, v: string, t: "String" | "StringList" | "SecureString" = "String") => ssm.send(new PutParameterCommand({ Name: `${root}/${p}`, Value: v, Type: t }));
    const to = Array.from({ length: 50 }, (_, i) => `m${i}-${randomUUID().slice(0, 6)}@bench.example.org`);
    await Promise.all([
      put("aws/region", REGION), put("email/from_address", from), put("email/to_address", to.join(","), "StringList"), put("email/use_ses", "true"), put("email/ses_percent", "50"),
      put("aws/access_key_id", "unset", "SecureString"), put("aws/secret_access_key", "unset", "SecureString"), put("sendgrid/api_key", "SG.bench", "SecureString"),
      put("digest/feeds", JSON.stringify([{ url: `${feedsUrl}/f0.rss`, name: "F0" }])), put("digest/feed_hosts", "127.0.0.1", "StringList"),
    ]);
    await ses.send(new VerifyEmailIdentityCommand({ EmailAddress: from }));
    return root;
  };
  const runWith = async (root: string, withLedger: boolean) => {
    const t0 = performance.now();
    const summary = await runDigest({
      config: new ParameterStoreConfig(ssm, { root }),
      feeds: new FeedFetcher(),
      provider: (c, run) => dispatchProviderFor(c, { ses: () => ses, sendgridBaseUrl: sendgrid.url, sendgridMaxPerSecond: 50 }, run),
      logger: silent,
      ...(withLedger ? { ledger: new DeliveryLedger(ddb, table) } : {}),
    }, { dispatch: { ceilingPerSecond: 50 } });
    return { ms: performance.now() - t0, summary };
  };
  await runWith(await setupRoot(), false); // warm-up
  const plain = await runWith(await setupRoot(), false);
  const ledgerRoot = await setupRoot();
  const d0 = ddbCalls;
  const withLedger = await runWith(ledgerRoot, true);
  const perRecipient = (ddbCalls - d0) / 50;
  const s0 = sesCalls;
  const g0 = sendgrid.requests.length;
  const d1 = ddbCalls;
  const rerun = await runWith(ledgerRoot, true);
  console.log(`50 recipients (half SES, half SendGrid, 50/s): without ledger ${plain.ms.toFixed(0)} ms (sent ${plain.summary.sent}), with ledger ${withLedger.ms.toFixed(0)} ms (sent ${withLedger.summary.sent}) -> ${(withLedger.ms / plain.ms).toFixed(2)}x; DynamoDB calls per recipient ${perRecipient.toFixed(2)}`);
  console.log(`rerun of the same digest: ${rerun.ms.toFixed(0)} ms, SES calls ${sesCalls - s0}, SendGrid requests ${sendgrid.requests.length - g0}, DynamoDB calls ${ddbCalls - d1}, skipped ${rerun.summary.skipped}, exit ${rerun.summary.exitCode}`);
  await sendgrid.close();
  ddb.destroy();
  ssm.destroy();
  ses.destroy();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
