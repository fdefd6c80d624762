import { startFeedServer, type FeedServer } from "../../scripts/lib/feed-server";
import { FeedFetcher, normalizeLink, type FeedResult } from "../../app/src/feeds";

const ok = (r: FeedResult) => {
  if (!r.ok) throw new Error(`expected ${r.source.name} to succeed, got ${r.error.code}`);
  return r;
};

const HOSTILE = `<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title><link>https://hostile.example/</link>
<item><title>Click &lt;b&gt;me&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title><link>javascript:alert(document.cookie)</link><pubDate>Fri, 27 Nov 2026 10:00:00 GMT</pubDate>
<description><![CDATA[<p onclick="steal()">Hello <b>reader</b></p><script>alert('x')</script><style>body{display:none}</style><img src="https://tracker.example/pixel.gif?u=1" width="1" height="1"><a href="data:text/html;base64,PHNjcmlwdD4=">data link</a><iframe src="https://evil.example/"></iframe>]]></description></item>
<item><title>Long one</title><link>https://hostile.example/long</link><pubDate>Thu, 26 Nov 2026 10:00:00 GMT</pubDate><description>${"word ".repeat(400)}</description></item>
</channel></rss>`;

const rss = (title: string, items: { t: string; l: string; d: string }[]) =>
  `<?xml version="1.0"?><rss version="2.0"><channel><title>${title}</title><link>https://${title.toLowerCase()}.example/</link>${items
    .map((i) => `<item><title>${i.t}</title><link>${i.l}</link><pubDate>${i.d}</pubDate><description>about ${i.t}</description></item>`)
    .join("")}</channel></rss>`;

describe("FeedFetcher", () => {
  let server: FeedServer;
  beforeAll(async () => {
    server = await startFeedServer({
      routes: {
        "/dead": { status: 500, body: "boom", contentType: "text/plain" },
        "/gone": { status: 404, body: "nope", contentType: "text/plain" },
        "/slow": { body: "<rss/>", delayMs: 3000 },
        "/garbage": { body: "this is not a feed <<<", contentType: "text/html" },
        "/huge": { body: `<rss version="2.0"><channel><title>x</title>${"<item><title>t</title></item>".repeat(5000)}</channel></rss>` },
        "/hostile": { body: HOSTILE },
        "/first": {
          body: rss("First", [
            { t: "Shared story", l: "https://news.example/story?utm_source=first", d: "Fri, 27 Nov 2026 10:00:00 GMT" },
            { t: "Only in first", l: "https://first.example/only", d: "Thu, 26 Nov 2026 10:00:00 GMT" },
          ]),
        },
        "/second": {
          body: rss("Second", [
            { t: "Same story, other title", l: "https://news.example/story#comments", d: "Fri, 27 Nov 2026 11:00:00 GMT" },
            { t: "only in FIRST", l: "https://second.example/dup-title", d: "Fri, 27 Nov 2026 09:00:00 GMT" },
            { t: "Second's own", l: "https://second.example/own", d: "Wed, 25 Nov 2026 10:00:00 GMT" },
          ]),
        },
      },
    });
  });
  afterAll(async () => server.close());

  const fetcher = (o: ConstructorParameters<typeof FeedFetcher>[0] = {}) => new FeedFetcher({ timeoutMs: 2000, sleep: async () => undefined, ...o });

  test("when given RSS, Atom and JSON Feed, it parses each and keeps the 3 newest items", async () => {
    const [r, a, j] = (
      await fetcher().fetchAll([
        { url: `${server.url}/vibe-blog.rss`, name: "Vibe" },
        { url: `${server.url}/agents-journal.atom`, name: "Agents" },
        { url: `${server.url}/release-notes.json`, name: "Editor" },
      ])
    ).map(ok);
    expect(r.format).toBe("rss");
    expect(r.items.map((i) => i.title)).toEqual(["Prompting for tests first", "Reviewing AI diffs & keeping them small", "Context windows are a budget"]);
    expect(r.items[0]).toMatchObject({ link: "https://vibe.example.com/posts/tests-first", summary: "Ask the model for failing tests before any code." });
    expect(r.siteUrl).toBe("https://vibe.example.com/");
    expect(a.format).toBe("atom");
    expect(a.items.map((i) => i.link)).toEqual(["https://agents.example.org/2026/11/whole-repo", "https://agents.example.org/2026/11/tool-budgets"]);
    expect(a.items[1].summary).toBe("Bound every loop, in count and in time.");
    expect(j.format).toBe("json");
    expect(j.items[0]).toMatchObject({ title: "4.2: inline diff review", link: "https://editor.example.net/releases/4.2", summary: "Review model edits inline, hunk by hunk." });
    expect(j.items[1].summary).toBe("Completions now stream as they are generated.");
    expect(j.siteUrl).toBe("https://editor.example.net/");
  });

  test("when one feed is dead and one is slow, the others still come back and both are reported", async () => {
    const started = Date.now();
    const results = await fetcher({ timeoutMs: 300, retries: 1 }).fetchAll([
      { url: `${server.url}/dead`, name: "Dead" },
      { url: `${server.url}/vibe-blog.rss`, name: "Vibe" },
      { url: `${server.url}/slow`, name: "Slow" },
      { url: "http://127.0.0.1:1/refused", name: "Refused" },
    ]);
    expect(Date.now() - started).toBeLessThan(2500); // bounded by the timeout, not by the 3 s feed
    expect(results.map((r) => (r.ok ? "ok" : r.error.code))).toEqual(["FEED_HTTP_STATUS", "ok", "FEED_TIMEOUT", "FEED_FETCH_FAILED"]);
    expect(server.hits.get("/dead")).toBe(2); // one bounded retry after a 5xx
    expect(server.hits.get("/slow")).toBe(1); // no retry after a timeout
  });

  test.each([
    ["/gone", "FEED_HTTP_STATUS"],
    ["/garbage", "FEED_PARSE_FAILED"],
    ["/huge", "FEED_TOO_LARGE"],
  ])("when %s is fetched, it fails with %s", async (path, code) => {
    const r = await fetcher({ maxBytes: 64 * 1024 }).fetchOne({ url: `${server.url}${path}`, name: "X" });
    expect(r.ok ? "ok" : r.error.code).toBe(code);
  });

  test("when feed HTML is hostile, only safe text and safe links remain", async () => {
    const r = ok(await fetcher({ summaryChars: 120 }).fetchOne({ url: `${server.url}/hostile`, name: "Hostile" }));
    const [evil, long] = r.items;
    expect(evil.link).toBeUndefined(); // javascript: link dropped
    expect(evil.title).toBe("Click me");
    expect(evil.summary).toBe("Hello reader data link");
    const all = JSON.stringify(r.items);
    for (const bad of ["<script", "alert(", "onclick", "tracker.example", "data:text", "<iframe", "display:none", "<img"]) expect(all).not.toContain(bad);
    expect(Array.from(long.summary).length).toBeLessThanOrEqual(120);
    expect(long.summary.endsWith("…")).toBe(true);
  });

  test("when two feeds carry the same link or the same title, it keeps the first occurrence only", async () => {
    const [first, second] = (
      await fetcher().fetchAll([
        { url: `${server.url}/first`, name: "First" },
        { url: `${server.url}/second`, name: "Second" },
      ])
    ).map(ok);
    expect(first.items.map((i) => i.title)).toEqual(["Shared story", "Only in first"]);
    expect(second.items.map((i) => i.title)).toEqual(["Second's own"]);
  });

  test.each([
    ["https://A.example/x/?utm_source=y#top", "https://a.example/x"],
    ["http://a.example/x", "https://a.example/x"],
    ["https://a.example/x?id=1&utm_medium=z", "https://a.example/x?id=1"],
  ])("when a link is %s, its identity is %s", (link, id) => {
    expect(normalizeLink(link)).toBe(id);
  });
});
