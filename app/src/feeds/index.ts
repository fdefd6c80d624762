/**
 * Fetches the digest's feeds concurrently, each within the egress rule (egress.ts: the
 * `digest/feed_hosts` allow-list, no private/loopback/metadata addresses, redirects checked
 * and bounded), with a per-feed deadline, a size cap and a bounded retry. Every document is
 * decoded as the specs say (decode.ts) and parsed on its own (document.ts over a fresh XML
 * parser: nothing carries over from one feed to the next); its items are sanitized
 * (items.ts). A feed that fails is reported, never fatal. Items are de-duplicated across
 * feeds (same link or same title) and the newest `itemsPerFeed` of each feed are kept.
 */
import { FeedError } from "../errors";
import type { Logger } from "../log";
import type { FeedSource } from "../validation";
import { decodeFeedBytes } from "./decode";
import { parseFeedDocument, type FeedFormat } from "./document";
import { EgressPolicy } from "./egress";
import { fetchDocument, systemResolver, type Resolver } from "./http";
import { toFeedItem, type FeedItem } from "./items";
import { XmlDocumentError, parseXmlTree } from "./xml";

export type { FeedFormat } from "./document";
export type { FeedItem } from "./items";
export type { Resolver } from "./http";

export type FeedResult =
  | { readonly ok: true; readonly source: FeedSource; readonly format: FeedFormat; readonly siteUrl?: string; readonly items: readonly FeedItem[]; readonly durationMs: number }
  | { readonly ok: false; readonly source: FeedSource; readonly error: FeedError; readonly durationMs: number };

/** What one run allows (from its config): `digest/feed_hosts`, or undefined for no host restriction. */
export interface FetchPolicy {
  readonly hosts?: readonly string[];
}

export interface FeedFetcherOptions {
  /** Per attempt: connect, redirects, headers and body. @default 10000 */
  readonly timeoutMs?: number;
  /** Largest body accepted (before and after decompression). @default 2 MiB */
  readonly maxBytes?: number;
  /** @default 3 */
  readonly itemsPerFeed?: number;
  /** Extra attempts after a network error, 429 or 5xx (never after a timeout or a refusal). @default 1 */
  readonly retries?: number;
  /** Feeds fetched at once. @default 16 */
  readonly concurrency?: number;
  /** @default 300 */
  readonly summaryChars?: number;
  /** Host name to addresses (tests map names to loopback). @default the system resolver */
  readonly resolver?: Resolver;
  readonly logger?: Logger;
  /** Sleep used between retries (tests pass a fast one). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Fetches and parses feeds. */
export class FeedFetcher {
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly itemsPerFeed: number;
  private readonly retries: number;
  private readonly concurrency: number;
  private readonly summaryChars: number;
  private readonly resolver: Resolver;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly opts: FeedFetcherOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxBytes = opts.maxBytes ?? 2 * 1024 * 1024;
    this.itemsPerFeed = opts.itemsPerFeed ?? 3;
    this.retries = Math.min(Math.max(opts.retries ?? 1, 0), 5);
    this.concurrency = Math.max(opts.concurrency ?? 16, 1);
    this.summaryChars = opts.summaryChars ?? 300;
    this.resolver = opts.resolver ?? systemResolver;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Fetches every feed (at most `concurrency` at once) under `policy` and returns one result
   * per feed in the configured order, with duplicates across feeds removed (earlier feeds win).
   */
  async fetchAll(sources: readonly FeedSource[], policy: FetchPolicy = {}): Promise<FeedResult[]> {
    const results: FeedResult[] = new Array(sources.length);
    let next = 0;
    const worker = async () => {
      while (next < sources.length) {
        const i = next++;
        results[i] = await this.fetchOne(sources[i], policy);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, sources.length) }, worker));
    return dedupe(results, this.itemsPerFeed);
  }

  /** One feed, never throws: failures come back as `{ ok: false }`. */
  async fetchOne(source: FeedSource, policy: FetchPolicy = {}): Promise<FeedResult> {
    const started = Date.now();
    const name = `${source.name} (${redactUrl(source.url)})`;
    const egress = new EgressPolicy(policy.hosts);
    let lastError: FeedError | undefined;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await this.sleep(Math.round(200 * 2 ** (attempt - 1) * (0.5 + Math.random())));
      try {
        const doc = await fetchDocument(source.url, name, { policy: egress, timeoutMs: this.timeoutMs, maxBytes: this.maxBytes, resolver: this.resolver });
        const parsed = parseFeed(doc.bytes, doc.contentType, doc.url, name, { summaryChars: this.summaryChars });
        this.opts.logger?.debug({ feed: source.name, items: parsed.items.length, format: parsed.format, version: parsed.version, encoding: parsed.encoding, redirects: doc.redirects }, "feed fetched");
        return { ok: true, source, format: parsed.format, siteUrl: parsed.siteUrl, items: parsed.items, durationMs: Date.now() - started };
      } catch (err) {
        lastError = err instanceof FeedError ? err : new FeedError("FEED_FETCH_FAILED", name, "unexpected failure", false);
        if (!lastError.retryable) break;
      }
    }
    this.opts.logger?.warn({ feed: source.name, err: lastError }, "feed failed; the digest goes on without it");
    return { ok: false, source, error: lastError!, durationMs: Date.now() - started };
  }
}

export interface ParsedFeed {
  readonly format: FeedFormat;
  readonly version: string;
  readonly encoding: string;
  readonly siteUrl?: string;
  /** Sanitized items, newest first. */
  readonly items: FeedItem[];
}

/** Items of one feed sanitized and kept (the newest); far more than a digest shows, after de-duplication. */
export const MAX_ITEMS_PER_FEED = 100;

export interface ParseFeedOptions {
  /** @default 300 */
  readonly summaryChars?: number;
  /** The newest this many items are sanitized and returned. @default MAX_ITEMS_PER_FEED */
  readonly maxItems?: number;
}

/**
 * One document's bytes to its sanitized items, newest first: decode (BOM, `contentType`'s
 * charset, XML declaration), parse with a fresh parser, map the format, sanitize. `url` is
 * where it came from (the base of relative links). Throws FEED_PARSE_FAILED naming `name`.
 */
export function parseFeed(bytes: Uint8Array, contentType: string, url: string, name: string, o: ParseFeedOptions = {}): ParsedFeed {
  const decoded = decodeFeedBytes(bytes, contentType);
  let doc;
  try {
    doc = parseFeedDocument(decoded.text, { url, contentType, xml: parseXmlTree });
  } catch (err) {
    if (err instanceof XmlDocumentError) throw new FeedError("FEED_PARSE_FAILED", name, err.reason, false);
    throw new FeedError("FEED_PARSE_FAILED", name, "not a valid RSS, Atom or JSON Feed document", false);
  }
  // Newest first (undated last, in document order), then only the kept ones are sanitized.
  const time = (d: string | undefined) => {
    const t = d ? new Date(d).getTime() : NaN;
    return Number.isNaN(t) ? 0 : t;
  };
  const items = doc.entries
    .map((e, i) => ({ e, i, t: time(e.date) }))
    .sort((a, b) => b.t - a.t || a.i - b.i)
    .map(({ e }) => e)
    .reduce<FeedItem[]>((kept, e) => {
      if (kept.length < (o.maxItems ?? MAX_ITEMS_PER_FEED)) {
        const item = toFeedItem(e, o.summaryChars ?? 300);
        if (item) kept.push(item);
      }
      return kept;
    }, []);
  return { format: doc.format, version: doc.version, encoding: decoded.encoding, siteUrl: doc.siteUrl && /^https?:/i.test(doc.siteUrl) ? doc.siteUrl : undefined, items };
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
