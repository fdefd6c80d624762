import { gzipSync } from "node:zlib";
import { startFeedServer, type FeedServer } from "../../scripts/lib/feed-server";
import { FeedFetcher, normalizeLink, type FeedResult, type Resolver } from "../../app/src/feeds";

const ok = (r: FeedResult) => {
  if (!r.ok) throw new Error(`expected ${r.source.name} to succeed, got ${r.error.code}: ${r.error.message}`);
  return r;
};
const codeOf = (r: FeedResult) => (r.ok ? "ok" : r.error.code);

const HOSTILE = `<?xml version="1.0"?><rss version="2.0"><channel><title>Hostile</title><link>https://hostile.example/</link>
<item><title>Click &lt;b&gt;me&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title><link>javascript:alert(document.cookie)</link><pubDate>Fri, 27 Nov 2026 10:00:00 GMT</pubDate>
<description><![CDATA[<p onclick="steal()">Hello <b>reader</b></p><script>alert('x')</script><style>body{display:none}</style><img src="https://tracker.example/pixel.gif?u=1" width="1" height="1"><a href="data:text/html;base64,PHNjcmlwdD4=">data link</a><iframe src="https://evil.example/"></iframe>]]></description></item>
<item><title>Long one</title><link>https://hostile.example/long</link><pubDate>Thu, 26 Nov 2026 10:00:00 GMT</pubDate><description>${"word ".repeat(400)}</description></item>
</channel></rss>`;

const rss = (title: string, items: { t: string; l: string; d: string }[]) =>
  `<?xml version="1.0"?><rss version="2.0"><channel><title>${title}</title><link>https://${title.toLowerCase()}.example/</link>${items
    .map((i) => `<item><title>${i.t}</title><link>${i.l}</link><pubDate>${i.d}</pubDate><description>about ${i.t}</description></item>`)
    .join("")}</channel></rss>`;

/** The local stage's allow-list: the test feeds are on loopback. */
const LOCAL = { hosts: ["127.0.0.1"] };

describe("FeedFetcher", () => {
  let server: FeedServer;
  let port: string;
  const redirect = (location: string, status = 302) => ({ status, body: "", contentType: "text/plain", headers: { location } });
  beforeAll(async () => {
    const routes: Record<string, Parameters<typeof startFeedServer>[0] extends infer O ? (O extends { routes?: infer R } ? R extends Record<string, infer V> ? V : never : never) : never> = {
      "/dead": { status: 500, body: "boom", contentType: "text/plain" },
      "/gone": { status: 404, body: "nope", contentType: "text/plain" },
      "/slow": { body: "<rss/>", delayMs: 3_600_000 }, // answers only after the test ends: only the timeout can end its fetch
      "/garbage": { body: "this is not a feed <<<", contentType: "text/html" },
      "/huge": { body: `<rss version="2.0"><channel><title>x</title>${"<item><title>t</title></item>".repeat(5000)}</channel></rss>` },
      "/gzip-bomb": { body: gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x20)), headers: { "content-encoding": "gzip" } },
      "/gzipped": { body: gzipSync(Buffer.from(rss("Zipped", [{ t: "Compressed item", l: "https://zipped.example/1", d: "Fri, 27 Nov 2026 10:00:00 GMT" }]))), headers: { "content-encoding": "gzip" } },
      "/latin1": { body: Buffer.from(rss("Latin", [{ t: "Café naïve", l: "https://latin.example/1", d: "Fri, 27 Nov 2026 10:00:00 GMT" }]), "latin1"), contentType: "application/rss+xml; charset=ISO-8859-1" },
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
      "/moved": redirect("/vibe-blog.rss", 301),
      "/moved-relative": redirect("sub/../vibe-blog.rss", 308),
      "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
      "/to-ecs-credentials": redirect("http://169.254.170.2/v2/credentials/abc"),
      "/to-ec2-ipv6-metadata": redirect("http://[fd00:ec2::254]/latest/meta-data/"),
      "/to-private": redirect("http://10.0.0.1/feed.xml"),
      "/to-cgnat": redirect("http://100.64.0.1/feed.xml"),
      "/to-mapped-metadata": redirect("http://[::ffff:169.254.169.254]/latest/"),
      "/to-ipv6-loopback": redirect("http://[::1]/feed.xml"),
      "/to-other-loopback": redirect("http://127.0.0.2/feed.xml"),
      "/to-outside": redirect("https://evil.example.test/feed.xml"),
      "/to-file": redirect("file:///etc/passwd"),
      "/to-credentials": redirect("http://user:secret@127.0.0.1/feed.xml"),
      "/no-location": { status: 302, body: "", contentType: "text/plain" },
      "/loop-a": redirect("/loop-b"),
      "/loop-b": redirect("/loop-a?"),
      "/self": redirect("/self#again", 307),
      "/via-name": redirect("http://meta.example.test/latest/meta-data/"),
    };
    for (let i = 1; i <= 6; i++) routes[`/hop${i}`] = redirect(`/hop${i + 1}`);
    routes["/hop7"] = redirect("/vibe-blog.rss");
    for (let i = 1; i <= 5; i++) routes[`/five${i}`] = redirect(i === 5 ? "/vibe-blog.rss" : `/five${i + 1}`);
    server = await startFeedServer({ routes });
    port = new URL(server.url).port;
    // Redirects to "localhost" on the server's own port: a loopback name, refused before DNS.
    (routes as Record<string, unknown>)["/to-localhost"] = redirect(`http://localhost:${port}/vibe-blog.rss`);
  });
  afterAll(async () => server.close());

  const fetcher = (o: ConstructorParameters<typeof FeedFetcher>[0] = {}) => new FeedFetcher({ timeoutMs: 2000, sleep: async () => undefined, ...o });

  test("when given RSS, Atom and JSON Feed, it parses each and keeps the 3 newest items", async () => {
    const [r, a, j] = (
      await fetcher().fetchAll(
        [
          { url: `${server.url}/vibe-blog.rss`, name: "Vibe" },
          { url: `${server.url}/agents-journal.atom`, name: "Agents" },
          { url: `${server.url}/release-notes.json`, name: "Editor" },
        ],
        LOCAL,
      )
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
    const results = await fetcher({ timeoutMs: 300, retries: 1 }).fetchAll(
      [
        { url: `${server.url}/dead`, name: "Dead" },
        { url: `${server.url}/vibe-blog.rss`, name: "Vibe" },
        { url: `${server.url}/slow`, name: "Slow" },
        { url: "http://127.0.0.1:1/refused", name: "Refused" },
      ],
      LOCAL,
    );
    expect(results.map(codeOf)).toEqual(["FEED_HTTP_STATUS", "ok", "FEED_TIMEOUT", "FEED_FETCH_FAILED"]);
    expect(server.hits.get("/dead")).toBe(2); // one bounded retry after a 5xx
    expect(server.hits.get("/slow")).toBe(1); // no retry after a timeout
  });

  test.each([
    ["/gone", "FEED_HTTP_STATUS"],
    ["/garbage", "FEED_PARSE_FAILED"],
    ["/huge", "FEED_TOO_LARGE"],
    ["/gzip-bomb", "FEED_TOO_LARGE"],
  ])("when %s is fetched, it fails with %s", async (path, code) => {
    const r = await fetcher({ maxBytes: 64 * 1024 }).fetchOne({ url: `${server.url}${path}`, name: "X" }, LOCAL);
    expect(codeOf(r)).toBe(code);
  });

  test("when the answer is gzip-compressed, it is decompressed", async () => {
    const r = ok(await fetcher().fetchOne({ url: `${server.url}/gzipped`, name: "Zipped" }, LOCAL));
    expect(r.items[0].title).toBe("Compressed item");
  });

  test("when the server declares ISO-8859-1 in Content-Type, the text decodes to the right characters", async () => {
    const r = ok(await fetcher().fetchOne({ url: `${server.url}/latin1`, name: "Latin" }, LOCAL));
    expect(r.items[0].title).toBe("Café naïve");
  });

  test("when feed HTML is hostile, only safe text and safe links remain", async () => {
    const r = ok(await fetcher({ summaryChars: 120 }).fetchOne({ url: `${server.url}/hostile`, name: "Hostile" }, LOCAL));
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
      await fetcher().fetchAll(
        [
          { url: `${server.url}/first`, name: "First" },
          { url: `${server.url}/second`, name: "Second" },
        ],
        LOCAL,
      )
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

  describe("redirects", () => {
    test.each(["/moved", "/moved-relative", "/five1"])("when %s redirects (at most 5 times) to an allowed feed, it follows and parses it", async (path) => {
      const r = ok(await fetcher().fetchOne({ url: `${server.url}${path}`, name: "Moved" }, LOCAL));
      expect(r.items[0].title).toBe("Prompting for tests first");
    });

    test.each([
      ["/to-metadata", "FEED_ADDRESS_REFUSED", /169\.254\.169\.254/],
      ["/to-ecs-credentials", "FEED_ADDRESS_REFUSED", /169\.254\.170\.2/],
      ["/to-ec2-ipv6-metadata", "FEED_ADDRESS_REFUSED", /fd00:ec2::254/],
      ["/to-private", "FEED_ADDRESS_REFUSED", /10\.0\.0\.1/],
      ["/to-cgnat", "FEED_ADDRESS_REFUSED", /100\.64\.0\.1/],
      ["/to-mapped-metadata", "FEED_ADDRESS_REFUSED", /redirect to http:\/\/\[::ffff:a9fe:a9fe\]/],
      ["/to-ipv6-loopback", "FEED_ADDRESS_REFUSED", /::1/],
      ["/to-other-loopback", "FEED_ADDRESS_REFUSED", /127\.0\.0\.2/],
      ["/to-localhost", "FEED_ADDRESS_REFUSED", /localhost is loopback/],
      ["/to-outside", "FEED_HOST_NOT_ALLOWED", /evil\.example\.test is not in digest\/feed_hosts/],
      ["/to-file", "FEED_REDIRECT_INVALID", /only http and https/],
      ["/to-credentials", "FEED_REDIRECT_INVALID", /credentials/],
      ["/no-location", "FEED_REDIRECT_INVALID", /without a usable Location/],
      ["/loop-a", "FEED_REDIRECT_LOOP", /redirect loop/],
      ["/self", "FEED_REDIRECT_LOOP", /redirect loop/],
      ["/hop1", "FEED_TOO_MANY_REDIRECTS", /too many redirects \(more than 5\)/],
    ])("when %s redirects there, it fails with %s and never fetches the target", async (path, code, message) => {
      const before = server.hits.get("/vibe-blog.rss") ?? 0;
      const r = await fetcher().fetchOne({ url: `${server.url}${path}`, name: "Redirected" }, LOCAL);
      expect(codeOf(r)).toBe(code);
      expect(r.ok ? "" : r.error.message).toMatch(message);
      expect(server.hits.get("/vibe-blog.rss") ?? 0).toBe(before);
      expect(server.hits.get(path)).toBeGreaterThanOrEqual(1); // a refusal is not retried as a network error
    });

    test("when a redirect loop is found, the chain stops at the first repeat (a bounded number of requests)", async () => {
      const a = server.hits.get("/loop-a") ?? 0;
      const b = server.hits.get("/loop-b") ?? 0;
      await fetcher({ retries: 3 }).fetchOne({ url: `${server.url}/loop-a`, name: "Loop" }, LOCAL);
      expect((server.hits.get("/loop-a") ?? 0) - a).toBe(1);
      expect((server.hits.get("/loop-b") ?? 0) - b).toBe(1);
    });
  });

  describe("egress", () => {
    test("when digest/feed_hosts is unset, a feed on loopback is refused before any request", async () => {
      const before = server.hits.get("/vibe-blog.rss") ?? 0;
      const r = await fetcher().fetchOne({ url: `${server.url}/vibe-blog.rss`, name: "Local" });
      expect(codeOf(r)).toBe("FEED_ADDRESS_REFUSED");
      expect(server.hits.get("/vibe-blog.rss") ?? 0).toBe(before);
    });

    test.each([
      "http://169.254.169.254/latest/meta-data/",
      "http://169.254.170.2/v2/credentials",
      "http://[fd00:ec2::254]/latest/meta-data/",
      "http://127.0.0.1/feed.xml",
      "http://127.1/feed.xml",
      "http://2130706433/feed.xml",
      "http://[::1]/feed.xml",
      "http://[::ffff:127.0.0.1]/feed.xml",
      "http://10.1.2.3/feed.xml",
      "http://172.16.0.1/feed.xml",
      "http://192.168.0.1/feed.xml",
      "http://100.64.0.1/feed.xml",
      "http://0.0.0.0/feed.xml",
      "http://[fe80::1]/feed.xml",
      "http://localhost/feed.xml",
      "http://feeds.localhost/feed.xml",
    ])("when digest/feed_hosts is unset and the feed URL is %s, it fails with FEED_ADDRESS_REFUSED", async (url) => {
      const r = await fetcher({ timeoutMs: 500 }).fetchOne({ url, name: "Internal" });
      expect(codeOf(r)).toBe("FEED_ADDRESS_REFUSED");
    });

    test("when digest/feed_hosts is set and the feed's host is not in it, it fails with FEED_HOST_NOT_ALLOWED before any request", async () => {
      const resolver = jest.fn<ReturnType<Resolver>, Parameters<Resolver>>(async () => [{ address: "127.0.0.1", family: 4 }]);
      const r = await fetcher({ resolver }).fetchOne({ url: `http://elsewhere.example.test:${port}/vibe-blog.rss`, name: "Outside" }, { hosts: ["127.0.0.1", "feeds.example.test"] });
      expect(codeOf(r)).toBe("FEED_HOST_NOT_ALLOWED");
      expect(resolver).not.toHaveBeenCalled();
    });

    test("when a listed name resolves to a loopback address the list names, it connects to exactly that address", async () => {
      const resolver = jest.fn<ReturnType<Resolver>, Parameters<Resolver>>(async () => [{ address: "127.0.0.1", family: 4 }]);
      const r = ok(await fetcher({ resolver }).fetchOne({ url: `http://feeds.example.test:${port}/vibe-blog.rss`, name: "Named" }, { hosts: ["*.example.test", "127.0.0.1"] }));
      expect(r.items[0].title).toBe("Prompting for tests first");
      expect(resolver).toHaveBeenCalledTimes(1); // one answer, checked and used: nothing to rebind
    });

    test("when the DNS answer changes after the first lookup, the connection still uses the answer that was checked", async () => {
      const answers = [[{ address: "127.0.0.1", family: 4 as const }], [{ address: "169.254.169.254", family: 4 as const }]];
      const resolver: Resolver = async () => answers.shift() ?? [];
      const r = await fetcher({ resolver }).fetchOne({ url: `http://rebind.example.test:${port}/vibe-blog.rss`, name: "Rebind" }, { hosts: ["*.example.test", "127.0.0.1"] });
      expect(codeOf(r)).toBe("ok");
      expect(answers).toHaveLength(1); // the second (metadata) answer was never asked for
    });

    test.each([
      ["the metadata address", [{ address: "169.254.169.254", family: 4 as const }]],
      ["a private address among public ones", [{ address: "93.184.216.34", family: 4 as const }, { address: "10.0.0.1", family: 4 as const }]],
      ["a unique-local IPv6 address", [{ address: "fd00:ec2::254", family: 6 as const }]],
      ["loopback the list does not name", [{ address: "127.0.0.53", family: 4 as const }]],
    ])("when a redirect target's name resolves to %s, it fails with FEED_ADDRESS_REFUSED", async (_, addresses) => {
      const resolver: Resolver = async (host) => (host === "meta.example.test" ? addresses : []);
      const r = await fetcher({ resolver }).fetchOne({ url: `${server.url}/via-name`, name: "Via name" }, { hosts: ["*.example.test", "127.0.0.1"] });
      expect(codeOf(r)).toBe("FEED_ADDRESS_REFUSED");
      expect(r.ok ? "" : r.error.message).toContain("meta.example.test resolves to");
    });

    test("when digest/feed_hosts names a public IP literal only, a feed at another public literal fails with FEED_HOST_NOT_ALLOWED", async () => {
      const r = await fetcher().fetchOne({ url: "http://93.184.216.34/feed.xml", name: "Other IP" }, { hosts: ["93.184.216.35"] });
      expect(codeOf(r)).toBe("FEED_HOST_NOT_ALLOWED");
    });
  });
});
