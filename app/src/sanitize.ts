/**
 * Feed content is untrusted. Summaries reach the email only as plain text: sanitize-html
 * with no allowed tags drops scripts, styles, event handlers, images (so no tracking
 * pixels), iframes and every URL inside the markup; what is left is text, which the
 * renderer escapes. Links are kept only when they are absolute http(s) URLs.
 */
import sanitizeHtml from "sanitize-html";

const ENTITIES: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" };

/** Visible text of untrusted `html`, whitespace collapsed, at most `maxChars` (ellipsis added). */
export function toPlainText(html: string | undefined, maxChars = 300): string {
  if (!html) return "";
  // Cap the work on hostile input before parsing.
  const input = html.length > 200_000 ? html.slice(0, 200_000) : html;
  const text = sanitizeHtml(input.replace(/<\/(p|div|li|h[1-6]|br)\s*>|<br\s*\/?>/gi, " $& "), {
    allowedTags: [],
    allowedAttributes: {},
    nonTextTags: ["script", "style", "textarea", "option", "noscript", "template", "iframe", "object", "svg", "math", "head", "title"],
  })
    .replace(/&(amp|lt|gt|quot|#39);/g, (m) => ENTITIES[m] ?? m)
    .replace(/\s+/g, " ")
    .trim();
  return truncate(text, maxChars);
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
    const u = new URL(link.trim(), base);
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
