/**
 * Phase 2: the feeds. Nothing is in flight while they load, so a stop does not wait for
 * them. FeedsAttempted and FeedFailures are emitted here (the feed alarm divides them).
 */
import type { DigestConfig } from "../config";
import { METRICS } from "../contract";
import type { FeedResult } from "../feeds";
import type { RunScope } from "./scope";
import { STOPPED } from "./stop";

export async function fetchFeeds(run: RunScope, config: DigestConfig): Promise<FeedResult[] | undefined> {
  run.log.info({ feeds: config.feeds.length }, "fetching feeds");
  const feeds = await run.stop.untilStopped(run.deps.feeds.fetchAll(config.feeds, { hosts: config.feedHosts }));
  if (feeds === STOPPED) {
    run.log.warn("stopped while fetching feeds; nothing sent");
    return undefined;
  }
  const summary = run.facts.feeds;
  summary.total = feeds.length;
  for (const f of feeds) {
    if (f.ok) summary.ok++;
    else summary.failed.push({ name: f.source.name, code: f.error.code });
  }
  run.deps.metrics?.count(METRICS.feedsAttempted, summary.total);
  run.deps.metrics?.count(METRICS.feedFailures, summary.failed.length);
  run.facts.feedsCounted = true;
  return feeds;
}
