import { digestDate, digestSubject, renderDigest } from "../../app/src/render";
import type { FeedResult } from "../../app/src/feeds";

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

describe("renderDigest", () => {
  const feeds: FeedResult[] = [
    {
      ok: true,
      source: { url: "https://a.example/feed", name: "A & Co" },
      siteUrl: "https://a.example/",
      format: "rss",
      durationMs: 1,
      items: [
        { title: "Tests <first>", link: "https://a.example/p/1?x=1&y=2", summary: "Use \"quotes\" & <tags>", published: new Date("2026-11-27T14:00:00Z") },
        { title: "No link", summary: "" },
      ],
    },
    { ok: true, source: { url: "https://empty.example/feed", name: "Empty" }, format: "atom", durationMs: 1, items: [] },
  ];
  const r = renderDigest({ now: new Date("2026-11-28T12:00:00Z"), feeds, unsubscribe: "https://digest.example/unsubscribe" });

  test("when rendered, the HTML groups by source with every link and source attributed and escaped", () => {
    expect(r.html).toContain('<a href="https://a.example/" style="');
    expect(r.html).toContain(">A &amp; Co</a>");
    expect(r.html).toContain('href="https://a.example/p/1?x=1&amp;y=2"');
    expect(r.html).toContain("Tests &lt;first&gt;");
    expect(r.html).toContain("Use &quot;quotes&quot; &amp; &lt;tags&gt;");
    expect(r.html).not.toContain("Empty"); // sources with no items are left out
    expect(r.html).toMatch(/via <a href="https:\/\/a\.example\/"[^>]*>A &amp; Co<\/a>/);
    expect(r.html).not.toContain("<style");
    expect(r.html).toContain('href="https://digest.example/unsubscribe"');
    expect(r).toMatchObject({ itemCount: 2, sourceCount: 1 });
  });

  test("when rendered, the text part carries the subject, titles, links and sources", () => {
    expect(r.text.split("\n")[0]).toBe(r.subject);
    expect(r.text).toContain("== A & Co (https://a.example/) ==");
    expect(r.text).toContain("* Tests <first>\n  https://a.example/p/1?x=1&y=2\n  Use \"quotes\" & <tags>\n  via A & Co · Nov 27, 2026");
    expect(r.text).toContain("Unsubscribe: https://digest.example/unsubscribe");
  });
});
