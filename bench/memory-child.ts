/**
 * One whole digest run in its own process, for bench/memory.ts (not run by hand): the
 * sender as the scheduled task wires it (Parameter Store config, feeds, the migration router
 * over SES and SendGrid, the DynamoDB ledger). bench/memory.ts bundles this file with
 * esbuild and runs it with plain node, as the container runs the sender's bundle; a copy
 * beside another commit's app/src measures that commit's code the same way. The recipient
 * list is replaced after the config is loaded, which lifts the 1,000-recipient cap for the
 * benchmark only. Writes its peak RSS and the run's counts as JSON to BENCH_OUT.
 */
import fs from "node:fs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SSMClient } from "@aws-sdk/client-ssm";
import { ParameterStoreConfig } from "../app/src/config";
import { dispatchProviderFor } from "../app/src/delivery/select";
import { SesClientCache } from "../app/src/delivery/ses-client";
import { FeedFetcher } from "../app/src/feeds";
import { DeliveryLedger } from "../app/src/ledger";
import { createLogger } from "../app/src/log";
import { EmfMetrics } from "../app/src/metrics";
import { runDigest } from "../app/src/run";

async function main(): Promise<void> {
  const env = (k: string) => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set`);
    return v;
  };
  const n = Number(env("BENCH_N"));
  const awsUrl = env("BENCH_AWS_URL");
  const creds = { accessKeyId: "bench", secretAccessKey: "bench" };

  const recipients = Array.from({ length: n }, (_, i) => `m${i}@bench.example.org`);
  const ssm = new SSMClient({ region: "us-east-1", endpoint: awsUrl, credentials: creds, maxAttempts: 2 });
  const ddb = new DynamoDBClient({ region: "us-east-1", endpoint: awsUrl, credentials: creds, maxAttempts: 2 });
  const base = new ParameterStoreConfig(ssm, { root: env("BENCH_ROOT") });
  // As in the container: JSON lines on stdout (here /dev/null), EMF on flush.
  const logger = createLogger({ format: "json" });
  const metrics = new EmfMetrics((line) => void process.stdout.write(`${line}\n`));
  const ses = new SesClientCache({ endpoint: awsUrl, defaultCredentials: creds });
  const rssBefore = process.memoryUsage().rss;
  // The largest of each part of the process's memory, sampled during the run.
  const peaks = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0, rss: 0 };
  const sample = () => {
    if (process.env.BENCH_FORCE_GC && (globalThis as { gc?: () => void }).gc) (globalThis as { gc: () => void }).gc();
    const m = process.memoryUsage();
    for (const k of Object.keys(peaks) as (keyof typeof peaks)[]) peaks[k] = Math.max(peaks[k], m[k]);
  };
  const sampler = setInterval(sample, 100);
  const t0 = Date.now();
  const summary = await runDigest(
    {
      config: { load: async () => ({ ...(await base.load()), recipients }) },
      feeds: new FeedFetcher({ logger }),
      provider: (c, run) => dispatchProviderFor(c, { ses: () => ses.get(c).client, logger, metrics, sendgridBaseUrl: env("BENCH_SENDGRID_URL"), sendgridMaxPerSecond: 50 }, run),
      logger,
      metrics,
      ledger: new DeliveryLedger(ddb, env("BENCH_TABLE")),
    },
    { ledgerSettleMs: 0 },
  );
  metrics.flush();
  logger.info(summary, "run summary");
  sample();
  clearInterval(sampler);
  const result = {
    recipients: n,
    sent: summary.sent,
    exitCode: summary.exitCode,
    notSent: summary.recipients.filter((r) => r.status !== "sent").slice(0, 5).map((r) => `${r.status} ${String(r.error?.code ?? "")}`),
    durationMs: Date.now() - t0,
    rssBeforeRunKb: Math.round(rssBefore / 1024),
    maxRssKb: process.resourceUsage().maxRSS,
    peaksMb: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Math.round(v / 1048576)])),
  };
  fs.writeFileSync(env("BENCH_OUT"), JSON.stringify(result));
  ses.destroy();
  ssm.destroy();
  ddb.destroy();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
