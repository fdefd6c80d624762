/**
 * Bytes to text the way the specs say (XML 1.0 appendix F, RFC 7303 for XML media types,
 * WHATWG Encoding for the labels): a byte order mark first, then the HTTP Content-Type
 * charset, then the XML declaration's encoding, else UTF-8. Labels are WHATWG's, as in
 * browsers: "ISO-8859-1" and "latin1" decode as windows-1252 (a superset that real feeds
 * labelled latin1 rely on for € and curly quotes). Node 24's TextDecoder (full ICU) knows
 * them all: UTF-8, UTF-16 LE/BE, windows-125x, ISO-8859-x, Shift_JIS, EUC-JP, GBK, Big5,
 * KOI8-R and more. A document that declares nothing and is not valid UTF-8 is read as
 * windows-1252, the encoding such a document almost always has.
 */

/** Where the encoding came from. */
export type EncodingSource = "bom" | "http" | "xml-declaration" | "sniffed" | "default" | "fallback";

export interface DecodedDocument {
  readonly text: string;
  /** WHATWG name of the encoding used, e.g. "utf-8", "windows-1252", "shift_jis". */
  readonly encoding: string;
  readonly source: EncodingSource;
}

/** The charset parameter of a Content-Type header value, unquoted, or undefined. */
export function charsetOf(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const m = /;\s*charset\s*=\s*("([^"]*)"|[^;\s]*)/i.exec(contentType);
  const v = (m?.[2] ?? m?.[1] ?? "").trim();
  return v === "" ? undefined : v;
}

/** A TextDecoder for `label`, or undefined when the label is unknown (or names "replacement"). */
function decoderFor(label: string | undefined, fatal = false): InstanceType<typeof TextDecoder> | undefined {
  if (!label) return undefined;
  try {
    const d = new TextDecoder(label.trim(), { fatal });
    return d.encoding === "replacement" ? undefined : d;
  } catch {
    return undefined;
  }
}

function bomEncoding(bytes: Uint8Array): string | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return "utf-8";
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return "utf-16le";
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return "utf-16be";
  return undefined;
}

/** UTF-16 without a BOM, recognized from `<?` or `<` as the first character (XML 1.0 F.1). */
function sniffUtf16(bytes: Uint8Array): string | undefined {
  if (bytes.length < 4) return undefined;
  if (bytes[0] === 0x3c && bytes[1] === 0x00 && bytes[2] !== 0x00 && bytes[3] === 0x00) return "utf-16le";
  if (bytes[0] === 0x00 && bytes[1] === 0x3c && bytes[2] === 0x00 && bytes[3] !== 0x00) return "utf-16be";
  return undefined;
}

/** The `encoding` pseudo-attribute of an XML declaration at the start (ASCII-compatible bytes only). */
export function xmlDeclaredEncoding(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.subarray(0, 512)).toString("latin1");
  const m = /^\s*<\?xml\s[^?>]*?\bencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._:-]{0,39})\1/.exec(head);
  return m?.[2];
}

/**
 * Decodes a feed document's `bytes`. `contentType` is the HTTP Content-Type header (its
 * charset parameter counts only when the label is known; an unknown one is skipped, as is
 * an XML declaration that names UTF-16 for bytes that are not).
 */
export function decodeFeedBytes(bytes: Uint8Array, contentType?: string): DecodedDocument {
  const bom = bomEncoding(bytes);
  if (bom) return { text: new TextDecoder(bom).decode(bytes), encoding: bom, source: "bom" };
  const sniffed = sniffUtf16(bytes);
  const http = decoderFor(charsetOf(contentType));
  // A UTF-16 document without a BOM cannot be read with an ASCII-compatible label and the
  // other way round: the bytes decide which family applies.
  if (http && (http.encoding.startsWith("utf-16") === (sniffed !== undefined))) return { text: http.decode(bytes), encoding: http.encoding, source: "http" };
  if (sniffed) return { text: new TextDecoder(sniffed).decode(bytes), encoding: sniffed, source: "sniffed" };
  const declared = decoderFor(xmlDeclaredEncoding(bytes));
  if (declared && !declared.encoding.startsWith("utf-16")) return { text: declared.decode(bytes), encoding: declared.encoding, source: "xml-declaration" };
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes), encoding: "utf-8", source: "default" };
  } catch {
    return { text: new TextDecoder("windows-1252").decode(bytes), encoding: "windows-1252", source: "fallback" };
  }
}
