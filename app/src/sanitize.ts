/**
 * Feed content is untrusted. Summaries reach the email only as plain text: sanitize-html
 * with no allowed tags drops scripts, styles, event handlers, images (so no tracking
 * pixels), iframes and every URL inside the markup; what is left is text, which the
 * renderer escapes. Links are kept only when they are absolute http(s) URLs. Every text
 * kept ({@link cleanText}) loses bidi controls and C0/C1 control characters, so a title
 * cannot reorder what a reader sees or drive a terminal that prints the text part.
 */
import sanitizeHtml from "sanitize-html";

const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" };

/**
 * Terminal escape sequences (ESC or the C1 CSI/OSC/DCS introducers and what they carry),
 * removed whole so no "[31m" is left behind; then any other C0/C1 control. A lone ESC is
 * caught by {@link CONTROLS}.
 */
const ESCAPE_SEQUENCES = /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|(?:\u001b[\]PX^_]|[\u0090\u009d\u009e\u009f])[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)?|\u001b[ -/]*[0-~]/g;
/**
 * Bidi embedding/override/isolate controls (U+202A-202E, U+2066-2069), the marks U+200E,
 * U+200F and U+061C, and the C0/C1 controls except tab, line feed and carriage return
 * (whitespace, which the callers collapse or keep). DEL (U+007F) is a control too.
 */
const BIDI = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/g;
const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;
/** A UTF-16 surrogate without its pair (no character; it cannot be encoded). */
const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Characters {@link cleanText} removes (for tests and checks elsewhere): bidi controls and C0/C1 controls but tab, LF, CR. */
export const UNSAFE_TEXT_CHARS = /[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/**
 * `text` without terminal escape sequences, bidi controls and C0/C1 controls (tab, LF and
 * CR are kept: callers that want one line collapse whitespace), and without lone surrogates
 * (they cannot be encoded in the message).
 */
export function cleanText(text: string): string {
  return text.replace(ESCAPE_SEQUENCES, "").replace(BIDI, "").replace(CONTROLS, "").replace(LONE_SURROGATES, "");
}

/** {@link cleanText}, whitespace runs collapsed to one space, trimmed: one line of text. */
export function cleanLine(text: string): string {
  return cleanText(text).replace(/\s+/g, " ").trim();
}

/** Visible text of untrusted `html`, cleaned ({@link cleanLine}), at most `maxChars` (ellipsis added). */
export function toPlainText(html: string | undefined, maxChars = 300): string {
  if (!html) return "";
  // Cap the work on hostile input before parsing.
  const input = html.length > 200_000 ? html.slice(0, 200_000) : html;
  const text = sanitizeHtml(input.replace(/<\/(p|div|li|h[1-6]|br|tr|td|th|blockquote|pre)\s*>|<br\s*\/?>/gi, " $& "), {
    allowedTags: [],
    allowedAttributes: {},
    nonTextTags: ["script", "style", "textarea", "option", "noscript", "template", "iframe", "object", "svg", "math", "head", "title"],
  }).replace(/&(amp|lt|gt|quot|#39);/g, (m) => ENTITIES[m] ?? m);
  return truncate(cleanLine(text), maxChars);
}

/** Plain `text` (not markup) as one clean line, at most `maxChars`. */
export function toPlainLine(text: string | undefined, maxChars = 300): string {
  return text ? truncate(cleanLine(text.length > 200_000 ? text.slice(0, 200_000) : text), maxChars) : "";
}

/** Cuts `text` to at most `max` characters at a word boundary when one is near, adding "…". */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  if (chars.length <= max) return text;
  const cut = chars.slice(0, Math.max(1, max - 1)).join("");
  const space = cut.lastIndexOf(" ");
  return `${(space > max * 0.6 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

/** `link` as an absolute http(s) URL (resolved against `base`), or undefined if it is anything else. */
export function safeHttpUrl(link: unknown, base?: string): string | undefined {
  if (typeof link !== "string" || link.trim() === "") return undefined;
  try {
    const u = new URL(cleanText(link).trim(), base);
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    if (u.username || u.password) return undefined;
    return u.toString();
  } catch {
    return undefined;
  }
}

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
