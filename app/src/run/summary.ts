/**
 * The end of a run, in one place: what the summary says, its exit code, and the metrics
 * every run emits. Whatever ended the run (done, config, nothing to send, a dry run, the
 * stop, the shutdown grace, a bug) comes through {@link endRun}.
 */
import { EXIT } from "../cli-kit";
import type { DigestConfig } from "../config";
import { METRICS, type LedgerState, type RollbackRecord } from "../contract";
import type { Unrecorded } from "../delivery/deliver-one";
import type { SendLimits } from "../delivery/provider";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import type { Outcomes, RecipientOutcome } from "./outcomes";

export type { RecipientOutcome } from "./outcomes";

/** How many recipients (and message ids) a summary lists; the log has a line per recipient. */
export const SUMMARY_LIST_LIMIT = 100;

/** The ledger's view of this digest after the run (configured recipients only). */
export interface LedgerSummary {
  readonly table: string;
  /** Counts per state; "absent" = no item (never claimed). */
  readonly states: Partial<Record<LedgerState | "absent", number>>;
  /** Set when the ledger could not be read at the end (the counts are this run's then). */
  readonly readError?: string;
}

/** What the CLI prints as its last line (JSON), or as a short text in a terminal. */
export interface RunSummary {
  readonly msg: "run summary";
  readonly ok: boolean;
  readonly runId: string;
  readonly digestDate?: string;
  readonly subject?: string;
  readonly dryRun: boolean;
  /** Configured recipients (0 when the config could not be loaded). */
  readonly total: number;
  /** What this run did; sent + failed + unknown + skipped + inFlight + notTried = total. */
  readonly sent: number;
  readonly failed: number;
  /** Recipients whose send this run left ambiguous (ledger `unknown`). */
  readonly unknown: number;
  /** The ledger says another run sent them, left them unknown, or holds them. */
  readonly skipped: number;
  /** Their provider request had started and not answered when the summary was made. */
  readonly inFlight: number;
  /** Never started: stopped first, a dry run, or nothing to send. */
  readonly notTried: number;
  /** This run's message ids, at most SUMMARY_LIST_LIMIT (each "sent" log line has its own). */
  readonly messageIds: string[];
  readonly messageIdsOmitted?: number;
  /** Everyone when there are at most SUMMARY_LIST_LIMIT recipients; otherwise those not sent, at most that many. */
  readonly recipients: RecipientOutcome[];
  readonly recipientsOmitted?: number;
  /** This run's outcomes per status. */
  readonly states: Record<string, number>;
  readonly feeds: { total: number; ok: number; failed: { name: string; code: string }[] };
  readonly items: number;
  readonly credentialMode?: string;
  /** Messages accepted per provider in this run; `fallback` = SES rejected, SendGrid sent. */
  readonly routes?: { ses: number; sendgrid: number; fallback: number };
  /** null when the run had no ledger (exactly-once not guaranteed). */
  readonly ledger?: LedgerSummary | null;
  /**
   * Sends the ledger could not record even after its retries (the item stays in_progress):
   * what an operator needs to reconcile them. At most SUMMARY_LIST_LIMIT.
   */
  readonly unrecorded?: { recipient: string; state: string; provider?: string; messageId?: string }[];
  /**
   * The SES rollback: in force at the start, and/or triggered by this run. `persisted`
   * (with `triggered`): whether it was recorded in `email/ses_rollback` for later runs;
   * false when there is no SendGrid key to fall back to (SES is off for this run only).
   */
  readonly rollback?: { readonly inForce: boolean; readonly triggered?: RollbackRecord; readonly persisted?: boolean };
  /** Sends per second enforced per provider. */
  readonly sendRates?: Record<string, number>;
  readonly durationMs: number;
  readonly files?: { eml?: string; html?: string; text?: string };
  /** The rendered files could not be written (delivery went on regardless): the errno code and the folder. */
  readonly filesError?: { readonly code: string; readonly dir: string };
  /** Why the run ended without delivering: config, nothing to send, dry run, interrupted, internal. */
  readonly reason?: string;
  /** Stopped, and sends in flight did not settle within the shutdown grace: the counts are what had settled. */
  readonly graceExceeded?: boolean;
  readonly error?: Record<string, unknown>;
  readonly exitCode: number;
}

/** What the phases found out, for the summary. */
export interface RunFacts {
  readonly runId: string;
  readonly dryRun: boolean;
  readonly startedAt: number;
  config?: DigestConfig;
  credentialMode?: string;
  readonly feeds: { total: number; ok: number; failed: { name: string; code: string }[] };
  /** FeedsAttempted/FeedFailures were emitted. */
  feedsCounted?: boolean;
  digest?: { date: string; subject: string; items: number };
  outcomes?: Outcomes;
  /** The delivery phase ran (the summary reports routes). */
  delivering?: boolean;
  sendRates?: Record<string, number>;
  sesLimits?: SendLimits;
  unrecorded?: readonly Unrecorded[];
  ledger?: LedgerSummary | null;
  /** Ledger states of the recipients the summary lists, by index. */
  listedLedgerStates?: Map<number, LedgerState | "absent">;
  rollback?: RunSummary["rollback"];
  files?: RunSummary["files"];
  filesError?: RunSummary["filesError"];
  error?: Record<string, unknown>;
}

/** How the run ended. */
export type Ending =
  | { readonly kind: "delivered" }
  | { readonly kind: "config"; readonly exitCode: number }
  | { readonly kind: "nothing to send" }
  | { readonly kind: "dry run" }
  | { readonly kind: "interrupted"; readonly graceExceeded?: boolean }
  | { readonly kind: "internal" };

/** Builds the summary, logs what needs saying, and emits the run's metrics (once per run). */
export function endRun(facts: RunFacts, ending: Ending, stopped: boolean, metrics: Metrics | undefined, log: Logger): RunSummary {
  const o = facts.outcomes;
  const counts = o?.counts() ?? { sent: 0, failed: 0, unknown: 0, skipped: 0, inFlight: 0, notTried: 0 };
  // A stop wins over every ending but a config failure (which never got to do anything).
  const kind = stopped && ending.kind !== "config" ? "interrupted" : ending.kind;
  const ledgerStates = facts.ledger && !facts.ledger.readError ? facts.ledger.states : undefined;
  const notDelivered = ledgerStates
    ? (ledgerStates.failed ?? 0) + (ledgerStates.unknown ?? 0) + (ledgerStates.in_progress ?? 0) + (ledgerStates.absent ?? 0)
    : counts.failed + counts.unknown + counts.inFlight + counts.notTried + (o?.heldOrUnknownElsewhere() ?? 0);
  let exitCode: number;
  let reason: string | undefined;
  switch (kind) {
    case "config":
      exitCode = ending.kind === "config" ? ending.exitCode : EXIT.config;
      reason = "config";
      break;
    case "internal":
      exitCode = EXIT.internal;
      reason = "internal";
      break;
    case "interrupted":
      exitCode = EXIT.interrupted;
      reason = "interrupted";
      break;
    case "nothing to send":
      exitCode = EXIT.nothingToSend;
      reason = "nothing to send";
      break;
    case "dry run":
      // A dry run's files are its product: one that could not write them did not do its job.
      exitCode = facts.filesError ? EXIT.internal : EXIT.ok;
      reason = "dry run";
      break;
    default:
      exitCode = notDelivered === 0 ? EXIT.ok : EXIT.failed;
  }
  const ok = exitCode === EXIT.ok;

  if (metrics) {
    if (!facts.feedsCounted) {
      metrics.count(METRICS.feedsAttempted, 0);
      metrics.count(METRICS.feedFailures, 0);
    }
    if (!facts.dryRun) {
      metrics.count(METRICS.sent, counts.sent);
      metrics.count(METRICS.failed, counts.failed);
      metrics.count(METRICS.emailsUnknown, counts.unknown);
      const quota = facts.sesLimits?.quota24h;
      if (quota && o) metrics.observe(METRICS.sesQuotaUsedPercent, Math.min(100, ((quota.used + o.routes.ses) / quota.max) * 100), "Percent");
      metrics.count(METRICS.digestSucceeded, ok ? 1 : 0);
    }
  }

  const listed = o ? o.listed(SUMMARY_LIST_LIMIT) : { indices: [], omitted: 0 };
  const ids = o ? o.messageIds(SUMMARY_LIST_LIMIT) : { ids: [], omitted: 0 };
  const states: Record<string, number> = {};
  for (const [k, v] of [["sent", counts.sent], ["failed", counts.failed], ["unknown", counts.unknown], ["skipped", counts.skipped], ["in_flight", counts.inFlight], ["not_tried", counts.notTried]] as const) {
    if (v > 0) states[k] = v;
  }
  const graceExceeded = ending.kind === "interrupted" && ending.graceExceeded === true;
  const unrecorded = (facts.unrecorded ?? []).slice(0, SUMMARY_LIST_LIMIT).map((u) => ({
    recipient: u.recipient,
    state: u.outcome.state,
    ...(u.outcome.provider ? { provider: u.outcome.provider } : {}),
    ...(u.outcome.state === "sent" ? { messageId: u.outcome.messageId } : {}),
  }));
  if (graceExceeded) {
    log.error({ inFlight: counts.inFlight, notTried: counts.notTried }, "sends in flight did not settle within the shutdown grace; their outcome is unknown (see `digest ledger status`)");
  }
  return {
    msg: "run summary",
    ok,
    runId: facts.runId,
    ...(facts.digest ? { digestDate: facts.digest.date, subject: facts.digest.subject } : {}),
    dryRun: facts.dryRun,
    total: o?.total ?? 0,
    ...counts,
    messageIds: ids.ids,
    ...(ids.omitted ? { messageIdsOmitted: ids.omitted } : {}),
    recipients: o ? listed.indices.map((i) => o.outcome(i, facts.listedLedgerStates?.get(i))) : [],
    ...(listed.omitted ? { recipientsOmitted: listed.omitted } : {}),
    states,
    feeds: facts.feeds,
    items: facts.digest?.items ?? 0,
    ...(facts.credentialMode ? { credentialMode: facts.credentialMode } : {}),
    ...(o && facts.delivering ? { routes: { ...o.routes } } : {}),
    ...(facts.ledger !== undefined ? { ledger: facts.ledger } : {}),
    ...(unrecorded.length ? { unrecorded } : {}),
    ...(facts.rollback ? { rollback: facts.rollback } : {}),
    ...(facts.sendRates ? { sendRates: facts.sendRates } : {}),
    durationMs: Date.now() - facts.startedAt,
    ...(facts.files ? { files: facts.files } : {}),
    ...(facts.filesError ? { filesError: facts.filesError } : {}),
    ...(reason ? { reason } : {}),
    ...(graceExceeded ? { graceExceeded: true } : {}),
    ...(facts.error ? { error: facts.error } : {}),
    exitCode,
  };
}

/** The summary as a person at a terminal reads it (stdout; the progress went to stderr). */
export function humanSummary(s: RunSummary): string[] {
  const head = s.dryRun ? "dry run" : s.reason === "interrupted" ? "interrupted" : s.ok ? "done" : "not done";
  const counts = [`sent ${s.sent}`, `failed ${s.failed}`, `unknown ${s.unknown}`, s.skipped ? `skipped ${s.skipped}` : "", s.inFlight ? `in flight ${s.inFlight}` : "", s.notTried ? `not tried ${s.notTried}` : ""].filter(Boolean).join(", ");
  const lines = [`digest ${s.digestDate ?? "(no date)"}: ${head}: ${counts} of ${s.total} recipient${s.total === 1 ? "" : "s"} (exit ${s.exitCode})`];
  if (s.reason === "nothing to send") lines.push(`  nothing to send: ${s.feeds.failed.length} of ${s.feeds.total} feeds failed and the digest has ${s.items} items`);
  if (s.error) lines.push(`  error: ${String(s.error.code ?? s.error.name ?? "unknown")}${s.error.message ? `: ${String(s.error.message)}` : ""}`);
  for (const r of s.recipients.filter((r) => r.status === "failed" || r.status === "unknown")) lines.push(`  ${r.status} ${r.recipient}: ${String(r.error?.code ?? "")}`);
  if (s.rollback?.triggered) lines.push(`  SES rolled back: ${s.rollback.triggered.detail}`);
  if (s.files?.eml || s.files?.html) lines.push(`  files: ${[s.files.eml, s.files.html, s.files.text].filter(Boolean).join(", ")}`);
  if (s.filesError) lines.push(`  files not written: ${s.filesError.code} in ${s.filesError.dir}`);
  return lines;
}
