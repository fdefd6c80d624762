import { CreateConfigurationSetCommand, GetSendQuotaCommand, SendRawEmailCommand, SESClient, type SendRawEmailCommandInput } from "@aws-sdk/client-ses";
import { mockClient } from "aws-sdk-client-mock";
import { simpleParser } from "mailparser";
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import { dispatch } from "../../app/src/delivery/dispatch";
import { Pacer } from "../../app/src/delivery/pacer";
import type { DeliveryProvider, DigestMessage } from "../../app/src/delivery/provider";
import { MigrationRouter } from "../../app/src/delivery/router";
import type { DeliveryClaims } from "../../app/src/ledger";
import { SesProvider } from "../../app/src/delivery/ses";
import { mapAwsError, SendInterruptedError, ThrottledError } from "../../app/src/errors";
import { listUnsubscribeHeaders } from "../../app/src/mime";
import { motoSentMessages } from "../support/moto";
import { motoUrl, sesClient, uniqueRoot, verifySender } from "../support/app-fixtures";
import { virtualClock } from "../support/virtual-clock";

const message = (to: string, from = "digest@example.com", extra: Partial<DigestMessage> = {}): DigestMessage => ({
  from,
  to,
  subject: "🧠 Daily Vibe Coding Digest – November 28, 2026 7:00 AM EST",
  html: '<p><a href="https://vibe.example.com/posts/tests-first">Prompting for tests first</a></p>',
  text: "Prompting for tests first\nhttps://vibe.example.com/posts/tests-first\n",
  date: new Date("2026-11-28T12:00:00Z"),
  headers: {},
  tags: { run_id: "run-1", digest_date: "2026-11-28" },
  ...extra,
});

const sdkError = (name: string, status: number, message = "payload with CANARY value") =>
  Object.assign(new Error(message), { name, $fault: status >= 500 ? "server" : "client", $metadata: { httpStatusCode: status, requestId: `req-${name}` }, $response: { body: "CANARY" } });

/** Virtual time (no real waiting; see test/support/virtual-clock.ts). */
const fakeTime = virtualClock;

/** Largest number of values of `starts` inside any half-open window of `windowMs`. */
function maxInWindow(starts: number[], windowMs = 1000): number {
  const s = [...starts].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < s.length; i++) {
    while (s[i] - s[j] >= windowMs - 1e-6) j++; // float spacing: 3 x 333.33 ms is one window
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe("SesProvider against moto", () => {
  test("when a List-Unsubscribe https URL is set, the message read back carries it with RFC 8058 one-click", async () => {
    const u = uniqueRoot();
    const ses = sesClient();
    await verifySender(ses, u.from);
    const provider = new SesProvider(ses);
    const { messageId } = await provider.send(message(u.to, u.from, { headers: listUnsubscribeHeaders("https://digest.example/unsubscribe?u=1") }));
    expect(messageId).toEqual(expect.any(String));
    const raw = (await motoSentMessages(motoUrl())).find((m) => m.raw_data.includes(u.to))!;
    const mail = await simpleParser(raw.raw_data);
    const headerLines = raw.raw_data.split("\r\n\r\n")[0].split("\r\n");
    expect(headerLines).toContain("List-Unsubscribe-Post: List-Unsubscribe=One-Click");
    expect(headerLines).toContain("List-Unsubscribe: <https://digest.example/unsubscribe?u=1>");
    expect(mail.headers.get("list")).toMatchObject({ unsubscribe: { url: "https://digest.example/unsubscribe?u=1" } });
    expect(mail.text).toContain("https://vibe.example.com/posts/tests-first");
  });

  test("when the target is a mailto, only List-Unsubscribe is set (one-click needs https)", () => {
    expect(listUnsubscribeHeaders("mailto:unsubscribe@example.com")).toEqual({ "List-Unsubscribe": "<mailto:unsubscribe@example.com>" });
    expect(listUnsubscribeHeaders(undefined)).toEqual({});
  });

  test("when a configuration set is configured, SendRawEmail carries it and the run/date tags", async () => {
    const u = uniqueRoot();
    const ses = sesClient();
    await verifySender(ses, u.from);
    const cs = `digest-${u.id}`;
    await ses.send(new CreateConfigurationSetCommand({ ConfigurationSet: { Name: cs } }));
    const inputs: SendRawEmailCommandInput[] = [];
    ses.middlewareStack.add((next, ctx) => async (args) => {
      if (ctx.commandName === "SendRawEmailCommand") inputs.push(args.input as SendRawEmailCommandInput);
      return next(args);
    }, { step: "initialize", name: `capture-${randomUUID()}` });
    await new SesProvider(ses, { configurationSet: cs }).send(message(u.to, u.from, { tags: { run_id: "3f1c2d9e-aaaa", digest_date: "2026-11-28", "bad tag!": "a/b c" } }));
    await new SesProvider(ses).send(message(u.to, u.from));
    expect(inputs[0]).toMatchObject({ Source: u.from, Destinations: [u.to], ConfigurationSetName: cs });
    expect(inputs[0].Tags).toEqual([
      { Name: "run_id", Value: "3f1c2d9e-aaaa" },
      { Name: "digest_date", Value: "2026-11-28" },
      { Name: "bad_tag_", Value: "a_b_c" },
    ]);
    expect(inputs[1]).not.toHaveProperty("ConfigurationSetName");
  });

  test("when sends go to moto with MaxSendRate 10 and a ceiling of 5, no second holds more than 5 sends", async () => {
    const u = uniqueRoot();
    const ses = sesClient();
    await verifySender(ses, u.from);
    const starts: number[] = [];
    ses.middlewareStack.add((next, ctx) => async (args) => {
      const out = await next(args);
      // moto always reports MaxSendRate 1: rewrite the answer to the quota under test.
      if (ctx.commandName === "GetSendQuotaCommand") Object.assign(out.output as object, { MaxSendRate: 10, Max24HourSend: 50_000, SentLast24Hours: 0 });
      return out;
    }, { step: "initialize", name: `quota-${randomUUID()}` });
    ses.middlewareStack.add((next, ctx) => async (args) => {
      if (ctx.commandName === "SendRawEmailCommand") starts.push(performance.now());
      return next(args);
    }, { step: "initialize", name: `starts-${randomUUID()}` });
    const recipients = Array.from({ length: 12 }, (_, i) => `r${i}-${u.id}@example.org`);
    const out = await dispatch(new SesProvider(ses), recipients.map((r) => message(r, u.from)), { ceilingPerSecond: 5 });
    expect(out.rate).toBe(5);
    expect(out.results.every((r) => r.status === "sent")).toBe(true);
    // The exact spacing is proven on a fake clock below; on the real clock a request can
    // leave a few ms early or late, so allow one boundary coincidence per window.
    expect(maxInWindow(starts)).toBeLessThanOrEqual(6);
    const achieved = (starts.length - 1) / ((starts.at(-1)! - starts[0]) / 1000);
    expect(achieved).toBeLessThanOrEqual(5 * 1.02);
  });
});

describe("dispatch", () => {
  const fakeProvider = (opts: { rate: number; remaining?: number; fail?: (m: DigestMessage, attempt: number) => Error | undefined; clock: () => number }) => {
    const starts: number[] = [];
    const attempts = new Map<string, number>();
    const provider: DeliveryProvider = {
      name: "fake",
      limits: async () => ({ maxPerSecond: opts.rate, remaining24h: opts.remaining ?? Infinity }),
      send: async (m) => {
        starts.push(opts.clock());
        const n = (attempts.get(m.to) ?? 0) + 1;
        attempts.set(m.to, n);
        const err = opts.fail?.(m, n);
        if (err) throw err;
        return { messageId: `id-${m.to}` };
      },
    };
    return { provider, starts, attempts };
  };

  test.each([
    [14, undefined, 14],
    [14, 3, 3],
    [0.5, undefined, 0.5],
  ])("when the provider allows %p/s and the ceiling is %p, sends start at most %p per second", async (rate, ceiling, expected) => {
    const t = fakeTime();
    const f = fakeProvider({ rate, clock: t.now });
    const msgs = Array.from({ length: 40 }, (_, i) => message(`r${i}@example.org`));
    const out = await dispatch(f.provider, msgs, { ceilingPerSecond: ceiling, now: t.now, sleep: t.sleep });
    expect(out.rate).toBe(expected);
    expect(f.starts).toHaveLength(40);
    expect(maxInWindow(f.starts)).toBeLessThanOrEqual(Math.ceil(expected));
    const spacing = f.starts.slice(1).map((s, i) => s - f.starts[i]);
    expect(Math.min(...spacing)).toBeGreaterThanOrEqual(1000 / expected - 1e-9);
  });

  test("when the provider throttles, it backs off with jitter and retries until it is accepted", async () => {
    const t = fakeTime();
    const sleeps: number[] = [];
    const f = fakeProvider({ rate: 100, clock: t.now, fail: (_, n) => (n <= 2 ? mapAwsError(sdkError("Throttling", 400, "Maximum sending rate exceeded."), "ses:SendRawEmail", "x") : undefined) });
    const out = await dispatch(f.provider, [message("a@example.org")], {
      now: t.now,
      sleep: async (ms) => {
        sleeps.push(ms);
        await t.sleep(ms);
      },
      random: () => 0.5,
      baseBackoffMs: 200,
    });
    expect(out.results[0]).toMatchObject({ status: "sent", attempts: 3 });
    expect(sleeps.filter((ms) => ms > 10)).toEqual([100, 200]); // full jitter: random * base * 2^n
  });

  test("when throttling persists, it gives up after maxAttempts with AWS_THROTTLED", async () => {
    const t = fakeTime();
    const f = fakeProvider({ rate: 100, clock: t.now, fail: () => new ThrottledError({ operation: "ses:SendRawEmail", resource: "a", awsCode: "Throttling", httpStatus: 400 }) });
    const out = await dispatch(f.provider, [message("a@example.org")], { now: t.now, sleep: t.sleep, maxAttempts: 3 });
    expect(out.results[0]).toMatchObject({ status: "failed", attempts: 3, definitelyNotSent: true, error: { code: "AWS_THROTTLED" } });
  });

  test("when the daily quota left is smaller than the list, it sends that many and fails the rest without calling the provider", async () => {
    const t = fakeTime();
    const f = fakeProvider({ rate: 10, remaining: 2, clock: t.now });
    const out = await dispatch(f.provider, ["a", "b", "c"].map((x) => message(`${x}@example.org`)), { now: t.now, sleep: t.sleep });
    expect(out.results.map((r) => r.status)).toEqual(["sent", "sent", "failed"]);
    expect(out.results[2]).toMatchObject({ attempts: 0, error: { code: "SES_QUOTA_EXCEEDED" } });
    expect(f.starts).toHaveLength(2);
  });

  test("when one recipient is rejected, the others are still sent", async () => {
    const t = fakeTime();
    const f = fakeProvider({ rate: 10, clock: t.now, fail: (m) => (m.to.startsWith("bad") ? mapAwsError(sdkError("MessageRejected", 400, "Address blacklisted."), "ses:SendRawEmail", m.to) : undefined) });
    const out = await dispatch(f.provider, ["ok1", "bad", "ok2"].map((x) => message(`${x}@example.org`)), { now: t.now, sleep: t.sleep });
    expect(out.results.map((r) => r.status)).toEqual(["sent", "failed", "sent"]);
    expect(f.attempts.get("bad@example.org")).toBe(1);
  });

  test("when reading the limits fails, every recipient fails with that error and nothing is sent", async () => {
    const provider: DeliveryProvider = {
      name: "fake",
      limits: async () => {
        throw mapAwsError(sdkError("AccessDenied", 403), "ses:GetSendQuota", "account");
      },
      send: async () => {
        throw new Error("must not send");
      },
    };
    const out = await dispatch(provider, [message("a@example.org"), message("b@example.org")]);
    expect(out.results.map((r) => r.status === "failed" && r.error.code)).toEqual(["AWS_ACCESS_DENIED", "AWS_ACCESS_DENIED"]);
  });

  test("when the pacer is asked concurrently, consecutive starts are spaced by the interval", async () => {
    const t = fakeTime();
    const pacer = new Pacer(250, t.now, t.sleep);
    const got: number[] = [];
    await Promise.all(Array.from({ length: 5 }, () => pacer.acquire().then(() => void got.push(t.now()))));
    expect(got).toEqual([0, 250, 500, 750, 1000]);
  });

  /** A clock whose every sleep wakes `lateMs` after it was due, like timers on a busy machine. */
  const lateTimers = (lateMs: number) => {
    let t = 0;
    return { now: () => t, sleep: async (ms: number) => void (t += ms + lateMs), idle: (ms: number) => void (t += ms) };
  };

  test("when every timer fires late, the starts stay on the interval's grid and the average rate is the pacer's", async () => {
    const t = lateTimers(3);
    const pacer = new Pacer(20, t.now, t.sleep);
    const got: number[] = [];
    for (let i = 0; i < 50; i++) await pacer.acquire().then(() => void got.push(t.now()));
    // Each start is its slot plus the 3 ms lateness; the 50th is at 49 x 20 + 3, not 49 x 23.
    expect(got.slice(0, 3)).toEqual([0, 23, 43]);
    expect(got[49]).toBe(49 * 20 + 3);
    const gaps = got.slice(1).map((g, i) => g - got[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(10); // never closer than half an interval
  });

  test("when the pacer was idle for longer than an interval, the grid restarts at now and nothing is made up in a burst", async () => {
    const t = lateTimers(0);
    const pacer = new Pacer(20, t.now, t.sleep);
    const got: number[] = [];
    await pacer.acquire().then(() => void got.push(t.now()));
    t.idle(1000);
    for (let i = 0; i < 3; i++) await pacer.acquire().then(() => void got.push(t.now()));
    expect(got).toEqual([0, 1000, 1020, 1040]);
  });
});

describe("SES error mapping", () => {
  const cases: [string, number, string, string, boolean][] = [
    ["AccessDenied", 403, "Access denied.", "AWS_ACCESS_DENIED", true],
    ["AccountSendingPausedException", 400, "Sending paused for this account.", "SES_SENDING_PAUSED", true],
    ["ConfigurationSetSendingPausedException", 400, "Sending paused for cs.", "SES_SENDING_PAUSED", true],
    ["MessageRejected", 400, "Email address is not verified. The following identities failed the check in region US-EAST-1: a@example.com", "SES_SENDER_NOT_VERIFIED", true],
    ["MessageRejected", 400, "Address blacklisted.", "SES_MESSAGE_REJECTED", true],
    ["MailFromDomainNotVerifiedException", 400, "Mail from domain not verified.", "SES_SENDER_NOT_VERIFIED", true],
    ["ConfigurationSetDoesNotExistException", 400, "Configuration set <cs> does not exist.", "SES_CONFIGURATION_SET_MISSING", true],
    ["Throttling", 400, "Maximum sending rate exceeded.", "AWS_THROTTLED", true],
    ["Throttling", 400, "Daily message quota exceeded.", "SES_QUOTA_EXCEEDED", true],
    ["InvalidParameterValue", 400, "Illegal header.", "AWS_INVALID_VALUE", true],
    ["SignatureDoesNotMatch", 403, "The request signature we calculated does not match.", "AWS_CREDENTIALS_INVALID", true],
    ["ServiceUnavailable", 503, "Service unavailable.", "AWS_UNAVAILABLE", false],
    ["InternalFailure", 500, "Internal failure.", "AWS_UNAVAILABLE", false],
    ["SomethingNew", 400, "Unknown.", "AWS_ERROR", true],
  ];
  test.each(cases)("when SES answers %s (%i, %j), the provider throws %s keeping code and request id", async (name, status, text, code, notSent) => {
    const ses = new SESClient({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } });
    const mock = mockClient(ses);
    mock.on(SendRawEmailCommand).rejects(sdkError(name, status, `${text} CANARY`));
    mock.on(GetSendQuotaCommand).resolves({ MaxSendRate: 14, Max24HourSend: 50000, SentLast24Hours: 0 });
    const err = await new SesProvider(ses).send(message("to@example.org")).catch((e: unknown) => e);
    expect(err).toMatchObject({ code, awsCode: name, requestId: `req-${name}`, httpStatus: status, operation: "ses:SendRawEmail", resource: "to@example.org", definitelyNotSent: notSent });
    for (const view of [String(err), JSON.stringify(err), inspect(err, { showHidden: true, depth: 10 })]) expect(view).not.toContain("CANARY");
    mock.restore();
  });

  test("when moto rejects an unverified sender, the provider throws SES_SENDER_NOT_VERIFIED", async () => {
    const u = uniqueRoot();
    const err = await new SesProvider(sesClient()).send(message(u.to, u.from)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "SES_SENDER_NOT_VERIFIED", awsCode: "MessageRejected", httpStatus: 400, definitelyNotSent: true });
  });
});

describe("one pacer per provider", () => {
  /** A stand-in provider that records the virtual time of each request. */
  const timed = (name: string, rate: number, clock: { now(): number }, fail?: (m: DigestMessage) => Error | undefined, remaining = Infinity) => {
    const starts: number[] = [];
    const provider: DeliveryProvider = {
      name,
      limits: async () => ({ maxPerSecond: rate, remaining24h: remaining }),
      send: async (m) => {
        starts.push(clock.now());
        const e = fail?.(m);
        if (e) throw e;
        return { messageId: `${name}-${m.to}` };
      },
    };
    return { provider, starts };
  };
  const rejected = (m: DigestMessage) => mapAwsError(sdkError("MessageRejected", 400, "Address blacklisted."), "ses:SendRawEmail", m.to);
  const spacing = (starts: number[]) => Math.min(...starts.slice(1).map((s, i) => s - starts[i]));

  test("when half the recipients go to SES (50/s) and half to SendGrid (10/s), each provider's starts keep its own rate and SES is not held back by SendGrid", async () => {
    const t = virtualClock();
    const ses = timed("ses", 50, t);
    const sg = timed("sendgrid", 10, t);
    const router = new MigrationRouter({ ses: ses.provider, sendgrid: sg.provider, useSes: true, sesPercent: 50 });
    const recipients = Array.from({ length: 200 }, (_, i) => `mix-${i}@example.org`);
    const out = await dispatch(router, recipients.map((r) => message(r)), { now: t.now, sleep: t.sleep });
    expect(out.results.every((r) => r.status === "sent")).toBe(true);
    expect(Object.fromEntries(out.lanes.map((l) => [l.name, l.rate]))).toEqual({ ses: 50, sendgrid: 10 });
    expect(ses.starts.length + sg.starts.length).toBe(200);
    expect(maxInWindow(sg.starts)).toBeLessThanOrEqual(10);
    expect(spacing(sg.starts)).toBeGreaterThanOrEqual(100 - 1e-9);
    expect(maxInWindow(ses.starts)).toBeLessThanOrEqual(50);
    expect(spacing(ses.starts)).toBeGreaterThanOrEqual(20 - 1e-9);
    // SES's share is done at its own pace, long before SendGrid's.
    expect(ses.starts.at(-1)!).toBeLessThan(sg.starts.at(-1)! / 2);
  });

  test("when the rollback trips mid-run, SendGrid takes the rest (and the fallbacks) at no more than its own 10/s", async () => {
    const t = virtualClock();
    const ses = timed("ses", 50, t, rejected);
    const sg = timed("sendgrid", 10, t);
    const router = new MigrationRouter({ ses: ses.provider, sendgrid: sg.provider, useSes: true, sesPercent: 100 });
    const recipients = Array.from({ length: 60 }, (_, i) => `rb-${i}@example.org`);
    const out = await dispatch(router, recipients.map((r) => message(r)), { now: t.now, sleep: t.sleep });
    await router.close();
    expect(router.triggered).toMatchObject({ reason: "ses-failure-rate" });
    expect(out.results.every((r) => r.status === "sent" && r.provider === "sendgrid")).toBe(true);
    expect(sg.starts).toHaveLength(60);
    expect(maxInWindow(sg.starts)).toBeLessThanOrEqual(10);
    expect(spacing(sg.starts)).toBeGreaterThanOrEqual(100 - 1e-9);
  });

  test("when SES's daily quota is used up, the rest go through SendGrid without an SES request", async () => {
    const t = virtualClock();
    const ses = timed("ses", 50, t, undefined, 3);
    const sg = timed("sendgrid", 10, t);
    const router = new MigrationRouter({ ses: ses.provider, sendgrid: sg.provider, useSes: true, sesPercent: 100 });
    const out = await dispatch(router, ["a", "b", "c", "d", "e"].map((x) => message(`${x}@example.org`)), { now: t.now, sleep: t.sleep, maxConcurrency: 1 });
    expect(ses.starts).toHaveLength(3);
    expect(sg.starts).toHaveLength(2);
    expect(out.results.map((r) => r.status === "sent" && r.provider)).toEqual(["ses", "ses", "ses", "sendgrid", "sendgrid"]);
    expect(out.results.slice(3).map((r) => r.status === "sent" && r.fallbackFrom)).toEqual(["ses", "ses"]);
  });
});

describe("stop means stop", () => {
  test("when the stop comes while SES's message is being built (after the gate let it through), no SES request leaves", async () => {
    const requests: string[] = [];
    const client = { send: async (c: { constructor: { name: string } }) => void requests.push(c.constructor.name) } as unknown as SESClient;
    const stop = new AbortController();
    const ses = new SesProvider(client, { signal: stop.signal });
    const sending = ses.send(message("late@example.org"));
    stop.abort(); // the MIME build is under way (it awaits): the stop lands in that moment
    await expect(sending).rejects.toBeInstanceOf(SendInterruptedError);
    expect(requests).toEqual([]);
  });

  /** Claims in memory that record each call; `onSending` runs inside the sending mark. */
  const memoryClaims = (onSending: () => void = () => undefined) => {
    const calls: string[] = [];
    const claims: DeliveryClaims = {
      claim: async (r) => {
        calls.push(`claim ${r}`);
        return { kind: "claimed", token: { digestDate: "2026-11-28", recipient: r, claimId: `c-${r}` } };
      },
      sending: async (tok) => {
        calls.push(`sending ${tok.recipient}`);
        onSending();
      },
      settle: async (tok, o) => void calls.push(`settle ${tok.recipient} ${o.state}${o.state === "sent" ? "" : ` ${o.errorCode}`}`),
    };
    return { claims, calls };
  };

  test("when the stop comes while the ledger writes the sending mark, no request is made and the claim is released as not sent", async () => {
    const stop = new AbortController();
    const { claims, calls } = memoryClaims(() => stop.abort());
    const sent: string[] = [];
    const provider: DeliveryProvider = { name: "ses", limits: async () => ({ maxPerSecond: 10, remaining24h: Infinity }), send: async (m) => (sent.push(m.to), { messageId: "x" }) };
    const out = await dispatch(provider, [message("a@example.org"), message("b@example.org")], { ledger: claims, signal: stop.signal, maxConcurrency: 1 });
    expect(sent).toEqual([]);
    expect(out.results.map((r) => r.status === "skipped" && r.reason)).toEqual(["interrupted", "interrupted"]);
    expect(calls).toEqual(["claim a@example.org", "sending a@example.org", "settle a@example.org failed INTERRUPTED"]);
  });

  test("when the stop comes during a throttling backoff, no further try starts and the claim is released", async () => {
    const stop = new AbortController();
    const { claims, calls } = memoryClaims();
    let requests = 0;
    const provider: DeliveryProvider = {
      name: "ses",
      limits: async () => ({ maxPerSecond: 10, remaining24h: Infinity }),
      send: async () => {
        requests++;
        throw new ThrottledError({ operation: "ses:SendRawEmail", resource: "a", awsCode: "Throttling", httpStatus: 400 });
      },
    };
    const out = await dispatch(provider, [message("a@example.org")], {
      ledger: claims,
      signal: stop.signal,
      // The backoff never ends by itself: only the stop ends it.
      sleep: () => {
        stop.abort();
        return new Promise<void>(() => undefined);
      },
    });
    expect(requests).toBe(1);
    expect(out.results[0]).toMatchObject({ status: "skipped", reason: "interrupted" });
    expect(calls.at(-1)).toBe("settle a@example.org failed INTERRUPTED");
  });
});
