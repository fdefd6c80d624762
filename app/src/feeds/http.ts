/**
 * Fetches one feed document over HTTP(S) within the egress rule (egress.ts): node's http
 * and https clients with a `lookup` hook that resolves the name itself, checks every
 * address, and hands the connection exactly the address it checked (so the answer cannot
 * change between check and connect: no DNS rebinding). Redirects are followed by hand, at
 * most {@link MAX_REDIRECTS}, each target checked like the first URL; a redirect back to a
 * URL already visited is a loop. One deadline covers the whole chain (connect, headers,
 * body), and the body is capped before and after decompression.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { LookupAddress } from "node:dns";
import zlib from "node:zlib";
import { FeedError } from "../errors";
import type { EgressPolicy, EgressSubject } from "./egress";

/** Redirects followed before FEED_TOO_MANY_REDIRECTS. */
export const MAX_REDIRECTS = 5;

/** Resolves a host name to its addresses (all of them, in the resolver's order). */
export type Resolver = (host: string) => Promise<readonly { readonly address: string; readonly family: 4 | 6 }[]>;

/** The system resolver (getaddrinfo, as every other connection of the process). */
export const systemResolver: Resolver = async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

export interface HttpFetchOptions {
  readonly policy: EgressPolicy;
  /** Whole chain: connect, redirects, headers and body. */
  readonly timeoutMs: number;
  /** Largest body accepted, before and after decompression. */
  readonly maxBytes: number;
  readonly resolver: Resolver;
  /** @default MAX_REDIRECTS */
  readonly maxRedirects?: number;
}

export interface FetchedDocument {
  readonly bytes: Buffer;
  /** The Content-Type header of the final answer ("" when absent). */
  readonly contentType: string;
  /** The URL the document came from (after redirects): the base of its relative links. */
  readonly url: string;
  readonly redirects: number;
}

const ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5";
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** A URL's identity for loop detection: without its fragment. */
const visitKey = (u: URL) => `${u.protocol}//${u.host}${u.pathname}${u.search}`;

/** Fetches `url` for the feed named `feed` (its log-safe `name (redacted url)`). */
export async function fetchDocument(url: string, feed: string, o: HttpFetchOptions): Promise<FetchedDocument> {
  const maxRedirects = o.maxRedirects ?? MAX_REDIRECTS;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), o.timeoutMs);
  try {
    let current = new URL(url);
    let subject: EgressSubject = { feed };
    o.policy.checkUrl(current, subject);
    const visited = new Set([visitKey(current)]);
    for (let hop = 0; hop <= maxRedirects + 1; hop++) {
      const res = await request(current, subject, o, abort.signal, feed);
      if (REDIRECTS.has(res.statusCode ?? 0)) {
        res.destroy();
        const location = res.headers.location;
        let next: URL | undefined;
        try {
          next = location ? new URL(location, current) : undefined;
        } catch {
          next = undefined;
        }
        if (!next) throw new FeedError("FEED_REDIRECT_INVALID", feed, `HTTP ${res.statusCode} without a usable Location`, false);
        next.hash = "";
        if (visited.has(visitKey(next))) throw new FeedError("FEED_REDIRECT_LOOP", feed, `redirect loop: ${next.protocol}//${next.host} leads back to a URL already visited`, false);
        if (hop + 1 > maxRedirects) throw new FeedError("FEED_TOO_MANY_REDIRECTS", feed, `too many redirects (more than ${maxRedirects})`, false);
        visited.add(visitKey(next));
        subject = { feed, redirect: next };
        o.policy.checkUrl(next, subject);
        current = next;
        continue;
      }
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        res.destroy();
        throw new FeedError("FEED_HTTP_STATUS", feed, `HTTP ${status}`, status === 429 || status >= 500);
      }
      const bytes = await readBody(res, o.maxBytes, feed, abort.signal, o.timeoutMs);
      return { bytes, contentType: String(res.headers["content-type"] ?? ""), url: current.toString(), redirects: hop };
    }
    throw new FeedError("FEED_TOO_MANY_REDIRECTS", feed, `too many redirects (more than ${maxRedirects})`, false);
  } finally {
    clearTimeout(timer);
  }
}

/** One GET: answers once the headers are in. Connects only to an address the policy accepted. */
function request(url: URL, subject: EgressSubject, o: HttpFetchOptions, signal: AbortSignal, feed: string): Promise<IncomingMessage> {
  const client = url.protocol === "https:" ? https : http;
  // Called by net.connect for a host name (never for an IP literal, which checkUrl checked).
  const lookup = (hostname: string, options: { family?: number; all?: boolean }, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void): void => {
    const answer = async () => {
      const addresses = await o.resolver(hostname);
      if (addresses.length === 0) throw new FeedError("FEED_FETCH_FAILED", feed, "request failed (ENOTFOUND)", true);
      for (const a of addresses) o.policy.checkAddress(hostname, a.address, subject);
      const usable = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
      if (usable.length === 0) throw new FeedError("FEED_FETCH_FAILED", feed, `request failed (no IPv${options.family} address)`, true);
      return usable;
    };
    answer().then(
      (usable) => {
        if (options.all) callback(null, usable.map((a) => ({ address: a.address, family: a.family })));
        else callback(null, usable[0].address, usable[0].family);
      },
      (err: unknown) => callback(err instanceof Error ? err : new Error(String(err)), ""),
    );
  };
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = client.request(url, {
      method: "GET",
      agent: false,
      signal,
      lookup: lookup as never,
      headers: { accept: ACCEPT, "accept-encoding": "gzip, deflate, br", "user-agent": "vibe-digest/1 (daily digest)" },
    });
    req.on("response", resolve);
    req.on("error", (err) => reject(networkError(err, signal, feed, o.timeoutMs, false)));
    req.end();
  });
}

/** The body, decompressed, at most `maxBytes` either way. */
async function readBody(res: IncomingMessage, maxBytes: number, feed: string, signal: AbortSignal, timeoutMs: number): Promise<Buffer> {
  const tooLarge = () => new FeedError("FEED_TOO_LARGE", feed, `larger than ${maxBytes} bytes`, false);
  const declared = Number(res.headers["content-length"] ?? "NaN");
  if (declared > maxBytes) {
    res.destroy();
    throw tooLarge();
  }
  const encoding = String(res.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  const decoder = encoding === "gzip" || encoding === "x-gzip" ? zlib.createGunzip() : encoding === "deflate" ? zlib.createInflate() : encoding === "br" ? zlib.createBrotliDecompress() : undefined;
  let received = 0;
  res.on("data", (c: Buffer) => {
    received += c.length;
    if (received > maxBytes) res.destroy(tooLarge());
  });
  const stream = decoder ? res.pipe(decoder) : res;
  if (decoder) res.on("error", (err) => decoder.destroy(err));
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw tooLarge();
      chunks.push(chunk);
    }
  } catch (err) {
    res.destroy();
    decoder?.destroy();
    throw networkError(err, signal, feed, timeoutMs, true);
  }
  return Buffer.concat(chunks);
}

function networkError(err: unknown, signal: AbortSignal, feed: string, timeoutMs: number, reading: boolean): FeedError {
  if (err instanceof FeedError) return err;
  if (signal.aborted) return new FeedError("FEED_TIMEOUT", feed, `no ${reading ? "complete " : ""}answer within ${timeoutMs} ms`, false);
  const code = (err as { code?: unknown })?.code;
  const kind = typeof code === "string" ? code : err instanceof Error ? err.name : "unknown";
  if (typeof code === "string" && code.startsWith("Z_")) return new FeedError("FEED_PARSE_FAILED", feed, `the compressed body is corrupt (${kind})`, false);
  return new FeedError("FEED_FETCH_FAILED", feed, `${reading ? "reading the body" : "request"} failed (${kind})`, true);
}
