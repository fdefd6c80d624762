/**
 * What every phase of a run shares: its dependencies and options, its id, logger and clock,
 * the stop, the facts gathered for the summary, and the one way to end the run.
 */
import { randomUUID } from "node:crypto";
import type { DigestConfig } from "../config";
import type { RunContext } from "../delivery/select";
import type { DeliveryProvider } from "../delivery/provider";
import type { DispatchOptions } from "../delivery/dispatch";
import { DigestError } from "../errors";
import type { FeedResult } from "../feeds";
import type { DeliveryLedger } from "../ledger";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import type { RollbackStore } from "../rollback";
import { RunStop } from "./stop";
import { endRun, type Ending, type RunFacts, type RunSummary } from "./summary";

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
  /** Also write the first recipient's message here (`digest-<date>.eml`, `.html`; `.txt` on dry run). */
  readonly outDir?: string;
  readonly runId?: string;
  /** Which files go to `outDir`: the message (.eml + .html), the parts (.html + .txt), or all. @default "message" */
  readonly files?: "message" | "parts" | "all";
  /** Pacing, ceiling and backoff of the sends. */
  readonly dispatch?: Omit<DispatchOptions, "ledger" | "logger" | "metrics" | "signal" | "keepResults">;
  /**
   * After sending, how long to wait for recipients that another run holds (a live
   * in_progress claim) to settle before the summary reads the ledger. @default 30000
   */
  readonly ledgerSettleMs?: number;
  /** @default 1000 */
  readonly ledgerPollMs?: number;
  /**
   * Stops the run (the CLI aborts it on SIGTERM): no new recipient is claimed and no send
   * starts, what is in flight settles, and the summary says `interrupted` with exit code 143.
   */
  readonly signal?: AbortSignal;
  /**
   * After the stop, how long sends in flight may settle before the summary is made from
   * what is known (`graceExceeded`; in flight and not tried counted). @default - no bound
   */
  readonly shutdownGraceMs?: number;
}

export class RunScope {
  readonly runId: string;
  readonly log: Logger;
  readonly stop: RunStop;
  readonly facts: RunFacts;
  private ended?: RunSummary;

  constructor(
    readonly deps: RunDeps,
    readonly opts: RunOptions,
  ) {
    this.runId = opts.runId ?? randomUUID();
    this.log = deps.logger.child({ runId: this.runId });
    this.stop = new RunStop(opts.signal, opts.shutdownGraceMs);
    this.facts = { runId: this.runId, dryRun: opts.dryRun === true, startedAt: Date.now(), feeds: { total: 0, ok: 0, failed: [] } };
  }

  get dryRun(): boolean {
    return this.facts.dryRun;
  }

  now(): Date {
    return (this.deps.clock ?? (() => new Date()))();
  }

  /** Ends the run (once: a later call returns the same summary and emits nothing). */
  end(ending: Ending): RunSummary {
    this.ended ??= endRun(this.facts, ending, this.stop.stopped, this.deps.metrics, this.log);
    return this.ended;
  }

  /**
   * Runs the phases: an unexpected error ends the run as internal, and after a stop the
   * shutdown grace bounds the wait (the summary is then made from what is known).
   */
  async guard(phases: () => Promise<RunSummary>): Promise<RunSummary> {
    const work = phases().catch((err: unknown) => {
      this.log.error({ err }, "run failed unexpectedly");
      this.facts.error = errorView(err);
      return this.end({ kind: "internal" });
    });
    return this.stop.withinGrace(work, () => this.end({ kind: "interrupted", graceExceeded: true }));
  }
}

/** A log-safe view of anything thrown: our errors by their safe view, anything else by its name. */
export function errorView(err: unknown): Record<string, unknown> {
  return err instanceof DigestError ? err.toJSON() : { name: err instanceof Error ? err.name : "Error" };
}
