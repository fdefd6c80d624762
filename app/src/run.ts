/**
 * One digest run: config -> feeds -> render -> deliver -> summary. Everything it talks to
 * comes in through {@link RunDeps}; it never reads the environment.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { DigestConfig } from "./config";
import { METRICS, parameterName, type LedgerState, type RollbackRecord } from "./contract";
import { dispatch, type DispatchOptions } from "./delivery/dispatch";
import type { DeliveryProvider, DeliveryResult, DigestMessage, SkipReason } from "./delivery/provider";
import { normalizeAddress } from "./delivery/rollout";
import type { RunContext } from "./delivery/select";
import { DigestError } from "./errors";
import type { DeliveryLedger, LedgerItem, LedgerSession } from "./ledger";
import { countParameterStoreAccessDenied, rollbackTriggerOf, type RollbackStore } from "./rollback";
import type { FeedResult } from "./feeds";
import type { Logger } from "./log";
import type { Metrics } from "./metrics";
import { buildMime, listUnsubscribeHeaders } from "./mime";
import { digestDate, renderDigest, type RenderedDigest } from "./render";
import { signedUnsubscribeUrl } from "./unsubscribe";
import { isOneClickUnsubscribeTarget } from "./validation";

export interface RunDeps {
  readonly config: { load(): Promise<DigestConfig> };
  readonly feeds: { fetchAll(sources: readonly DigestConfig["feeds"][number][], policy?: { readonly hosts?: readonly string[] }): Promise<FeedResult[]> };
  /** The provider for this config (the migration router over SES and SendGrid). */
  readonly provider: (config: DigestConfig, run: RunContext) => DeliveryProvider;
  /** Which credentials the provider uses, for the log and summary. */
  readonly credentialMode?: (config: DigestConfig) => string;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** @default () => new Date() */
  readonly clock?: () => Date;
  /** The exactly-once ledger. @default - none: the run warns that a rerun may send twice */
  readonly ledger?: DeliveryLedger;
  /** Records a rollback triggered by a Parameter Store failure while loading the config. */
  readonly rollbackStore?: RollbackStore;
  /**
   * Whether SendGrid could take over if SES is rolled back, asked only when loading the
   * config trips the rollback (the config itself could not be read): true, false, or
   * undefined when it cannot be told. Only true records the rollback for later runs.
   * @default - cannot be told (not recorded)
   */
  readonly sendgridAvailable?: () => Promise<boolean | undefined>;
}

export interface RunOptions {
  /** Render and write files, send nothing. */
  readonly dryRun?: boolean;
  /** Also write the rendered message here (`digest-<date>.eml`, `.html`; `.txt` on dry run). */
  readonly outDir?: string;
  readonly runId?: string;
  /** Which files go to `outDir`: the message (.eml + .html), the parts (.html + .txt), or all. @default "message" */
  readonly files?: "message" | "parts" | "all";
  /** Pacing, ceiling and backoff of the sends. */
  readonly dispatch?: Omit<DispatchOptions, "ledger" | "logger" | "metrics">;
  /**
   * After sending, how long to wait for recipients that another run holds (a live
   * in_progress claim) to settle before the summary reads the ledger. @default 30000
   */
  readonly ledgerSettleMs?: number;
  /** @default 1000 */
  readonly ledgerPollMs?: number;
  /**
   * Stops the run (the CLI aborts it on SIGTERM): no new recipient is claimed or sent, what
   * is in flight settles, and the summary says `interrupted` with exit code 143.
   */
  readonly signal?: AbortSignal;
}

export interface RecipientOutcome {
  readonly recipient: string;
  /**
   * What this run did: sent; failed (certainly not sent); unknown (ambiguous: the provider
   * may have it; never resent automatically); skipped (dry run, empty digest, or the ledger
   * says it is already handled: see `skipReason`).
   */
  readonly status: "sent" | "failed" | "unknown" | "skipped";
  readonly skipReason?: SkipReason;
  /** The recipient's ledger state after the run ("absent": no item). */
  readonly ledgerState?: LedgerState | "absent";
  readonly provider?: string;
  readonly messageId?: string;
  /** "ses" when SES rejected it and SendGrid sent it. */
  readonly fallbackFrom?: string;
  readonly attempts?: number;
  readonly error?: Record<string, unknown>;
  /** Set when the ledger could not record this outcome. */
  readonly ledgerError?: string;
}

/** The ledger's view of this digest after the run (configured recipients only). */
export interface LedgerSummary {
  readonly table: string;
  /** Counts per state; "absent" = no item (never claimed). */
  readonly states: Partial<Record<LedgerState | "absent", number>>;
  /** Set when the ledger could not be read at the end (the counts are this run's then). */
  readonly readError?: string;
}

/** What the CLI prints as its last line. */
export interface RunSummary {
  readonly msg: "run summary";
  readonly ok: boolean;
  readonly runId: string;
  readonly digestDate?: string;
  readonly subject?: string;
  readonly dryRun: boolean;
  readonly sent: number;
  readonly failed: number;
  /** Recipients whose send this run left ambiguous (ledger `unknown`). */
  readonly unknown: number;
  readonly skipped: number;
  readonly messageIds: string[];
  readonly recipients: RecipientOutcome[];
  readonly states: Record<string, number>;
  readonly feeds: { total: number; ok: number; failed: { name: string; code: string }[] };
  readonly items: number;
  readonly credentialMode?: string;
  /** Messages accepted per provider in this run; `fallback` = SES rejected, SendGrid sent. */
  readonly routes?: { ses: number; sendgrid: number; fallback: number };
  /** null when the run had no ledger (exactly-once not guaranteed). */
  readonly ledger?: LedgerSummary | null;
  /**
   * The SES rollback: in force at the start, and/or triggered by this run. `persisted`
   * (with `triggered`): whether it was recorded in `email/ses_rollback` for later runs;
   * false when there is no SendGrid key to fall back to (SES is off for this run only).
   */
  readonly rollback?: { readonly inForce: boolean; readonly triggered?: RollbackRecord; readonly persisted?: boolean };
  readonly sendRate?: number;
  readonly durationMs: number;
  readonly files?: { eml?: string; html?: string; text?: string };
  /** The rendered files could not be written (delivery went on regardless): the errno code and the folder. */
  readonly filesError?: { readonly code: string; readonly dir: string };
  readonly reason?: string;
  /** Stopped by SIGTERM and sends in flight did not settle within the grace: the counts are what had settled. */
  readonly graceExceeded?: boolean;
  readonly error?: Record<string, unknown>;
  readonly exitCode: number;
}

const STOPPED: unique symbol = Symbol("stopped");

/** Exit codes of the CLI. */
export const EXIT = {
  ok: 0,
  /** At least one recipient was not delivered, or its outcome is unknown (see the ledger). */
  deliveryFailed: 1,
  /** Configuration could not be loaded or is invalid. */
  configError: 2,
  /** Anything unexpected. */
  internal: 3,
  usage: 64,
  /** Stopped by SIGTERM (128 + 15). */
  interrupted: 143,
} as const;

/** Runs the digest once. Never throws: failures are in the summary and its exit code. */
export async function runDigest(deps: RunDeps, opts: RunOptions = {}): Promise<RunSummary> {
  const clock = deps.clock ?? (() => new Date());
  const startedAt = Date.now();
  const runId = opts.runId ?? randomUUID();
  const log = deps.logger.child({ runId });
  const dryRun = opts.dryRun === true;
  const base = { msg: "run summary" as const, runId, dryRun, sent: 0, failed: 0, unknown: 0, skipped: 0, messageIds: [] as string[], recipients: [] as RecipientOutcome[], states: {}, items: 0 };
  const feedsSummary = { total: 0, ok: 0, failed: [] as { name: string; code: string }[] };
  const stopped = () => opts.signal?.aborted === true;
  /** `p`, or STOPPED as soon as the stop signal fires (`p` is left to finish unobserved). */
  const untilStopped = <T>(p: Promise<T>): Promise<T | typeof STOPPED> => {
    const signal = opts.signal;
    if (!signal) return p;
    if (signal.aborted) {
      p.catch(() => undefined);
      return Promise.resolve(STOPPED);
    }
    return new Promise<T | typeof STOPPED>((resolve, reject) => {
      const onAbort = () => resolve(STOPPED);
      signal.addEventListener("abort", onAbort, { once: true });
      p.then(
        (v) => {
          signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (err: unknown) => {
          signal.removeEventListener("abort", onAbort);
          reject(err);
        },
      );
    });
  };

  let config: DigestConfig;
  try {
    log.info("loading config from Parameter Store");
    config = await deps.config.load();
  } catch (err) {
    const error = err instanceof DigestError ? err : undefined;
    log.error({ err }, "configuration could not be loaded");
    deps.metrics?.count(METRICS.digestSucceeded, 0);
    countParameterStoreAccessDenied(deps.metrics, err);
    // Only a denial persists the rollback; a transient outage just fails this run (exit 2).
    const trigger = rollbackTriggerOf(err);
    const triggered = error && trigger ? await parameterStoreRollback(error) : undefined;
    return {
      ...base,
      ok: false,
      feeds: feedsSummary,
      durationMs: Date.now() - startedAt,
      reason: "config",
      error: error?.toJSON() ?? { name: "Error" },
      ...(triggered ? { rollback: { inForce: false, triggered: triggered.record, persisted: triggered.persisted } } : {}),
      exitCode: error ? EXIT.configError : EXIT.internal,
    };
  }
  const credentialMode = deps.credentialMode?.(config);
  const unsubscribe = unsubscribeMode(config);
  log.info(
    { recipients: config.recipients.length, feeds: config.feeds.length, useSes: config.useSes, sesPercent: config.sesPercent, sesRollback: config.sesRollback?.reason ?? null, sendgridConfigured: config.sendgridApiKey !== undefined, credentialMode, configurationSet: config.configurationSet ?? null, unsubscribe },
    "config loaded",
  );
  if (unsubscribe === "https-static") {
    log.warn(
      { parameter: parameterName(config.root, "unsubscribeSigningKey") },
      "no unsubscribe signing key: every message carries the same https List-Unsubscribe URL, so a one-click unsubscribe cannot say who is leaving",
    );
  }
  const unsubscribeUrl = unsubscribeUrlFor(config);

  try {
    log.info({ feeds: config.feeds.length }, "fetching feeds");
    // Nothing is in flight while the feeds load: a stop does not wait for them.
    const feeds = await untilStopped(deps.feeds.fetchAll(config.feeds, { hosts: config.feedHosts }));
    if (feeds === STOPPED) {
      log.warn("stopped while fetching feeds; nothing sent");
      deps.metrics?.count(METRICS.digestSucceeded, 0);
      return { ...base, ok: false, feeds: feedsSummary, credentialMode, durationMs: Date.now() - startedAt, reason: "interrupted", exitCode: EXIT.interrupted };
    }
    feedsSummary.total = feeds.length;
    for (const f of feeds) {
      if (f.ok) feedsSummary.ok++;
      else feedsSummary.failed.push({ name: f.source.name, code: f.error.code });
    }
    deps.metrics?.count(METRICS.feedFailures, feedsSummary.failed.length);
    const now = clock();
    const date = digestDate(now);
    const rendered = renderDigest({ now, feeds, unsubscribe: config.unsubscribe });
    log.info({ items: rendered.itemCount, sources: rendered.sourceCount, failedFeeds: feedsSummary.failed.length, subject: rendered.subject }, "digest rendered");

    // The digest is rendered once; only the unsubscribe link (header and footer, the same
    // URL: signed for this recipient when there is a key) differs per recipient.
    const messages: DigestMessage[] = config.recipients.map((to) => {
      const url = unsubscribeUrl(to);
      const body = url ? rendered.withUnsubscribe(url) : rendered;
      return {
        from: config.fromAddress,
        to,
        subject: rendered.subject,
        html: body.html,
        text: body.text,
        date: now,
        headers: listUnsubscribeHeaders(url),
        tags: { run_id: runId, digest_date: date },
      };
    });
    const common = { ...base, digestDate: date, subject: rendered.subject, items: rendered.itemCount, feeds: feedsSummary, credentialMode };
    // The files are written after delivery (or instead of it), and a write failure is only
    // reported: it never stops or fails a send.
    const output = () => (opts.outDir ? writeFilesReported(log, opts.outDir, date, rendered, messages[0], opts.files ?? "message") : Promise.resolve({}));
    const notSent = (skipReason?: SkipReason) => config.recipients.map((r) => ({ recipient: r, status: "skipped" as const, ...(skipReason ? { skipReason } : {}) }));

    if (rendered.itemCount === 0) {
      log.warn("the digest is empty; nothing sent");
      const summary = finish(common, notSent(), await output(), "empty digest", undefined, {});
      deps.metrics?.count(METRICS.digestSucceeded, summary.ok ? 1 : 0);
      return summary;
    }
    if (dryRun) {
      log.info({ recipients: config.recipients.length }, "dry run: nothing sent");
      return finish(common, notSent(), await output(), "dry run", undefined, {});
    }
    if (stopped()) {
      log.warn("stopped before delivery; nothing sent");
      deps.metrics?.count(METRICS.digestSucceeded, 0);
      return finish(common, notSent("interrupted"), {}, undefined, undefined, {});
    }

    // Exactly once: recipients the ledger already has as sent (or unknown) are not tried
    // again; the rest are claimed one by one just before their send.
    const ledger = deps.ledger;
    let session: LedgerSession | undefined;
    let toSend = messages;
    const early: DeliveryResult[] = [];
    if (!ledger) {
      log.warn({ env: "VIBE_LEDGER_TABLE" }, "no delivery ledger configured: exactly-once delivery is NOT guaranteed (a rerun or a duplicate task sends again)");
    } else {
      session = ledger.session(date, runId);
      let before: Map<string, LedgerItem> | undefined;
      try {
        before = await ledger.items(date);
      } catch (err) {
        log.error({ err, table: ledger.tableName }, "could not read the delivery ledger; each recipient's claim decides");
      }
      if (before) {
        toSend = [];
        for (const m of messages) {
          const item = before.get(normalizeAddress(m.to));
          if (item?.state === "sent" || item?.state === "unknown") {
            early.push({ status: "skipped", recipient: m.to, reason: item.state === "sent" ? "already_sent" : "unknown", provider: item.provider, messageId: item.messageId, attempts: 0, latencyMs: 0 });
          } else toSend.push(m);
        }
        if (early.length) log.info({ alreadySent: early.filter((r) => r.status === "skipped" && r.reason === "already_sent").length, unknown: early.filter((r) => r.status === "skipped" && r.reason === "unknown").length }, "ledger: recipients already handled for this digest are not sent again");
      }
    }

    let outcome: Awaited<ReturnType<typeof dispatch>> = { results: [], rate: 0 };
    let provider: DeliveryProvider | undefined;
    if (toSend.length > 0) {
      provider = deps.provider(config, { runId, digestDate: date });
      log.info({ provider: provider.name, recipients: toSend.length, ledger: ledger?.tableName ?? null }, "delivering");
      try {
        outcome = await dispatch(provider, toSend, { logger: log, metrics: deps.metrics, ...opts.dispatch, ledger: session, signal: opts.signal });
      } finally {
        await provider.close?.();
      }
    }
    const byRecipient = new Map<string, DeliveryResult>();
    for (const r of [...early, ...outcome.results]) byRecipient.set(r.recipient, r);
    for (const r of outcome.results) logResult(log, r);
    const results = config.recipients.map((r) => byRecipient.get(r)!);

    const ledgerView = ledger ? await readLedger(ledger, session!, date, config.recipients) : undefined;
    const recipients = results.map((r) => toOutcome(r, ledgerView?.items));
    const sent = recipients.filter((r) => r.status === "sent").length;
    const unknown = recipients.filter((r) => r.status === "unknown").length;
    const failedNow = recipients.filter((r) => r.status === "failed").length;
    deps.metrics?.count(METRICS.sent, sent);
    deps.metrics?.count(METRICS.failed, failedNow);
    deps.metrics?.count(METRICS.emailsUnknown, unknown);
    const quota = outcome.limits?.quota24h;
    const sesSent = recipients.filter((r) => r.status === "sent" && r.provider === "ses").length;
    if (quota) deps.metrics?.observe(METRICS.sesQuotaUsedPercent, Math.min(100, ((quota.used + sesSent) / quota.max) * 100), "Percent");
    const router = provider as { triggered?: RollbackRecord; persisted?: boolean } | undefined;
    const extra = {
      routes: {
        ses: sesSent,
        sendgrid: recipients.filter((r) => r.status === "sent" && r.provider === "sendgrid").length,
        fallback: recipients.filter((r) => r.status === "sent" && r.fallbackFrom !== undefined).length,
      },
      ledger: ledger ? { table: ledger.tableName, states: ledgerView!.states, ...(ledgerView!.readError ? { readError: ledgerView!.readError } : {}) } : null,
      rollback: { inForce: config.sesRollback !== undefined, ...(router?.triggered ? { triggered: router.triggered, persisted: router.persisted === true } : {}) },
    };
    const summary = finish(common, recipients, await output(), undefined, outcome.results.length ? outcome.rate : undefined, extra);
    deps.metrics?.count(METRICS.digestSucceeded, summary.ok ? 1 : 0);
    return summary;
  } catch (err) {
    log.error({ err }, "run failed unexpectedly");
    deps.metrics?.count(METRICS.digestSucceeded, 0);
    return { ...base, ok: false, feeds: feedsSummary, credentialMode, durationMs: Date.now() - startedAt, reason: "internal", error: err instanceof DigestError ? err.toJSON() : { name: err instanceof Error ? err.name : "Error" }, exitCode: EXIT.internal };
  }

  /**
   * Parameter Store denying access is a rollback trigger (the seed): count and log it, and
   * record it only when SendGrid is known to be there to take over; otherwise a recorded
   * rollback would fail every recipient of every later run until an operator clears it.
   */
  async function parameterStoreRollback(error: DigestError): Promise<{ record: RollbackRecord; persisted: boolean }> {
    const record: RollbackRecord = { state: "rolled_back", at: new Date().toISOString(), reason: "parameter-store", detail: `loading the config from Parameter Store failed (${error.code})`, runId, code: error.code };
    deps.metrics?.count(METRICS.sesRollback, 1);
    let sendgrid: boolean | undefined;
    try {
      sendgrid = await deps.sendgridAvailable?.();
    } catch {
      sendgrid = undefined;
    }
    const store = deps.rollbackStore;
    if (sendgrid !== true || !store) {
      log.error(
        { rollback: record, parameter: store?.name, sendgridConfigured: sendgrid ?? "unknown", persisted: false },
        sendgrid === false
          ? "SES rollback triggered by a Parameter Store failure with no SendGrid key to fall back to: NOT recorded, so the next run uses SES again"
          : "SES rollback triggered by a Parameter Store failure; whether SendGrid could take over cannot be told, so it is NOT recorded and the next run uses SES again",
      );
      return { record, persisted: false };
    }
    log.error({ rollback: record, parameter: store.name, sendgridConfigured: true, persisted: true }, "SES rollback triggered by a Parameter Store failure; later runs use SendGrid until an operator clears it (digest rollback clear)");
    try {
      await store.record(record);
      return { record, persisted: true };
    } catch (err) {
      log.error({ err, parameter: store.name }, "could not record the SES rollback");
      return { record, persisted: false };
    }
  }

  /**
   * The ledger's final word on each configured recipient, after waiting (bounded) for
   * recipients another live run holds.
   */
  async function readLedger(ledger: DeliveryLedger, session: LedgerSession, date: string, configured: readonly string[]) {
    // Stopping: read once, do not wait for other runs.
    const settleMs = stopped() ? 0 : (opts.ledgerSettleMs ?? 30_000);
    const pollMs = Math.max(10, opts.ledgerPollMs ?? 1000);
    const deadline = Date.now() + settleMs;
    let items: Map<string, LedgerItem> | undefined;
    let readError: string | undefined;
    for (let i = 0; i <= Math.ceil(settleMs / pollMs); i++) {
      try {
        items = await ledger.items(date);
        readError = undefined;
      } catch (err) {
        readError = err instanceof DigestError ? err.code : "LEDGER_UNAVAILABLE";
        log.error({ err, table: ledger.tableName }, "could not read the delivery ledger for the summary");
        break; // the summary falls back to this run's own outcomes
      }
      const held = items ? configured.filter((r) => {
        const it = items!.get(normalizeAddress(r));
        return it?.state === "in_progress" && !session.claimIds.has(it.claimId ?? "");
      }) : [];
      if ((items && held.length === 0) || Date.now() >= deadline) {
        if (held.length) log.warn({ recipients: held.length }, "another run still holds some recipients of this digest");
        break;
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
    const states: Partial<Record<LedgerState | "absent", number>> = {};
    if (items) {
      for (const r of configured) {
        const st = items.get(normalizeAddress(r))?.state ?? "absent";
        states[st] = (states[st] ?? 0) + 1;
      }
    }
    return { items, states, readError };
  }

  function finish(
    common: Omit<RunSummary, "ok" | "exitCode" | "durationMs" | "recipients" | "states" | "sent" | "failed" | "unknown" | "skipped" | "messageIds">,
    recipients: RecipientOutcome[],
    output: Pick<RunSummary, "files" | "filesError">,
    reasonGiven: string | undefined,
    rate: number | undefined,
    extra: Pick<RunSummary, "routes" | "ledger" | "rollback">,
  ): RunSummary {
    const interrupted = stopped();
    const reason = interrupted ? "interrupted" : reasonGiven;
    const states: Record<string, number> = {};
    for (const r of recipients) states[r.status] = (states[r.status] ?? 0) + 1;
    const failed = states.failed ?? 0;
    const unknown = states.unknown ?? 0;
    // With a ledger the exit code is the ledger's: every configured recipient must be
    // `sent` there. Without one (or if it could not be read), this run's own outcomes.
    const ledgerStates = extra.ledger && !extra.ledger.readError ? extra.ledger.states : undefined;
    const notDelivered = ledgerStates
      ? (ledgerStates.failed ?? 0) + (ledgerStates.unknown ?? 0) + (ledgerStates.in_progress ?? 0) + (ledgerStates.absent ?? 0)
      : failed + unknown + recipients.filter((r) => r.status === "skipped" && (r.skipReason === "unknown" || r.skipReason === "in_progress")).length;
    // A dry run's files are its product: one that could not write them did not do its job.
    const ok = !interrupted && (reason !== undefined ? failed === 0 && !(dryRun && output.filesError) : notDelivered === 0);
    const exitCode = interrupted ? EXIT.interrupted : ok ? EXIT.ok : dryRun && output.filesError ? EXIT.internal : EXIT.deliveryFailed;
    return {
      ...common,
      ok,
      sent: states.sent ?? 0,
      failed,
      unknown,
      skipped: states.skipped ?? 0,
      messageIds: recipients.flatMap((r) => (r.status === "sent" && r.messageId ? [r.messageId] : [])),
      recipients,
      states,
      ...extra,
      ...(rate !== undefined && Number.isFinite(rate) ? { sendRate: rate } : {}),
      durationMs: Date.now() - startedAt,
      ...(output.files ? { files: output.files } : {}),
      ...(output.filesError ? { filesError: output.filesError } : {}),
      ...(reason ? { reason } : {}),
      exitCode,
    };
  }
}

/** How this run's messages point at the unsubscribe target (for the log; never the key). */
function unsubscribeMode(config: DigestConfig): "none" | "mailto" | "https-static" | "https-signed" {
  if (!config.unsubscribe) return "none";
  if (!isOneClickUnsubscribeTarget(config.unsubscribe)) return "mailto";
  return config.unsubscribeSigningKey ? "https-signed" : "https-static";
}

/**
 * Each recipient's unsubscribe URL (List-Unsubscribe and the footer link alike): for an
 * https target with a signing key, a URL signed for that recipient (unsubscribe.ts);
 * otherwise the configured target as it is.
 */
function unsubscribeUrlFor(config: DigestConfig): (to: string) => string | undefined {
  const target = config.unsubscribe;
  const key = config.unsubscribeSigningKey;
  if (target && key && isOneClickUnsubscribeTarget(target)) return (to) => signedUnsubscribeUrl(target, key, to);
  return () => target;
}

function toOutcome(r: DeliveryResult, ledger: Map<string, LedgerItem> | undefined): RecipientOutcome {
  const ledgerState: RecipientOutcome["ledgerState"] = ledger ? (ledger.get(normalizeAddress(r.recipient))?.state ?? "absent") : undefined;
  const withLedger: Pick<RecipientOutcome, "ledgerState"> = ledgerState ? { ledgerState } : {};
  if (r.status === "sent") {
    return { recipient: r.recipient, status: "sent", provider: r.provider, messageId: r.messageId, attempts: r.attempts, ...(r.fallbackFrom ? { fallbackFrom: r.fallbackFrom } : {}), ...withLedger, ...(r.ledgerError ? { ledgerError: r.ledgerError } : {}) };
  }
  if (r.status === "skipped") {
    return { recipient: r.recipient, status: "skipped", skipReason: r.reason, ...(r.provider ? { provider: r.provider } : {}), ...(r.messageId ? { messageId: r.messageId } : {}), attempts: 0, ...withLedger };
  }
  return {
    recipient: r.recipient,
    status: r.definitelyNotSent ? "failed" : "unknown",
    provider: r.provider,
    attempts: r.attempts,
    error: r.error.toJSON(),
    ...withLedger,
    ...(r.ledgerError ? { ledgerError: r.ledgerError } : {}),
  };
}

function logResult(log: Logger, r: DeliveryResult): void {
  if (r.status === "sent") log.info({ recipient: r.recipient, provider: r.provider, messageId: r.messageId, fallbackFrom: r.fallbackFrom, latencyMs: r.latencyMs }, "sent");
  else if (r.status === "skipped") log.info({ recipient: r.recipient, reason: r.reason, provider: r.provider, messageId: r.messageId }, "not sent again (ledger)");
  else if (r.definitelyNotSent) log.error({ recipient: r.recipient, provider: r.provider, err: r.error }, "not sent");
  else log.error({ recipient: r.recipient, provider: r.provider, err: r.error }, "outcome unknown: the provider may have accepted it; it will not be resent automatically (see `digest ledger`)");
}

/** {@link writeFiles}, reporting a failure (logged as a warning) instead of throwing it. */
async function writeFilesReported(log: Logger, dir: string, date: string, rendered: RenderedDigest, first: DigestMessage | undefined, which: "message" | "parts" | "all"): Promise<Pick<RunSummary, "files" | "filesError">> {
  try {
    const files = await writeFiles(dir, date, rendered, first, which);
    log.info({ files }, "rendered message written");
    return { files };
  } catch (err) {
    const code = typeof (err as { code?: unknown })?.code === "string" ? (err as { code: string }).code : "WRITE_FAILED";
    const filesError = { code, dir: path.resolve(dir) };
    log.warn({ filesError }, "could not write the rendered files (delivery is not affected)");
    return { filesError };
  }
}

/** Writes `digest-<date>.html`, `.eml` (the first recipient's MIME) and/or `.txt`; returns absolute paths. */
async function writeFiles(dir: string, date: string, rendered: RenderedDigest, first: DigestMessage | undefined, which: "message" | "parts" | "all"): Promise<NonNullable<RunSummary["files"]>> {
  const abs = path.resolve(dir);
  await fs.mkdir(abs, { recursive: true });
  const files: { eml?: string; html?: string; text?: string } = {};
  files.html = path.join(abs, `digest-${date}.html`);
  await fs.writeFile(files.html, rendered.html);
  if (first && which !== "parts") {
    files.eml = path.join(abs, `digest-${date}.eml`);
    await fs.writeFile(files.eml, await buildMime(first));
  }
  if (which !== "message") {
    files.text = path.join(abs, `digest-${date}.txt`);
    await fs.writeFile(files.text, rendered.text);
  }
  return files;
}
