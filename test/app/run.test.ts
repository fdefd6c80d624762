import fs from "node:fs";
import path from "node:path";
import { GetParametersByPathCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { simpleParser } from "mailparser";
import { ParameterStoreConfig } from "../../app/src/config";
import { dispatchProviderFor } from "../../app/src/delivery/select";
import { SesClientCache } from "../../app/src/delivery/ses-client";
import { FeedFetcher } from "../../app/src/feeds";
import { EmfMetrics } from "../../app/src/metrics";
import { runDigest, type RunOptions } from "../../app/src/run";
import { unsubscribeAddressOf, verifyUnsubscribeToken } from "../../app/src/unsubscribe";
import { startFeedServer, type FeedServer } from "../../scripts/lib/feed-server";
import { motoSentMessages } from "../support/moto";
import { captureLogger, feedsJson, motoUrl, putParameters, sesClient, ssmClient, TEST_CREDENTIALS, uniqueRoot, verifySender, type StackValues } from "../support/app-fixtures";

const NOW = new Date("2026-11-28T12:00:00Z");

describe("runDigest against moto", () => {
  let feeds: FeedServer;
  beforeAll(async () => {
    feeds = await startFeedServer({
      routes: {
        "/dead": { status: 503, body: "down", contentType: "text/plain" },
        "/empty.rss": { body: '<?xml version="1.0"?><rss version="2.0"><channel><title>Empty</title><link>https://empty.example.com/</link><description>none</description></channel></rss>', contentType: "application/rss+xml" },
      },
    });
  });
  afterAll(async () => feeds.close());

  async function setup(values: Partial<StackValues> = {}, verify = true) {
    const u = uniqueRoot();
    const ssm = ssmClient();
    await putParameters(ssm, u.root, {
      from: u.from,
      to: u.to,
      feeds: feedsJson(feeds.url, { "/vibe-blog.rss": "Vibe Coding Weekly", "/agents-journal.atom": "Agents Journal", "/release-notes.json": "Editor Release Notes", "/dead": "Dead Feed" }),
      ...values,
    });
    if (verify) await verifySender(sesClient(), u.from);
    const log = captureLogger();
    const emf: string[] = [];
    const metrics = new EmfMetrics((l) => emf.push(l));
    const clients = new SesClientCache({ endpoint: motoUrl(), maxAttempts: 1, logger: log.logger, defaultCredentials: TEST_CREDENTIALS });
    const deps = {
      config: new ParameterStoreConfig(ssm, { root: u.root, metrics }),
      feeds: new FeedFetcher({ timeoutMs: 2000, retries: 0 }),
      provider: (c: Parameters<typeof dispatchProviderFor>[0]) => dispatchProviderFor(c, { ses: () => clients.get(c).client, logger: log.logger }),
      credentialMode: SesClientCache.modeOf,
      logger: log.logger,
      metrics,
      clock: () => NOW,
    };
    return { ...u, deps, log, emf, metrics, run: (o: RunOptions = {}) => runDigest(deps, { dispatch: { ceilingPerSecond: 50 }, ...o }) };
  }

  async function sentTo(address: string) {
    return (await motoSentMessages(motoUrl())).filter((m) => (m.destinations ?? []).includes(address) || m.raw_data.includes(address));
  }

  test("when run, it sends one multipart/alternative message that moto records, with both parts and links intact", async () => {
    const s = await setup();
    const summary = await s.run();
    expect(summary).toMatchObject({ ok: true, sent: 1, failed: 0, exitCode: 0, digestDate: "2026-11-28", credentialMode: "default-chain" });
    expect(summary.messageIds).toHaveLength(1);
    expect(summary.feeds.failed).toEqual([{ name: "Dead Feed", code: "FEED_HTTP_STATUS" }]);

    const recorded = await sentTo(s.to);
    expect(recorded).toHaveLength(1);
    // moto records the From header; the SES Source parameter is the address itself.
    expect(recorded[0].source).toContain(s.from);
    const mail = await simpleParser(recorded[0].raw_data);
    expect(mail.subject).toBe("🧠 Daily Vibe Coding Digest – November 28, 2026 7:00 AM EST");
    expect(mail.headers.get("content-type")).toMatchObject({ value: "multipart/alternative" });
    expect(mail.from?.value).toEqual([{ address: s.from, name: "Vibe Coding Digest" }]);
    expect(mail.text).toContain("* Prompting for tests first\n  https://vibe.example.com/posts/tests-first");
    expect(mail.text).toContain("== Agents Journal (https://agents.example.org/) ==");
    const html = String(mail.html);
    for (const link of ["https://vibe.example.com/posts/tests-first", "https://agents.example.org/2026/11/whole-repo", "https://editor.example.net/releases/4.2", "https://vibe.example.com/"]) {
      expect(html).toContain(`href="${link}"`);
    }
    expect(html).not.toContain("An older post that falls off the digest"); // 3 per feed
    expect(html).toContain("Editor Release Notes");
    expect(s.log.text()).toContain(summary.messageIds[0]); // the SES message id is logged
  });

  test("when to_address lists several recipients, each gets its own message", async () => {
    const u2 = uniqueRoot();
    const s = await setup({ to: `${u2.to},second-${u2.id}@example.org` });
    const summary = await s.run();
    expect(summary).toMatchObject({ sent: 2, failed: 0 });
    for (const to of [u2.to, `second-${u2.id}@example.org`]) {
      const recorded = await sentTo(to);
      expect(recorded).toHaveLength(1);
      expect([...new Set(recorded[0].destinations)]).toEqual([to]); // moto lists the To header beside Destinations
      expect((await simpleParser(recorded[0].raw_data)).to).toMatchObject({ text: to });
    }
  });

  test("when the sender is not verified, the recipient fails with SES_SENDER_NOT_VERIFIED and exit code 1", async () => {
    const s = await setup({}, false);
    const summary = await s.run();
    expect(summary).toMatchObject({ ok: false, sent: 0, failed: 1, exitCode: 1 });
    expect(summary.recipients[0].error).toMatchObject({ code: "SES_SENDER_NOT_VERIFIED", awsCode: "MessageRejected", operation: "ses:SendRawEmail" });
    expect(summary.recipients[0].error?.requestId).toEqual(expect.any(String));
  });

  test("when a parameter is missing, the run ends with exit code 2 naming it and sends nothing", async () => {
    const u = uniqueRoot();
    const ssm = ssmClient();
    await putParameters(ssm, u.root, { from: u.from, to: u.to, feeds: "[]" }, ["email/from_address"]);
    const log = captureLogger();
    const summary = await runDigest({
      config: new ParameterStoreConfig(ssm, { root: u.root }),
      feeds: new FeedFetcher(),
      provider: () => {
        throw new Error("must not be reached");
      },
      logger: log.logger,
    });
    expect(summary).toMatchObject({ ok: false, exitCode: 2, reason: "config", error: { code: "CONFIG_MISSING", resource: `${u.root}/email/from_address` } });
  });

  test("when use_ses is false (the seed's rollback) and SendGrid is not configured, nothing goes through SES and the run fails with SENDGRID_NOT_CONFIGURED", async () => {
    const u = uniqueRoot();
    const s = await setup({ useSes: "false", to: u.to });
    const summary = await s.run();
    expect(summary).toMatchObject({ sent: 0, failed: 1, exitCode: 1 });
    expect(summary.recipients[0]).toMatchObject({ status: "failed", provider: "sendgrid", error: { code: "SENDGRID_NOT_CONFIGURED" } });
    expect(await sentTo(u.to)).toHaveLength(0);
  });

  test("when every feed fails, nothing is sent and the run fails with exit 4, DigestSucceeded 0 and the feed counts", async () => {
    const u = uniqueRoot();
    const s = await setup({ feeds: feedsJson(feeds.url, { "/dead": "Dead Feed" }), to: u.to });
    const summary = await s.run();
    s.metrics.flush();
    expect(summary).toMatchObject({ ok: false, total: 1, sent: 0, failed: 0, notTried: 1, reason: "nothing to send", exitCode: 4, feeds: { total: 1, ok: 0 } });
    expect(await sentTo(u.to)).toHaveLength(0);
    expect(JSON.parse(s.emf[0])).toMatchObject({ DigestSucceeded: 0, FeedsAttempted: 1, FeedFailures: 1, EmailsSent: 0 });
    expect(s.log.text()).toContain("nothing to send: every feed failed or the digest has no items");
  });

  test("when the feeds answer but hold no items, nothing is sent and the run exits 4", async () => {
    const u = uniqueRoot();
    const s = await setup({ feeds: feedsJson(feeds.url, { "/empty.rss": "Empty Feed" }), to: u.to });
    const summary = await s.run();
    expect(summary).toMatchObject({ ok: false, sent: 0, reason: "nothing to send", exitCode: 4, items: 0, feeds: { total: 1, ok: 1 } });
    expect(await sentTo(u.to)).toHaveLength(0);
  });

  test("when run, it records EMF metrics for sends, feed failures and Parameter Store latency", async () => {
    const s = await setup();
    await s.run();
    s.metrics.flush();
    expect(s.emf).toHaveLength(1);
    const doc = JSON.parse(s.emf[0]);
    expect(doc._aws.CloudWatchMetrics[0].Namespace).toBe("VibeDigest");
    expect(doc).toMatchObject({ EmailsSent: 1, EmailsFailed: 0, FeedFailures: 1, FeedsAttempted: 4, DigestSucceeded: 1 });
    expect(typeof doc.ParameterStoreLatency).toBe("number");
    expect(typeof doc.DeliveryLatency).toBe("number");
    // moto's quota is 200 a day: at least this send is counted.
    expect(doc.SesQuotaUsedPercent).toBeGreaterThanOrEqual(0.5);
    expect(doc._aws.CloudWatchMetrics[0].Dimensions).toEqual([["Stage"]]); // the alarms select the same set
    expect(doc.Stage).toBe("unset"); // this test's EmfMetrics is given no stage
  });

  test("when Parameter Store denies access, the run exits 2 and counts ParameterStoreAccessDenied", async () => {
    const ssm = new SSMClient({ region: "us-east-1", credentials: TEST_CREDENTIALS });
    const mock = mockClient(ssm);
    mock.on(GetParametersByPathCommand).rejects(Object.assign(new Error("not authorized"), { name: "AccessDeniedException", $metadata: { httpStatusCode: 400, requestId: "r-1" } }));
    const emf: string[] = [];
    const metrics = new EmfMetrics((l) => emf.push(l));
    const summary = await runDigest({ config: new ParameterStoreConfig(ssm, { root: "/vibecoding", metrics }), feeds: new FeedFetcher(), provider: () => { throw new Error("unreached"); }, logger: captureLogger().logger, metrics });
    metrics.flush();
    expect(summary).toMatchObject({ exitCode: 2, error: { code: "AWS_ACCESS_DENIED", requestId: "r-1" } });
    expect(JSON.parse(emf[0])).toMatchObject({ ParameterStoreAccessDenied: 1, DigestSucceeded: 0 });
    mock.restore();
  });

  describe("the rendered files (VIBE_OUT_DIR)", () => {
    const base = path.join(__dirname, "..", "..", ".tmp", `run-files-${process.pid}`);
    // A folder below a regular file cannot be created, whoever runs the test (root too).
    const blocked = path.join(base, "a-file", "out");
    beforeAll(() => {
      fs.mkdirSync(base, { recursive: true });
      fs.writeFileSync(path.join(base, "a-file"), "not a folder");
    });
    afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

    test("when the files cannot be written, the message is still sent, the run exits 0 and the summary reports the write error", async () => {
      const s = await setup();
      const summary = await s.run({ outDir: blocked });
      expect(summary).toMatchObject({ ok: true, sent: 1, exitCode: 0, filesError: { code: expect.stringMatching(/^E[A-Z]+$/), dir: blocked } });
      expect(summary.files).toBeUndefined();
      expect(await sentTo(s.to)).toHaveLength(1);
      expect(s.log.text()).toContain("could not write the rendered files (delivery is not affected)");
    });

    test("when the files can be written, they are written after the send", async () => {
      const s = await setup();
      const summary = await s.run({ outDir: path.join(base, "ok") });
      expect(summary).toMatchObject({ ok: true, sent: 1, files: { eml: expect.any(String), html: expect.any(String) } });
      const msgs = s.log.lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(msgs.indexOf("rendered message written")).toBeGreaterThan(msgs.indexOf("SES accepted the message"));
    });

    test("when a dry run cannot write its files (its only product), it exits 3 and reports the write error", async () => {
      const s = await setup();
      const summary = await s.run({ outDir: blocked, dryRun: true });
      expect(summary).toMatchObject({ ok: false, exitCode: 3, reason: "dry run", filesError: { dir: blocked } });
      expect(await sentTo(s.to)).toHaveLength(0);
    });
  });

  test("when the stop signal fires during delivery, no new recipient is started, the one in flight settles, and the summary says interrupted with exit 143 and the real counts", async () => {
    const u = uniqueRoot();
    const recipients = [0, 1, 2, 3].map((i) => `stop-${i}-${u.id}@example.net`);
    const s = await setup({ to: recipients.join(",") });
    const stop = new AbortController();
    const summary = await s.run({ signal: stop.signal, dispatch: { ceilingPerSecond: 50, onResult: (r) => r.status === "sent" && stop.abort() } });
    s.metrics.flush();
    expect(summary).toMatchObject({ ok: false, reason: "interrupted", exitCode: 143, total: 4, sent: 1, notTried: 3, skipped: 0, inFlight: 0, failed: 0, unknown: 0 });
    expect(summary.recipients.map((r) => r.skipReason ?? r.status)).toEqual(["sent", "interrupted", "interrupted", "interrupted"]);
    const counts = await Promise.all(recipients.map(async (r) => (await sentTo(r)).length));
    expect(counts).toEqual([1, 0, 0, 0]);
    expect(JSON.parse(s.emf[0])).toMatchObject({ EmailsSent: 1, DigestSucceeded: 0 });
  });
  describe("List-Unsubscribe per recipient", () => {
    // A test key assembled at run time (40 characters, no whitespace); not a secret.
    const KEY = ["run", "-test", "-unsub"].join("") + "-signing-key-0123456789abcd";
    const TARGET = "https://digest.example/unsubscribe";

    /** The parsed List-Unsubscribe URL and List-Unsubscribe-Post header of the message sent to `to`. */
    async function unsubscribeHeadersOf(to: string) {
      const recorded = await sentTo(to);
      expect(recorded).toHaveLength(1);
      const mail = await simpleParser(recorded[0].raw_data);
      const list = mail.headers.get("list") as { unsubscribe?: { url?: string; mail?: string }; "unsubscribe-post"?: { name?: string } } | undefined;
      return { url: list?.unsubscribe?.url, mail: list?.unsubscribe?.mail, post: list?.["unsubscribe-post"]?.name, lines: mail.headerLines.map((h) => h.key) };
    }
    const warnings = (lines: string[]) => lines.map((l) => JSON.parse(l) as { level: string; msg: string; parameter?: string }).filter((l) => l.level === "warn" && /signing key/.test(l.msg));

    test("when the target is https and a signing key is set, each recipient's List-Unsubscribe carries its own token that verifies, with one-click", async () => {
      const u = uniqueRoot();
      const recipients = [`First-${u.id}@Example.net`, `second-${u.id}@example.org`];
      const s = await setup({ to: recipients.join(","), unsubscribe: TARGET, unsubscribeSigningKey: KEY });
      const summary = await s.run();
      expect(summary).toMatchObject({ ok: true, sent: 2 });
      const urls: string[] = [];
      for (const to of recipients) {
        const h = await unsubscribeHeadersOf(to);
        expect(h.post).toBe("List-Unsubscribe=One-Click");
        const url = new URL(h.url!);
        expect(`${url.origin}${url.pathname}`).toBe(TARGET);
        const address = unsubscribeAddressOf(url.searchParams.get("u")!);
        expect(address).toBe(to.toLowerCase());
        expect(verifyUnsubscribeToken(KEY, address, url.searchParams.get("t")!)).toBe(true);
        urls.push(h.url!);
      }
      expect(new Set(urls).size).toBe(2);
      // Each token is bound to its own recipient: swapping them fails.
      const [a, b] = urls.map((x) => new URL(x).searchParams);
      expect(verifyUnsubscribeToken(KEY, unsubscribeAddressOf(a!.get("u")!), b!.get("t")!)).toBe(false);
      expect(warnings(s.log.lines)).toEqual([]);
      expect(s.log.text()).toContain('"unsubscribe":"https-signed"');
      expect(s.log.text()).not.toContain(KEY);
    });

    test("when a signing key is set, each body's Unsubscribe link (HTML and text) is its own header URL, which verifies", async () => {
      const u = uniqueRoot();
      const recipients = [`Foot-${u.id}@Example.net`, `foot2-${u.id}@example.org`];
      const s = await setup({ to: recipients.join(","), unsubscribe: `${TARGET}?list=daily`, unsubscribeSigningKey: KEY });
      expect(await s.run()).toMatchObject({ ok: true, sent: 2 });
      const links: string[] = [];
      for (const to of recipients) {
        const h = await unsubscribeHeadersOf(to);
        const mail = await simpleParser((await sentTo(to))[0].raw_data);
        const href = /<a href="([^"]+)"[^>]*>Unsubscribe<\/a>/.exec(String(mail.html))?.[1];
        expect(href).toBeDefined();
        expect(href).toContain("&amp;"); // escaped in the HTML part
        const htmlUrl = href!.replace(/&amp;/g, "&");
        const textUrl = /^Unsubscribe: (\S+)$/m.exec(mail.text ?? "")?.[1];
        expect(htmlUrl).toBe(h.url);
        expect(textUrl).toBe(h.url);
        const q = new URL(htmlUrl).searchParams;
        expect(q.get("list")).toBe("daily");
        expect(unsubscribeAddressOf(q.get("u")!)).toBe(to.toLowerCase());
        expect(verifyUnsubscribeToken(KEY, to, q.get("t")!)).toBe(true);
        links.push(htmlUrl);
      }
      expect(new Set(links).size).toBe(2);
    });

    test("when the target is https and no signing key is set, every message keeps the static URL and the run warns once, naming the parameter", async () => {
      const u = uniqueRoot();
      const recipients = [`a-${u.id}@example.net`, `b-${u.id}@example.org`];
      const s = await setup({ to: recipients.join(","), unsubscribe: TARGET });
      expect(await s.run()).toMatchObject({ ok: true, sent: 2 });
      for (const to of recipients) expect(await unsubscribeHeadersOf(to)).toMatchObject({ url: TARGET, post: "List-Unsubscribe=One-Click" });
      expect(warnings(s.log.lines)).toEqual([expect.objectContaining({ parameter: `${s.root}/email/unsubscribe_signing_key` })]);
    });

    test("when the target is a mailto, a signing key changes nothing: List-Unsubscribe alone, no warning", async () => {
      const s = await setup({ unsubscribe: "mailto:leave@example.com", unsubscribeSigningKey: KEY });
      expect(await s.run()).toMatchObject({ ok: true, sent: 1 });
      const h = await unsubscribeHeadersOf(s.to);
      expect(h.mail).toBe("leave@example.com");
      expect(h.lines).toContain("list-unsubscribe");
      expect(h.lines).not.toContain("list-unsubscribe-post");
      expect(warnings(s.log.lines)).toEqual([]);
    });
  });
});
