import { Testing, TerraformStack } from "cdktf";
import { hostMatches as senderMatches } from "../../app/src/validation";
import { assertFeedsAllowed, feedAllowList, hostMatches, isHostPattern, isIpLiteral } from "../../modules/feed-allow-list";

const scope = () => new TerraformStack(Testing.app(), "stack");
const caught = (fn: () => unknown): { code?: string; subject?: string; message: string } => {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; subject?: string; message: string };
  }
  throw new Error("expected a ConfigError");
};

describe("feed allow-list", () => {
  test.each([
    ["www.reddit.com", "www.reddit.com", true],
    ["WWW.Reddit.com", "www.reddit.com", true],
    ["old.reddit.com", "www.reddit.com", false],
    ["old.reddit.com", "*.reddit.com", true],
    ["a.b.reddit.com", "*.reddit.com", true],
    ["reddit.com", "*.reddit.com", false],
    ["evilreddit.com", "*.reddit.com", false],
    ["reddit.com.evil.example", "reddit.com", false],
    ["127.0.0.1", "127.0.0.1", true],
    ["127.0.0.2", "127.0.0.1", false],
  ])("when host %p is matched against %p, it is %p (exact, or any subdomain for *.)", (host, pattern, expected) => {
    expect(hostMatches(host, pattern)).toBe(expected);
  });

  test.each([
    ["example.com", true],
    ["*.example.com", true],
    ["127.0.0.1", true],
    ["::1", true],
    ["[::1]", false],
    ["Example.com", false],
    ["*.com.*", false],
    ["feeds.*.com", false],
    ["*", false],
    ["xn--bcher-kva.example", true],
    ["256.0.0.1", false],
    ["-bad.example.com", false],
  ])("when %p is checked as a host pattern, it is %p", (pattern, expected) => {
    expect(isHostPattern(pattern)).toBe(expected);
  });

  test("when IP literals are recognized, names that look numeric are not", () => {
    expect([isIpLiteral("10.0.0.1"), isIpLiteral("[::1]"), isIpLiteral("1.2.3.4.example.com"), isIpLiteral("300.1.1.1")]).toEqual([true, true, false, false]);
  });

  test("when the stack checks a host against a pattern, it is the sender's own rule (app/src/validation.ts), not a copy", () => {
    for (const [host, pattern] of [["old.reddit.com", "*.reddit.com"], ["reddit.com", "*.reddit.com"], ["WWW.Reddit.com", "www.reddit.com"]] as const) {
      expect(hostMatches(host, pattern)).toBe(senderMatches([pattern], host));
    }
  });

  test("when a real stage's feeds and redirect targets are listed, the allow-list is their hosts, sorted and unique, and the DNS list drops nothing", () => {
    const list = feedAllowList(
      scope(),
      [{ url: "https://b.example.com/x.rss" }, { url: "https://a.example.com/y.atom?q=1" }, { url: "https://b.example.com/z.rss" }],
      [{ host: "cdn.example.net", reason: "b.example.com redirects its feeds here" }],
      { internet: true },
    );
    expect(list).toEqual({ hostPatterns: ["a.example.com", "b.example.com", "cdn.example.net"], dnsDomains: ["a.example.com", "b.example.com", "cdn.example.net"] });
  });

  test("when a stage's feeds are on the loopback feed server, the allow-list is its IP literal and the DNS list is empty", () => {
    expect(feedAllowList(scope(), [{ url: "http://127.0.0.1:5056/a.rss" }, { url: "http://127.0.0.1:5056/b.json" }], [], { internet: false })).toEqual({ hostPatterns: ["127.0.0.1"], dnsDomains: [] });
  });

  test.each([
    ["an http feed in a real stage (egress is HTTPS only)", [{ url: "http://feeds.example.com/x.rss" }], [], true, "feeds[0].url"],
    ["an IP-literal feed in a real stage (the DNS firewall allows names)", [{ url: "https://203.0.113.7/x.rss" }], [], true, "feeds[0].url"],
    ["an internet feed in a stage without egress", [{ url: "https://feeds.example.com/x.rss" }], [], false, "feeds[0].url"],
    ["a localhost feed (not an IP literal the sender can allow)", [{ url: "http://localhost:5056/x.rss" }], [], false, "feeds[0].url"],
    ["a real stage's feed on the metadata address", [{ url: "https://169.254.169.254/latest/meta-data" }], [], true, "feeds[0].url"],
    ["a redirect host without a reason", [{ url: "https://a.example.com/x" }], [{ host: "b.example.com", reason: "" }], true, "extraFeedHosts[0].reason"],
    ["a redirect host that is an IP literal", [{ url: "https://a.example.com/x" }], [{ host: "203.0.113.7", reason: "the feed redirects to it" }], true, "extraFeedHosts[0].host"],
    ["a redirect host in upper case", [{ url: "https://a.example.com/x" }], [{ host: "B.example.com", reason: "the feed redirects to it" }], true, "extraFeedHosts[0].host"],
  ] as const)("when a stage has %s, synth fails with FEEDS_INVALID naming the entry, not the URL", (_what, feeds, extra, internet, subject) => {
    const err = caught(() => feedAllowList(scope(), feeds, extra, { internet }));
    expect(err).toMatchObject({ code: "FEEDS_INVALID", subject });
    expect(err.message).not.toContain("example.com/x");
  });

  test("when a feed's host is outside a given allow-list, synth fails with FEEDS_INVALID naming the feed's position", () => {
    const err = caught(() => assertFeedsAllowed(scope(), "stage.feeds", [{ url: "https://a.example.com/x" }, { url: "https://evil.example.org/y" }], ["a.example.com", "*.example.net"]));
    expect(err).toMatchObject({ code: "FEEDS_INVALID", subject: "stage.feeds[1].url" });
  });

  test("when every feed matches the allow-list, including through a wildcard, nothing is thrown", () => {
    expect(() => assertFeedsAllowed(scope(), "stage.feeds", [{ url: "https://a.example.com/x" }, { url: "https://old.example.net/y" }], ["a.example.com", "*.example.net"])).not.toThrow();
  });
});
