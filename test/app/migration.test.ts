import { GetParameterCommand, GetParametersByPathCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { simpleParser } from "mailparser";
import { main, reloadFallback } from "../../app/src/cli";
import { ParameterStoreConfig } from "../../app/src/config";
import { ROLLBACK_CLEARED } from "../../app/src/contract";
import { dispatch } from "../../app/src/delivery/dispatch";
import type { DeliveryProvider, DigestMessage } from "../../app/src/delivery/provider";
import { inSesShare, normalizeAddress, rolloutBucket } from "../../app/src/delivery/rollout";
import { MigrationRouter } from "../../app/src/delivery/router";
import { SesProvider } from "../../app/src/delivery/ses";
import { mapAwsError } from "../../app/src/errors";
import { FeedFetcher } from "../../app/src/feeds";
import { EmfMetrics } from "../../app/src/metrics";
import { describeTrip, parseRollbackValue, RollbackStore, SesFailureTest, sendgridKeyConfigured } from "../../app/src/rollback";
import { runDigest } from "../../app/src/run";
import { startFeedServer, type FeedServer } from "../../scripts/lib/feed-server";
import { startSendGridServer, type SendGridServer } from "../../scripts/lib/sendgrid-server";
import { motoSentMessages } from "../support/moto";
import type { DigestConfig } from "../../app/src/config";
import { seededRandom } from "../support/seeded-random";
import { captureLogger, cliIo, migrationStack, motoUrl, ssmClient, TEST_CREDENTIALS, uniqueRoot, verifySender, sesClient } from "../support/app-fixtures";

const ids = (n: number, prefix = "reader") => Array.from({ length: n }, (_, i) => `${prefix}-${i}@example.net`);

async function sesSentTo(address: string): Promise<number> {
  return (await motoSentMessages(motoUrl())).filter((m) => (m.destinations ?? []).includes(address)).length;
}

describe("sticky rollout", () => {
  const recipients = ids(10_000, "user");

  test.each([1, 5, 10, 25, 50, 75, 90, 99])("when ses_percent is %i, the SES share of 10,000 recipients is within one percentage point", (pct) => {
    const share = (recipients.filter((r) => inSesShare(r, pct)).length / recipients.length) * 100;
    expect(Math.abs(share - pct)).toBeLessThanOrEqual(1);
  });

  test("when computed again, every recipient lands in the same bucket, and known addresses keep their known buckets", () => {
    const first = recipients.map(rolloutBucket);
    const again = recipients.map(rolloutBucket);
    expect(again).toEqual(first);
    // Golden values: a change of the hash would silently move people between providers.
    expect(["user-0@example.net", "user-1@example.net", "reader@example.com"].map(rolloutBucket)).toEqual([5, 46, 45]);
  });

  test("when the share is raised, everyone already on SES stays on SES", () => {
    for (const [lo, hi] of [[10, 50], [50, 100], [0, 1]]) {
      expect(recipients.filter((r) => inSesShare(r, lo)).every((r) => inSesShare(r, hi))).toBe(true);
    }
  });

  test("when an address differs only in case or surrounding spaces, it lands in the same bucket", () => {
    expect(rolloutBucket("  Reader@Example.NET ")).toBe(rolloutBucket("reader@example.net"));
    expect(normalizeAddress(" A@B.C ")).toBe("a@b.c");
  });

  test.each([0, 100])("when ses_percent is %i, the share is exactly that", (pct) => {
    expect(recipients.filter((r) => inSesShare(r, pct)).length).toBe(pct === 0 ? 0 : 10_000);
  });
});

const seeded = seededRandom;

describe("the rollback's sequential test (SPRT, 2% vs 10%)", () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => void (t += ms) };
  };

  test("when five SES sends in a row fail, it does not trip; the sixth failure trips it", () => {
    const w = new SesFailureTest({ now: () => 0 });
    for (let i = 0; i < 5; i++) expect(w.record(false).tripped).toBe(false);
    expect(w.record(false)).toMatchObject({ attempts: 6, failures: 6, tripped: true });
  });

  test("when one failure comes first (1 of 1, 100%), it does not trip: one outcome is no evidence", () => {
    const w = new SesFailureTest({ now: () => 0 });
    expect(w.record(false).tripped).toBe(false);
  });

  test("when 2% of 1,000 sends fail, evenly or in a seeded random order, it never trips", () => {
    const even = new SesFailureTest({ now: () => 0 });
    for (let i = 1; i <= 1000; i++) expect(even.record(i % 50 !== 0).tripped).toBe(false);
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = seeded(seed);
      const w = new SesFailureTest({ now: () => 0 });
      let tripped = false;
      for (let i = 0; i < 1000 && !tripped; i++) tripped = w.record(r() >= 0.02).tripped;
      expect(tripped).toBe(false);
    }
  });

  test("when 10% of sends fail (seeded), it trips before a third of 1,000 sends", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = seeded(seed);
      const w = new SesFailureTest({ now: () => 0 });
      let at = 0;
      for (let i = 1; i <= 1000 && !at; i++) if (w.record(r() >= 0.1).tripped) at = i;
      expect(at).toBeGreaterThan(0);
      expect(at).toBeLessThan(1000 / 3);
    }
  });

  test("when it trips, the evidence carries counts, window, hypotheses, ratio, bound and confidence, and the message states the counts without a rounded comparison", () => {
    const c = clock();
    const w = new SesFailureTest({ now: c.now });
    for (let i = 0; i < 4; i++) w.record(true);
    for (let i = 0; i < 6; i++) {
      c.advance(1000);
      expect(w.record(false).tripped).toBe(i === 5);
    }
    const e = w.evidence();
    expect(e).toMatchObject({ test: "sprt", attempts: 10, failures: 6, windowMs: 600_000, p0: 0.02, p1: 0.1, bound: 9900, confidence: 0.9999, from: new Date(0).toISOString(), to: new Date(6000).toISOString() });
    expect(e.likelihoodRatio).toBeGreaterThanOrEqual(9900);
    const detail = describeTrip(e, w.neutralRate);
    expect(detail).toMatch(/^SES failure rate above 5%: 6 of 10 SES sends failed in the last 10 min \(60%\); the sequential test \(2% vs 10%\) reached its bound at 99\.99% confidence \(likelihood ratio \d+ >= 9900\)$/);
    expect(detail).not.toMatch(/5% > 5%|>\s*5%/);
    expect(w.neutralRate).toBeCloseTo(0.0503, 3);
  });

  test("when failures are older than 10 minutes, they leave the test", () => {
    const c = clock();
    const w = new SesFailureTest({ now: c.now });
    for (let i = 0; i < 4; i++) w.record(false);
    c.advance(10 * 60_000);
    expect(w.record(false)).toMatchObject({ attempts: 1, failures: 1, tripped: false });
  });

  test.each([
    [{ p0: 0.1, p1: 0.02 }],
    [{ alpha: 0 }],
    [{ beta: 1 }],
  ])("when the test is configured with %j, it refuses", (opts) => {
    expect(() => new SesFailureTest(opts)).toThrow(RangeError);
  });

  test("when a stored rollback carries evidence, it is read back; a malformed one is dropped", () => {
    const evidence = { test: "sprt", attempts: 10, failures: 6, windowMs: 600000, from: "2026-11-28T12:00:00.000Z", to: "2026-11-28T12:00:06.000Z", p0: 0.02, p1: 0.1, likelihoodRatio: 11200, bound: 9900, confidence: 0.9999 };
    const base = { state: "rolled_back", at: "2026-11-28T12:00:05Z", reason: "ses-failure-rate", detail: "d" };
    expect(parseRollbackValue(JSON.stringify({ ...base, evidence }))).toMatchObject({ evidence });
    expect(parseRollbackValue(JSON.stringify({ ...base, evidence: { ...evidence, attempts: "many" } }))).not.toHaveProperty("evidence");
  });

  test.each([
    [ROLLBACK_CLEARED, false],
    ["unset", false],
    ['{"state":"rolled_back","at":"2026-11-28T12:00:00Z","reason":"ses-failure-rate","detail":"x"}', true],
    ["rolled_back", true],
  ])("when email/ses_rollback holds %p, a rollback in force is %p", (value, inForce) => {
    expect(parseRollbackValue(value) !== undefined).toBe(inForce);
  });
});

/** A provider that records calls and fails the addresses `fail` picks. */
function fakeProvider(name: string, fail: (m: DigestMessage) => Error | undefined = () => undefined) {
  const calls: string[] = [];
  const provider: DeliveryProvider = {
    name,
    limits: async () => ({ maxPerSecond: 1000, remaining24h: Infinity }),
    send: async (m) => {
      calls.push(m.to);
      const e = fail(m);
      if (e) throw e;
      return { messageId: `${name}-${m.to}` };
    },
  };
  return { provider, calls };
}

const msg = (to: string): DigestMessage => ({ from: "digest@example.com", to, subject: "s", html: "<p>h</p>", text: "t", date: new Date(), headers: {}, tags: {} });
const sdkError = (name: string, status: number, message = "x") => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status, requestId: `req-${name}` } });

describe("MigrationRouter with stand-in providers", () => {
  test("when five SES sends in a row fail after healthy ones, it keeps SES; when a sixth fails, it stops using SES, records the rollback with its evidence and counts it", async () => {
    const u = uniqueRoot();
    const store = new RollbackStore(ssmClient(), u.root);
    const bad = new Set(ids(30, "r").slice(4, 10));
    const ses = fakeProvider("ses", (m) => (bad.has(m.to) ? mapAwsError(sdkError("MessageRejected", 400, "Address blacklisted."), "ses:SendRawEmail", m.to) : undefined));
    const sg = fakeProvider("sendgrid");
    const emf: string[] = [];
    const metrics = new EmfMetrics((l) => emf.push(l));
    const router = new MigrationRouter({ ses: ses.provider, sendgrid: sg.provider, useSes: true, sesPercent: 100, store, metrics, runId: "run-x", digestDate: "2026-11-28" });
    const recipients = ids(30, "r");
    const out = await dispatch(router, recipients.map(msg), { maxConcurrency: 1 });
    await router.close();
    metrics.flush();
    expect(out.results.every((r) => r.status === "sent")).toBe(true);
    // 10 SES outcomes (4 accepted, then 6 rejected) trip it: the 20 left go straight to SendGrid.
    expect(ses.calls).toHaveLength(10);
    expect(sg.calls).toEqual([...bad, ...recipients.slice(10)]);
    expect(router.triggered).toMatchObject({ reason: "ses-failure-rate", runId: "run-x", digestDate: "2026-11-28", evidence: { attempts: 10, failures: 6, bound: 9900 } });
    expect(router.triggered!.detail).toMatch(/^SES failure rate above 5%: 6 of 10 SES sends failed/);
    expect(await store.read()).toMatchObject({ state: "rolled_back", reason: "ses-failure-rate", evidence: { attempts: 10, failures: 6 } });
    expect(JSON.parse(emf[0])).toMatchObject({ SesRollback: 1, SesFallbacks: 6, SesAttempts: 10, SesFailures: 6 });
  });

  test.each([
    ["AccountSendingPausedException", "Sending paused for this account."],
    ["MessageRejected", "Sending suspended for this account. For more information, please check the inbox of the email address associated with your AWS account."],
  ])("when SES answers %s (%s), the first answer trips the rollback and the recipient goes through SendGrid", async (name, text) => {
    const u = uniqueRoot();
    const store = new RollbackStore(ssmClient(), u.root);
    const ses = fakeProvider("ses", (m) => mapAwsError(sdkError(name, 400, text), "ses:SendRawEmail", m.to));
    const sg = fakeProvider("sendgrid");
    const router = new MigrationRouter({ ses: ses.provider, sendgrid: sg.provider, useSes: true, sesPercent: 100, store });
    const out = await dispatch(router, ids(3, "p").map(msg), { maxConcurrency: 1 });
    await router.close();
    expect(ses.calls).toHaveLength(1);
    expect(sg.calls).toHaveLength(3);
    expect(out.results[0]).toMatchObject({ status: "sent", provider: "sendgrid", fallbackFrom: "ses" });
    expect(await store.read()).toMatchObject({ reason: "ses-sending-paused", code: "SES_SENDING_PAUSED" });
  });

  test("when Parameter Store denies access while the SES client reloads its config, the rollback trips with reason parameter-store and no SES request is made", async () => {
    const u = uniqueRoot();
    const store = new RollbackStore(ssmClient(), u.root);
    const ses = new SesProvider(() => {
      throw mapAwsError(sdkError("AccessDeniedException", 400, "not authorized"), "ssm:GetParametersByPath", "/vibecoding");
    });
    const sg = fakeProvider("sendgrid");
    const router = new MigrationRouter({ ses, sendgrid: sg.provider, useSes: true, sesPercent: 100, store });
    const receipt = await router.send(msg("ps@example.net"));
    await router.close();
    expect(receipt).toMatchObject({ provider: "sendgrid", fallbackFrom: "ses" });
    expect(router.triggered).toMatchObject({ reason: "parameter-store", code: "AWS_ACCESS_DENIED" });
    expect(await store.read()).toMatchObject({ reason: "parameter-store" });
  });

  test("when the failure rate trips and SendGrid is not configured, SES stops for this run only: nothing is recorded, SesRollback is counted, the record says persisted false", async () => {
    const u = uniqueRoot();
    const store = new RollbackStore(ssmClient(), u.root);
    const ses = fakeProvider("ses", (m) => mapAwsError(sdkError("MessageRejected", 400, "Address blacklisted."), "ses:SendRawEmail", m.to));
    const emf: string[] = [];
    const metrics = new EmfMetrics((l) => emf.push(l));
    const log = captureLogger();
    // A lenient test (alpha = beta = 10%: two failures in a row trip it) keeps the run short.
    const router = new MigrationRouter({ ses: ses.provider, useSes: true, sesPercent: 100, store, metrics, logger: log.logger, test: new SesFailureTest({ alpha: 0.1, beta: 0.1 }) });
    const out = await dispatch(router, ids(4, "nosg").map(msg), { maxConcurrency: 1 });
    await router.close();
    metrics.flush();
    expect(ses.calls).toHaveLength(2);
    expect(out.results.slice(2).map((r) => r.status === "failed" && r.error.code)).toEqual(["SES_ROLLED_BACK", "SES_ROLLED_BACK"]);
    expect(router.triggered).toMatchObject({ reason: "ses-failure-rate" });
    expect(router.persisted).toBe(false);
    expect(await store.read()).toBeUndefined();
    expect(JSON.parse(emf[0])).toMatchObject({ SesRollback: 1 });
    expect(log.text()).toContain("NOT recorded");
  });

  test("when SES times out (ambiguous), the recipient is not sent through SendGrid and the outcome stays unknown", async () => {
    const ses = fakeProvider("ses", (m) => mapAwsError(sdkError("TimeoutError", 0, "socket hang up"), "ses:SendRawEmail", m.to));
    const sg = fakeProvider("sendgrid");
    const router = new MigrationRouter({ ses: ses.provider, sendgrid: sg.provider, useSes: true, sesPercent: 100 });
    const out = await dispatch(router, [msg("t@example.net")]);
    expect(out.results[0]).toMatchObject({ status: "failed", definitelyNotSent: false, provider: "ses" });
    expect(sg.calls).toHaveLength(0);
  });
});

describe("SES-specific metrics and rollback triggers (stand-in providers)", () => {
  const emfOf = (metrics: EmfMetrics, lines: string[]) => {
    metrics.flush();
    return lines.length ? (JSON.parse(lines[0]) as Record<string, unknown>) : {};
  };

  test("when SES times out (ambiguous), the recipient counts as one SES attempt and one SES failure", async () => {
    const lines: string[] = [];
    const metrics = new EmfMetrics((l) => lines.push(l));
    const ses = fakeProvider("ses", (m) => mapAwsError(sdkError("TimeoutError", 0, "socket hang up"), "ses:SendRawEmail", m.to));
    const router = new MigrationRouter({ ses: ses.provider, sendgrid: fakeProvider("sendgrid").provider, useSes: true, sesPercent: 100, metrics });
    await dispatch(router, [msg("amb@example.net")]);
    await router.close();
    expect(emfOf(metrics, lines)).toMatchObject({ SesAttempts: 1, SesFailures: 1 });
  });

  test("when SES throttles, each answer counts in SesThrottled and none counts as an SES attempt or failure; a recipient throttled past the retries fails, one throttled once is sent", async () => {
    const lines: string[] = [];
    const metrics = new EmfMetrics((l) => lines.push(l));
    const answers = new Map<string, number>();
    const ses = fakeProvider("ses", (m) => {
      const n = (answers.get(m.to) ?? 0) + 1;
      answers.set(m.to, n);
      if (m.to.startsWith("always") || n === 1) return mapAwsError(sdkError("Throttling", 400, "Maximum sending rate exceeded."), "ses:SendRawEmail", m.to);
      return undefined;
    });
    const router = new MigrationRouter({ ses: ses.provider, sendgrid: fakeProvider("sendgrid").provider, useSes: true, sesPercent: 100, metrics });
    const out = await dispatch(router, [msg("always@example.net"), msg("once@example.net")], { maxAttempts: 3, baseBackoffMs: 1, sleep: async () => {} });
    await router.close();
    expect(out.results.map((r) => r.status)).toEqual(["failed", "sent"]);
    expect(out.results[0]).toMatchObject({ definitelyNotSent: true, error: { code: "AWS_THROTTLED" } });
    expect(ses.calls).toHaveLength(5);
    expect(emfOf(metrics, lines)).toMatchObject({ SesThrottled: 4, SesAttempts: 1, SesFailures: 0 });
  });

  test("when SES throttles every send, the rollback never trips: throttling is backpressure, not an SES failure", async () => {
    const u = uniqueRoot();
    const store = new RollbackStore(ssmClient(), u.root);
    const test = new SesFailureTest();
    const ses = fakeProvider("ses", (m) => mapAwsError(sdkError("Throttling", 400, "Maximum sending rate exceeded."), "ses:SendRawEmail", m.to));
    const router = new MigrationRouter({ ses: ses.provider, sendgrid: fakeProvider("sendgrid").provider, useSes: true, sesPercent: 100, store, test });
    const out = await dispatch(router, ids(10, "thr").map(msg), { maxAttempts: 2, baseBackoffMs: 1, sleep: async () => {} });
    await router.close();
    expect(out.results.every((r) => r.status === "failed" && r.error.code === "AWS_THROTTLED")).toBe(true);
    expect(test.state()).toMatchObject({ attempts: 0, tripped: false });
    expect(router.triggered).toBeUndefined();
    expect(await store.read()).toBeUndefined();
  });

  test("when Parameter Store denies access while the SES client reloads its config, ParameterStoreAccessDenied is counted and no SES attempt is", async () => {
    const lines: string[] = [];
    const metrics = new EmfMetrics((l) => lines.push(l));
    const ses = new SesProvider(() => {
      throw mapAwsError(sdkError("AccessDeniedException", 400, "not authorized"), "ssm:GetParametersByPath", "/vibecoding");
    });
    const router = new MigrationRouter({ ses, sendgrid: fakeProvider("sendgrid").provider, useSes: true, sesPercent: 100, metrics });
    await router.send(msg("denied@example.net"));
    await router.close();
    const doc = emfOf(metrics, lines);
    expect(doc).toMatchObject({ ParameterStoreAccessDenied: 1, SesRollback: 1 });
    expect(doc).not.toHaveProperty("SesAttempts");
  });

  test.each([
    ["InternalServerError", 500],
    ["UnrecognizedClientException", 400],
  ])("when the SES client's config reload fails with %s (%s), SES is not rolled back", async (name, status) => {
    const u = uniqueRoot();
    const store = new RollbackStore(ssmClient(), u.root);
    const ses = new SesProvider(() => {
      throw mapAwsError(sdkError(name, status), "ssm:GetParametersByPath", "/vibecoding");
    });
    const sg = fakeProvider("sendgrid");
    const router = new MigrationRouter({ ses, sendgrid: sg.provider, useSes: true, sesPercent: 100, store });
    const receipt = await router.send(msg("transient@example.net"));
    await router.close();
    expect(receipt).toMatchObject({ provider: "sendgrid", fallbackFrom: "ses" }); // no SES request was made
    expect(router.triggered).toBeUndefined();
    expect(await store.read()).toBeUndefined();
    expect(router.routeOf("next@example.net")).toBe("ses");
  });

  test("when a mid-run config reload fails transiently, the run keeps its config; when Parameter Store denies access, the failure reaches the router", () => {
    const current = { region: "us-east-1" } as DigestConfig;
    expect(reloadFallback(mapAwsError(sdkError("InternalServerError", 500), "ssm:GetParametersByPath", "/v"), current)).toBe(current);
    expect(reloadFallback(mapAwsError(sdkError("UnrecognizedClientException", 400), "ssm:GetParametersByPath", "/v"), current)).toBe(current);
    expect(() => reloadFallback(mapAwsError(sdkError("AccessDeniedException", 400), "ssm:GetParametersByPath", "/v"), current)).toThrow(expect.objectContaining({ code: "AWS_ACCESS_DENIED" }));
    expect(() => reloadFallback(mapAwsError(sdkError("KMS.AccessDeniedException", 400), "ssm:GetParametersByPath", "/v"), current)).toThrow(expect.objectContaining({ code: "AWS_ACCESS_DENIED" }));
  });
});

describe("migration routing against moto and the SendGrid emulator", () => {
  let feeds: FeedServer;
  let sendgrid: SendGridServer;
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    feeds = await startFeedServer();
    sendgrid = await startSendGridServer();
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" });
  });
  afterAll(async () => {
    process.env = savedEnv;
    await feeds.close();
    await sendgrid.close();
  });
  const stack = (o: Partial<Parameters<typeof migrationStack>[0]> = {}) => migrationStack({ feedsUrl: feeds.url, sendgridUrl: sendgrid.url, ...o });

  test("when use_ses is false, the run makes zero SES calls and SendGrid delivers to everyone", async () => {
    const s = await stack({ values: { useSes: "false" }, recipients: ids(3, `off-${uniqueRoot().id}`) });
    const { summary } = await s.run();
    expect(summary).toMatchObject({ ok: true, sent: 3, exitCode: 0, routes: { ses: 0, sendgrid: 3, fallback: 0 } });
    expect(s.ses.calls).toEqual([]);
    for (const r of s.recipients) expect(sendgrid.acceptedFor(r)).toHaveLength(1);
  });

  test("when USE_SES_EMAIL=false overrides use_ses=true, the run makes zero SES calls", async () => {
    const s = await stack({ values: { useSes: "true" }, useSesOverride: false, recipients: ids(2, `env-${uniqueRoot().id}`) });
    const { summary } = await s.run();
    expect(summary).toMatchObject({ sent: 2, exitCode: 0 });
    expect(s.ses.calls).toEqual([]);
  });

  test("when ses_percent is 30, each recipient goes to the provider of its bucket, the same in a second run", async () => {
    const id = uniqueRoot().id;
    const recipients = ids(20, `pct-${id}`);
    const s = await stack({ values: { sesPercent: "30" }, recipients });
    const first = await s.run();
    const second = await s.run();
    const expected = recipients.map((r) => (inSesShare(r, 30) ? "ses" : "sendgrid"));
    expect(first.summary.recipients.map((r) => r.provider)).toEqual(expected);
    expect(second.summary.recipients.map((r) => r.provider)).toEqual(expected);
    for (const r of recipients) {
      expect(await sesSentTo(r)).toBe(inSesShare(r, 30) ? 2 : 0);
      expect(sendgrid.acceptedFor(r)).toHaveLength(inSesShare(r, 30) ? 0 : 2);
    }
  });

  test("when SES rejects the sender, each recipient falls back to SendGrid in the same run (below the rollback minimum)", async () => {
    const s = await stack({ verify: false, recipients: ids(3, `fb-${uniqueRoot().id}`) });
    const { summary, emf, log } = await s.run();
    expect(summary).toMatchObject({ ok: true, sent: 3, routes: { ses: 0, sendgrid: 3, fallback: 3 }, rollback: { inForce: false } });
    expect(summary.recipients.every((r) => r.provider === "sendgrid" && r.fallbackFrom === "ses")).toBe(true);
    expect(s.sesSends()).toBe(3);
    expect(emf[0]).toMatchObject({ SesFallbacks: 3 });
    expect(log.text()).toContain('"code":"SES_SENDER_NOT_VERIFIED"');
    const mail = sendgrid.acceptedFor(s.recipients[0])[0];
    expect(mail.content.map((c) => c.type)).toEqual(["text/plain", "text/html"]);
    expect(mail.subject).toMatch(/^🧠 Daily Vibe Coding Digest – /);
  });

  test("when SES rejects the sender and SendGrid is not configured, the recipient fails (no fallback) with SES's error", async () => {
    const s = await stack({ verify: false, values: { sendgridApiKey: "unset" } });
    const { summary } = await s.run();
    expect(summary).toMatchObject({ ok: false, failed: 1, exitCode: 1, recipients: [{ status: "failed", provider: "ses", error: { code: "SES_SENDER_NOT_VERIFIED" } }] });
    expect(sendgrid.acceptedFor(s.recipients[0])).toHaveLength(0);
  });

  test("when the SES failure rate crosses the threshold, the rollback fires, persists to the next run, and clearing it brings SES back", async () => {
    const recipients = ids(8, `rb-${uniqueRoot().id}`);
    const s = await stack({ verify: false, recipients });

    // Run 1: SES rejects every send (sender not verified); six failures in a row trip the test.
    const one = await s.run({ dispatch: { maxConcurrency: 1 } });
    expect(s.sesSends()).toBe(6);
    expect(one.summary).toMatchObject({ ok: true, sent: 8, routes: { ses: 0, sendgrid: 8, fallback: 6 }, rollback: { inForce: false, triggered: { reason: "ses-failure-rate", evidence: { attempts: 6, failures: 6 } } } });
    expect(one.summary.rollback?.triggered?.detail).toMatch(/^SES failure rate above 5%: 6 of 6 SES sends failed in the last 10 min \(100%\)/);
    expect(one.emf[0]).toMatchObject({ SesRollback: 1 });
    expect(one.log.text()).toContain("SES rollback triggered");
    const stored = await s.store.read();
    expect(stored).toMatchObject({ state: "rolled_back", reason: "ses-failure-rate", runId: one.summary.runId });
    expect(JSON.stringify(stored)).not.toContain("@"); // no addresses in the record

    // Run 2: SES is fixed, but the rollback is in force: no SES call at all.
    await verifySender(sesClient(), s.from);
    const before = s.ses.calls.length;
    const two = await s.run();
    expect(s.ses.calls.length).toBe(before);
    expect(two.summary).toMatchObject({ ok: true, sent: 8, routes: { ses: 0, sendgrid: 8 }, rollback: { inForce: true } });
    expect(two.emf[0]).toMatchObject({ SesRollbackActive: 1 });

    // The operator looks, then clears it.
    const env = { VIBE_PARAMETER_ROOT: s.root, AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl(), VIBE_LOG_FORMAT: "json" };
    const { lines, io } = cliIo(false);
    expect(await main(["rollback", "status"], env, io)).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ msg: "rollback status", inForce: true, rollback: { reason: "ses-failure-rate" }, parameter: `${s.root}/email/ses_rollback` });
    expect(await main(["rollback", "clear"], env, io)).toBe(0);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ msg: "rollback cleared", wasInForce: true });
    expect((await s.ssm.send(new GetParameterCommand({ Name: `${s.root}/email/ses_rollback` }))).Parameter?.Value).toBe(ROLLBACK_CLEARED);

    // Run 3: SES again.
    const three = await s.run();
    expect(three.summary).toMatchObject({ ok: true, sent: 8, routes: { ses: 8, sendgrid: 0 }, rollback: { inForce: false } });
    for (const r of recipients) expect(await sesSentTo(r)).toBe(1);
    const raw = (await motoSentMessages(motoUrl())).find((m) => (m.destinations ?? []).includes(recipients[0]))!;
    expect((await simpleParser(raw.raw_data)).subject).toMatch(/^🧠 Daily Vibe Coding Digest/);
  });

  test("when a rollback is in force and SendGrid is not configured, nobody is sent (SES_ROLLED_BACK) and SES is not called", async () => {
    const s = await stack({ values: { sendgridApiKey: "unset" } });
    await s.store.record({ state: "rolled_back", at: new Date().toISOString(), reason: "ses-failure-rate", detail: "test" });
    const { summary } = await s.run();
    expect(summary).toMatchObject({ ok: false, exitCode: 1, recipients: [{ status: "failed", error: { code: "SES_ROLLED_BACK" } }] });
    expect(s.ses.calls).toEqual([]);
  });

  test("when the failure rate trips in a run without a SendGrid key, the summary says persisted false, email/ses_rollback is untouched and the next run uses SES again", async () => {
    const recipients = ids(3, `nosg-${uniqueRoot().id}`);
    const s = await stack({ verify: false, recipients, values: { sendgridApiKey: "unset" }, factories: { rollbackTest: { alpha: 0.1, beta: 0.1 } } });
    const one = await s.run({ dispatch: { maxConcurrency: 1 } });
    expect(s.sesSends()).toBe(2);
    expect(one.summary).toMatchObject({ ok: false, exitCode: 1, rollback: { inForce: false, triggered: { reason: "ses-failure-rate" }, persisted: false } });
    expect(one.emf[0]).toMatchObject({ SesRollback: 1 });
    expect(await s.store.read()).toBeUndefined();

    await verifySender(sesClient(), s.from);
    const two = await s.run();
    expect(two.summary).toMatchObject({ ok: true, sent: 3, routes: { ses: 3 }, rollback: { inForce: false } });
  });

  /** One run whose config load Parameter Store denies; the rollback store is a real moto one. */
  async function runWithConfigDenied(sendgridAvailable: boolean | undefined) {
    const u = uniqueRoot();
    const ssm = new SSMClient({ region: "us-east-1", credentials: TEST_CREDENTIALS });
    const mock = mockClient(ssm);
    mock.on(GetParametersByPathCommand).rejects(Object.assign(new Error("not authorized"), { name: "AccessDeniedException", $metadata: { httpStatusCode: 400, requestId: "r-denied" } }));
    const store = new RollbackStore(ssmClient(), u.root);
    const emf: string[] = [];
    const metrics = new EmfMetrics((l) => emf.push(l));
    try {
      const summary = await runDigest({
        config: new ParameterStoreConfig(ssm, { root: u.root }),
        feeds: new FeedFetcher(),
        provider: () => {
          throw new Error("unreached");
        },
        logger: captureLogger().logger,
        metrics,
        rollbackStore: store,
        sendgridAvailable: async () => sendgridAvailable,
      });
      metrics.flush();
      return { summary, emf, store };
    } finally {
      mock.restore();
    }
  }

  test.each<[boolean | undefined, string]>([
    [false, "not recorded"],
    [undefined, "not recorded (cannot be told)"],
  ])("when loading the config is denied and SendGrid availability is %p, the rollback is counted and reported but %s", async (available) => {
    const { summary, emf, store } = await runWithConfigDenied(available);
    expect(summary).toMatchObject({ exitCode: 2, rollback: { triggered: { reason: "parameter-store" }, persisted: false } });
    expect(JSON.parse(emf[0])).toMatchObject({ SesRollback: 1 });
    expect(await store.read()).toBeUndefined();
  });

  test("sendgridKeyConfigured: a real key is true; the placeholder or a missing parameter is false", async () => {
    const u = uniqueRoot();
    const ssm = ssmClient();
    expect(await sendgridKeyConfigured(ssm, u.root)).toBe(false);
    await ssm.send(new PutParameterCommand({ Name: `${u.root}/sendgrid/api_key`, Value: "unset", Type: "SecureString" }));
    expect(await sendgridKeyConfigured(ssm, u.root)).toBe(false);
    await ssm.send(new PutParameterCommand({ Name: `${u.root}/sendgrid/api_key`, Value: ["SG", `test-${u.id}`].join("."), Type: "SecureString", Overwrite: true }));
    expect(await sendgridKeyConfigured(ssm, u.root)).toBe(true);
  });

  test("when loading the config is denied by Parameter Store, the run exits 2, counts SesRollback and records the rollback", async () => {
    const { summary, emf, store } = await runWithConfigDenied(true);
    expect(summary).toMatchObject({ exitCode: 2, rollback: { triggered: { reason: "parameter-store", code: "AWS_ACCESS_DENIED" }, persisted: true } });
    expect(JSON.parse(emf[0])).toMatchObject({ SesRollback: 1, ParameterStoreAccessDenied: 1 });
    expect(await store.read()).toMatchObject({ reason: "parameter-store" });
  });

  test("when SES rejects the recipients of its share and SendGrid sends them, SesAttempts and SesFailures count exactly those recipients (the sends overall all succeed)", async () => {
    // Four in SES's share, six in SendGrid's: four rejections are too few to trip the
    // rollback (six in a row would), so the second run still routes by share.
    const pool = ids(60, `sesm-${uniqueRoot().id}`);
    const recipients = [...pool.filter((r) => inSesShare(r, 50)).slice(0, 4), ...pool.filter((r) => !inSesShare(r, 50)).slice(0, 6)];
    const sesShare = recipients.filter((r) => inSesShare(r, 50)).length;
    expect(sesShare).toBe(4);
    const s = await stack({ verify: false, values: { sesPercent: "50" }, recipients });
    const rejected = await s.run();
    expect(rejected.summary).toMatchObject({ ok: true, sent: 10, routes: { fallback: sesShare } });
    expect(rejected.emf[0]).toMatchObject({ EmailsSent: 10, EmailsFailed: 0, SesAttempts: sesShare, SesFailures: sesShare, SesFallbacks: sesShare });

    await verifySender(sesClient(), s.from);
    const accepted = await s.run();
    expect(accepted.summary).toMatchObject({ ok: true, sent: 10, routes: { ses: sesShare } });
    expect(accepted.emf[0]).toMatchObject({ SesAttempts: sesShare, SesFailures: 0 });
  });

  test.each([
    ["InternalServerError", 500, "AWS_UNAVAILABLE"],
    ["ServiceUnavailable", 503, "AWS_UNAVAILABLE"],
    ["UnrecognizedClientException", 400, "AWS_CREDENTIALS_INVALID"],
  ])("when loading the config fails with %s (%s), the run exits 2 without rolling SES back", async (name, status, code) => {
    const u = uniqueRoot();
    // A moto-backed client whose GetParametersByPath answers this error (moto has no fault injection).
    const ssm = ssmClient();
    ssm.middlewareStack.add(
      (next, ctx) => async (args) => {
        if (ctx.commandName === "GetParametersByPathCommand") throw Object.assign(new Error("injected"), { name, $metadata: { httpStatusCode: status, requestId: "r-3" } });
        return next(args);
      },
      { step: "initialize", name: "inject-failure" },
    );
    const store = new RollbackStore(ssmClient(), u.root);
    const emf: string[] = [];
    const metrics = new EmfMetrics((l) => emf.push(l));
    const summary = await runDigest({
      config: new ParameterStoreConfig(ssm, { root: u.root }),
      feeds: new FeedFetcher(),
      provider: () => {
        throw new Error("unreached");
      },
      logger: captureLogger().logger,
      metrics,
      rollbackStore: store,
    });
    metrics.flush();
    expect(summary).toMatchObject({ ok: false, exitCode: 2, reason: "config", error: { code } });
    expect(summary.rollback).toBeUndefined();
    expect(await store.read()).toBeUndefined();
    const doc = JSON.parse(emf[0]) as Record<string, unknown>;
    expect(doc).toMatchObject({ DigestSucceeded: 0 });
    expect(doc).not.toHaveProperty("SesRollback");
    expect(doc).not.toHaveProperty("ParameterStoreAccessDenied");
  });
});
