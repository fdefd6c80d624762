/**
 * One whole digest run in its own process, for bench/memory.ts (not run by hand).
 * bench/memory.ts bundles this file with esbuild and runs it with plain node, as the
 * container runs the sender's bundle; a copy beside another commit's app/src measures that
 * commit's code the same way. The sender is wired as the scheduled task wires it: through
 * the CLI's own `senderDeps` (from the environment bench/memory.ts sets) when the code has
 * it, else as that code's CLI did (config, feeds, router, ledger, default options). The
 * recipient list is replaced after the config is loaded, which lifts the 1,000-recipient
 * cap for the benchmark only. Writes its peak RSS and the run's counts as JSON to BENCH_OUT.
 */
import fs from "node:fs";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SSMClient } from "@aws-sdk/client-ssm";
import * as cli from "../app/src/cli";
import { ParameterStoreConfig } from "../app/src/config";
import { dispatchProviderFor } from "../app/src/delivery/select";
import { SesClientCache } from "../app/src/delivery/ses-client";
import { FeedFetcher } from "../app/src/feeds";
import { DeliveryLedger } from "../app/src/ledger";
import { createLogger } from "../app/src/log";
import { EmfMetrics } from "../app/src/metrics";
import { runDigest, type RunDeps } from "../app/src/run";

async function main(): Promise<void> {
  const env = (k: string) => {
    const v = process.env[k];
    if (!v) throw new Error(`${k} is not set`);
    return v;
  };
  const n = Number(env("BENCH_N"));
  const recipients = Array.from({ length: n }, (_, i) => `m${i}@bench.example.org`);
  // As in the container: JSON lines on stdout (here /dev/null), EMF on flush.
  const logger = createLogger({ format: "json" });
  const metrics = new EmfMetrics((line) => void process.stdout.write(`${line}\n`));
  let deps: RunDeps;
  let close: () => void;
  // Looked up by a computed name: an older cli.ts has no such export (and the bundler must not warn).
  const name = ["sender", "Deps"].join("");
  const wiring = (cli as unknown as Record<string, typeof cli.senderDeps | undefined>)[name];
  if (wiring) {
    const wired = wiring(cli.readEnv(process.env, false), logger, metrics);
    deps = wired.deps;
    close = wired.close;
  } else {
    // The code before senderDeps: its CLI's wiring, written out.
    const awsUrl = env("AWS_ENDPOINT_URL");
    const ssm = new SSMClient({ region: "us-east-1", endpoint: awsUrl, maxAttempts: 2 });
    const ddb = new DynamoDBClient({ region: "us-east-1", endpoint: awsUrl, maxAttempts: 2 });
    const ses = new SesClientCache({ endpoint: awsUrl });
    const config = new ParameterStoreConfig(ssm, { root: env("VIBE_PARAMETER_ROOT") });
    deps = {
      config,
      feeds: new FeedFetcher({ logger }),
      provider: (c, run) => dispatchProviderFor(c, { ses: () => ses.get(c).client, logger, metrics, sendgridBaseUrl: env("VIBE_SENDGRID_BASE_URL") }, run),
      logger,
      metrics,
      ledger: new DeliveryLedger(ddb, env("VIBE_LEDGER_TABLE")),
    };
    close = () => {
      ses.destroy();
      ssm.destroy();
      ddb.destroy();
    };
  }
  const rssBefore = process.memoryUsage().rss;
  let maxRssBeforeDeliveryKb = 0;
  // The largest of each part of the process's memory, sampled during the run.
  const peaks = { heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0, rss: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    for (const k of Object.keys(peaks) as (keyof typeof peaks)[]) peaks[k] = Math.max(peaks[k], m[k]);
  };
  const sampler = setInterval(sample, 100);
  const t0 = Date.now();
  const base = deps;
  const summary = await runDigest(
    {
      ...base,
      config: { load: async () => ({ ...(await base.config.load()), recipients }) },
      provider: (c, run) => {
        // Everything before delivery (modules, config, the feeds, the render) is behind us here.
        maxRssBeforeDeliveryKb = process.resourceUsage().maxRSS;
        return base.provider(c, run);
      },
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
    durationMs: Date.now() - t0,
    rssBeforeRunKb: Math.round(rssBefore / 1024),
    maxRssKb: process.resourceUsage().maxRSS,
    maxRssBeforeDeliveryKb,
    peaksMb: Object.fromEntries(Object.entries(peaks).map(([k, v]) => [k, Math.round(v / 1048576)])),
  };
  fs.writeFileSync(env("BENCH_OUT"), JSON.stringify(result));
  close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
    process.exit(1);
  },
);
