/**
 * Renders the digest: the subject of the SendGrid-era app, an HTML part and a plain-text
 * part. The HTML is built the way mail clients need it (docs/email.md):
 *
 * - layout in `role="presentation"` tables with inline styles and `bgcolor`/`width`
 *   attributes, one fluid 600 px column (an MSO conditional table fixes its width in
 *   desktop Outlook, which ignores max-width); no div, flex or float layout, no rounded
 *   corners the layout depends on;
 * - `color-scheme` / `supported-color-schemes` (meta and :root) and a dark palette under
 *   `@media (prefers-color-scheme: dark)` (Apple Mail, Outlook for Mac/iOS) and
 *   `[data-ogsc]` (Outlook.com); Gmail's apps invert colours themselves;
 * - each source's items under its heading (no per-item "via"), and a short note naming the
 *   sources that could not be read (names only: their URLs may carry tokens).
 *
 * Feed text is already plain and clean (feeds/items.ts) and is escaped here; the only
 * URLs are absolute http(s) ones from the feeds and the unsubscribe target. The digest is
 * rendered once: only the unsubscribe link differs per recipient (see message.ts).
 */
import { randomUUID } from "node:crypto";
import { DIGEST_TIME_ZONE, SUBJECT_PREFIX } from "./contract";
import type { FeedResult } from "./feeds";
import { cleanLine, escapeHtml } from "./sanitize";

const subjectFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: DIGEST_TIME_ZONE,
  month: "long",
  day: "2-digit",
  year: "numeric",
  hour: "numeric",
  minute: "2-digit",
  hour12: true,
  timeZoneName: "short",
});

const dateParts = new Intl.DateTimeFormat("en-US", { timeZone: DIGEST_TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" });
const itemDate = new Intl.DateTimeFormat("en-US", { timeZone: DIGEST_TIME_ZONE, month: "short", day: "numeric", year: "numeric" });

/**
 * `🧠 Daily Vibe Coding Digest – November 28, 2026 7:00 AM EST`: America/New_York time,
 * strftime `%B %d, %Y %-I:%M %p %Z` (zero-padded day, unpadded 12-hour hour, EST/EDT),
 * joined to the prefix by an en dash.
 */
export function digestSubject(now: Date): string {
  const p = Object.fromEntries(subjectFormat.formatToParts(now).map((x) => [x.type, x.value])) as Record<string, string>;
  return `${SUBJECT_PREFIX} \u2013 ${p.month} ${p.day}, ${p.year} ${p.hour}:${p.minute} ${p.dayPeriod.toUpperCase()} ${p.timeZoneName}`;
}

/** The digest's date in America/New_York, `YYYY-MM-DD` (ledger key, file names, tags). */
export function digestDate(now: Date): string {
  const p = Object.fromEntries(dateParts.formatToParts(now).map((x) => [x.type, x.value])) as Record<string, string>;
  return `${p.year}-${p.month}-${p.day}`;
}

export interface RenderInput {
  readonly now: Date;
  /** Every feed's result, failed ones included (their names go into the note). */
  readonly feeds: readonly FeedResult[];
  /** https URL or mailto for the footer's unsubscribe link (signed per recipient later). */
  readonly unsubscribe?: string;
}

export interface RenderedDigest {
  readonly subject: string;
  /** The HTML part with the footer's unsubscribe link as configured (not signed for anyone). */
  readonly html: string;
  /** The text part, likewise. */
  readonly text: string;
  /**
   * Both parts with the footer's unsubscribe link set to `url` (a recipient's signed URL),
   * escaped for each part. The digest itself is not rendered again.
   */
  withUnsubscribe(url: string): { readonly html: string; readonly text: string };
  readonly itemCount: number;
  readonly sourceCount: number;
  /** Names of the sources that could not be read (the note lists them). */
  readonly failedSources: readonly string[];
}

/** The palettes: inline styles carry the light one, the dark one overrides it by class. */
export const PALETTE = {
  light: { page: "#f4f5f7", card: "#ffffff", border: "#d1d9e0", text: "#1f2328", body: "#31373d", muted: "#59636e", link: "#0969da", noteBg: "#fff8c5", noteText: "#6b4f00", noteBorder: "#e7d27c" },
  dark: { page: "#0d1117", card: "#161b22", border: "#30363d", text: "#e6edf3", body: "#c9d1d9", muted: "#9198a1", link: "#4493f8", noteBg: "#2d2410", noteText: "#e3b341", noteBorder: "#5c4813" },
} as const;

const L = PALETTE.light;
const D = PALETTE.dark;
const FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";
const TABLE = 'role="presentation" cellpadding="0" cellspacing="0" border="0"';

const darkRules = (scope: string) =>
  [
    `${scope}.vd-page{background-color:${D.page} !important;}`,
    `${scope}.vd-card{background-color:${D.card} !important;border-color:${D.border} !important;}`,
    `${scope}.vd-text{color:${D.text} !important;}`,
    `${scope}.vd-body{color:${D.body} !important;}`,
    `${scope}.vd-muted,${scope}.vd-muted a{color:${D.muted} !important;}`,
    `${scope}.vd-link{color:${D.link} !important;}`,
    `${scope}.vd-note{background-color:${D.noteBg} !important;color:${D.noteText} !important;border-color:${D.noteBorder} !important;}`,
  ].join("");

const HEAD_STYLE = [
  ":root{color-scheme:light dark;supported-color-schemes:light dark;}",
  "body{margin:0;padding:0;width:100% !important;-webkit-text-size-adjust:100%;-ms-text-size-adjust:100%;}",
  "table{border-collapse:collapse;mso-table-lspace:0pt;mso-table-rspace:0pt;}",
  "a{text-decoration:none;}",
  "@media (max-width:620px){.vd-pad{padding-left:16px !important;padding-right:16px !important;}.vd-h1{font-size:20px !important;}}",
  `@media (prefers-color-scheme:dark){${darkRules("")}}`,
  darkRules("[data-ogsc] "),
].join("\n");

/** Builds subject, HTML and text from the feeds' results. */
export function renderDigest(input: RenderInput): RenderedDigest {
  const subject = digestSubject(input.now);
  const sections = input.feeds.filter((f): f is Extract<FeedResult, { ok: true }> => f.ok && f.items.length > 0);
  const failedSources = input.feeds.filter((f) => !f.ok).map((f) => cleanLine(f.source.name));
  const itemCount = sections.reduce((n, s) => n + s.items.length, 0);
  const when = subject.slice(SUBJECT_PREFIX.length + 3);
  const summaryLine = `${itemCount} ${itemCount === 1 ? "item" : "items"} from ${sections.length} ${sections.length === 1 ? "source" : "sources"}`;
  const failedLine = failedSources.length ? `Could not be read this time: ${failedSources.join(", ")}.` : "";
  // The link is a placeholder no feed can produce (a fresh UUID), replaced per recipient.
  const slot = `vibe-unsubscribe-${randomUUID()}`;

  const h: string[] = [];
  h.push(
    "<!DOCTYPE html>",
    `<html lang="en" dir="ltr" xmlns="http://www.w3.org/1999/xhtml" xmlns:o="urn:schemas-microsoft-com:office:office">`,
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta http-equiv="X-UA-Compatible" content="IE=edge">',
    '<meta name="x-apple-disable-message-reformatting">',
    '<meta name="format-detection" content="telephone=no, date=no, address=no, email=no">',
    '<meta name="color-scheme" content="light dark">',
    '<meta name="supported-color-schemes" content="light dark">',
    `<title>${escapeHtml(subject)}</title>`,
    "<!--[if mso]><noscript><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml></noscript><style>body,table,td,h1,h2,p,a{font-family:Arial,Helvetica,sans-serif !important;}</style><![endif]-->",
    `<style>\n${HEAD_STYLE}\n</style>`,
    "</head>",
    `<body class="vd-page" bgcolor="${L.page}" style="margin:0;padding:0;background-color:${L.page};">`,
    // Preview text for the inbox list, then hidden filler so no body text leaks into it.
    `<span style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all;">${escapeHtml(`${summaryLine}${failedLine ? ` \u00b7 ${failedLine}` : ""}`)}${"&#8199;&#65279;&#847; ".repeat(30)}</span>`,
    `<table ${TABLE} width="100%" class="vd-page" bgcolor="${L.page}" style="width:100%;background-color:${L.page};">`,
    `<tr><td align="center" class="vd-pad" style="padding:24px 12px;">`,
    `<!--[if mso]><table ${TABLE} width="600" align="center"><tr><td><![endif]-->`,
    `<table ${TABLE} width="100%" style="width:100%;max-width:600px;margin:0 auto;">`,
    `<tr><td style="padding:0 4px 20px 4px;font-family:${FONT};">`,
    `<h1 class="vd-text vd-h1" style="margin:0 0 4px 0;font-family:${FONT};font-size:22px;line-height:28px;font-weight:700;color:${L.text};">${escapeHtml(SUBJECT_PREFIX)}</h1>`,
    `<p class="vd-muted" style="margin:0;font-family:${FONT};font-size:13px;line-height:20px;color:${L.muted};">${escapeHtml(when)} \u00b7 ${escapeHtml(summaryLine)}</p>`,
    "</td></tr>",
  );
  const text: string[] = [subject, "", summaryLine, ""];

  for (const s of sections) {
    const name = cleanLine(s.source.name);
    const site = s.siteUrl ?? s.source.url;
    h.push(
      `<tr><td class="vd-card" bgcolor="${L.card}" style="background-color:${L.card};border:1px solid ${L.border};padding:16px 20px 4px 20px;">`,
      `<table ${TABLE} width="100%" style="width:100%;">`,
      `<tr><td style="padding:0 0 12px 0;"><h2 style="margin:0;font-family:${FONT};font-size:16px;line-height:22px;font-weight:700;"><a href="${escapeHtml(site)}" class="vd-text" style="color:${L.text};text-decoration:none;">${escapeHtml(name)}</a></h2></td></tr>`,
    );
    text.push(`== ${name} (${site}) ==`, "");
    for (const item of s.items) {
      const title = item.link
        ? `<a href="${escapeHtml(item.link)}" class="vd-link" style="color:${L.link};text-decoration:none;font-weight:600;">${escapeHtml(item.title)}</a>`
        : `<span class="vd-text" style="color:${L.text};font-weight:600;">${escapeHtml(item.title)}</span>`;
      const date = item.published ? itemDate.format(item.published) : "";
      h.push(
        `<tr><td style="padding:0 0 14px 0;font-family:${FONT};">`,
        `<p style="margin:0;font-family:${FONT};font-size:15px;line-height:21px;">${title}</p>`,
        item.summary ? `<p class="vd-body" style="margin:4px 0 0 0;font-family:${FONT};font-size:14px;line-height:20px;color:${L.body};">${escapeHtml(item.summary)}</p>` : "",
        date ? `<p class="vd-muted" style="margin:2px 0 0 0;font-family:${FONT};font-size:12px;line-height:18px;color:${L.muted};">${escapeHtml(date)}</p>` : "",
        "</td></tr>",
      );
      text.push(`* ${item.title}`);
      if (item.link) text.push(`  ${item.link}`);
      if (item.summary) text.push(`  ${item.summary}`);
      if (date) text.push(`  ${date}`);
      text.push("");
    }
    h.push("</table>", "</td></tr>", `<tr><td height="16" style="height:16px;font-size:0;line-height:0;">&nbsp;</td></tr>`);
  }

  if (failedLine) {
    h.push(
      `<tr><td class="vd-note" bgcolor="${L.noteBg}" style="background-color:${L.noteBg};border:1px solid ${L.noteBorder};padding:10px 16px;font-family:${FONT};font-size:13px;line-height:19px;color:${L.noteText};">${escapeHtml(failedLine)}</td></tr>`,
      `<tr><td height="16" style="height:16px;font-size:0;line-height:0;">&nbsp;</td></tr>`,
    );
    text.push(failedLine, "");
  }

  const footer = "Collected from the feeds above; every item links to its original source.";
  const unsubscribeLink = input.unsubscribe ? ` <a href="${slot}" class="vd-muted" style="color:${L.muted};text-decoration:underline;">Unsubscribe</a>.` : "";
  h.push(
    `<tr><td class="vd-muted" style="padding:8px 4px 0 4px;font-family:${FONT};font-size:12px;line-height:18px;color:${L.muted};">${escapeHtml(footer)}${unsubscribeLink}</td></tr>`,
    "</table>",
    "<!--[if mso]></td></tr></table><![endif]-->",
    "</td></tr>",
    "</table>",
    "</body>",
    "</html>",
  );
  text.push("--", footer);
  if (input.unsubscribe) text.push(`Unsubscribe: ${slot}`);

  const htmlTemplate = h.filter(Boolean).join("\n");
  const textTemplate = `${text.join("\n")}\n`;
  const fill = (url: string) => ({ html: htmlTemplate.split(slot).join(escapeHtml(url)), text: textTemplate.split(slot).join(url) });
  const plain = fill(input.unsubscribe ?? "");
  return {
    subject,
    html: plain.html,
    text: plain.text,
    withUnsubscribe: (url: string) => (input.unsubscribe ? fill(url) : plain),
    itemCount,
    sourceCount: sections.length,
    failedSources,
  };
}
