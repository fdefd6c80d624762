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
 * feed a sliding-window failure rate; when it exceeds the bound, or SES says sending is
 * paused, or Parameter Store fails under the SES client, the router stops using SES for
 * the rest of the run, records the rollback for later runs, logs it and counts it.
 */
import { METRICS, type RollbackRecord } from "../contract";
import { DigestError, ProviderSetupError, SendGridNotConfiguredError, SesRolledBackError, isDefinitelyNotSent, isThrottled } from "../errors";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { describeRate, FailureRateWindow, type RollbackStore } from "../rollback";
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
interface SesOff {
  readonly reason: RollbackRecord["reason"] | "use_ses=false" | "limits-unavailable";
  readonly persisted: boolean;
}

export class MigrationRouter implements DeliveryProvider {
  readonly name = "router";
  private readonly window: FailureRateWindow;
  private sesOff?: SesOff;
  private sesRemaining = Infinity;
  private persisting?: Promise<void>;
  private readonly now: () => number;
  /** The rollback this run triggered, if any. */
  triggered?: RollbackRecord;

  constructor(private readonly o: MigrationRouterOptions) {
    this.window = o.window ?? new FailureRateWindow({ now: o.now });
    this.now = o.now ?? Date.now;
    if (!o.useSes) this.sesOff = { reason: "use_ses=false", persisted: false };
    else if (o.rollback) this.sesOff = { reason: o.rollback.reason, persisted: true };
    if (o.sendgrid === undefined && o.sesPercent < 100 && !this.sesOff) {
      o.logger?.warn({ sesPercent: o.sesPercent }, "ses_percent is below 100 but SendGrid is not configured; sending everyone through SES");
    }
  }

  /** Whether SES is out for the rest of this run, and why. */
  get sesDisabled(): SesOff | undefined {
    return this.sesOff;
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
      this.sesOff = { reason: "limits-unavailable", persisted: false };
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
      this.observe(true);
      return { ...r, provider: "ses" };
    } catch (err) {
      if (isThrottled(err)) throw err; // pacing signal: the dispatcher backs off and calls again
      if (err instanceof ProviderSetupError && /^(ssm|kms):/.test(err.causeOperation ?? "") && ["AWS_ACCESS_DENIED", "AWS_CREDENTIALS_INVALID", "AWS_UNAVAILABLE"].includes(err.causeCode)) {
        this.trip("parameter-store", `Parameter Store failed under the SES client (${err.causeCode})`, err.causeCode);
      } else if (err instanceof DigestError && err.code === "SES_SENDING_PAUSED") {
        this.observe(false);
        this.trip("ses-sending-paused", "SES answered that sending is paused or suspended", err.code);
      } else {
        this.observe(false);
      }
      if (this.o.sendgrid && isDefinitelyNotSent(err)) {
        this.o.logger?.warn({ recipient: m.to, err }, "SES did not accept the message; sending it through SendGrid");
        this.o.metrics?.count(METRICS.sesFallbacks, 1);
        return this.viaSendGrid(m, "ses");
      }
      throw err;
    }
  }

  /** Waits for the rollback record to be written and closes the providers. */
  async close(): Promise<void> {
    await this.persisting;
    await Promise.all([this.o.ses.close?.(), this.o.sendgrid?.close?.()]);
  }

  private async viaSendGrid(m: DigestMessage, fallbackFrom: string | undefined): Promise<SendReceipt> {
    if (!this.o.sendgrid) {
      if (this.sesOff && this.sesOff.reason !== "use_ses=false" && this.sesOff.reason !== "limits-unavailable") throw new SesRolledBackError(m.to);
      throw new SendGridNotConfiguredError(m.to, this.sesOff?.reason === "use_ses=false" ? "use_ses is false" : "SES cannot be used for this recipient");
    }
    const r = await this.o.sendgrid.send(m);
    return { ...r, provider: "sendgrid", ...(fallbackFrom ? { fallbackFrom } : {}) };
  }

  private observe(ok: boolean): void {
    const s = this.window.record(ok);
    if (s.exceeded) this.trip("ses-failure-rate", describeRate(s, this.window), undefined);
  }

  /** Stops SES for the rest of the run and records the rollback (once). */
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
    this.sesOff = { reason, persisted: this.o.store !== undefined };
    this.o.metrics?.count(METRICS.sesRollback, 1);
    this.o.logger?.error(
      { rollback: record, parameter: this.o.store?.name, sendgridConfigured: this.o.sendgrid !== undefined },
      "SES rollback triggered: no more SES sends in this run; later runs use SendGrid until an operator clears it (digest rollback clear)",
    );
    const store = this.o.store;
    if (store) {
      this.persisting = store.record(record).then(
        () => this.o.logger?.info({ parameter: store.name }, "SES rollback recorded"),
        (err: unknown) => {
          if (this.sesOff) this.sesOff = { ...this.sesOff, persisted: false };
          this.o.logger?.error({ parameter: store.name, err }, "could not record the SES rollback; later runs will use SES again");
        },
      );
    }
  }
}
