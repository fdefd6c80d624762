import { inspect } from "node:util";
import { dispatch } from "../../app/src/delivery/dispatch";
import type { DigestMessage } from "../../app/src/delivery/provider";
import { mailSendBody, retryAfter, SendGridProvider } from "../../app/src/delivery/sendgrid";
import { listUnsubscribeHeaders } from "../../app/src/mime";
import { Secret } from "../../app/src/secret";
import { freePort } from "../../scripts/lib/moto";
import { startSendGridServer, type SendGridFault, type SendGridServer } from "../../scripts/lib/sendgrid-server";

const KEY = "SG.CANARY-provider-test-key.x9";

const message = (to: string, extra: Partial<DigestMessage> = {}): DigestMessage => ({
  from: "digest@example.com",
  to,
  subject: "🧠 Daily Vibe Coding Digest – November 28, 2026 7:00 AM EST",
  html: '<p><a href="https://vibe.example.com/posts/tests-first">Prompting for tests first</a></p>',
  text: "Prompting for tests first\nhttps://vibe.example.com/posts/tests-first\n",
  date: new Date("2026-11-28T12:00:00Z"),
  headers: listUnsubscribeHeaders("https://digest.example/unsubscribe"),
  tags: { run_id: "run-1", digest_date: "2026-11-28" },
  ...extra,
});

describe("SendGridProvider against the local SendGrid emulator", () => {
  let s: SendGridServer;
  beforeAll(async () => {
    s = await startSendGridServer({ apiKeys: [KEY], verifiedSenders: ["digest@example.com"] });
  });
  afterAll(async () => s.close());
  afterEach(() => s.clearFaults());

  const provider = (opts: { timeoutMs?: number; key?: string } = {}) => new SendGridProvider(new Secret(opts.key ?? KEY), { baseUrl: s.url, timeoutMs: opts.timeoutMs });

  test("when SendGrid answers 202, the message id is the X-Message-Id and the message has text/plain then text/html, the headers and the run tags", async () => {
    const p = provider();
    const { messageId } = await p.send(message("reader-ok@example.net"));
    await p.close();
    const got = s.accepted.find((a) => a.messageId === messageId)!;
    expect(got).toMatchObject({
      to: ["reader-ok@example.net"],
      from: "digest@example.com",
      subject: "🧠 Daily Vibe Coding Digest – November 28, 2026 7:00 AM EST",
      headers: { "List-Unsubscribe": "<https://digest.example/unsubscribe>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" },
      customArgs: { run_id: "run-1", digest_date: "2026-11-28" },
    });
    expect(got.content.map((c) => c.type)).toEqual(["text/plain", "text/html"]);
    expect(got.content[1].value).toContain('href="https://vibe.example.com/posts/tests-first"');
  });

  test("when the message has no extra headers or tags, the body leaves those fields out", () => {
    const body = mailSendBody(message("a@example.net", { headers: {}, tags: {} }));
    expect(Object.keys(body).sort()).toEqual(["content", "from", "personalizations", "subject"]);
    expect(body.from).toEqual({ email: "digest@example.com" });
  });

  test("when the message has a From display name, SendGrid gets it as from.name", () => {
    expect(mailSendBody(message("a@example.net", { fromName: "Vibe Coding Digest" })).from).toEqual({ email: "digest@example.com", name: "Vibe Coding Digest" });
  });

  const cases: [string, string, boolean, number | undefined, SendGridFault][] = [
    ["400 (invalid field)", "SENDGRID_REJECTED", true, 400, { kind: "status", status: 400, errors: [{ message: "The to array is required ... a@b", field: "personalizations.0.to", help: null }] }],
    ["401", "SENDGRID_UNAUTHORIZED", true, 401, { kind: "status", status: 401 }],
    ["403", "SENDGRID_FORBIDDEN", true, 403, { kind: "status", status: 403 }],
    ["413", "SENDGRID_REJECTED", true, 413, { kind: "status", status: 413 }],
    ["429", "SENDGRID_THROTTLED", true, 429, { kind: "status", status: 429, headers: { "X-RateLimit-Reset": "9999999999" } }],
    ["500", "SENDGRID_UNAVAILABLE", false, 500, { kind: "status", status: 500 }],
    ["503", "SENDGRID_UNAVAILABLE", false, 503, { kind: "status", status: 503 }],
    ["500 after queueing it", "SENDGRID_UNAVAILABLE", false, 500, { kind: "accept-then-500" }],
    ["nothing (timeout after the request was written)", "SENDGRID_TIMEOUT", false, undefined, { kind: "accept-then-hang" }],
    ["a reset connection after reading the request", "SENDGRID_NETWORK", false, undefined, { kind: "reset" }],
  ];
  test.each(cases)("when SendGrid answers %s, the provider throws %s (definitelyNotSent %p, status %p) and no message text", async (_, code, notSent, status, fault) => {
    const to = `reader-${code.toLowerCase()}-${status}@example.net`;
    s.inject({ to, fault });
    const p = provider({ timeoutMs: 300 });
    const err = (await p.send(message(to)).catch((e: unknown) => e)) as Record<string, unknown>;
    await p.close();
    expect(err).toMatchObject({ code, definitelyNotSent: notSent, operation: "sendgrid:mail.send", resource: to });
    if (status !== undefined) expect(err.httpStatus).toBe(status);
    if (code === "SENDGRID_REJECTED" && status === 400) expect(err.fields).toEqual(["personalizations.0.to"]);
    const views = [String(err), JSON.stringify(err), inspect(err, { depth: 10, showHidden: true })].join("\n");
    expect(views).not.toContain("The to array"); // SendGrid's message text may echo values: dropped
    expect(views).not.toContain(KEY);
  });

  test("when SendGrid answers 429, the error says how long until X-RateLimit-Reset", async () => {
    const reset = Math.floor(Date.now() / 1000) + 3;
    s.inject({ to: "limited@example.net", fault: { kind: "status", status: 429, headers: { "X-RateLimit-Reset": String(reset) } } });
    const err = (await provider().send(message("limited@example.net")).catch((e: unknown) => e)) as { retryAfterMs: number };
    expect(err.retryAfterMs).toBeGreaterThan(1000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(3000);
    expect(retryAfter("2", 0)).toBe(2000); // a small number is a delta in seconds
    expect(retryAfter(undefined, 0)).toBeUndefined();
  });

  test("when nothing listens on the port, the provider throws SENDGRID_NETWORK and nothing was sent", async () => {
    const port = await freePort();
    const p = new SendGridProvider(new Secret(KEY), { baseUrl: `http://127.0.0.1:${port}` });
    const err = await p.send(message("refused@example.net")).catch((e: unknown) => e);
    await p.close();
    expect(err).toMatchObject({ code: "SENDGRID_NETWORK", definitelyNotSent: true, socketCode: "ECONNREFUSED" });
  });

  test("when the rate limit is reached mid-batch, the dispatcher waits until X-RateLimit-Reset and every message is accepted", async () => {
    const limited = await startSendGridServer({ apiKeys: [KEY], rateLimit: { limit: 2, windowMs: 1000 } });
    const p = new SendGridProvider(new Secret(KEY), { baseUrl: limited.url, maxPerSecond: 50 });
    const sleeps: number[] = [];
    try {
      const out = await dispatch(p, ["a", "b", "c"].map((x) => message(`${x}-rl@example.net`)), {
        maxConcurrency: 1,
        random: () => 0,
        sleep: async (ms) => {
          sleeps.push(ms);
          await new Promise((r) => setTimeout(r, ms));
        },
      });
      expect(out.results.map((r) => r.status)).toEqual(["sent", "sent", "sent"]);
      expect(limited.requests.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(1);
      // With random() = 0 the jittered backoff is 0: any wait of a second or so is the reset header's.
      expect(Math.max(...sleeps)).toBeGreaterThanOrEqual(500);
      expect(limited.accepted).toHaveLength(3);
    } finally {
      await p.close();
      await limited.close();
    }
  });
});
