/**
 * Feed parser comparison (not a test): every candidate reads every document of the corpus
 * (test/fixtures/feeds: the committed documents and the generated huge and deep ones), and
 * each outcome is checked against the document's expectation. Prints one Markdown table
 * (docs/feeds.md keeps the last one) and, with --details, each candidate's misses.
 *
 *   npm run bench:feeds -- [--details] [--only <part of a candidate's name>]
 *
 * Each candidate runs in a child process; a document that takes over 60 s is stopped and
 * counted as unsafe (a hang), and the candidate goes on with the next one.
 *
 * Candidates: the libraries as they come (rss-parser, @rowanmanning/feed-parser,
 * feedsmith, htmlparser2's parseFeed), and three XML parsers (saxes, htmlparser2 in XML
 * mode, fast-xml-parser) each building the element tree that the sender's own format
 * mapping (app/src/feeds/document.ts) reads. Every candidate but the first gets the text
 * decoded the same way (app/src/feeds/decode.ts: BOM, HTTP charset, XML declaration) and
 * the same sanitizing (items.ts); "rss-parser, as before #11" is the old pipeline whole
 * (UTF-8 always, one parser instance for every feed, no control-character stripping).
 * JSON Feed documents go through the sender's JSON Feed reader for every candidate except
 * feedsmith (which reads JSON Feed itself) and the old pipeline (its own).
 *
 * Outcome classes per document:
 * - correct: parsed with the expected items, or refused when refusing is expected/allowed;
 * - garbled: parsed, but an item differs (title, link, summary, date, count);
 * - wrongly rejected: refused a document that must parse;
 * - wrongly accepted: parsed a document that must be refused (no harm seen);
 * - unsafe: expanded an entity bomb or an external entity (forbidden text in the output),
 *   kept bidi/control characters, took over 5 s, or gave a different outcome when the same
 *   document came after every other one (order dependence).
 */
import { spawn } from "node:child_process";
import { parseFeed as rowanParseFeed } from "@rowanmanning/feed-parser";
import { XMLParser } from "fast-xml-parser";
import { parseFeed as feedsmithParse } from "feedsmith";
import { Parser as Html2Parser, parseFeed as html2ParseFeed } from "htmlparser2";
import RssParser from "rss-parser";
import sanitizeHtml from "sanitize-html";
import { z } from "zod";
import { decodeFeedBytes } from "../app/src/feeds/decode";
import { mapXmlFeed, parseFeedDocument, type FeedEntry, type FeedFormat } from "../app/src/feeds/document";
import { toFeedItem, type FeedItem } from "../app/src/feeds/items";
import { TreeBuilder, XmlDocumentError, parseXmlTree, type XmlElement } from "../app/src/feeds/xml";
import { safeHttpUrl, truncate, UNSAFE_TEXT_CHARS } from "../app/src/sanitize";
import { loadCorpus, type CorpusDoc, type ExpectedItem } from "../test/fixtures/feeds/corpus";

/** `items`: the first 50 sanitized (what is compared); `count`: every item the document yields. */
type Outcome = { ok: true; format?: FeedFormat; items: FeedItem[]; count?: number } | { ok: false; reason: string };
/** One parse of one document; an instance may keep state between calls (that is what is measured). */
type ParseFn = (doc: CorpusDoc) => Promise<Outcome> | Outcome;
interface Candidate {
  readonly name: string;
  /** A fresh instance (the "alone" reading). */
  readonly create: () => ParseFn;
}

const fail = (err: unknown): Outcome => ({ ok: false, reason: err instanceof Error ? `${err.name}: ${err.message.split("\n")[0].slice(0, 80)}` : "error" });
/** The first 50 entries sanitized (sanitizing 10,000 would measure sanitize-html, not the parser) and how many entries yield an item. */
const items = (entries: FeedEntry[]): { items: FeedItem[]; count: number } => ({
  items: entries.slice(0, 50).map((e) => toFeedItem(e)).filter((i): i is FeedItem => i !== undefined),
  count: entries.filter((e) => (e.title && e.title.value.trim() !== "") || safeHttpUrl(e.link) !== undefined).length,
});
const resolveLink = (link: unknown, base: string): string | undefined => {
  if (typeof link !== "string" || !link.trim()) return undefined;
  try {
    return new URL(link.trim(), base).toString();
  } catch {
    return undefined;
  }
};
const html = (v: unknown) => (typeof v === "string" && v !== "" ? { type: "html" as const, value: v } : undefined);
const decoded = (doc: CorpusDoc) => decodeFeedBytes(doc.bytes, doc.contentType).text;
const isJson = (doc: CorpusDoc, text: string) => text.replace(/^[\s\ufeff]+/, "").startsWith("{") || (/json/i.test(doc.contentType) && !text.trimStart().startsWith("<"));
/** The sender's JSON Feed reader (for candidates without one). */
const sharedJson = (doc: CorpusDoc, text: string): Outcome => {
  const d = parseFeedDocument(text, { url: doc.url, contentType: doc.contentType, xml: () => { throw new XmlDocumentError("not JSON"); } });
  return { ok: true, format: d.format, ...items(d.entries) };
};

// ---- the old pipeline (app/src/feeds.ts before #11), reproduced ----

const legacyJson = z.object({
  version: z.string().regex(/^https:\/\/jsonfeed\.org\/version\/1(\.1)?$/),
  home_page_url: z.string().optional(),
  items: z.array(z.object({ url: z.string().optional(), external_url: z.string().optional(), title: z.string().optional(), content_html: z.string().optional(), content_text: z.string().optional(), summary: z.string().optional(), date_published: z.string().optional(), date_modified: z.string().optional() })).max(10_000),
});
const legacyPlain = (h: string | undefined, max: number): string => {
  if (!h) return "";
  const t = sanitizeHtml(h.slice(0, 200_000).replace(/<\/(p|div|li|h[1-6]|br)\s*>|<br\s*\/?>/gi, " $& "), { allowedTags: [], allowedAttributes: {}, nonTextTags: ["script", "style", "textarea", "option", "noscript", "template", "iframe", "object", "svg", "math", "head", "title"] })
    .replace(/&(amp|lt|gt|quot|#39);/g, (m) => ({ "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" })[m]!)
    .replace(/\s+/g, " ")
    .trim();
  return truncate(t, max);
};
const legacyEsc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
function legacyItems(raw: { title?: string; link?: string; html?: string; date?: string }[], base: string): FeedItem[] {
  return raw.flatMap((r) => {
    const link = safeHttpUrl(r.link, base);
    const title = truncate(legacyPlain(r.title, 1000), 200) || (link ?? "");
    if (!title) return [];
    const d = r.date ? new Date(r.date) : undefined;
    return [{ title, link, summary: legacyPlain(r.html, 300), published: d && !Number.isNaN(d.getTime()) ? d : undefined }];
  });
}
const legacy: Candidate = {
  name: "rss-parser 3.13, as before #11",
  create: () => {
    const parser = new RssParser();
    return async (doc) => {
      const body = doc.bytes.toString("utf8");
      const trimmed = body.trimStart();
      try {
        if (/json/i.test(doc.contentType) || trimmed.startsWith("{")) {
          const r = legacyJson.safeParse(JSON.parse(trimmed));
          if (!r.success) return { ok: false, reason: "not a JSON Feed" };
          const base = safeHttpUrl(r.data.home_page_url, doc.url) ?? doc.url;
          return { ok: true, format: "json", items: legacyItems(r.data.items.map((i) => ({ title: i.title, link: i.url ?? i.external_url, html: i.content_html ?? (i.summary !== undefined ? legacyEsc(i.summary) : i.content_text !== undefined ? legacyEsc(i.content_text) : undefined), date: i.date_published ?? i.date_modified })), base) };
        }
        const feed = await parser.parseString(trimmed);
        const base = safeHttpUrl(feed.link, doc.url) ?? doc.url;
        return {
          ok: true,
          items: legacyItems(
            (feed.items ?? []).map((i) => {
              const rec = i as Record<string, unknown>;
              const h = [rec["content:encoded"], i.content, rec.summary, rec.description].find((v): v is string => typeof v === "string");
              return { title: i.title, link: i.link ?? (typeof rec.guid === "string" ? rec.guid : undefined), html: h, date: i.isoDate ?? i.pubDate };
            }),
            base,
          ),
        };
      } catch (err) {
        return fail(err);
      }
    };
  },
};

// ---- libraries as they come, on decoded text ----

const rssParserDecoded: Candidate = {
  name: "rss-parser 3.13 (decoded, one instance per feed)",
  create: () => async (doc) => {
    const text = decoded(doc);
    try {
      if (isJson(doc, text)) return sharedJson(doc, text);
      const feed = await new RssParser().parseString(text.trimStart());
      return {
        ok: true,
        ...items(
          (feed.items ?? []).map((i) => {
            const rec = i as Record<string, unknown>;
            return { title: html(i.title), link: resolveLink(i.link ?? rec.guid, doc.url), summary: html([rec.description, rec.summary, rec["content:encoded"], i.content].find((v) => typeof v === "string" && v !== "")), date: i.isoDate ?? i.pubDate };
          }),
        ),
      };
    } catch (err) {
      return fail(err);
    }
  },
};

const rowan: Candidate = {
  name: "@rowanmanning/feed-parser 2.1.5",
  create: () => (doc) => {
    const text = decoded(doc);
    try {
      if (isJson(doc, text)) return sharedJson(doc, text);
      const feed = rowanParseFeed(text);
      return { ok: true, ...items(feed.items.map((i) => ({ title: html(i.title), link: resolveLink(i.url, doc.url), summary: html(i.description ?? i.content), date: i.published ? i.published.toISOString() : undefined }))) };
    } catch (err) {
      return fail(err);
    }
  },
};

type Txt = string | { value?: string; type?: string } | undefined;
const fsText = (t: Txt) => {
  if (t === undefined) return undefined;
  if (typeof t === "string") return html(t);
  return t.value ? { type: t.type === "html" || t.type === "xhtml" ? ("html" as const) : ("text" as const), value: t.value } : undefined;
};
const feedsmith: Candidate = {
  name: "feedsmith 3.0.1",
  create: () => (doc) => {
    const text = decoded(doc);
    try {
      const r = feedsmithParse(text.replace(/^\ufeff/, "")) as unknown as { format: string; feed: Record<string, unknown> };
      const f = r.feed as Record<string, any>;
      let entries: FeedEntry[];
      if (r.format === "rss" || r.format === "rdf") {
        entries = ((f.items ?? []) as Record<string, any>[]).map((i) => ({ title: html(i.title), link: resolveLink(i.link ?? (i.guid?.isPermaLink !== false ? i.guid?.value : undefined) ?? i.rdf?.about, doc.url), summary: html(i.description ?? i.content?.encoded), date: i.pubDate ?? i.dc?.dates?.[0] ?? i.dc?.date }));
      } else if (r.format === "atom") {
        entries = ((f.entries ?? []) as Record<string, any>[]).map((e) => {
          const links = (e.links ?? []) as { href?: string; rel?: string; type?: string }[];
          const alt = links.filter((l) => !l.rel || l.rel === "alternate");
          return { title: fsText(e.title), link: resolveLink((alt.find((l) => !l.type || /html/.test(l.type)) ?? alt[0])?.href, doc.url), summary: fsText(e.summary) ?? fsText(e.content), date: e.published ?? e.updated ?? e.issued ?? e.modified };
        });
      } else {
        entries = ((f.items ?? []) as Record<string, any>[]).map((i) => ({ title: i.title ? { type: "text" as const, value: i.title } : undefined, link: resolveLink(i.url ?? i.external_url, doc.url), summary: i.summary ? { type: "text" as const, value: i.summary } : html(i.content_html) ?? (i.content_text ? { type: "text" as const, value: i.content_text } : undefined), date: i.date_published ?? i.date_modified }));
      }
      return { ok: true, ...items(entries) };
    } catch (err) {
      return fail(err);
    }
  },
};

const html2Feed: Candidate = {
  name: "htmlparser2 12 parseFeed",
  create: () => (doc) => {
    const text = decoded(doc);
    try {
      if (isJson(doc, text)) return sharedJson(doc, text);
      const feed = html2ParseFeed(text, { xmlMode: true });
      if (!feed) return { ok: false, reason: "not a feed" };
      return { ok: true, ...items(feed.items.map((i) => ({ title: html(i.title), link: resolveLink(i.link, doc.url), summary: html(i.description), date: i.pubDate?.toISOString() }))) };
    } catch (err) {
      return fail(err);
    }
  },
};

// ---- XML parsers building the tree the sender's mapping reads ----

function withMapping(name: string, tree: (text: string) => XmlElement, guard: boolean): Candidate {
  return {
    name,
    create: () => (doc) => {
      try {
        const text = decoded(doc);
        if (!guard) {
          const t = text.replace(/^[\s\ufeff]+/, "");
          if (isJson(doc, t)) return sharedJson(doc, t);
          if (!t.startsWith("<")) return { ok: false, reason: "not XML" };
          const d = mapXmlFeed(tree(t), doc.url);
          return { ok: true, format: d.format, ...items(d.entries) };
        }
        const d = parseFeedDocument(text, { url: doc.url, contentType: doc.contentType, xml: tree });
        return { ok: true, format: d.format, ...items(d.entries) };
      } catch (err) {
        return fail(err);
      }
    },
  };
}

function htmlparser2Tree(text: string): XmlElement {
  const b = new TreeBuilder();
  const p = new Html2Parser({ onopentag: (name, attrs) => b.open(name, attrs), ontext: (t) => b.text(t), oncdatastart: () => undefined, onclosetag: () => b.close() }, { xmlMode: true, decodeEntities: true, recognizeCDATA: true });
  p.write(text);
  p.end();
  return b.root();
}

function fxpTree(text: string): XmlElement {
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "", preserveOrder: true, trimValues: false, parseTagValue: false, parseAttributeValue: false, ignoreDeclaration: true, ignorePiTags: true, commentPropName: "#comment" });
  const out = parser.parse(text) as Record<string, unknown>[];
  const b = new TreeBuilder();
  const walk = (nodes: Record<string, unknown>[]) => {
    for (const n of nodes) {
      const attrs = (n[":@"] ?? {}) as Record<string, string>;
      for (const [k, v] of Object.entries(n)) {
        if (k === ":@" || k === "#comment") continue;
        if (k === "#text") b.text(String(v));
        else {
          b.open(k, Object.fromEntries(Object.entries(attrs).map(([a, av]) => [a, String(av)])));
          walk(v as Record<string, unknown>[]);
          b.close();
        }
      }
    }
  };
  walk(out);
  return b.root();
}

const candidates: Candidate[] = [
  legacy,
  rssParserDecoded,
  rowan,
  feedsmith,
  html2Feed,
  withMapping("fast-xml-parser 5.12 + mapping", fxpTree, false),
  withMapping("htmlparser2 12 (XML mode) + mapping", htmlparser2Tree, false),
  withMapping("fast-xml-parser 5.12 + mapping + entity guard", fxpTree, true),
  withMapping("saxes 6 + mapping", parseXmlTree, false),
  withMapping("saxes 6 + mapping + entity guard (shipped)", parseXmlTree, true),
];

// ---- judging ----

type Verdict = "correct" | "garbled" | "wrongly rejected" | "wrongly accepted" | "unsafe";

function itemMismatch(expected: readonly ExpectedItem[], got: FeedItem[], gotCount: number, count?: number): string | undefined {
  if (count !== undefined && gotCount !== count) return `count ${gotCount} != ${count}`;
  if (got.length < expected.length) return `${got.length} items < ${expected.length}`;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const g = got[i];
    if (g.title !== e.title) return `item ${i} title ${JSON.stringify(g.title.slice(0, 60))} != ${JSON.stringify(e.title.slice(0, 60))}`;
    if (e.link !== undefined && (g.link ?? null) !== e.link) return `item ${i} link ${g.link} != ${e.link}`;
    if (e.summary !== undefined && g.summary !== e.summary) return `item ${i} summary ${JSON.stringify(g.summary.slice(0, 60))} != ${JSON.stringify(e.summary.slice(0, 60))}`;
    // Dates crossed a process boundary as JSON strings.
    const iso = g.published ? new Date(g.published).toISOString() : undefined;
    if (e.date !== undefined && iso !== e.date) return `item ${i} date ${iso} != ${e.date}`;
  }
  return undefined;
}

function judge(doc: CorpusDoc, o: Outcome): { verdict: Verdict; why?: string } {
  const ex = doc.expect;
  if (o.ok) {
    const all = JSON.stringify(o.items);
    const forbidden = ex.forbid?.find((f) => all.includes(f));
    if (forbidden) return { verdict: "unsafe", why: `output contains ${JSON.stringify(forbidden)}` };
    if (o.items.some((i) => UNSAFE_TEXT_CHARS.test(i.title) || UNSAFE_TEXT_CHARS.test(i.summary))) return { verdict: "unsafe", why: "bidi or control characters kept" };
    if (ex.kind === "reject") return { verdict: "wrongly accepted" };
    const miss = itemMismatch(ex.items, o.items, o.count ?? o.items.length, ex.kind === "feed" ? ex.count : undefined);
    return miss ? { verdict: "garbled", why: miss } : { verdict: "correct" };
  }
  return ex.kind === "feed" ? { verdict: "wrongly rejected", why: o.reason } : { verdict: "correct" };
}

const key = (o: Outcome) => (o.ok ? JSON.stringify(o.items) : "rejected");

/** What a child reports per document: the outcome alone, or after every other document. */
type Line = { phase: "alone" | "warm" | "after"; i: number; start?: true; key?: string; outcome?: Outcome; ms?: number };

/**
 * Child mode: one candidate over the corpus, one JSON line per event, so the parent can
 * stop a document that hangs (`--skip` lists documents it gave up on, `--from` where the
 * first pass resumes).
 */
async function child(name: string, skip: Set<number>, from: number): Promise<void> {
  const c = candidates.find((k) => k.name === name)!;
  const corpus = loadCorpus();
  const emit = (l: Line) => process.stdout.write(`${JSON.stringify(l)}\n`);
  for (let i = from; i < corpus.length; i++) {
    if (skip.has(i)) continue;
    emit({ phase: "alone", i, start: true });
    const t0 = performance.now();
    const outcome = await c.create()(corpus[i]);
    emit({ phase: "alone", i, outcome, ms: performance.now() - t0 });
  }
  // One instance for everything, as one fetcher serves every feed: a first round, then each
  // document again after every other one has been read.
  const shared = c.create();
  for (let i = 0; i < corpus.length; i++) {
    if (skip.has(i)) continue;
    emit({ phase: "warm", i, start: true });
    await shared(corpus[i]);
    emit({ phase: "warm", i });
  }
  for (let i = 0; i < corpus.length; i++) {
    if (skip.has(i)) continue;
    emit({ phase: "after", i, start: true });
    emit({ phase: "after", i, key: key(await shared(corpus[i])) });
  }
}

/** A document's parse may take this long before the candidate is stopped and the document counted as a hang. */
const HANG_MS = 60_000;

/** Runs `name` in child processes (restarting after a hang) and collects each document's outcomes. */
async function runCandidate(name: string, n: number): Promise<{ alone: (Outcome | undefined)[]; ms: number[]; after: (string | undefined)[]; hung: Set<number> }> {
  const alone: (Outcome | undefined)[] = new Array(n);
  const ms: number[] = new Array(n).fill(0);
  const after: (string | undefined)[] = new Array(n);
  const hung = new Set<number>();
  let from = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    const args = [__filename, "--child", name, "--from", String(from), "--skip", [...hung].join(",")];
    const proc = spawn(process.execPath, [...process.execArgv, ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let current: Line | undefined;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => proc.kill("SIGKILL"), HANG_MS);
    };
    arm();
    let buf = "";
    proc.stdout.on("data", (d: Buffer) => {
      buf += d.toString("utf8");
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const l = JSON.parse(buf.slice(0, nl)) as Line;
        buf = buf.slice(nl + 1);
        arm();
        if (l.start) current = l;
        else {
          current = undefined;
          if (l.phase === "alone") {
            alone[l.i] = l.outcome;
            ms[l.i] = l.ms ?? 0;
            from = l.i + 1;
          } else if (l.phase === "after") after[l.i] = l.key;
        }
      }
    });
    const code = await new Promise<number | null>((resolve) => proc.on("close", resolve));
    clearTimeout(timer);
    if (code === 0 && !current) break;
    // Stopped (or crashed) on `current`: count it as hung and go on without it.
    if (!current) throw new Error(`${name}: the child stopped between documents (exit ${code})`);
    hung.add(current.i);
    ms[current.i] = Math.max(ms[current.i], HANG_MS);
    if (current.phase === "alone") from = current.i + 1;
  }
  return { alone, ms, after, hung };
}

async function measure(c: Candidate, corpus: CorpusDoc[]) {
  const { alone, ms, after, hung } = await runCandidate(c.name, corpus.length);
  const counts: Record<Verdict, number> = { correct: 0, garbled: 0, "wrongly rejected": 0, "wrongly accepted": 0, unsafe: 0 };
  let parsed = 0;
  const misses: string[] = [];
  corpus.forEach((doc, i) => {
    const a = alone[i];
    let j: { verdict: Verdict; why?: string };
    if (hung.has(i) || !a || after[i] === undefined) j = { verdict: "unsafe", why: `no answer within ${HANG_MS / 1000} s (stopped)` };
    else {
      j = judge(doc, a);
      if (j.verdict !== "unsafe" && key(a) !== after[i]) j = { verdict: "unsafe", why: `order-dependent: alone ${a.ok ? "parsed" : "rejected"}, after the others ${after[i] === "rejected" ? "rejected" : "parsed differently"}` };
      else if (j.verdict !== "unsafe" && ms[i] > 5000) j = { verdict: "unsafe", why: `took ${Math.round(ms[i])} ms` };
      else if (ms[i] > 1000) misses.push(`  ${doc.name}: slow (${Math.round(ms[i])} ms)`);
    }
    counts[j.verdict]++;
    if (a?.ok) parsed++;
    if (j.verdict !== "correct") misses.push(`  ${doc.name} [${doc.category}]: ${j.verdict}${j.why ? ` (${j.why})` : ""}`);
  });
  return { counts, parsed, rejected: corpus.length - parsed, totalMs: ms.reduce((x, y) => x + y, 0), misses };
}

async function main(): Promise<void> {
  const argv = process.argv;
  const arg = (flag: string) => (argv.indexOf(flag) > 0 ? argv[argv.indexOf(flag) + 1] : undefined);
  if (arg("--child")) {
    await child(arg("--child")!, new Set((arg("--skip") ?? "").split(",").filter(Boolean).map(Number)), Number(arg("--from") ?? 0));
    return;
  }
  const details = argv.includes("--details");
  const only = arg("--only");
  const corpus = loadCorpus();
  const categories = new Map<string, number>();
  for (const d of corpus) categories.set(d.category, (categories.get(d.category) ?? 0) + 1);
  console.log(`corpus: ${corpus.length} documents (${[...categories].map(([k, v]) => `${k} ${v}`).join(", ")})\n`);
  console.log("| candidate | correct | parsed | rejected | garbled | wrongly rejected | wrongly accepted | unsafe | time (all docs) |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const report: string[] = [];
  for (const c of candidates.filter((k) => !only || k.name.includes(only))) {
    const r = await measure(c, corpus);
    console.log(`| ${c.name} | ${r.counts.correct} | ${r.parsed} | ${r.rejected} | ${r.counts.garbled} | ${r.counts["wrongly rejected"]} | ${r.counts["wrongly accepted"]} | ${r.counts.unsafe} | ${(r.totalMs / 1000).toFixed(1)} s |`);
    report.push(`${c.name}:\n${r.misses.join("\n") || "  (none)"}`);
  }
  if (details) console.log(`\nMisses per candidate:\n${report.join("\n")}`);
}

void main();
