import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { main } from "../../app/src/cli";
import { ParameterStoreConfig } from "../../app/src/config";
import { dispatch } from "../../app/src/delivery/dispatch";
import type { DeliveryProvider, DigestMessage } from "../../app/src/delivery/provider";
import { inSesShare } from "../../app/src/delivery/rollout";
import { dispatchProviderFor } from "../../app/src/delivery/select";
import { FeedFetcher } from "../../app/src/feeds";
import { DeliveryLedger } from "../../app/src/ledger";
import { digestDate } from "../../app/src/render";
import { runDigest } from "../../app/src/run";
import { startFeedServer, type FeedServer } from "../../scripts/lib/feed-server";
import { startSendGridServer, type SendGridServer } from "../../scripts/lib/sendgrid-server";
import { motoSentMessages } from "../support/moto";
import { captureLogger, cliIo, createLedgerTable, dynamoClient, migrationStack, motoUrl, REGION, TEST_CREDENTIALS, uniqueRoot } from "../support/app-fixtures";

const ids = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}-${i}@example.net`);

/** The digest's clock in these tests: fixed, so a test that straddles midnight (New York) keeps one digest date. */
const NOW = new Date("2026-11-28T12:00:00Z");
const DATE = digestDate(NOW);

/**
 * A moto-backed DynamoDB client (3 attempts, as the CLI's) that loses the answer to the
 * first attempt of each UpdateItem that `lose` picks: the request reaches moto and is
 * applied, then the connection "resets", so the SDK retries the same conditional write.
 */
function lossyDynamo(lose: (input: Record<string, unknown>) => boolean = () => true, maxAttempts = 3): { ddb: DynamoDBClient; lost: () => number } {
  const ddb = new DynamoDBClient({ region: REGION, endpoint: motoUrl(), credentials: TEST_CREDENTIALS, maxAttempts });
  const done = new WeakSet<object>();
  let lost = 0;
  ddb.middlewareStack.add(
    (next, ctx) => async (args) => {
      const out = await next(args);
      if (ctx.commandName === "UpdateItemCommand" && !done.has(ctx) && lose(args.input as Record<string, unknown>)) {
        done.add(ctx); // one lost answer per command; its retry goes through
        lost++;
        throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET", $metadata: {} });
      }
      return out;
    },
    // Inside the SDK's retry loop (finalizeRequest), around the deserializer.
    { step: "deserialize", priority: "high", name: "lose-first-answer" },
  );
  return { ddb, lost: () => lost };
}

/** How many times each address got the digest, through moto SES and the SendGrid emulator together. */
async function deliveries(sendgrid: SendGridServer, recipients: string[]): Promise<Record<string, number>> {
  const ses = await motoSentMessages(motoUrl());
  return Object.fromEntries(recipients.map((r) => [r, ses.filter((m) => (m.destinations ?? []).includes(r)).length + sendgrid.acceptedFor(r).length]));
}

describe("exactly once per recipient per digest (ledger in moto DynamoDB)", () => {
  let feeds: FeedServer;
  let sendgrid: SendGridServer;
  let table: string;
  const savedEnv = { ...process.env };
  beforeAll(async () => {
    feeds = await startFeedServer();
    sendgrid = await startSendGridServer();
    table = await createLedgerTable(dynamoClient());
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" });
  });
  afterAll(async () => {
    process.env = savedEnv;
    await feeds.close();
    await sendgrid.close();
  });
  afterEach(() => sendgrid.clearFaults());
  const stack = (o: Partial<Parameters<typeof migrationStack>[0]> = {}) => migrationStack({ feedsUrl: feeds.url, sendgridUrl: sendgrid.url, table, clock: () => NOW, ...o });
  const sendgridRequests = (recipients: string[]) => sendgrid.requests.filter((r) => r.to !== undefined && recipients.includes(r.to)).length;
  /** The UpdateItem that writes state `sent` (the settle). */
  const settlingSent = (input: Record<string, unknown>) => JSON.stringify(input.ExpressionAttributeValues ?? {}).includes('{"S":"sent"}');
  /** A run of `s`'s stack (SendGrid at 50/s) with the given ledger. */
  // The default settle is an hour: a run that wrongly waited on "another run" would never end
  // and fail on jest's timeout, with no wall-clock assertion that load could break.
  const runWith = async (s: Awaited<ReturnType<typeof stack>>, ledger: DeliveryLedger, settleMs = 3_600_000) => {
    const log = captureLogger();
    const summary = await runDigest(
      {
        config: new ParameterStoreConfig(s.ssm, { root: s.root, ttlSeconds: 0 }),
        feeds: new FeedFetcher({ timeoutMs: 2000, retries: 0 }),
        provider: (c, ctx) => dispatchProviderFor(c, { ses: () => s.ses.cache.get(c).client, logger: log.logger, sendgridBaseUrl: sendgrid.url, sendgridMaxPerSecond: 50 }, ctx),
        logger: log.logger,
        clock: () => NOW,
        ledger,
      },
      { dispatch: { ceilingPerSecond: 50 }, ledgerSettleMs: settleMs, ledgerPollMs: 50 },
    );
    return { summary, log };
  };

  test("when the run is repeated for the same digest, the rerun makes zero provider calls and reports the ledger's sent state", async () => {
    const recipients = ids(6, `rerun-${uniqueRoot().id}`);
    const s = await stack({ values: { sesPercent: "50" }, recipients });
    const first = await s.run();
    expect(first.summary).toMatchObject({ ok: true, sent: 6, exitCode: 0, ledger: { table, states: { sent: 6 } } });
    const sesBefore = s.ses.calls.length;
    const sgBefore = sendgridRequests(recipients);

    const second = await s.run();
    expect(s.ses.calls.length).toBe(sesBefore); // not even GetSendQuota
    expect(sendgridRequests(recipients)).toBe(sgBefore);
    expect(second.summary).toMatchObject({ ok: true, sent: 0, skipped: 6, messageIds: [], exitCode: 0, ledger: { states: { sent: 6 } } });
    expect(second.summary.recipients.map((r) => r.skipReason)).toEqual(Array(6).fill("already_sent"));
    // The earlier message ids are reported from the ledger.
    expect(second.summary.recipients.map((r) => r.messageId).sort()).toEqual([...first.summary.messageIds].sort());
    expect(Object.values(await deliveries(sendgrid, recipients))).toEqual(Array(6).fill(1));
  });

  test("when two runs for the same digest start at once, every recipient gets exactly one message across SES and SendGrid", async () => {
    const recipients = ids(24, `dup-${uniqueRoot().id}`);
    const s = await stack({ values: { sesPercent: "50" }, recipients });
    expect(recipients.filter((r) => inSesShare(r, 50)).length).toBeGreaterThan(0);
    const [a, b] = await Promise.all([s.run(), s.run()]);
    expect(a.summary.sent + b.summary.sent).toBe(24);
    for (const x of [a, b]) expect(x.summary).toMatchObject({ ok: true, exitCode: 0, ledger: { states: { sent: 24 } } });
    expect(Object.values(await deliveries(sendgrid, recipients))).toEqual(Array(24).fill(1));
    // Each run skipped what the other held or had sent.
    expect(a.summary.skipped + b.summary.skipped).toBe(24);
  });

  test("when an earlier run's claim is stale and it never started the send, the next run takes it over and sends", async () => {
    const s = await stack();
    const to = s.recipients[0];
    const dead = new DeliveryLedger(dynamoClient(), table, { leaseMs: 60_000, now: () => Date.now() - 120_000 }).session(DATE, "dead-run");
    expect(await dead.claim(to)).toMatchObject({ kind: "claimed" });

    const { summary } = await s.run();
    expect(summary).toMatchObject({ ok: true, sent: 1, exitCode: 0, recipients: [{ status: "sent", ledgerState: "sent" }] });
    const item = await new DeliveryLedger(dynamoClient(), table).item(DATE, to);
    expect(item).toMatchObject({ state: "sent", attempts: 2, runId: summary.runId });
    expect((await deliveries(sendgrid, [to]))[to]).toBe(1);
  });

  test("when an earlier run's claim is stale after it started the send, it becomes unknown and is not resent", async () => {
    const s = await stack();
    const to = s.recipients[0];
    const dead = new DeliveryLedger(dynamoClient(), table, { leaseMs: 60_000, now: () => Date.now() - 120_000 }).session(DATE, "dead-run");
    const c = await dead.claim(to);
    if (c.kind !== "claimed") throw new Error("expected a claim");
    await dead.sending(c.token);

    const { summary } = await s.run();
    expect(summary).toMatchObject({ ok: false, sent: 0, exitCode: 1, ledger: { states: { unknown: 1 } }, recipients: [{ status: "skipped", skipReason: "unknown", ledgerState: "unknown" }] });
    expect(s.sesSends()).toBe(0);
    expect((await deliveries(sendgrid, [to]))[to]).toBe(0);
  });

  test("when another run holds a live claim, the run does not send, waits a bounded time, and reports in_progress with exit 1", async () => {
    const s = await stack();
    const to = s.recipients[0];
    const live = new DeliveryLedger(dynamoClient(), table, { leaseMs: 600_000 }).session(DATE, "live-run");
    await live.claim(to);
    const t0 = Date.now();
    const { summary, log } = await s.run({ ledgerSettleMs: 300, ledgerPollMs: 50 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300); // it did wait for the other run, and then gave up
    expect(summary).toMatchObject({ ok: false, exitCode: 1, ledger: { states: { in_progress: 1 } }, recipients: [{ status: "skipped", skipReason: "in_progress" }] });
    expect(log.text()).toContain("another run still holds");
    expect((await deliveries(sendgrid, [to]))[to]).toBe(0);
  });

  test("when SendGrid takes the message but never answers, the recipient ends unknown, is reported, and a rerun does not resend it", async () => {
    const recipients = ids(3, `amb-${uniqueRoot().id}`);
    const s = await stack({ values: { useSes: "false" }, recipients, factories: { sendgridTimeoutMs: 400 } });
    sendgrid.inject({ to: recipients[1], times: 1, fault: { kind: "accept-then-hang" } });
    const first = await s.run();
    expect(first.summary).toMatchObject({ ok: false, sent: 2, unknown: 1, exitCode: 1, ledger: { states: { sent: 2, unknown: 1 } } });
    expect(first.summary.recipients[1]).toMatchObject({ status: "unknown", ledgerState: "unknown", error: { code: "SENDGRID_TIMEOUT" } });
    expect(first.emf[0]).toMatchObject({ EmailsUnknown: 1, DigestSucceeded: 0 });
    expect(first.log.text()).toContain("outcome unknown");

    const requestsBefore = sendgridRequests(recipients);
    const second = await s.run();
    expect(sendgridRequests(recipients)).toBe(requestsBefore);
    expect(second.summary).toMatchObject({ ok: false, exitCode: 1, ledger: { states: { sent: 2, unknown: 1 } } });
    expect(await deliveries(sendgrid, recipients)).toEqual(Object.fromEntries(recipients.map((r) => [r, 1])));

    // An operator decides to resend it; the next run does, once.
    const env = { AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl(), VIBE_LEDGER_TABLE: table, VIBE_LOG_FORMAT: "json" };
    expect(await main(["ledger", "resend", "--date", DATE, "--recipient", recipients[1]], env, cliIo(false, { clock: () => NOW }).io)).toBe(0);
    const third = await s.run();
    expect(third.summary).toMatchObject({ ok: true, sent: 1, exitCode: 0, ledger: { states: { sent: 3 } } });
    expect(sendgrid.acceptedFor(recipients[1])).toHaveLength(2);
  });

  test("when a recipient certainly failed, the next run retries it and only it", async () => {
    const recipients = ids(3, `retry-${uniqueRoot().id}`);
    const s = await stack({ values: { useSes: "false" }, recipients });
    sendgrid.inject({ to: recipients[2], times: 1, fault: { kind: "status", status: 400 } });
    const first = await s.run();
    expect(first.summary).toMatchObject({ ok: false, sent: 2, failed: 1, exitCode: 1, ledger: { states: { sent: 2, failed: 1 } } });
    const before = sendgridRequests(recipients);
    const second = await s.run();
    expect(sendgridRequests(recipients)).toBe(before + 1);
    expect(second.summary).toMatchObject({ ok: true, sent: 1, skipped: 2, exitCode: 0, ledger: { states: { sent: 3 } } });
    const item = await new DeliveryLedger(dynamoClient(), table).item(DATE, recipients[2]);
    expect(item).toMatchObject({ state: "sent", provider: "sendgrid", attempts: 2 });
  });

  test("when the ledger table does not exist, nobody is sent and every recipient fails with LEDGER_UNAVAILABLE", async () => {
    const s = await stack({ table: `missing-${uniqueRoot().id}` });
    // An hour's settle: waiting on an unreadable ledger would end on jest's timeout.
    const { summary } = await s.run({ ledgerSettleMs: 3_600_000 });
    expect(summary).toMatchObject({ ok: false, exitCode: 1, ledger: { readError: "AWS_ERROR" }, recipients: [{ status: "failed", error: { code: "LEDGER_UNAVAILABLE", causeCode: "AWS_ERROR" } }] });
    expect(s.sesSends()).toBe(0);
    expect(sendgrid.acceptedFor(s.recipients[0])).toHaveLength(0);
  });

  test("when no ledger is configured, the run warns that exactly-once is not guaranteed and still sends", async () => {
    const s = await stack({ table: undefined });
    const { summary, log } = await s.run();
    expect(summary).toMatchObject({ ok: true, sent: 1, ledger: null });
    expect(log.text()).toContain("exactly-once delivery is NOT guaranteed");
  });

  test("when `digest ledger status` is run, it prints the digest's states and exits 1 while any is not sent", async () => {
    const recipients = ids(2, `status-${uniqueRoot().id}`);
    const ownTable = await createLedgerTable(dynamoClient()); // only this digest's items
    const s = await stack({ values: { useSes: "false" }, recipients, table: ownTable });
    sendgrid.inject({ to: recipients[0], times: 1, fault: { kind: "status", status: 403 } });
    await s.run();
    const { lines, io } = cliIo(false);
    const env = { AWS_REGION: "us-east-1", AWS_ENDPOINT_URL: motoUrl(), VIBE_LEDGER_TABLE: ownTable, VIBE_LOG_FORMAT: "json" };
    expect(await main(["ledger", "status", "--date", DATE], env, io)).toBe(1);
    const out = JSON.parse(lines.at(-1)!);
    expect(out).toMatchObject({ msg: "ledger status", digestDate: DATE, states: { sent: 1, failed: 1 }, ok: false });
    expect(out.recipients).toEqual(expect.arrayContaining([expect.objectContaining({ recipient: recipients[0], state: "failed", errorCode: "SENDGRID_FORBIDDEN" })]));
  });

  describe("when the SDK retries a conditional write whose first answer was lost", () => {

    test("when the claim's answer is lost, the retry finds our own claim and the claim succeeds, counted once", async () => {
      const to = `lost-claim-${uniqueRoot().id}@example.net`;
      const lossy = lossyDynamo();
      const session = new DeliveryLedger(lossy.ddb, table).session(DATE, "run-lost-claim");
      const c = await session.claim(to);
      expect(lossy.lost()).toBe(1);
      expect(c).toMatchObject({ kind: "claimed", token: { recipient: to, claimId: session.claimIdFor(to) } });
      if (c.kind !== "claimed") throw new Error("expected a claim");
      expect(await new DeliveryLedger(dynamoClient(), table).item(DATE, to)).toMatchObject({ state: "in_progress", claimId: c.token.claimId, attempts: 1 });
    });

    test("when the settle's answer is lost, the retry finds our own outcome and settle resolves", async () => {
      const to = `lost-settle-${uniqueRoot().id}@example.net`;
      const lossy = lossyDynamo(settlingSent);
      const session = new DeliveryLedger(lossy.ddb, table).session(DATE, "run-lost-settle");
      const c = await session.claim(to);
      if (c.kind !== "claimed") throw new Error("expected a claim");
      await session.sending(c.token);
      await expect(session.settle(c.token, { state: "sent", provider: "sendgrid", messageId: "m-1" })).resolves.toBeUndefined();
      expect(lossy.lost()).toBe(1);
      expect(await new DeliveryLedger(dynamoClient(), table).item(DATE, to)).toMatchObject({ state: "sent", messageId: "m-1", claimId: c.token.claimId });
    });

    test("when another run's claim is in place, a condition failure is still reported as theirs", async () => {
      const to = `theirs-${uniqueRoot().id}@example.net`;
      const theirs = await new DeliveryLedger(dynamoClient(), table).session(DATE, "run-a").claim(to);
      expect(theirs.kind).toBe("claimed");
      const lossy = lossyDynamo();
      const ours = await new DeliveryLedger(lossy.ddb, table).session(DATE, "run-b").claim(to);
      expect(ours).toMatchObject({ kind: "skip", reason: "in_progress" });
    });

    test("when every ledger write's first answer is lost during a run, each recipient is sent exactly once and the ledger says sent", async () => {
      const recipients = ids(4, `lossy-${uniqueRoot().id}`);
      const s = await stack({ values: { useSes: "false" }, recipients });
      const lossy = lossyDynamo();
      const { summary } = await runWith(s, new DeliveryLedger(lossy.ddb, table), 1000);
      expect(lossy.lost()).toBe(12); // claim, sending and settle of each of the 4
      expect(summary).toMatchObject({ ok: true, sent: 4, exitCode: 0, ledger: { states: { sent: 4 } } });
      expect(summary.recipients.every((r) => r.status === "sent" && r.ledgerError === undefined)).toBe(true);
      expect(Object.values(await deliveries(sendgrid, recipients))).toEqual([1, 1, 1, 1]);
    });
  });

  describe("when the ledger is down for longer than the SDK's own retries", () => {
    /** A moto-backed client (one SDK attempt) whose UpdateItems `fail` picks answer 503 without reaching moto. */
    function failingDynamo(fail: (input: Record<string, unknown>) => boolean): { ddb: DynamoDBClient; failures: () => number } {
      const ddb = new DynamoDBClient({ region: REGION, endpoint: motoUrl(), credentials: TEST_CREDENTIALS, maxAttempts: 1 });
      let failures = 0;
      ddb.middlewareStack.add(
        (next, ctx) => async (args) => {
          if (ctx.commandName === "UpdateItemCommand" && fail(args.input as Record<string, unknown>)) {
            failures++;
            throw Object.assign(new Error("Service Unavailable"), { name: "ServiceUnavailable", $metadata: { httpStatusCode: 503 } });
          }
          return next(args);
        },
        { step: "initialize", name: "fail-update" },
      );
      return { ddb, failures: () => failures };
    }
    const fastRetry = { maxAttempts: 2, sleep: async () => undefined };

    test("when the SDK gives up on a claim whose write landed, the ledger's retry recognises the claim as this run's own and the run does not wait on it", async () => {
      const recipients = ids(3, `own-${uniqueRoot().id}`);
      const s = await stack({ values: { useSes: "false" }, recipients });
      let first = true;
      const lossy = lossyDynamo(() => {
        const lose = first;
        first = false;
        return lose;
      }, 1);
      const { summary, log } = await runWith(s, new DeliveryLedger(lossy.ddb, table, { retry: fastRetry }));
      expect(lossy.lost()).toBe(1);
      expect(summary).toMatchObject({ ok: true, sent: 3, exitCode: 0, ledger: { states: { sent: 3 } } });
      expect(log.text()).not.toContain("another run still holds");
      expect(Object.values(await deliveries(sendgrid, recipients))).toEqual([1, 1, 1]);
    });

    test("when a claim lands but every answer to it is lost, the recipient is not sent, the run releases its own leftover claim, and the next run sends it without waiting", async () => {
      const recipients = ids(2, `left-${uniqueRoot().id}`);
      const s = await stack({ values: { useSes: "false" }, recipients });
      const victim = recipients[1].toLowerCase();
      const isClaimOf = (input: Record<string, unknown>) => String(input.UpdateExpression).includes("if_not_exists") && JSON.stringify(input.Key).includes(victim);
      // The victim's first claim lands and its answer is lost; every later try of it fails (503).
      const ddb = new DynamoDBClient({ region: REGION, endpoint: motoUrl(), credentials: TEST_CREDENTIALS, maxAttempts: 1 });
      let claims = 0;
      ddb.middlewareStack.add(
        (next, ctx) => async (args) => {
          if (ctx.commandName !== "UpdateItemCommand" || !isClaimOf(args.input as Record<string, unknown>)) return next(args);
          if (claims++ === 0) {
            await next(args);
            throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET", $metadata: {} });
          }
          throw Object.assign(new Error("Service Unavailable"), { name: "ServiceUnavailable", $metadata: { httpStatusCode: 503 } });
        },
        { step: "deserialize", priority: "high", name: "claim-lost" },
      );
      const first = await runWith(s, new DeliveryLedger(ddb, table, { retry: fastRetry }));
      expect(claims).toBe(2); // landed once, then the retry failed
      expect(first.summary).toMatchObject({ ok: false, sent: 1, failed: 1, exitCode: 1, ledger: { states: { sent: 1, failed: 1 } } });
      expect(first.summary.recipients[1]).toMatchObject({ status: "failed", error: { code: "LEDGER_UNAVAILABLE" }, ledgerState: "failed" });
      expect(first.log.text()).toContain("released this run's claims that were never sent");
      const second = await runWith(s, new DeliveryLedger(dynamoClient(), table));
      expect(second.summary).toMatchObject({ ok: true, sent: 1, skipped: 1, exitCode: 0 });
      expect(Object.values(await deliveries(sendgrid, recipients))).toEqual([1, 1]);
    });

    test("when recording a send fails past its retries, it is recorded in the reconcile step: the recipient stays sent, never unknown", async () => {
      const recipients = ids(2, `rec-${uniqueRoot().id}`);
      const s = await stack({ values: { useSes: "false" }, recipients });
      let left = 2; // the first settle's two tries fail; the reconcile step's try lands
      const down = failingDynamo((input) => settlingSent(input) && left-- > 0);
      const { summary, log } = await runWith(s, new DeliveryLedger(down.ddb, table, { retry: fastRetry }));
      expect(down.failures()).toBe(2);
      expect(summary).toMatchObject({ ok: true, sent: 2, exitCode: 0, ledger: { states: { sent: 2 } } });
      expect(summary).not.toHaveProperty("unrecorded");
      expect(summary.recipients.every((r) => r.ledgerError === undefined)).toBe(true);
      expect(log.text()).toContain("ledger: outcome recorded on the second try");
      expect(Object.values(await deliveries(sendgrid, recipients))).toEqual([1, 1]);
    });

    test("when the ledger cannot record a send at all, the summary keeps what reconciling needs (recipient, provider, message id), exits 1, and mark-sent records it after the lease", async () => {
      const recipients = ids(1, `unrec-${uniqueRoot().id}`);
      const s = await stack({ values: { useSes: "false" }, recipients });
      const down = failingDynamo(settlingSent);
      const { summary } = await runWith(s, new DeliveryLedger(down.ddb, table, { retry: fastRetry }));
      const accepted = sendgrid.acceptedFor(recipients[0]);
      expect(accepted).toHaveLength(1);
      expect(summary).toMatchObject({ ok: false, sent: 1, exitCode: 1, ledger: { states: { in_progress: 1 } }, unrecorded: [{ recipient: recipients[0], state: "sent", provider: "sendgrid", messageId: accepted[0].messageId }] });
      expect(summary.recipients[0]).toMatchObject({ status: "sent", ledgerError: "AWS_UNAVAILABLE" });
      // Once the claim's lease has run out, the operator records it from the summary.
      const later = new DeliveryLedger(dynamoClient(), table, { now: () => Date.now() + 11 * 60_000 });
      expect(await later.markSent(DATE, recipients[0], "sendgrid", accepted[0].messageId)).toBe(true);
      expect(await later.item(DATE, recipients[0])).toMatchObject({ state: "sent", messageId: accepted[0].messageId });
    });
  });

  test("when the run is stopped while a claimed recipient waits for its send slot, the claim is released as failed (the next run sends it) and nobody unclaimed is claimed", async () => {
    const recipients = ids(4, `stop-${uniqueRoot().id}`);
    const stop = new AbortController();
    const sent: string[] = [];
    // Two sends per second on a clock that never moves and a sleep that never ends by
    // itself: whichever of the two claimed recipients gets the first slot is sent; the other
    // can only leave its wait for the second slot through the stop. No timing involved.
    const provider: DeliveryProvider = {
      name: "sendgrid",
      limits: async () => ({ maxPerSecond: 2, remaining24h: Infinity }),
      send: async (m) => {
        sent.push(m.to);
        stop.abort(); // SIGTERM arrives while this first send is in flight
        return { messageId: `m-${m.to}` };
      },
    };
    const message = (to: string): DigestMessage => ({ from: "digest@example.com", to, subject: "s", html: "<p>h</p>", text: "t", date: NOW, headers: {}, tags: {} });
    const ledger = new DeliveryLedger(dynamoClient(), table);
    const claimed: number[] = [];
    const out = await dispatch(provider, recipients.map(message), {
      ledger: ledger.session(DATE, "run-stopped"),
      maxConcurrency: 2,
      signal: stop.signal,
      now: () => 0,
      sleep: () => new Promise<void>(() => undefined),
      onProgress: (i, stage) => stage === "claimed" && claimed.push(i),
    });
    expect(sent).toHaveLength(1);
    const first = recipients.indexOf(sent[0]);
    const other = 1 - first;
    expect([0, 1]).toContain(first);
    expect(claimed.sort()).toEqual([0, 1]);
    const reasons = out.results.map((r) => (r.status === "skipped" ? r.reason : r.status));
    expect(reasons[first]).toBe("sent");
    expect([reasons[other], reasons[2], reasons[3]]).toEqual(["interrupted", "interrupted", "interrupted"]);
    const items = await ledger.items(DATE);
    expect(items.get(recipients[first])).toMatchObject({ state: "sent" });
    expect(items.get(recipients[other])).toMatchObject({ state: "failed", errorCode: "INTERRUPTED" });
    expect(items.has(recipients[2]) || items.has(recipients[3])).toBe(false);
  });
});
