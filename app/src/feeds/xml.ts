/**
 * The feed's XML as a small element tree with namespaces resolved, built by a fresh parser
 * for every document (no parser state outlives one document). Independent of the parser
 * that builds it, so the format mapping (document.ts) is the same whichever XML parser
 * reads the bytes; bench/feed-parsers.ts builds it with each candidate to compare them.
 *
 * Before any parser sees a document, {@link assertNoEntityDeclarations} refuses a DOCTYPE
 * that declares entities: internal ones are how expansion bombs work, external ones how a
 * document reads files or URLs (XXE). Nothing here resolves a DTD or an external entity.
 */

import { SaxesParser } from "saxes";

export const NS = {
  xml: "http://www.w3.org/XML/1998/namespace",
  atom10: "http://www.w3.org/2005/Atom",
  atom03: "http://purl.org/atom/ns#",
  rss10: "http://purl.org/rss/1.0/",
  rss090: "http://my.netscape.com/rdf/simple/0.9/",
  rdf: "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
  content: "http://purl.org/rss/1.0/modules/content/",
  dc: "http://purl.org/dc/elements/1.1/",
  xhtml: "http://www.w3.org/1999/xhtml",
} as const;

export interface XmlAttribute {
  /** The name as written, e.g. "xml:base". */
  readonly name: string;
  readonly local: string;
  /** Namespace URI ("" for an unprefixed attribute). */
  readonly uri: string;
  readonly value: string;
}

export interface XmlElement {
  /** The name as written, e.g. "content:encoded". */
  readonly name: string;
  readonly local: string;
  /** Namespace URI ("" when none is in scope). */
  readonly uri: string;
  readonly attributes: readonly XmlAttribute[];
  /** Elements and text (CDATA included), in document order. */
  readonly children: (XmlElement | string)[];
}

/** Bounds every tree builder enforces (a feed of 2 MiB needs far less). */
export const XML_LIMITS = {
  /** Deepest element nesting accepted. */
  maxDepth: 128,
  /** Most elements in one document. */
  maxElements: 300_000,
} as const;

/** A document that is not usable XML, or that a limit refuses. `reason` is safe to log. */
export class XmlDocumentError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "XmlDocumentError";
  }
}

/**
 * Refuses a document whose prolog declares an entity (`<!ENTITY` inside a DOCTYPE's
 * internal subset, general or parameter): expansion bombs and external entities both need
 * one. A DOCTYPE without declarations (RSS 0.91's public identifier) is fine: no parser
 * here fetches it.
 */
export function assertNoEntityDeclarations(text: string): void {
  const rootAt = text.search(/<[A-Za-z_:]/);
  const prolog = rootAt < 0 ? text : text.slice(0, rootAt);
  if (/<!ENTITY/i.test(prolog) || (/<!DOCTYPE[^>]*\[/i.test(prolog) && /<!ENTITY/i.test(text.slice(0, Math.min(text.length, rootAt + 65_536))))) {
    throw new XmlDocumentError("declares XML entities (refused: entity expansion and external entities)");
  }
}

/**
 * `text` with every `&` that starts no entity or character reference written as `&amp;`
 * (outside CDATA sections and comments). Real feeds are full of "AT&T" and "?a=1&b=2";
 * a strict parser would read everything after such an `&` as one long entity name.
 */
export function escapeBareAmpersands(text: string): string {
  if (!text.includes("&")) return text;
  return text
    .split(/(<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/&(?!(?:[A-Za-z_:][\w:.-]*|#[0-9]+|#x[0-9A-Fa-f]+);)/g, "&amp;")))
    .join("");
}

/** Value of the attribute `local` in namespace `uri` ("" = unprefixed). */
export function attr(el: XmlElement, local: string, uri = ""): string | undefined {
  return el.attributes.find((a) => a.local === local && a.uri === uri)?.value;
}

/** Child elements named `local` in one of `uris`. */
export function childrenNamed(el: XmlElement, local: string, uris: readonly string[]): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== "string" && c.local === local && uris.includes(c.uri));
}

export function firstChild(el: XmlElement, local: string, uris: readonly string[]): XmlElement | undefined {
  return el.children.find((c): c is XmlElement => typeof c !== "string" && c.local === local && uris.includes(c.uri));
}

/** All text below `el`, in order (iterative: the depth is bounded, but no recursion is needed). */
export function textContent(el: XmlElement): string {
  const out: string[] = [];
  const stack: (XmlElement | string)[] = [el];
  while (stack.length) {
    const n = stack.pop()!;
    if (typeof n === "string") out.push(n);
    else for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
  return out.join("");
}

const escapeText = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const escapeAttr = (t: string) => escapeText(t).replace(/"/g, "&quot;");

/**
 * The children of `el` as HTML markup (for an XHTML text construct): element names
 * without prefixes, attributes as written, text escaped. What the markup may contain is
 * decided later by the sanitizer; this only turns the tree back into a string.
 */
export function innerMarkup(el: XmlElement): string {
  const out: string[] = [];
  const stack: (XmlElement | string | { close: string })[] = [...el.children].reverse();
  while (stack.length) {
    const n = stack.pop()!;
    if (typeof n === "string") out.push(escapeText(n));
    else if ("close" in n) out.push(`</${n.close}>`);
    else {
      const attrs = n.attributes.filter((a) => !a.name.startsWith("xmlns")).map((a) => ` ${a.local}="${escapeAttr(a.value)}"`);
      out.push(`<${n.local}${attrs.join("")}>`);
      stack.push({ close: n.local });
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
    }
  }
  return out.join("");
}

/** The xml:base chain: `el`'s base given its parent's. An unusable xml:base leaves the parent's. */
export function baseOf(el: XmlElement, parentBase: string | undefined): string | undefined {
  const b = attr(el, "base", NS.xml);
  if (b === undefined) return parentBase;
  try {
    return new URL(b.trim(), parentBase).toString();
  } catch {
    return parentBase;
  }
}

/**
 * Builds an {@link XmlElement} tree from parser events, resolving namespace prefixes
 * itself (for parsers that report names as written) and enforcing {@link XML_LIMITS}.
 * `open`/`text`/`close` are called in document order; `root()` answers the first root.
 */
/** The prefixes bound before any element: only `xml`. */
const ROOT_NAMESPACES: ReadonlyMap<string, string> = new Map([["xml", NS.xml]]);

export class TreeBuilder {
  private readonly stack: { el: XmlElement; ns: ReadonlyMap<string, string> }[] = [];
  private rootEl?: XmlElement;
  private count = 0;

  /** An element starts; `attributes` as written (name -> value). */
  open(name: string, attributes: Readonly<Record<string, string>>): void {
    if (this.stack.length >= XML_LIMITS.maxDepth) throw new XmlDocumentError(`elements nested deeper than ${XML_LIMITS.maxDepth}`);
    if (++this.count > XML_LIMITS.maxElements) throw new XmlDocumentError(`more than ${XML_LIMITS.maxElements} elements`);
    const parentNs = this.stack.length ? this.stack[this.stack.length - 1].ns : ROOT_NAMESPACES;
    let ns = parentNs;
    const names = Object.keys(attributes);
    for (const k of names) {
      if (k === "xmlns" || k.startsWith("xmlns:")) {
        if (ns === parentNs) ns = new Map(parentNs);
        (ns as Map<string, string>).set(k === "xmlns" ? "" : k.slice(6), attributes[k]);
      }
    }
    const attrs: XmlAttribute[] = [];
    for (const k of names) {
      const i = k.indexOf(":");
      attrs.push(i <= 0 ? { name: k, local: k, uri: "", value: attributes[k] } : { name: k, local: k.slice(i + 1), uri: ns.get(k.slice(0, i)) ?? "", value: attributes[k] });
    }
    const i = name.indexOf(":");
    const el: XmlElement = i <= 0 ? { name, local: name, uri: ns.get("") ?? "", attributes: attrs, children: [] } : { name, local: name.slice(i + 1), uri: ns.get(name.slice(0, i)) ?? "", attributes: attrs, children: [] };
    this.attach(el);
    this.stack.push({ el, ns });
  }

  text(t: string): void {
    const top = this.stack[this.stack.length - 1];
    if (!top || t === "") return;
    const kids = top.el.children;
    if (typeof kids[kids.length - 1] === "string") kids[kids.length - 1] += t;
    else kids.push(t);
  }

  /** An element ends (the innermost open one). */
  close(): void {
    this.stack.pop();
  }

  /** Adds an element whose namespaces are already resolved (for parsers that resolve them). */
  openResolved(el: Omit<XmlElement, "children">): void {
    if (this.stack.length >= XML_LIMITS.maxDepth) throw new XmlDocumentError(`elements nested deeper than ${XML_LIMITS.maxDepth}`);
    if (++this.count > XML_LIMITS.maxElements) throw new XmlDocumentError(`more than ${XML_LIMITS.maxElements} elements`);
    const full: XmlElement = { ...el, children: [] };
    this.attach(full);
    this.stack.push({ el: full, ns: new Map() });
  }

  root(): XmlElement {
    if (!this.rootEl) throw new XmlDocumentError("no root element");
    return this.rootEl;
  }

  private attach(el: XmlElement): void {
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.el.children.push(el);
    else if (!this.rootEl) this.rootEl = el;
    // else: a second root (garbage after the document) stays out of the tree, with its subtree.
  }
}

/**
 * The document's element tree, read by saxes (a fresh, non-validating parser per call; it
 * reads no DTD and expands no entity but the five predefined ones and character
 * references). Well-formedness errors do not stop it: saxes reports each and goes on, so a
 * feed with a stray `&` or an unclosed tag still yields what it has; a document with more
 * than {@link XML_MAX_ERRORS} errors is not XML and is refused.
 */
export function parseXmlTree(text: string): XmlElement {
  const builder = new TreeBuilder();
  const parser = new SaxesParser({ xmlns: false, position: false });
  let errors = 0;
  parser.on("error", () => {
    if (++errors > XML_MAX_ERRORS) throw new XmlDocumentError(`not XML (more than ${XML_MAX_ERRORS} errors)`);
  });
  parser.on("opentag", (t) => builder.open(t.name, t.attributes as Record<string, string>));
  parser.on("text", (t) => builder.text(t));
  parser.on("cdata", (t) => builder.text(t));
  parser.on("closetag", () => builder.close());
  parser.write(text).close();
  return builder.root();
}

/** Well-formedness errors tolerated in one document. */
export const XML_MAX_ERRORS = 1000;
