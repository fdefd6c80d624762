/**
 * Fetches the digest's feeds concurrently: per-feed timeout, size cap and a bounded retry;
 * RSS 2.0 and Atom through rss-parser, JSON Feed (1.0/1.1) through JSON + zod. A feed that
 * fails is reported, never fatal. Items are de-duplicated across feeds (same link or same
 * title) and the newest `itemsPerFeed` of each feed are kept.
 */
import Parser from "rss-parser";
import { z } from "zod";
import type { FeedSource } from "./config";
import { FeedError } from "./errors";
import type { Logger } from "./log";
import { safeHttpUrl, toPlainText, truncate } from "./sanitize";

/** One item of the digest, already sanitized. */
export interface FeedItem {
  readonly title: string;
  /** Absolute http(s) link, or undefined when the feed gave none that is safe. */
  readonly link?: string;
  /** Plain text, capped. */
  readonly summary: string;
  readonly published?: Date;
}

export type FeedFormat = "rss" | "atom" | "json";

export type FeedResult =
  | { readonly ok: true; readonly source: FeedSource; readonly format: FeedFormat; readonly siteUrl?: string; readonly items: readonly FeedItem[]; readonly durationMs: number }
  | { readonly ok: false; readonly source: FeedSource; readonly error: FeedError; readonly durationMs: number };

export interface FeedFetcherOptions {
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Per attempt, covering connect, headers and body. @default 10000 */
  readonly timeoutMs?: number;
  /** Largest body accepted. @default 2 MiB */
  readonly maxBytes?: number;
  /** @default 3 */
  readonly itemsPerFeed?: number;
  /** Extra attempts after a network error, 429 or 5xx (never after a timeout). @default 1 */
  readonly retries?: number;
  /** Feeds fetched at once. @default 16 */
  readonly concurrency?: number;
  /** @default 300 */
  readonly summaryChars?: number;
  readonly logger?: Logger;
  /** Sleep used between retries (tests pass a fast one). */
  readonly sleep?: (ms: number) => Promise<void>;
}

const jsonFeed = z.object({
  version: z.string().regex(/^https:\/\/jsonfeed\.org\/version\/1(\.1)?$/),
  title: z.string().optional(),
  home_page_url: z.string().optional(),
  items: z
    .array(
      z.object({
        id: z.union([z.string(), z.number()]).optional(),
        url: z.string().optional(),
        external_url: z.string().optional(),
        title: z.string().optional(),
        content_html: z.string().optional(),
        content_text: z.string().optional(),
        summary: z.string().optional(),
        date_published: z.string().optional(),
        date_modified: z.string().optional(),
      }),
    )
    .max(10_000),
});

interface RawItem {
  title?: string;
  link?: string;
  html?: string;
  date?: string;
}

/** Fetches and parses feeds. */
export class FeedFetcher {
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly itemsPerFeed: number;
  private readonly retries: number;
  private readonly concurrency: number;
  private readonly summaryChars: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly parser = new Parser();

  constructor(private readonly opts: FeedFetcherOptions = {}) {
    this.fetchFn = opts.fetch ?? globalThis.fetch;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxBytes = opts.maxBytes ?? 2 * 1024 * 1024;
    this.itemsPerFeed = opts.itemsPerFeed ?? 3;
    this.retries = Math.min(Math.max(opts.retries ?? 1, 0), 5);
    this.concurrency = Math.max(opts.concurrency ?? 16, 1);
    this.summaryChars = opts.summaryChars ?? 300;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Fetches every feed (at most `concurrency` at once) and returns one result per feed in
   * the configured order, with duplicates across feeds removed (earlier feeds win).
   */
  async fetchAll(sources: readonly FeedSource[]): Promise<FeedResult[]> {
    const results: FeedResult[] = new Array(sources.length);
    let next = 0;
    const worker = async () => {
      while (next < sources.length) {
        const i = next++;
        results[i] = await this.fetchOne(sources[i]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, sources.length) }, worker));
    return dedupe(results, this.itemsPerFeed);
  }

  /** One feed, never throws: failures come back as `{ ok: false }`. */
  async fetchOne(source: FeedSource): Promise<FeedResult> {
    const started = Date.now();
    const name = `${source.name} (${redactUrl(source.url)})`;
    let lastError: FeedError | undefined;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await this.sleep(Math.round(200 * 2 ** (attempt - 1) * (0.5 + Math.random())));
      try {
        const { body, contentType } = await this.download(source.url, name);
        const parsed = await this.parse(body, contentType, name, source.url);
        const items = parsed.items
          .map((r) => this.toItem(r, parsed.siteUrl ?? source.url))
          .filter((i): i is FeedItem => i !== undefined)
          .sort((a, b) => (b.published?.getTime() ?? 0) - (a.published?.getTime() ?? 0));
        this.opts.logger?.debug({ feed: source.name, items: items.length, format: parsed.format }, "feed fetched");
        return { ok: true, source, format: parsed.format, siteUrl: parsed.siteUrl, items, durationMs: Date.now() - started };
      } catch (err) {
        lastError = err instanceof FeedError ? err : new FeedError("FEED_FETCH_FAILED", name, "unexpected failure", false);
        if (!lastError.retryable) break;
      }
    }
    this.opts.logger?.warn({ feed: source.name, err: lastError }, "feed failed; the digest goes on without it");
    return { ok: false, source, error: lastError!, durationMs: Date.now() - started };
  }

  private async download(url: string, name: string): Promise<{ body: string; contentType: string }> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        signal,
        redirect: "follow",
        headers: { accept: "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, */*;q=0.5", "user-agent": "vibe-digest/1" },
      });
    } catch (err) {
      if (signal.aborted) throw new FeedError("FEED_TIMEOUT", name, `no answer within ${this.timeoutMs} ms`, false);
      throw new FeedError("FEED_FETCH_FAILED", name, `request failed (${errorKind(err)})`, true);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new FeedError("FEED_HTTP_STATUS", name, `HTTP ${res.status}`, res.status === 429 || res.status >= 500);
    }
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    if (declared > this.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new FeedError("FEED_TOO_LARGE", name, `larger than ${this.maxBytes} bytes`, false);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      const reader = res.body?.getReader();
      for (let i = 0; reader && i < 1_000_000; i++) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > this.maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw new FeedError("FEED_TOO_LARGE", name, `larger than ${this.maxBytes} bytes`, false);
        }
        chunks.push(value);
      }
    } catch (err) {
      if (err instanceof FeedError) throw err;
      if (signal.aborted) throw new FeedError("FEED_TIMEOUT", name, `no complete answer within ${this.timeoutMs} ms`, false);
      throw new FeedError("FEED_FETCH_FAILED", name, `reading the body failed (${errorKind(err)})`, true);
    }
    return { body: Buffer.concat(chunks).toString("utf8"), contentType: res.headers.get("content-type") ?? "" };
  }

  private async parse(body: string, contentType: string, name: string, url: string): Promise<{ format: FeedFormat; siteUrl?: string; items: RawItem[] }> {
    const trimmed = body.trimStart();
    if (/json/i.test(contentType) || trimmed.startsWith("{")) {
      let data: unknown;
      try {
        data = JSON.parse(trimmed);
      } catch {
        throw new FeedError("FEED_PARSE_FAILED", name, "not valid JSON", false);
      }
      const r = jsonFeed.safeParse(data);
      if (!r.success) throw new FeedError("FEED_PARSE_FAILED", name, "not a JSON Feed 1.x document", false);
      return {
        format: "json",
        siteUrl: safeHttpUrl(r.data.home_page_url, url),
        items: r.data.items.map((i) => ({
          title: i.title,
          link: i.url ?? i.external_url,
          html: i.content_html ?? (i.summary !== undefined ? escapeText(i.summary) : i.content_text !== undefined ? escapeText(i.content_text) : undefined),
          date: i.date_published ?? i.date_modified,
        })),
      };
    }
    let feed: Awaited<ReturnType<Parser["parseString"]>>;
    try {
      feed = await this.parser.parseString(trimmed);
    } catch {
      throw new FeedError("FEED_PARSE_FAILED", name, "not a valid RSS or Atom document", false);
    }
    const format: FeedFormat = /<feed[\s>]/.test(trimmed.slice(0, 2000)) ? "atom" : "rss";
    return {
      format,
      siteUrl: safeHttpUrl(feed.link, url),
      items: (feed.items ?? []).map((i) => {
        const rec = i as Record<string, unknown>;
        const html = [rec["content:encoded"], i.content, rec.summary, rec.description].find((v): v is string => typeof v === "string");
        return { title: i.title, link: i.link ?? (typeof rec.guid === "string" ? rec.guid : undefined), html, date: i.isoDate ?? i.pubDate };
      }),
    };
  }

  private toItem(r: RawItem, base: string): FeedItem | undefined {
    const link = safeHttpUrl(r.link, base);
    const title = truncate(toPlainText(r.title, 1000), 200) || (link ? link : "");
    if (!title) return undefined;
    const d = r.date ? new Date(r.date) : undefined;
    return { title, link, summary: toPlainText(r.html, this.summaryChars), published: d && !Number.isNaN(d.getTime()) ? d : undefined };
  }
}

/** Removes duplicates across feeds (same link or same title), then keeps `perFeed` items each. */
export function dedupe(results: FeedResult[], perFeed: number): FeedResult[] {
  const links = new Set<string>();
  const titles = new Set<string>();
  return results.map((r) => {
    if (!r.ok) return r;
    const kept: FeedItem[] = [];
    for (const item of r.items) {
      if (kept.length >= perFeed) break;
      const l = item.link ? normalizeLink(item.link) : undefined;
      const t = item.title.toLowerCase().replace(/\s+/g, " ").trim();
      if ((l && links.has(l)) || titles.has(t)) continue;
      if (l) links.add(l);
      titles.add(t);
      kept.push(item);
    }
    return { ...r, items: kept };
  });
}

/** A link's identity: no fragment, no tracking parameters, no trailing slash, lower-case host. */
export function normalizeLink(link: string): string {
  try {
    const u = new URL(link);
    u.hash = "";
    for (const k of [...u.searchParams.keys()]) if (/^(utm_|fbclid$|gclid$|ref$)/i.test(k)) u.searchParams.delete(k);
    const s = `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, "")}${u.search}`;
    return s.replace(/^http:/, "https:");
  } catch {
    return link;
  }
}

/** A feed URL without its query string or credentials (they may carry tokens). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "invalid-url";
  }
}

function escapeText(t: string): string {
  return t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function errorKind(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } })?.cause;
  if (cause && typeof cause.code === "string") return cause.code;
  return err instanceof Error ? err.name : "unknown";
}
