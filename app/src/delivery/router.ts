/**
 * The migration router (the seed's phases 1-3 and its rollback), itself a provider:
 *
 *   use_ses false (parameter or USE_SES_EMAIL=false)  -> everything via SendGrid
 *   a rollback in force (email/ses_rollback)           -> everything via SendGrid
 *   otherwise                                          -> SES for the recipients whose
 *                                                         sticky bucket < ses_percent,
 *                                                         SendGrid for the rest
 *
 * A recipient whose SES send was certainly not accepted (a 4xx answer other than
 * throttling, no request made, or SES's daily quota used up) is sent through SendGrid in
 * the same run. Each request passes the dispatcher's gate for its own provider first (SES's
 * pacer for SES, SendGrid's for SendGrid, the fallback included), so each provider keeps its
 * own rate whatever the split or a mid-run rollback.
 *
 * SES outcomes (final answers other than throttling) feed the rollback's sequential test
 * and the SesAttempts/SesFailures metrics (one attempt per recipient SES answered; a
 * failure unless SES accepted it). Throttling is backpressure: counted in SesThrottled and
 * retried by the dispatcher, never an SES failure. When the test trips, or SES says sending
 * is paused / the account is suspended, or Parameter Store denies access under the SES
 * client, the router stops using SES for the rest of the run, records the rollback with its
 * evidence for later runs (rollback.ts defines the triggers), logs and counts it. Without a
 * SendGrid key it is not recorded (nothing to fall back to): this run only.
 */
import { METRICS, type RollbackRecord } from "../contract";
import { DigestError, ProviderSetupError, QuotaExceededError, SendGridNotConfiguredError, SendInterruptedError, SesRolledBackError, isDefinitelyNotSent, isThrottled } from "../errors";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { countParameterStoreAccessDenied, describeTrip, SesFailureTest, rollbackTriggerOf, type RollbackStore } from "../rollback";
import type { DeliveryProvider, DigestMessage, RoutingProvider, SendGate, SendLimits, SendReceipt } from "./provider";
import { inSesShare } from "./rollout";

export type Route = "ses" | "sendgrid";

export interface MigrationRouterOptions {
  /** The SES provider. */
  readonly ses: DeliveryProvider;
  /** The SendGrid provider; undefined when `sendgrid/api_key` is unset. */
  readonly sendgrid?: DeliveryProvider;
  readonly useSes: boolean;
  /** 0..100, sticky per recipient. */
  readonly sesPercent: number;
  /** A rollback recorded by an earlier run (or an operator), in force for this run. */
  readonly rollback?: RollbackRecord;
  /** Where a rollback this run triggers is recorded. @default - not recorded (logged and counted only) */
  readonly store?: RollbackStore;
  /** The failure-rate trip. @default - the SPRT of ROLLBACK_DEFAULTS (2% vs 10% over 10 minutes) */
  readonly test?: SesFailureTest;
  readonly runId?: string;
  readonly digestDate?: string;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly now?: () => number;
}

/** Why SES is out for the rest of the run. */
type SesOffReason = RollbackRecord["reason"] | "use_ses=false" | "limits-unavailable";

/** A gate that lets every request through (a router used outside a dispatcher: tests, the benchmark). */
const OPEN_GATE: SendGate = { pass: async () => undefined };

export class MigrationRouter implements RoutingProvider {
  readonly name = "router";
  private readonly test: SesFailureTest;
  private sesOff?: SesOffReason;
  private persisting?: Promise<void>;
  private readonly now: () => number;
  /** The rollback this run triggered, if any. */
  triggered?: RollbackRecord;
  /** Whether {@link triggered} was recorded for later runs (false without a SendGrid key; final after close()). */
  persisted?: boolean;

  constructor(private readonly o: MigrationRouterOptions) {
    this.test = o.test ?? new SesFailureTest({ now: o.now });
    this.now = o.now ?? Date.now;
    if (!o.useSes) this.sesOff = "use_ses=false";
    else if (o.rollback) this.sesOff = o.rollback.reason;
    if (o.sendgrid === undefined && o.sesPercent < 100 && !this.sesOff) {
      o.logger?.warn({ sesPercent: o.sesPercent }, "ses_percent is below 100 but SendGrid is not configured; sending everyone through SES");
    }
  }

  /** Where `address` goes now (sticky share, unless SES is out). */
  routeOf(address: string): Route {
    if (this.sesOff) return "sendgrid";
    if (!this.o.sendgrid) return "ses";
    return inSesShare(address, this.o.sesPercent) ? "ses" : "sendgrid";
  }

  /**
   * The limits of each provider this run may use: SES when it carries some of the run,
   * SendGrid when it is configured (it takes the routed share, fallbacks and a rollback).
   * SES limits that cannot be read move this run to SendGrid (or fail it without SendGrid).
   */
  async lanes(): Promise<ReadonlyMap<string, SendLimits>> {
    const lanes = new Map<string, SendLimits>();
    const sesInUse = !this.sesOff && (this.o.sesPercent > 0 || !this.o.sendgrid);
    if (sesInUse) {
      try {
        lanes.set("ses", await this.o.ses.limits());
      } catch (err) {
        if (!this.o.sendgrid) throw err;
        const e = err instanceof DigestError ? err : undefined;
        this.o.logger?.error({ err: e ?? { name: "Error" } }, "could not read the SES sending limits; this run sends through SendGrid");
        this.sesOff = "limits-unavailable";
      }
    }
    if (this.o.sendgrid) lanes.set("sendgrid", await this.o.sendgrid.limits());
    if (lanes.size === 0) lanes.set("sendgrid", { maxPerSecond: 10, remaining24h: Infinity });
    return lanes;
  }

  /** The limits of the provider that carries most of this run (a router used as a plain provider). */
  async limits(): Promise<SendLimits> {
    const lanes = await this.lanes();
    return lanes.get("ses") ?? lanes.get("sendgrid")!;
  }

  async send(m: DigestMessage, gate: SendGate = OPEN_GATE): Promise<SendReceipt> {
    if (this.routeOf(m.to) === "sendgrid") return this.viaSendGrid(m, undefined, gate);
    try {
      await gate.pass("ses");
    } catch (err) {
      // SES's daily quota is used up: no SES request was made; SendGrid may take it.
      if (err instanceof QuotaExceededError && this.o.sendgrid) return this.viaSendGrid(m, "ses", gate);
      throw err;
    }
    try {
      const r = await this.o.ses.send(m);
      this.countSes(true);
      this.observe(true);
      return { ...r, provider: "ses" };
    } catch (err) {
      // Stopped before the request left: no SES outcome, and no fallback after a stop.
      if (err instanceof SendInterruptedError) throw err;
      if (isThrottled(err)) {
        // Backpressure, not an SES outcome: the dispatcher backs off and calls again.
        this.o.metrics?.count(METRICS.sesThrottled, 1);
        throw err;
      }
      const trigger = rollbackTriggerOf(err);
      if (err instanceof ProviderSetupError) {
        // The SES client could not be set up (its config reload failed): no SES request was
        // made, so no SES outcome. Parameter Store denying access rolls SES back.
        countParameterStoreAccessDenied(this.o.metrics, err);
        if (trigger) this.trip(trigger.reason, `Parameter Store failed under the SES client (${trigger.code})`, trigger.code);
      } else {
        // Rejected (perhaps sent through SendGrid next) or ambiguous: an SES failure either way.
        this.countSes(false);
        this.observe(false);
        if (trigger) this.trip(trigger.reason, "SES answered that sending is paused or suspended", trigger.code);
      }
      if (this.o.sendgrid && isDefinitelyNotSent(err)) {
        this.o.logger?.warn({ recipient: m.to, err }, "SES did not accept the message; sending it through SendGrid");
        this.o.metrics?.count(METRICS.sesFallbacks, 1);
        return this.viaSendGrid(m, "ses", gate);
      }
      throw err;
    }
  }

  /** Waits for the rollback record to be written and closes the providers. */
  async close(): Promise<void> {
    await this.persisting;
    await Promise.all([this.o.ses.close?.(), this.o.sendgrid?.close?.()]);
  }

  private async viaSendGrid(m: DigestMessage, fallbackFrom: string | undefined, gate: SendGate): Promise<SendReceipt> {
    if (!this.o.sendgrid) {
      if (this.sesOff && this.sesOff !== "use_ses=false" && this.sesOff !== "limits-unavailable") throw new SesRolledBackError(m.to);
      throw new SendGridNotConfiguredError(m.to, this.sesOff === "use_ses=false" ? "use_ses is false" : "SES cannot be used for this recipient");
    }
    await gate.pass("sendgrid");
    const r = await this.o.sendgrid.send(m);
    return { ...r, provider: "sendgrid", ...(fallbackFrom ? { fallbackFrom } : {}) };
  }

  /**
   * The final SES outcome of one recipient, for the SesAttempts/SesFailures metrics that
   * the stack's SES failure-rate alarm reads: one attempt per recipient SES answered, a
   * failure unless SES accepted it (SendGrid sending it afterwards does not change that).
   */
  private countSes(ok: boolean): void {
    this.o.metrics?.count(METRICS.sesAttempts, 1);
    this.o.metrics?.count(METRICS.sesFailures, ok ? 0 : 1);
  }

  /** One SES outcome into the sequential test (which may trip the rollback). */
  private observe(ok: boolean): void {
    if (this.sesOff) return;
    if (this.test.record(ok).tripped) {
      const evidence = this.test.evidence();
      this.trip("ses-failure-rate", describeTrip(evidence, this.test.neutralRate), undefined, evidence);
    }
  }

  /**
   * Stops SES for the rest of the run and records the rollback (once). Without a SendGrid
   * key there is nothing to fall back to: a recorded rollback would fail every recipient of
   * every later run (the catch-up included) until an operator clears it, so SES is stopped
   * for this run only and nothing is recorded; the SesRollback metric (and its alarm) and
   * the summary still say it happened.
   */
  private trip(reason: RollbackRecord["reason"], detail: string, code: string | undefined, evidence?: RollbackRecord["evidence"]): void {
    if (this.sesOff) return;
    const record: RollbackRecord = {
      state: "rolled_back",
      at: new Date(this.now()).toISOString(),
      reason,
      detail,
      ...(this.o.runId ? { runId: this.o.runId } : {}),
      ...(this.o.digestDate ? { digestDate: this.o.digestDate } : {}),
      ...(code ? { code } : {}),
      ...(evidence ? { evidence } : {}),
    };
    this.triggered = record;
    this.sesOff = reason;
    this.o.metrics?.count(METRICS.sesRollback, 1);
    const store = this.o.store;
    if (!this.o.sendgrid) {
      this.persisted = false;
      this.o.logger?.error(
        { rollback: record, parameter: store?.name, sendgridConfigured: false, persisted: false },
        "SES rollback triggered with no SendGrid key to fall back to: no more SES sends in this run only; it is NOT recorded, so the next run uses SES again",
      );
      return;
    }
    this.persisted = store !== undefined;
    this.o.logger?.error(
      { rollback: record, parameter: store?.name, sendgridConfigured: true, persisted: this.persisted },
      "SES rollback triggered: no more SES sends in this run; later runs use SendGrid until an operator clears it (digest rollback clear)",
    );
    if (store) {
      this.persisting = store.record(record).then(
        () => this.o.logger?.info({ parameter: store.name }, "SES rollback recorded"),
        (err: unknown) => {
          this.persisted = false;
          this.o.logger?.error({ parameter: store.name, err }, "could not record the SES rollback; later runs will use SES again");
        },
      );
    }
  }
}
