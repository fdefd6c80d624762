/**
 * One digest run: config -> feeds -> render -> deliver -> summary. Everything it talks to
 * comes in through {@link RunDeps}; it never reads the environment.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { DigestConfig } from "./config";
import { METRICS } from "./contract";
import { dispatch, type DispatchOptions } from "./delivery/dispatch";
import type { DeliveryProvider, DeliveryResult, DigestMessage } from "./delivery/provider";
import { DigestError } from "./errors";
import type { FeedResult } from "./feeds";
import type { Logger } from "./log";
import type { Metrics } from "./metrics";
import { buildMime, listUnsubscribeHeaders } from "./mime";
import { digestDate, renderDigest, type RenderedDigest } from "./render";

export interface RunDeps {
  readonly config: { load(): Promise<DigestConfig> };
  readonly feeds: { fetchAll(sources: readonly DigestConfig["feeds"][number][]): Promise<FeedResult[]> };
  /** The provider for this config (SES now; the migration router in #5). */
  readonly provider: (config: DigestConfig) => DeliveryProvider;
  /** Which credentials the provider uses, for the log and summary. */
  readonly credentialMode?: (config: DigestConfig) => string;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** @default () => new Date() */
  readonly clock?: () => Date;
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
  readonly dispatch?: DispatchOptions;
}

export interface RecipientOutcome {
  readonly recipient: string;
  readonly status: "sent" | "failed" | "skipped";
  readonly provider?: string;
  readonly messageId?: string;
  readonly attempts?: number;
  readonly error?: Record<string, unknown>;
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
  readonly skipped: number;
  readonly messageIds: string[];
  readonly recipients: RecipientOutcome[];
  readonly states: Record<string, number>;
  readonly feeds: { total: number; ok: number; failed: { name: string; code: string }[] };
  readonly items: number;
  readonly credentialMode?: string;
  readonly sendRate?: number;
  readonly durationMs: number;
  readonly files?: { eml?: string; html?: string; text?: string };
  readonly reason?: string;
  readonly error?: Record<string, unknown>;
  readonly exitCode: number;
}

/** Exit codes of the CLI. */
export const EXIT = {
  ok: 0,
  /** At least one recipient was not delivered. */
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
  const base = { msg: "run summary" as const, runId, dryRun, sent: 0, failed: 0, skipped: 0, messageIds: [] as string[], recipients: [] as RecipientOutcome[], states: {}, items: 0 };
  const feedsSummary = { total: 0, ok: 0, failed: [] as { name: string; code: string }[] };

  let config: DigestConfig;
  try {
    log.info("loading config from Parameter Store");
    config = await deps.config.load();
  } catch (err) {
    const error = err instanceof DigestError ? err : undefined;
    log.error({ err }, "configuration could not be loaded");
    deps.metrics?.count(METRICS.digestSucceeded, 0);
    if (error?.code === "AWS_ACCESS_DENIED") deps.metrics?.count(METRICS.parameterStoreAccessDenied, 1);
    return { ...base, ok: false, feeds: feedsSummary, durationMs: Date.now() - startedAt, reason: "config", error: error?.toJSON() ?? { name: "Error" }, exitCode: error ? EXIT.configError : EXIT.internal };
  }
  const credentialMode = deps.credentialMode?.(config);
  log.info({ recipients: config.recipients.length, feeds: config.feeds.length, useSes: config.useSes, credentialMode, configurationSet: config.configurationSet ?? null }, "config loaded");

  try {
    log.info({ feeds: config.feeds.length }, "fetching feeds");
    const feeds = await deps.feeds.fetchAll(config.feeds);
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

    const messages: DigestMessage[] = config.recipients.map((to) => ({
      from: config.fromAddress,
      to,
      subject: rendered.subject,
      html: rendered.html,
      text: rendered.text,
      date: now,
      headers: listUnsubscribeHeaders(config.unsubscribe),
      tags: { run_id: runId, digest_date: date },
    }));
    const common = { ...base, digestDate: date, subject: rendered.subject, items: rendered.itemCount, feeds: feedsSummary, credentialMode };

    const files = opts.outDir ? await writeFiles(opts.outDir, date, rendered, messages[0], opts.files ?? "message") : undefined;
    if (files) log.info({ files }, "rendered message written");

    if (rendered.itemCount === 0) {
      log.warn("the digest is empty; nothing sent");
      deps.metrics?.count(METRICS.digestSucceeded, 1);
      return finish(common, config.recipients.map((r) => ({ recipient: r, status: "skipped" as const })), files, "empty digest", undefined);
    }
    if (dryRun) {
      log.info({ recipients: config.recipients.length }, "dry run: nothing sent");
      return finish(common, config.recipients.map((r) => ({ recipient: r, status: "skipped" as const })), files, "dry run", undefined);
    }

    const provider = deps.provider(config);
    log.info({ provider: provider.name, recipients: messages.length }, "delivering");
    const outcome = await dispatch(provider, messages, { logger: log, metrics: deps.metrics, ...opts.dispatch });
    for (const r of outcome.results) logResult(log, r);
    const recipients = outcome.results.map(toOutcome);
    const sent = recipients.filter((r) => r.status === "sent").length;
    deps.metrics?.count(METRICS.sent, sent);
    deps.metrics?.count(METRICS.failed, recipients.length - sent);
    deps.metrics?.count(METRICS.digestSucceeded, sent === recipients.length ? 1 : 0);
    const quota = outcome.limits?.quota24h;
    if (quota) deps.metrics?.observe(METRICS.sesQuotaUsedPercent, Math.min(100, ((quota.used + sent) / quota.max) * 100), "Percent");
    return finish(common, recipients, files, undefined, outcome.rate);
  } catch (err) {
    log.error({ err }, "run failed unexpectedly");
    deps.metrics?.count(METRICS.digestSucceeded, 0);
    return { ...base, ok: false, feeds: feedsSummary, credentialMode, durationMs: Date.now() - startedAt, reason: "internal", error: err instanceof DigestError ? err.toJSON() : { name: err instanceof Error ? err.name : "Error" }, exitCode: EXIT.internal };
  }

  function finish(
    common: Omit<RunSummary, "ok" | "exitCode" | "durationMs" | "recipients" | "states" | "sent" | "failed" | "skipped" | "messageIds">,
    recipients: RecipientOutcome[],
    files: RunSummary["files"],
    reason: string | undefined,
    rate: number | undefined,
  ): RunSummary {
    const states: Record<string, number> = {};
    for (const r of recipients) states[r.status] = (states[r.status] ?? 0) + 1;
    const failed = states.failed ?? 0;
    return {
      ...common,
      ok: failed === 0,
      sent: states.sent ?? 0,
      failed,
      skipped: states.skipped ?? 0,
      messageIds: recipients.flatMap((r) => (r.messageId ? [r.messageId] : [])),
      recipients,
      states,
      ...(rate !== undefined && Number.isFinite(rate) ? { sendRate: rate } : {}),
      durationMs: Date.now() - startedAt,
      ...(files ? { files } : {}),
      ...(reason ? { reason } : {}),
      exitCode: failed === 0 ? EXIT.ok : EXIT.deliveryFailed,
    };
  }
}

function toOutcome(r: DeliveryResult): RecipientOutcome {
  return r.status === "sent"
    ? { recipient: r.recipient, status: "sent", provider: r.provider, messageId: r.messageId, attempts: r.attempts }
    : { recipient: r.recipient, status: "failed", provider: r.provider, attempts: r.attempts, error: r.error.toJSON() };
}

function logResult(log: Logger, r: DeliveryResult): void {
  if (r.status === "sent") log.info({ recipient: r.recipient, provider: r.provider, messageId: r.messageId, latencyMs: r.latencyMs }, "sent");
  else log.error({ recipient: r.recipient, provider: r.provider, err: r.error, definitelyNotSent: r.definitelyNotSent }, "not sent");
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
