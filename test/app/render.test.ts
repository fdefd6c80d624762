import { Parser } from "htmlparser2";
import { simpleParser } from "mailparser";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { FeedResult } from "../../app/src/feeds";
import { FeedError } from "../../app/src/errors";
import { buildMime, listUnsubscribeHeaders } from "../../app/src/mime";
import { recipientMessage, writePreviewFiles } from "../../app/src/message";
import { PALETTE, digestDate, digestSubject, renderDigest } from "../../app/src/render";
import { Secret } from "../../app/src/secret";
import { verifyUnsubscribeToken } from "../../app/src/unsubscribe";

describe("digestSubject", () => {
  test.each([
    ["2026-11-28T12:00:00Z", "🧠 Daily Vibe Coding Digest – November 28, 2026 7:00 AM EST"],
    ["2026-07-04T13:05:00Z", "🧠 Daily Vibe Coding Digest – July 04, 2026 9:05 AM EDT"],
    ["2026-03-01T17:30:00Z", "🧠 Daily Vibe Coding Digest – March 01, 2026 12:30 PM EST"],
    ["2026-12-31T05:00:00Z", "🧠 Daily Vibe Coding Digest – December 31, 2026 12:00 AM EST"],
    ["2026-03-08T07:00:00Z", "🧠 Daily Vibe Coding Digest – March 08, 2026 3:00 AM EDT"],
    ["2026-11-01T05:59:00Z", "🧠 Daily Vibe Coding Digest – November 01, 2026 1:59 AM EDT"],
    ["2026-11-01T06:59:00Z", "🧠 Daily Vibe Coding Digest – November 01, 2026 1:59 AM EST"],
    ["2026-10-10T03:09:00Z", "🧠 Daily Vibe Coding Digest – October 09, 2026 11:09 PM EDT"],
  ])("when the clock reads %s, the subject is %s", (iso, subject) => {
    expect(digestSubject(new Date(iso))).toBe(subject);
  });

  test("when rendered, the prefix and the time are joined by an en dash", () => {
    expect(digestSubject(new Date("2026-11-28T12:00:00Z"))).toContain(" \u2013 ");
  });

  test("when it is late evening in New York, the digest date is New York's", () => {
    expect(digestDate(new Date("2026-11-29T03:00:00Z"))).toBe("2026-11-28");
  });
});

/** The element tree of an HTML string, flattened: each element with its attributes and its ancestors' names. */
function elements(html: string): { name: string; attrs: Record<string, string>; ancestors: string[] }[] {
  const out: { name: string; attrs: Record<string, string>; ancestors: string[] }[] = [];
  const stack: string[] = [];
  const voids = new Set(["meta", "br", "img", "hr", "link", "input"]);
  const p = new Parser({
    onopentag(name, attrs) {
      out.push({ name, attrs, ancestors: [...stack] });
      if (!voids.has(name)) stack.push(name);
    },
    onclosetag(name) {
      if (!voids.has(name)) stack.pop();
    },
  });
  p.write(html);
  p.end();
  return out;
}

const feeds: FeedResult[] = [
  {
    ok: true,
    source: { url: "https://a.example/feed", name: "A & Co" },
    siteUrl: "https://a.example/",
    format: "rss",
    durationMs: 1,
    items: [
      { title: "Tests <first>", link: "https://a.example/p/1?x=1&y=2", summary: 'Use "quotes" & <tags>', published: new Date("2026-11-27T14:00:00Z") },
      { title: "No link", summary: "" },
    ],
  },
  { ok: true, source: { url: "https://empty.example/feed", name: "Empty" }, format: "atom", durationMs: 1, items: [] },
  { ok: false, source: { url: "https://down.example/feed?token=SECRET-TOKEN-1", name: "Down Feed" }, error: new FeedError("FEED_HTTP_STATUS", "Down Feed", "HTTP 500", true), durationMs: 1 },
  { ok: false, source: { url: "http://169.254.169.254/latest", name: "Metadata Trap" }, error: new FeedError("FEED_ADDRESS_REFUSED", "Metadata Trap", "refused", false), durationMs: 1 },
];
const now = new Date("2026-11-28T12:00:00Z");
const r = renderDigest({ now, feeds, unsubscribe: "https://digest.example/unsubscribe" });

describe("renderDigest", () => {
  test("when rendered, the HTML groups by source with every link escaped and no per-item 'via'", () => {
    expect(r.html).toContain('<a href="https://a.example/" class="vd-text"');
    expect(r.html).toContain(">A &amp; Co</a>");
    expect(r.html).toContain('href="https://a.example/p/1?x=1&amp;y=2"');
    expect(r.html).toContain("Tests &lt;first&gt;");
    expect(r.html).toContain("Use &quot;quotes&quot; &amp; &lt;tags&gt;");
    expect(r.html).not.toContain(">Empty<"); // sources with no items get no section
    expect(r.html).not.toMatch(/\bvia\b/);
    expect(r.html).toContain('href="https://digest.example/unsubscribe"');
    expect(r).toMatchObject({ itemCount: 2, sourceCount: 1, failedSources: ["Down Feed", "Metadata Trap"] });
  });

  test("when sources could not be read, a note names them, without their URLs", () => {
    expect(r.html).toContain("Could not be read this time: Down Feed, Metadata Trap.");
    expect(r.text).toContain("Could not be read this time: Down Feed, Metadata Trap.");
    for (const part of [r.html, r.text]) {
      expect(part).not.toContain("SECRET-TOKEN-1");
      expect(part).not.toContain("down.example");
      expect(part).not.toContain("169.254.169.254");
    }
  });

  test("when every source was read, there is no note", () => {
    const ok = renderDigest({ now, feeds: feeds.filter((f) => f.ok) });
    expect(ok.html).not.toContain("Could not be read");
    expect(ok.failedSources).toEqual([]);
  });

  test("when rendered, the layout is presentation tables with inline styles (no div, flex, float or rounded-corner layout)", () => {
    const els = elements(r.html);
    const names = new Set(els.map((e) => e.name));
    for (const bad of ["div", "section", "article", "header", "footer", "main", "nav", "script", "img", "link", "iframe"]) expect(names).not.toContain(bad);
    const tables = els.filter((e) => e.name === "table");
    expect(tables.length).toBeGreaterThanOrEqual(3);
    for (const t of tables) expect(t.attrs).toMatchObject({ role: "presentation", cellpadding: "0", cellspacing: "0", border: "0" });
    expect(r.html).not.toMatch(/display\s*:\s*(flex|grid)|float\s*:|border-radius|position\s*:/i);
    // Text sits in table cells: every p, h1, h2 and a is inside a td.
    for (const e of els.filter((x) => ["p", "h1", "h2", "a"].includes(x.name))) expect(e.ancestors).toContain("td");
    // The one column is 600 px at most, fixed for desktop Outlook by an MSO conditional table.
    expect(r.html).toContain("max-width:600px");
    expect(r.html).toMatch(/<!--\[if mso\]><table role="presentation" cellpadding="0" cellspacing="0" border="0" width="600" align="center"><tr><td><!\[endif\]-->/);
    expect(r.html).toContain("<!--[if mso]></td></tr></table><![endif]-->");
  });

  test("when rendered, it declares light and dark color schemes and carries a dark palette", () => {
    expect(r.html).toContain('<meta name="color-scheme" content="light dark">');
    expect(r.html).toContain('<meta name="supported-color-schemes" content="light dark">');
    expect(r.html).toMatch(/:root\{color-scheme:light dark;supported-color-schemes:light dark;\}/);
    const dark = /@media \(prefers-color-scheme:dark\)\{([^\n]*)\}/.exec(r.html)?.[1] ?? "";
    for (const c of [PALETTE.dark.page, PALETTE.dark.card, PALETTE.dark.text, PALETTE.dark.link]) expect(dark).toContain(c);
    expect(r.html).toContain(`[data-ogsc] .vd-page{background-color:${PALETTE.dark.page} !important;}`);
    // Every class the dark palette targets is used, with its light colour inline.
    for (const cls of ["vd-page", "vd-card", "vd-text", "vd-body", "vd-muted", "vd-link", "vd-note"]) expect(r.html).toMatch(new RegExp(`class="[^"]*\\b${cls}\\b`));
    expect(r.html).toContain(`bgcolor="${PALETTE.light.page}"`);
  });

  test("when a narrow screen reads it, the column is fluid and a media query tightens the padding", () => {
    expect(r.html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(r.html).toMatch(/@media \(max-width:620px\)\{\.vd-pad\{padding-left:16px !important;/);
    expect(r.html).toMatch(/width="100%" style="width:100%;max-width:600px;/);
  });

  test("when rendered, the text part carries the subject, each source once, and its items", () => {
    expect(r.text.split("\n")[0]).toBe(r.subject);
    expect(r.text).toContain("== A & Co (https://a.example/) ==\n\n* Tests");
    expect(r.text.match(/== A & Co/g)).toHaveLength(1);
    expect(r.text).toContain('* Tests <first>\n  https://a.example/p/1?x=1&y=2\n  Use "quotes" & <tags>\n  Nov 27, 2026\n');
    expect(r.text).not.toMatch(/\bvia\b/);
    expect(r.text).toContain("Unsubscribe: https://digest.example/unsubscribe");
  });
});

describe("recipientMessage and the preview files", () => {
  // Assembled at run time: 43 characters, no whitespace.
  const key = new Secret(["sig", "ning"].join("") + "-key-for-tests-0123456789abcdefghijklmnop");
  const settings = { fromAddress: "digest@vibedigest.example.com", fromName: "Vibe Coding Digest", unsubscribe: "https://digest.example/unsubscribe", unsubscribeSigningKey: key };

  test("when a recipient's message is built, the footer link and List-Unsubscribe carry the same URL, signed for that recipient", () => {
    const m = recipientMessage(r, settings, "Reader@Example.net", { date: now, tags: { run_id: "r1" } });
    const url = /^<(.*)>$/.exec(m.headers["List-Unsubscribe"])![1];
    const u = new URL(url);
    expect(verifyUnsubscribeToken(key, "reader@example.net", u.searchParams.get("t")!)).toBe(true);
    expect(m.html).toContain(`href="${url.replace(/&/g, "&amp;")}"`);
    expect(m.text).toContain(`Unsubscribe: ${url}`);
    expect(m.headers["List-Unsubscribe-Post"]).toBe("List-Unsubscribe=One-Click");
    expect(m).toMatchObject({ from: settings.fromAddress, fromName: "Vibe Coding Digest", to: "Reader@Example.net", subject: r.subject });
  });

  test("when the preview files are written, they are the first recipient's parts and MIME exactly (signed link included)", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "vd-preview-"));
    try {
      const first = recipientMessage(r, settings, "first@example.net", { date: now, tags: {} });
      const files = await writePreviewFiles(dir, "2026-11-28", first, "all");
      expect(await fs.readFile(files.html, "utf8")).toBe(first.html);
      expect(await fs.readFile(files.text!, "utf8")).toBe(first.text);
      const parsed = await simpleParser(await fs.readFile(files.eml!));
      expect(parsed.html).toBe(first.html);
      expect(parsed.text).toBe(first.text);
      const header = parsed.headerLines.find((l) => l.key === "list-unsubscribe")?.line ?? "";
      expect(header.replace(/\r?\n[ \t]+/g, " ")).toBe(`List-Unsubscribe: ${first.headers["List-Unsubscribe"]}`);
      expect(first.html).toContain("&amp;t="); // the signed URL, not the configured one
      expect(first.html).not.toBe(r.html);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test("when the message has a From display name, the MIME From header carries it (encoded when not ASCII)", async () => {
    const m = recipientMessage(r, { ...settings, fromName: "Vibe Café Digest" }, "x@example.net", { date: now, tags: {} });
    const raw = (await buildMime(m)).toString("utf8");
    const parsed = await simpleParser(raw);
    expect(parsed.from?.value[0]).toEqual({ name: "Vibe Café Digest", address: "digest@vibedigest.example.com" });
    expect(raw).toMatch(/^From: =\?UTF-8\?[QB]\?/m);
  });

  test.each(["https://example.com/u?x=>,<https://evil.test/", "https://example.com/u\r\nBcc: a@b.c", "https://example.com/u x"])("when a List-Unsubscribe target could change the header (%j), it is never written", (target) => {
    expect(() => listUnsubscribeHeaders(target)).toThrow("List-Unsubscribe target");
  });
});
