/**
 * Builds the run's provider from the config: the migration router over SES and (when
 * `sendgrid/api_key` holds a real key) SendGrid. See router.ts for the routing rules.
 */
import type { SESClient } from "@aws-sdk/client-ses";
import type { DigestConfig } from "../config";
import { METRICS } from "../contract";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { SesFailureTest, type FailureTestOptions, type RollbackStore } from "../rollback";
import type { DeliveryProvider } from "./provider";
import { MigrationRouter } from "./router";
import { SendGridProvider } from "./sendgrid";
import { SesProvider } from "./ses";

export interface ProviderFactories {
  /** The current SES client (refreshed by SesClientCache). */
  readonly ses: () => SESClient | Promise<SESClient>;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /** SendGrid API root (the loopback emulator in tests). @default "https://api.sendgrid.com" */
  readonly sendgridBaseUrl?: string;
  /** @default 15000 */
  readonly sendgridTimeoutMs?: number;
  /** Sends per second through SendGrid when it carries the whole run. @default 10 */
  readonly sendgridMaxPerSecond?: number;
  /**
   * Why SendGrid must not be used even with a key (e.g. AWS is emulated and no local
   * SendGrid URL is set: the real API must not be reached). @default - SendGrid is used when keyed
   */
  readonly sendgridDisabled?: string;
  /** Where an automatic rollback is recorded. @default - logged and counted, not recorded */
  readonly rollbackStore?: RollbackStore;
  /** The failure-rate trip (window, p0, p1, alpha, beta). @default ROLLBACK_DEFAULTS */
  readonly rollbackTest?: FailureTestOptions;
  readonly now?: () => number;
}

/** What the run tells the provider about itself (for the rollback record). */
export interface RunContext {
  readonly runId?: string;
  readonly digestDate?: string;
  /** The run's stop: each provider checks it again right before its request leaves. */
  readonly signal?: AbortSignal;
}

export function dispatchProviderFor(config: DigestConfig, f: ProviderFactories, run: RunContext = {}): MigrationRouter {
  if (config.sendgridApiKey && f.sendgridDisabled) f.logger?.warn({ reason: f.sendgridDisabled }, "SendGrid has a key but is not used in this run");
  const sendgrid: DeliveryProvider | undefined = config.sendgridApiKey && !f.sendgridDisabled
    ? new SendGridProvider(config.sendgridApiKey, { baseUrl: f.sendgridBaseUrl, timeoutMs: f.sendgridTimeoutMs, maxPerSecond: f.sendgridMaxPerSecond, logger: f.logger, now: f.now, signal: run.signal })
    : undefined;
  if (config.sesRollback && config.useSes) {
    f.logger?.warn({ rollback: config.sesRollback, sendgridConfigured: sendgrid !== undefined }, "the SES rollback is in force: not using SES (clear it with `digest rollback clear`)");
    f.metrics?.count(METRICS.sesRollbackActive, 1);
  }
  if (!config.useSes) f.logger?.info({ sendgridConfigured: sendgrid !== undefined }, "use_ses is false: sending through SendGrid");
  return new MigrationRouter({
    ses: new SesProvider(f.ses, { configurationSet: config.configurationSet, logger: f.logger, signal: run.signal }),
    sendgrid,
    useSes: config.useSes,
    sesPercent: config.sesPercent,
    rollback: config.sesRollback,
    store: f.rollbackStore,
    test: new SesFailureTest({ now: f.now, ...f.rollbackTest }),
    runId: run.runId,
    digestDate: run.digestDate,
    logger: f.logger,
    metrics: f.metrics,
    now: f.now,
  });
}
