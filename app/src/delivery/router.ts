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
 * throttling, or no request made) is sent through SendGrid in the same run. SES outcomes
 * feed a sliding-window failure rate and the SesAttempts/SesFailures metrics (one attempt
 * per recipient handed to SES; a failure unless SES accepted it); when the rate exceeds
 * the bound, or SES says sending is paused / the account is suspended, or Parameter Store
 * denies access under the SES client, the router stops using SES for the rest of the run,
 * records the rollback for later runs (rollback.ts defines the triggers), logs and counts it.
 * Without a SendGrid key it is not recorded (nothing to fall back to): this run only.
 */
import { METRICS, type RollbackRecord } from "../contract";
import { DigestError, ProviderSetupError, SendGridNotConfiguredError, SesRolledBackError, isDefinitelyNotSent, isThrottled } from "../errors";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { countParameterStoreAccessDenied, describeRate, FailureRateWindow, rollbackTriggerOf, type RollbackStore } from "../rollback";
import type { DeliveryProvider, DigestMessage, SendLimits, SendReceipt } from "./provider";
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
  /** The failure-rate trip. @default - 5% over 10 minutes, at least 20 SES outcomes */
  readonly window?: FailureRateWindow;
  readonly runId?: string;
  readonly digestDate?: string;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly now?: () => number;
}

/** Why SES is out for the rest of the run. */
type SesOffReason = RollbackRecord["reason"] | "use_ses=false" | "limits-unavailable";

export class MigrationRouter implements DeliveryProvider {
  readonly name = "router";
  private readonly window: FailureRateWindow;
  private sesOff?: SesOffReason;
  private sesRemaining = Infinity;
  private persisting?: Promise<void>;
  /** Recipients whose last SES answer was throttling (no final SES outcome yet). */
  private readonly throttled = new Set<DigestMessage>();
  private readonly now: () => number;
  /** The rollback this run triggered, if any. */
  triggered?: RollbackRecord;
  /** Whether {@link triggered} was recorded for later runs (false without a SendGrid key; final after close()). */
  persisted?: boolean;

  constructor(private readonly o: MigrationRouterOptions) {
    this.window = o.window ?? new FailureRateWindow({ now: o.now });
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

  /** SES limits when SES carries some of this run, else SendGrid's. */
  async limits(): Promise<SendLimits> {
    const sesInUse = !this.sesOff && (this.o.sesPercent > 0 || !this.o.sendgrid);
    if (!sesInUse) return this.o.sendgrid ? this.o.sendgrid.limits() : { maxPerSecond: 10, remaining24h: Infinity };
    try {
      const l = await this.o.ses.limits();
      this.sesRemaining = l.remaining24h;
      // SendGrid takes whatever the SES quota cannot.
      return this.o.sendgrid ? { ...l, remaining24h: Infinity } : l;
    } catch (err) {
      if (!this.o.sendgrid) throw err;
      const e = err instanceof DigestError ? err : undefined;
      this.o.logger?.error({ err: e ?? { name: "Error" } }, "could not read the SES sending limits; this run sends through SendGrid");
      this.sesOff = "limits-unavailable";
      return this.o.sendgrid.limits();
    }
  }

  async prepare(m: DigestMessage): Promise<void> {
    if (this.routeOf(m.to) === "ses") await this.o.ses.prepare?.(m);
  }

  async send(m: DigestMessage): Promise<SendReceipt> {
    const route = this.routeOf(m.to);
    if (route === "sendgrid") return this.viaSendGrid(m, undefined);
    if (this.sesRemaining <= 0) {
      if (this.o.sendgrid) return this.viaSendGrid(m, "ses");
    }
    try {
      const r = await this.o.ses.send(m);
      this.sesRemaining--;
      this.countSes(m, true);
      this.observe(true);
      return { ...r, provider: "ses" };
    } catch (err) {
      if (isThrottled(err)) {
        // Pacing signal: the dispatcher backs off and calls again. If it gives up, close()
        // counts the recipient as an SES failure (throttled past retries).
        this.throttled.add(m);
        throw err;
      }
      const trigger = rollbackTriggerOf(err);
      if (err instanceof ProviderSetupError) {
        // The SES client could not be set up (its config reload failed): no SES request was
        // made, so no SES outcome. Parameter Store denying access rolls SES back.
        this.throttled.delete(m);
        countParameterStoreAccessDenied(this.o.metrics, err);
        if (trigger) this.trip(trigger.reason, `Parameter Store failed under the SES client (${trigger.code})`, trigger.code);
      } else {
        // Rejected (perhaps sent through SendGrid next) or ambiguous: an SES failure either way.
        this.countSes(m, false);
        this.observe(false);
        if (trigger) this.trip(trigger.reason, "SES answered that sending is paused or suspended", trigger.code);
      }
      if (this.o.sendgrid && isDefinitelyNotSent(err)) {
        this.o.logger?.warn({ recipient: m.to, err }, "SES did not accept the message; sending it through SendGrid");
        this.o.metrics?.count(METRICS.sesFallbacks, 1);
        return this.viaSendGrid(m, "ses");
      }
      throw err;
    }
  }

  /**
   * Finalizes recipients SES last answered with throttling (the dispatcher gave up on them):
   * each is an SES failure for the metrics and for the failure-rate window alike (which may
   * trip, and record, the rollback for later runs). Then waits for the rollback record to be
   * written and closes the providers.
   */
  async close(): Promise<void> {
    for (const m of [...this.throttled]) {
      this.countSes(m, false);
      this.observe(false);
    }
    await this.persisting;
    await Promise.all([this.o.ses.close?.(), this.o.sendgrid?.close?.()]);
  }

  private async viaSendGrid(m: DigestMessage, fallbackFrom: string | undefined): Promise<SendReceipt> {
    if (!this.o.sendgrid) {
      if (this.sesOff && this.sesOff !== "use_ses=false" && this.sesOff !== "limits-unavailable") throw new SesRolledBackError(m.to);
      throw new SendGridNotConfiguredError(m.to, this.sesOff === "use_ses=false" ? "use_ses is false" : "SES cannot be used for this recipient");
    }
    const r = await this.o.sendgrid.send(m);
    return { ...r, provider: "sendgrid", ...(fallbackFrom ? { fallbackFrom } : {}) };
  }

  /**
   * The final SES outcome of one recipient, for the SesAttempts/SesFailures metrics that
   * the stack's SES failure-rate alarm reads: one attempt per recipient handed to SES, a
   * failure unless SES accepted it (SendGrid sending it afterwards does not change that).
   */
  private countSes(m: DigestMessage, ok: boolean): void {
    this.throttled.delete(m);
    this.o.metrics?.count(METRICS.sesAttempts, 1);
    this.o.metrics?.count(METRICS.sesFailures, ok ? 0 : 1);
  }

  /** One SES outcome into the failure-rate window (which may trip the rollback). */
  private observe(ok: boolean): void {
    const s = this.window.record(ok);
    if (s.exceeded) this.trip("ses-failure-rate", describeRate(s, this.window), undefined);
  }

  /**
   * Stops SES for the rest of the run and records the rollback (once). Without a SendGrid
   * key there is nothing to fall back to: a recorded rollback would fail every recipient of
   * every later run (the catch-up included) until an operator clears it, so SES is stopped
   * for this run only and nothing is recorded; the SesRollback metric (and its alarm) and
   * the summary still say it happened.
   */
  private trip(reason: RollbackRecord["reason"], detail: string, code: string | undefined): void {
    if (this.sesOff) return;
    const record: RollbackRecord = {
      state: "rolled_back",
      at: new Date(this.now()).toISOString(),
      reason,
      detail,
      ...(this.o.runId ? { runId: this.o.runId } : {}),
      ...(this.o.digestDate ? { digestDate: this.o.digestDate } : {}),
      ...(code ? { code } : {}),
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
