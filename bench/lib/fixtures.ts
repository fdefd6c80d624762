/**
 * What the sender benchmarks share: n distinct copies of the sample RSS feed (each its own
 * links and titles, so the digest keeps items from every one), optionally answering after
 * a delay, and a logger and metrics sink that print nothing.
 */
import fs from "node:fs";
import path from "node:path";
import { createLogger } from "../../app/src/log";
import { EmfMetrics } from "../../app/src/metrics";
import { SAMPLE_FEEDS_DIR, type FeedRoute } from "../../scripts/lib/feed-server";

/** Routes `/f0.rss` ... `/f<n-1>.rss` for startFeedServer. */
export function benchFeedRoutes(n: number, delayMs?: number): Record<string, FeedRoute> {
  const rss = fs.readFileSync(path.join(SAMPLE_FEEDS_DIR, "vibe-blog.rss"), "utf8");
  const routes: Record<string, FeedRoute> = {};
  for (let i = 0; i < n; i++) {
    const body = rss.replace(/vibe\.example\.com\/posts\//g, `f${i}.example.com/posts/`).replace(/<title>([^<]+)<\/title>/g, `<title>$1 #${i}</title>`);
    routes[`/f${i}.rss`] = { body, ...(delayMs ? { delayMs } : {}) };
  }
  return routes;
}

/** The digest/feeds value for those routes on a server at `baseUrl`. */
export function benchFeedsJson(baseUrl: string, routes: Record<string, FeedRoute>): string {
  return JSON.stringify(Object.keys(routes).map((r, i) => ({ url: `${baseUrl}${r}`, name: `Feed ${i}` })));
}

export const silentLogger = createLogger({ format: "json", destination: { write: () => undefined } });
/** A metrics sink per run (it keeps what it observed until flushed). */
export function silentMetrics(): EmfMetrics {
  return new EmfMetrics(() => undefined);
}
