/**
 * A tiny HTTP server on 127.0.0.1 that serves feed files, so the local run and the tests
 * never touch the internet. Routes: `/<file>` serves scripts/sample-feeds/<file> (or the
 * given folder); extra routes can answer slowly, fail, or serve an inline body.
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";

export interface FeedRoute {
  readonly status?: number;
  /** The body: text (sent as UTF-8) or exact bytes (a document in another encoding). */
  readonly body: string | Buffer;
  readonly contentType?: string;
  /** Extra response headers, e.g. `location` for a redirect or `content-encoding`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Wait this long before answering (a slow feed). */
  readonly delayMs?: number;
}

export interface FeedServer {
  readonly url: string;
  /** Number of requests served per path, for tests that count fetches. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

export const SAMPLE_FEEDS_DIR = path.resolve(__dirname, "..", "sample-feeds");

function contentTypeFor(file: string): string {
  if (file.endsWith(".json")) return "application/feed+json";
  if (file.endsWith(".atom")) return "application/atom+xml";
  return "application/rss+xml";
}

/** Starts the server on a free loopback port. */
export async function startFeedServer(
  opts: { dir?: string; routes?: Record<string, FeedRoute> } = {},
): Promise<FeedServer> {
  const dir = opts.dir ?? SAMPLE_FEEDS_DIR;
  const routes = opts.routes ?? {};
  const hits = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    const urlPath = (req.url ?? "/").split("?")[0];
    hits.set(urlPath, (hits.get(urlPath) ?? 0) + 1);
    const route = routes[urlPath];
    const answer = (status: number, body: string | Buffer, type: string, headers: Readonly<Record<string, string>> = {}) => {
      res.writeHead(status, { "content-type": type, ...headers });
      res.end(body);
    };
    if (route) {
      const send = () => answer(route.status ?? 200, route.body, route.contentType ?? "application/rss+xml", route.headers);
      if (route.delayMs) {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.destroyed) send();
        }, route.delayMs);
        timers.add(t);
      } else send();
      return;
    }
    const file = path.join(dir, path.basename(urlPath));
    fs.readFile(file, (err, data) => {
      if (err) answer(404, "not found", "text/plain");
      else answer(200, data, contentTypeFor(file));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
