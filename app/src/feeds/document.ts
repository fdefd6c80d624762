/**
 * One feed document (text already decoded: decode.ts) to its entries, whatever the format:
 *
 * - RSS 0.90 and 1.0 (RDF, items beside the channel), 0.91-0.94 and 2.0 (a version
 *   attribute is not required);
 * - Atom 1.0 text constructs (type text, html, xhtml) and Atom 0.3 content modes (xml,
 *   escaped, base64);
 * - xml:base on any element, relative links resolved against it (else the document's URL);
 * - JSON Feed 1.0 and 1.1.
 *
 * Texts come back as {@link FeedText}: whether the value is markup (to be sanitized to
 * plain text) or already text (to be escaped as it is). Links come back absolute where they
 * can be resolved; which schemes are kept is decided later (sanitize.ts, safeHttpUrl).
 */
import { z } from "zod";
import {
  NS,
  XmlDocumentError,
  assertNoEntityDeclarations,
  attr,
  baseOf,
  childrenNamed,
  escapeBareAmpersands,
  firstChild,
  innerMarkup,
  textContent,
  type XmlElement,
} from "./xml";

export type FeedFormat = "rss" | "atom" | "json";

/** A text of the feed: markup (`html`, sanitized later) or plain `text`. */
export interface FeedText {
  readonly type: "text" | "html";
  readonly value: string;
}

/** One entry as the document has it (nothing sanitized yet). */
export interface FeedEntry {
  readonly title?: FeedText;
  /** Absolute when it could be resolved; any scheme (filtered later). */
  readonly link?: string;
  readonly summary?: FeedText;
  /** As written (RFC 822, RFC 3339, W3CDTF). */
  readonly date?: string;
}

export interface FeedDocument {
  readonly format: FeedFormat;
  /** "2.0", "0.91", "1.0" (RDF), "0.90", "unversioned" (RSS without a version); "1.0"/"0.3" (Atom); "1.0"/"1.1" (JSON Feed). */
  readonly version: string;
  readonly title?: FeedText;
  /** The site the feed belongs to (absolute when resolvable). */
  readonly siteUrl?: string;
  readonly entries: FeedEntry[];
}

/** Turns the decoded text into an element tree (a fresh parser per call). */
export type XmlTreeParser = (text: string) => XmlElement;

/** Most items read from one document; the digest keeps a few per feed. */
export const MAX_ENTRIES = 10_000;

/**
 * The document's entries. JSON when the media type says so or the text starts with "{";
 * XML otherwise (after refusing entity declarations and escaping bare `&`). Throws {@link XmlDocumentError}
 * (with a log-safe reason) when it is not a feed.
 */
export function parseFeedDocument(text: string, opts: { readonly url?: string; readonly contentType?: string; readonly xml: XmlTreeParser }): FeedDocument {
  const trimmed = text.replace(/^[\s\ufeff]+/, "");
  if (trimmed.startsWith("{") || (/\bjson\b/i.test(opts.contentType ?? "") && !trimmed.startsWith("<"))) return parseJsonFeed(trimmed, opts.url);
  if (!trimmed.startsWith("<")) throw new XmlDocumentError("neither XML nor JSON");
  assertNoEntityDeclarations(trimmed);
  return mapXmlFeed(opts.xml(escapeBareAmpersands(trimmed)), opts.url);
}

/** The feed in an XML element tree, or XmlDocumentError when the root is not a feed. */
export function mapXmlFeed(root: XmlElement, url?: string): FeedDocument {
  const base = baseOf(root, url);
  if (root.local === "rss") return mapRss(root, base);
  if (root.local === "RDF" && (root.uri === NS.rdf || root.uri === "")) return mapRdf(root, base);
  if (root.local === "feed" && (root.uri === NS.atom10 || root.uri === NS.atom03 || root.uri === "")) return mapAtom(root, base);
  throw new XmlDocumentError(`root element <${root.local}> is not RSS, RDF or Atom`);
}

/** Resolves `ref` against `base`; undefined when it cannot be (no base and relative, or malformed). */
function resolve(ref: string | undefined, base: string | undefined): string | undefined {
  const r = ref?.trim();
  if (!r) return undefined;
  try {
    return new URL(r, base).toString();
  } catch {
    return undefined;
  }
}

const nonEmpty = (t: string | undefined): string | undefined => (t !== undefined && t.trim() !== "" ? t : undefined);

// ---- RSS 0.9x / 2.0 and RDF (RSS 0.90 / 1.0) ----

function mapRss(root: XmlElement, base: string | undefined): FeedDocument {
  // RSS 2.0 has no namespace, but some feeds put a default one on <rss>: accept both.
  const uris = [""];
  if (root.uri !== "") uris.push(root.uri);
  const channel = firstChild(root, "channel", uris);
  if (!channel) throw new XmlDocumentError("<rss> without a <channel>");
  const channelBase = baseOf(channel, base);
  const items = [...childrenNamed(channel, "item", uris), ...childrenNamed(root, "item", uris)];
  const version = attr(root, "version")?.trim();
  return {
    format: "rss",
    version: version || "unversioned",
    title: htmlText(firstChild(channel, "title", uris)),
    siteUrl: linkOf(firstChild(channel, "link", uris), channelBase),
    entries: items.slice(0, MAX_ENTRIES).map((item) => rssEntry(item, baseOf(item, channelBase), uris)),
  };
}

function mapRdf(root: XmlElement, base: string | undefined): FeedDocument {
  const uris = [NS.rss10, NS.rss090, ""];
  const channel = firstChild(root, "channel", uris);
  const channelBase = channel ? baseOf(channel, base) : base;
  // RSS 1.0 puts items beside the channel; some feeds nest them inside it.
  const items = [...childrenNamed(root, "item", uris), ...(channel ? childrenNamed(channel, "item", uris) : [])];
  const is090 = root.children.some((c) => typeof c !== "string" && c.uri === NS.rss090);
  return {
    format: "rss",
    version: is090 ? "0.90" : "1.0",
    title: channel ? htmlText(firstChild(channel, "title", uris)) : undefined,
    siteUrl: channel ? linkOf(firstChild(channel, "link", uris), channelBase) : undefined,
    entries: items.slice(0, MAX_ENTRIES).map((item) => rssEntry(item, baseOf(item, base), uris)),
  };
}

function rssEntry(item: XmlElement, base: string | undefined, uris: readonly string[]): FeedEntry {
  const linkEl = firstChild(item, "link", uris);
  let link = linkOf(linkEl, base);
  if (!link) {
    const guid = firstChild(item, "guid", uris);
    if (guid && attr(guid, "isPermaLink")?.trim().toLowerCase() !== "false") {
      const g = resolve(textContent(guid), baseOf(guid, base));
      if (g && /^https?:/i.test(g)) link = g;
    }
  }
  // RSS 1.0: the item's rdf:about is its URI.
  link ??= resolve(attr(item, "about", NS.rdf), base);
  const description = firstChild(item, "description", uris);
  const encoded = firstChild(item, "encoded", [NS.content]);
  const date = firstChild(item, "pubDate", uris) ?? firstChild(item, "date", [NS.dc]) ?? firstChild(item, "updated", [NS.atom10]);
  return {
    title: htmlText(firstChild(item, "title", uris)),
    link,
    summary: htmlText(description) ?? htmlText(encoded),
    date: date ? nonEmpty(textContent(date).trim()) : undefined,
  };
}

/** RSS text elements carry escaped HTML (titles too, in practice). */
function htmlText(el: XmlElement | undefined): FeedText | undefined {
  if (!el) return undefined;
  const value = textContent(el);
  return nonEmpty(value) !== undefined ? { type: "html", value } : undefined;
}

function linkOf(el: XmlElement | undefined, base: string | undefined): string | undefined {
  if (!el) return undefined;
  // <link> text, or an Atom-style href some RSS feeds use.
  return resolve(nonEmpty(textContent(el)) ?? attr(el, "href"), baseOf(el, base));
}

// ---- Atom 1.0 and 0.3 ----

function mapAtom(root: XmlElement, base: string | undefined): FeedDocument {
  const atom03 = root.uri === NS.atom03 || attr(root, "version")?.trim() === "0.3";
  const uris = [root.uri];
  const entries = childrenNamed(root, "entry", uris);
  return {
    format: "atom",
    version: atom03 ? "0.3" : "1.0",
    title: textConstruct(firstChild(root, "title", uris), atom03),
    siteUrl: atomLink(root, base, uris),
    entries: entries.slice(0, MAX_ENTRIES).map((entry) => {
      const entryBase = baseOf(entry, base);
      const summary = firstChild(entry, "summary", uris);
      const content = firstChild(entry, "content", uris);
      const date = atom03
        ? (firstChild(entry, "issued", uris) ?? firstChild(entry, "modified", uris) ?? firstChild(entry, "created", uris))
        : (firstChild(entry, "published", uris) ?? firstChild(entry, "updated", uris));
      const summaryText = textConstruct(summary, atom03);
      // Out-of-line content (src=...) has no text here.
      const contentText = content && attr(content, "src") === undefined ? textConstruct(content, atom03) : undefined;
      return {
        title: textConstruct(firstChild(entry, "title", uris), atom03),
        link: atomLink(entry, entryBase, uris),
        summary: summaryText && nonEmpty(summaryText.value) ? summaryText : contentText,
        date: date ? nonEmpty(textContent(date).trim()) : undefined,
      };
    }),
  };
}

/** The alternate link (rel absent or "alternate"), preferring an HTML one; resolved against its xml:base. */
function atomLink(el: XmlElement, base: string | undefined, uris: readonly string[]): string | undefined {
  const alternates = childrenNamed(el, "link", uris).filter((l) => {
    const rel = attr(l, "rel")?.trim().toLowerCase();
    return (rel === undefined || rel === "" || rel === "alternate") && attr(l, "href") !== undefined;
  });
  const html = alternates.find((l) => /html/i.test(attr(l, "type") ?? "text/html")) ?? alternates[0];
  return html ? resolve(attr(html, "href"), baseOf(html, base)) : undefined;
}

/**
 * An Atom text construct. Atom 1.0: `type` text (default), html, or xhtml (a div whose
 * content is the markup). Atom 0.3: `type` is a media type (default text/plain) and `mode`
 * xml (default), escaped or base64.
 */
export function textConstruct(el: XmlElement | undefined, atom03: boolean): FeedText | undefined {
  if (!el) return undefined;
  const type = (attr(el, "type") ?? (atom03 ? "text/plain" : "text")).trim().toLowerCase();
  const hasElements = el.children.some((c) => typeof c !== "string");
  const markupType = type === "html" || type === "xhtml" || /html/.test(type);
  let result: FeedText;
  if (atom03) {
    const mode = (attr(el, "mode") ?? "xml").trim().toLowerCase();
    if (mode === "base64") result = { type: markupType ? "html" : "text", value: decodeBase64(textContent(el)) };
    else if (mode === "escaped") result = { type: markupType ? "html" : "text", value: textContent(el) };
    else if (hasElements) result = { type: "html", value: innerMarkup(xhtmlDiv(el)) };
    else result = { type: markupType ? "html" : "text", value: textContent(el) };
  } else if (type === "xhtml" || type === "application/xhtml+xml") {
    result = { type: "html", value: innerMarkup(xhtmlDiv(el)) };
  } else if (markupType) {
    result = { type: "html", value: textContent(el) };
  } else if (hasElements) {
    // type="text" with child elements is invalid; read the elements as markup rather than lose them.
    result = { type: "html", value: innerMarkup(el) };
  } else {
    result = { type: "text", value: textContent(el) };
  }
  return nonEmpty(result.value) !== undefined ? result : undefined;
}

/** The wrapping XHTML div of an xhtml construct (not part of the content), else `el` itself. */
function xhtmlDiv(el: XmlElement): XmlElement {
  const elements = el.children.filter((c): c is XmlElement => typeof c !== "string");
  const onlyWhitespaceBesides = el.children.every((c) => typeof c !== "string" || c.trim() === "");
  return elements.length === 1 && elements[0].local === "div" && onlyWhitespaceBesides ? elements[0] : el;
}

function decodeBase64(value: string): string {
  const compact = value.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) return "";
  return new TextDecoder("utf-8").decode(Buffer.from(compact, "base64"));
}

// ---- JSON Feed 1.0 / 1.1 ----

const jsonItem = z.object({
  id: z.union([z.string(), z.number()]).optional(),
  url: z.string().optional(),
  external_url: z.string().optional(),
  title: z.string().optional(),
  content_html: z.string().optional(),
  content_text: z.string().optional(),
  summary: z.string().optional(),
  date_published: z.string().optional(),
  date_modified: z.string().optional(),
});

const jsonFeed = z.object({
  version: z.string().regex(/^https?:\/\/jsonfeed\.org\/version\/1(\.1)?\/?$/),
  title: z.string().optional(),
  home_page_url: z.string().optional(),
  feed_url: z.string().optional(),
  items: z.array(z.unknown()).max(MAX_ENTRIES * 10),
});

function parseJsonFeed(text: string, url: string | undefined): FeedDocument {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new XmlDocumentError("not valid JSON");
  }
  const r = jsonFeed.safeParse(data);
  if (!r.success) throw new XmlDocumentError("not a JSON Feed 1.x document");
  const entries: FeedEntry[] = [];
  for (const raw of r.data.items.slice(0, MAX_ENTRIES)) {
    // One malformed item is skipped, not the whole feed.
    const i = jsonItem.safeParse(raw);
    if (!i.success) continue;
    const it = i.data;
    const summary: FeedText | undefined = nonEmpty(it.summary)
      ? { type: "text", value: it.summary! }
      : nonEmpty(it.content_html)
        ? { type: "html", value: it.content_html! }
        : nonEmpty(it.content_text)
          ? { type: "text", value: it.content_text! }
          : undefined;
    entries.push({
      title: nonEmpty(it.title) ? { type: "text", value: it.title! } : undefined,
      link: resolve(it.url ?? it.external_url, url),
      summary,
      date: it.date_published ?? it.date_modified,
    });
  }
  return {
    format: "json",
    version: r.data.version.includes("1.1") ? "1.1" : "1.0",
    title: nonEmpty(r.data.title) ? { type: "text", value: r.data.title! } : undefined,
    siteUrl: resolve(r.data.home_page_url, url),
    entries,
  };
}
