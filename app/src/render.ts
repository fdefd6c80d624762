/**
 * Renders the digest: the subject of the SendGrid-era app, an HTML part with inline CSS
 * (mail clients drop <style> blocks) and a plain-text part, grouped by source, every item
 * linked and attributed. Feed text is already plain (see sanitize.ts) and escaped here.
 */
import { randomUUID } from "node:crypto";
import { DIGEST_TIME_ZONE, SUBJECT_PREFIX } from "./contract";
import type { FeedResult } from "./feeds";
import { escapeHtml } from "./sanitize";

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
  readonly feeds: readonly FeedResult[];
  /** https URL or mailto for the footer's unsubscribe link. */
  readonly unsubscribe?: string;
}

export interface RenderedDigest {
  readonly subject: string;
  /** The HTML part with the footer's unsubscribe link as configured (the plain URL). */
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
}

const C = {
  body: "margin:0;padding:0;background:#f4f5f7;",
  wrap: "max-width:640px;margin:0 auto;padding:24px 16px;font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1f2328;line-height:1.5;",
  h1: "font-size:22px;margin:0 0 4px 0;",
  date: "font-size:13px;color:#59636e;margin:0 0 20px 0;",
  section: "background:#ffffff;border:1px solid #d1d9e0;border-radius:8px;padding:16px 20px;margin:0 0 16px 0;",
  h2: "font-size:16px;margin:0 0 12px 0;",
  h2a: "color:#1f2328;text-decoration:none;",
  item: "margin:0 0 14px 0;",
  title: "font-size:15px;font-weight:600;color:#0969da;text-decoration:none;",
  plainTitle: "font-size:15px;font-weight:600;",
  summary: "font-size:14px;color:#31373d;margin:4px 0 2px 0;",
  meta: "font-size:12px;color:#59636e;margin:0;",
  metaA: "color:#59636e;",
  footer: "font-size:12px;color:#59636e;margin:24px 0 0 0;",
  footerA: "color:#59636e;",
};

/** Builds subject, HTML and text for the feeds that returned items. */
export function renderDigest(input: RenderInput): RenderedDigest {
  const subject = digestSubject(input.now);
  const sections = input.feeds.filter((f): f is Extract<FeedResult, { ok: true }> => f.ok && f.items.length > 0);
  const itemCount = sections.reduce((n, s) => n + s.items.length, 0);
  const heading = `${SUBJECT_PREFIX}`;
  const when = subject.slice(SUBJECT_PREFIX.length + 3);

  const html: string[] = [];
  const text: string[] = [subject, ""];
  html.push(
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(subject)}</title></head>`,
    `<body style="${C.body}"><div style="${C.wrap}">`,
    `<h1 style="${C.h1}">${escapeHtml(heading)}</h1><p style="${C.date}">${escapeHtml(when)} · ${itemCount} ${itemCount === 1 ? "item" : "items"} from ${sections.length} ${sections.length === 1 ? "source" : "sources"}</p>`,
  );
  for (const s of sections) {
    const sourceLink = s.siteUrl ?? s.source.url;
    html.push(
      `<div style="${C.section}">`,
      `<h2 style="${C.h2}"><a href="${escapeHtml(sourceLink)}" style="${C.h2a}">${escapeHtml(s.source.name)}</a></h2>`,
    );
    text.push(`== ${s.source.name} (${sourceLink}) ==`, "");
    for (const item of s.items) {
      const title = item.link
        ? `<a href="${escapeHtml(item.link)}" style="${C.title}">${escapeHtml(item.title)}</a>`
        : `<span style="${C.plainTitle}">${escapeHtml(item.title)}</span>`;
      const date = item.published ? ` · ${itemDate.format(item.published)}` : "";
      html.push(
        `<div style="${C.item}">${title}`,
        item.summary ? `<p style="${C.summary}">${escapeHtml(item.summary)}</p>` : "",
        `<p style="${C.meta}">via <a href="${escapeHtml(sourceLink)}" style="${C.metaA}">${escapeHtml(s.source.name)}</a>${escapeHtml(date)}</p></div>`,
      );
      text.push(`* ${item.title}`);
      if (item.link) text.push(`  ${item.link}`);
      if (item.summary) text.push(`  ${item.summary}`);
      text.push(`  via ${s.source.name}${date}`, "");
    }
    html.push(`</div>`);
  }
  // The link is a placeholder no feed can produce (a fresh UUID), replaced per recipient.
  const slot = `vibe-unsubscribe-${randomUUID()}`;
  const unsub = input.unsubscribe
    ? ` <a href="${slot}" style="${C.footerA}">Unsubscribe</a>.`
    : "";
  html.push(
    `<p style="${C.footer}">Collected from the feeds listed above; every item links to its original source.${unsub}</p>`,
    `</div></body></html>`,
  );
  text.push("--", "Collected from the feeds listed above; every item links to its original source.");
  if (input.unsubscribe) text.push(`Unsubscribe: ${slot}`);
  const htmlTemplate = html.filter(Boolean).join("\n");
  const textTemplate = text.join("\n") + "\n";
  const withUnsubscribe = (url: string) => ({ html: htmlTemplate.split(slot).join(escapeHtml(url)), text: textTemplate.split(slot).join(url) });
  const plain = withUnsubscribe(input.unsubscribe ?? "");
  return { subject, html: plain.html, text: plain.text, withUnsubscribe: (url: string) => (input.unsubscribe ? withUnsubscribe(url) : plain), itemCount, sourceCount: sections.length };
}
