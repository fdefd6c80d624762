/**
 * A document's entries (document.ts) to the items the digest shows: markup sanitized to
 * plain text, plain text kept as text, every text cleaned of bidi and control characters
 * (sanitize.ts), links kept only when they are absolute http(s), dates parsed.
 */
import { safeHttpUrl, toPlainLine, toPlainText, truncate } from "../sanitize";
import type { FeedEntry, FeedText } from "./document";

/** One item of the digest, already sanitized. */
export interface FeedItem {
  readonly title: string;
  /** Absolute http(s) link, or undefined when the feed gave none that is safe. */
  readonly link?: string;
  /** Plain text, capped. */
  readonly summary: string;
  readonly published?: Date;
}

/** Longest title kept (characters). */
export const TITLE_CHARS = 200;

/** Plain text of a feed text: markup sanitized, text cleaned; one line, at most `max` characters. */
export function plainOf(t: FeedText | undefined, max: number): string {
  if (!t) return "";
  return t.type === "html" ? toPlainText(t.value, max) : toPlainLine(t.value, max);
}

/**
 * The digest item for `entry`, or undefined when it has neither a title nor a safe link.
 * An entry without a title is titled by its link.
 */
export function toFeedItem(entry: FeedEntry, summaryChars = 300): FeedItem | undefined {
  const link = safeHttpUrl(entry.link);
  const title = truncate(plainOf(entry.title, 1000), TITLE_CHARS) || (link ?? "");
  if (!title) return undefined;
  const d = entry.date ? new Date(entry.date) : undefined;
  return { title, link, summary: plainOf(entry.summary, summaryChars), published: d && !Number.isNaN(d.getTime()) ? d : undefined };
}
