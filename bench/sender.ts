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
    ssm.destroy();
    ses.destroy();
  } finally {
    await feeds.close();
    await moto.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
