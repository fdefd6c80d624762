/**
 * One digest run, as a sequence of phases (each in app/src/run/):
 *
 *   config  -> feeds -> compose -> [nothing to send | dry run] -> plan -> deliver -> ledger view -> files -> end
 *
 * Everything it talks to comes in through {@link RunDeps}; it never reads the environment.
 * Every ending goes through RunScope.end (run/summary.ts): the summary, its exit code and
 * the run's metrics. A stop (SIGTERM) is honoured between phases and inside delivery (no
 * send starts after it), and the shutdown grace bounds the wait for sends in flight.
 */
import { composeDigest } from "./run/compose";
import { loadConfig } from "./run/config";
import { deliver } from "./run/deliver";
import { fetchFeeds } from "./run/feeds";
import { writePreview } from "./run/files";
import { readLedgerView } from "./run/ledger-view";
import { planDelivery } from "./run/plan";
import { RunScope, type RunDeps, type RunOptions } from "./run/scope";
import type { RunSummary } from "./run/summary";

export type { RunDeps, RunOptions } from "./run/scope";
export type { LedgerSummary, RecipientOutcome, RunSummary } from "./run/summary";

/** Runs the digest once. Never throws: failures are in the summary and its exit code. */
export async function runDigest(deps: RunDeps, opts: RunOptions = {}): Promise<RunSummary> {
  const run = new RunScope(deps, opts);
  return run.guard(async () => {
    const loaded = await loadConfig(run);
    if ("ending" in loaded) return run.end(loaded.ending);
    const { config } = loaded;

    const feeds = await fetchFeeds(run, config);
    if (!feeds) return run.end({ kind: "interrupted" });

    const digest = composeDigest(run, config, feeds);
    if (digest.itemCount === 0) {
      run.log.error({ feeds: run.facts.feeds.total, failedFeeds: run.facts.feeds.failed.length }, "nothing to send: every feed failed or the digest has no items; no one gets an empty digest");
      await writePreview(run, digest);
      return run.end({ kind: "nothing to send" });
    }
    if (run.dryRun) {
      run.log.info({ recipients: config.recipients.length }, "dry run: nothing sent");
      await writePreview(run, digest);
      return run.end({ kind: "dry run" });
    }
    if (run.stop.stopped) {
      run.log.warn("stopped before delivery; nothing sent");
      return run.end({ kind: "interrupted" });
    }

    const plan = await planDelivery(run, config, digest);
    await deliver(run, config, digest, plan);
    await readLedgerView(run, config, digest.date, plan);
    // The files are written after delivery, and a write failure is only reported.
    await writePreview(run, digest);
    return run.end({ kind: "delivered" });
  });
}
