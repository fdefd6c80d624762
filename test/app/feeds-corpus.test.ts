/**
 * The feed corpus (test/fixtures/feeds: every format and version, the encodings, entities,
 * relative URIs, CDATA, ill-formed XML, huge and deep documents, hostile content) through
 * the sender's parser and renderer.
 */
import { Parser } from "htmlparser2";
import sanitizeHtml from "sanitize-html";
import * as zod from "zod";
import { decodeFeedBytes } from "../../app/src/feeds/decode";
import type { FeedResult } from "../../app/src/feeds";
import { parseFeed, type ParsedFeed } from "../../app/src/feeds";
import { renderDigest } from "../../app/src/render";
import { UNSAFE_TEXT_CHARS } from "../../app/src/sanitize";
import { loadCorpus, type CorpusDoc } from "../fixtures/feeds/corpus";

const corpus = loadCorpus();
type Parse = typeof parseFeed;
/** A document's whole outcome (its newest 100 items, sanitized, or the refusal) as a string. */
const outcome = (parse: Parse, d: CorpusDoc): string => {
  try {
    return JSON.stringify(parse(d.bytes, d.contentType, d.url, d.name));
  } catch (err) {
    return `refused: ${(err as { code?: string }).code}`;
  }
};

describe("feed corpus", () => {
  test("when the corpus is loaded, it has at least 100 documents covering every category", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(100);
    const categories = new Set(corpus.map((d) => d.category));
    for (const c of ["rss", "rdf", "atom", "atom03", "json", "encoding", "entities", "relative", "cdata", "ill-formed", "huge", "deep", "hostile", "not-a-feed"]) expect(categories).toContain(c);
  });

  test("when each document is read alone (fresh modules) and again after every other one, its outcome is the same", () => {
    const alone = corpus.map((d) => {
      let result = "";
      jest.isolateModules(() => {
        // A fresh copy of the feed modules and of saxes: nothing read before can matter. The
        // two stateless libraries that take most of the loading time are shared.
        jest.doMock("sanitize-html", () => sanitizeHtml);
        jest.doMock("zod", () => zod);
        const fresh = (require("../../app/src/feeds") as { parseFeed: Parse }).parseFeed;
        result = outcome(fresh, d);
      });
      return result;
    });
    // One module instance for everything: a first round, then every document after all the others.
    for (const d of corpus) outcome(parseFeed, d);
    const after = corpus.map((d) => outcome(parseFeed, d));
    const reversed = [...corpus].reverse().map((d) => outcome(parseFeed, d)).reverse();
    const differing = corpus.filter((_, i) => alone[i] !== after[i] || alone[i] !== reversed[i]).map((d) => d.name);
    expect(differing).toEqual([]);
  });

  test.each(corpus.map((d) => [d.name, d.category, d.expect.kind, d] as const))("when %s (%s) is parsed, the outcome is what it must be (%s)", (_name, _category, _kind, d) => {
    let parsed: ParsedFeed | undefined;
    let refusal: string | undefined;
    try {
      parsed = parseFeed(d.bytes, d.contentType, d.url, d.name, { maxItems: Infinity });
    } catch (err) {
      refusal = (err as { code?: string }).code;
    }
    const ex = d.expect;
    if (ex.forbid && parsed) for (const f of ex.forbid) expect(JSON.stringify(parsed.items)).not.toContain(f);
    if (ex.kind === "reject") {
      expect(refusal).toBe("FEED_PARSE_FAILED");
      return;
    }
    if (ex.kind === "either" && refusal) {
      expect(refusal).toBe("FEED_PARSE_FAILED");
      return;
    }
    expect(refusal).toBeUndefined();
    expect(parsed!.format).toBe(ex.format);
    if (ex.kind === "feed" && ex.version) expect(parsed!.version).toBe(ex.version);
    if (ex.kind === "feed" && ex.count !== undefined) expect(parsed!.items).toHaveLength(ex.count);
    // Items come back newest first; an expected item is found by its title.
    for (const e of ex.items) {
      const got = parsed!.items.find((i) => i.title === e.title);
      expect({ title: got?.title, ...(e.link !== undefined ? { link: got?.link ?? null } : {}), ...(e.summary !== undefined ? { summary: got?.summary } : {}), ...(e.date !== undefined ? { date: got?.published?.toISOString() } : {}) }).toEqual(e);
    }
  });

  test("when a document has more than 10,000 entries, only the first 10,000 are read", () => {
    const d = corpus.find((c) => c.name === "huge-16000-items")!;
    const parsed = parseFeed(d.bytes, d.contentType, d.url, d.name, { maxItems: Infinity });
    expect(parsed.items).toHaveLength(10_000);
    expect(parsed.items.some((i) => i.title === "Item 10000")).toBe(false);
  });

  test.each([
    ["enc-latin1-http-header", "windows-1252", "http", "Café naïve über façade"],
    ["enc-latin1-xml-declaration", "windows-1252", "xml-declaration", "Café naïve über façade"],
    ["enc-latin1-single-quotes", "windows-1252", "xml-declaration", "Smörgåsbord"],
    ["enc-windows1252-declared", "windows-1252", "xml-declaration", "“Smart” quotes – €5 … ‘ok’"],
    ["enc-windows1252-labelled-latin1", "windows-1252", "http", "Œuvre • ™ š"],
    ["enc-undeclared-latin1", "windows-1252", "fallback", "Café naïve"],
    ["enc-utf16le-bom", "utf-16le", "bom", "UTF-16 ok: Café — 日本語 🧠"],
    ["enc-utf16be-bom", "utf-16be", "bom", "UTF-16 ok: Café — 日本語 🧠"],
    ["enc-utf16le-bom-header-says-utf8", "utf-16le", "bom", "Zwölf Boxkämpfer"],
    ["enc-utf16le-no-bom", "utf-16le", "sniffed", "Zwölf Boxkämpfer"],
    ["enc-shift-jis-declared", "shift_jis", "xml-declaration", "日本語のフィード：テスト"],
    ["enc-shift-jis-http", "shift_jis", "http", "こんにちは、世界。"],
    ["enc-shift-jis-atom", "shift_jis", "xml-declaration", "日本語のフィード：テスト"],
    ["enc-euc-jp", "euc-jp", "xml-declaration", "日本語のフィード：テスト"],
    ["enc-koi8-r", "koi8-r", "xml-declaration", "Съешь же ещё этих булок"],
    ["enc-gbk", "gbk", "http", "中文订阅源"],
    ["enc-big5", "big5", "xml-declaration", "繁體中文"],
    ["enc-header-beats-declaration", "utf-8", "http", "Café naïve über façade"],
    ["enc-header-latin1-declaration-utf8", "windows-1252", "http", "Café naïve über façade"],
    ["enc-unknown-label", "utf-8", "default", "Prompting for tests first"],
    ["rss20-bom", "utf-8", "bom", "Prompting for tests first"],
    ["json-bom", "utf-8", "bom", "Prompting for tests first"],
    ["enc-latin1-json", "windows-1252", "http", "Café naïve über façade"],
  ])("when %s is decoded, it reads as %s (from the %s) and contains %p", (name, encoding, source, text) => {
    const d = corpus.find((c) => c.name === name)!;
    const decoded = decodeFeedBytes(d.bytes, d.contentType);
    expect({ encoding: decoded.encoding, source: decoded.source }).toEqual({ encoding, source });
    expect(decoded.text).toContain(text);
    expect(decoded.text).not.toContain("\ufffd");
  });

  test("when every parsed document is rendered, no part carries script, event handlers, non-http(s) URLs, bidi or control characters", () => {
    const feeds: FeedResult[] = corpus.flatMap((d): FeedResult[] => {
      try {
        const p = parseFeed(d.bytes, d.contentType, d.url, d.name);
        return [{ ok: true, source: { url: d.url, name: d.name }, format: p.format, siteUrl: p.siteUrl, items: p.items.slice(0, 5), durationMs: 1 }];
      } catch {
        return [];
      }
    });
    expect(feeds.length).toBeGreaterThan(100);
    const r = renderDigest({ now: new Date("2026-11-28T12:00:00Z"), feeds, unsubscribe: "https://digest.example/unsubscribe" });
    expect(r.itemCount).toBeGreaterThan(150);
    const elements: string[] = [];
    const problems: string[] = [];
    const parser = new Parser({
      onopentag(name, attrs) {
        elements.push(name);
        for (const [k, v] of Object.entries(attrs)) {
          if (/^on/i.test(k)) problems.push(`${name} has ${k}`);
          if (/^(href|src|action|formaction|background|poster|srcset|xlink:href)$/i.test(k) && !/^(https?:\/\/|mailto:)/i.test(v.trim())) problems.push(`${name} ${k}=${v}`);
          if (/^style$/i.test(k) && /url\(|expression\(|javascript:/i.test(v)) problems.push(`${name} style ${v}`);
        }
      },
    });
    parser.write(r.html);
    parser.end();
    for (const bad of ["script", "iframe", "object", "embed", "form", "input", "img", "svg", "math", "base", "link", "frame", "frameset", "video", "audio", "source"]) expect(elements).not.toContain(bad);
    expect(problems).toEqual([]);
    expect(r.html).not.toMatch(/<script|javascript:|vbscript:|data:(text|image|application)/i);
    expect(r.html).not.toMatch(UNSAFE_TEXT_CHARS);
    expect(r.text).not.toMatch(UNSAFE_TEXT_CHARS);
    // Every URL the text part shows is http(s).
    const urls = r.text.match(/\b[a-z][a-z0-9+.-]*:\/\/\S+|\b(?:javascript|vbscript|data|file):\S*/gi) ?? [];
    expect(urls.filter((u) => !/^https?:\/\//i.test(u))).toEqual([]);
  });
});
