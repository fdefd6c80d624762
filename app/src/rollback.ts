/**
 * The automatic SES rollback: a failure-rate trip that needs evidence (the seed: SES
 * failure rate > 5% over 10 minutes) and the `email/ses_rollback` parameter that records
 * it, so later runs send through SendGrid until an operator clears it. The parameter holds
 * a small JSON record (when, why, which run, the evidence), never a secret or an address.
 *
 * The trip is Wald's sequential probability ratio test (SPRT), evaluated after every SES
 * outcome so it protects the run in progress. It weighs "SES fails p0 = 2% of sends"
 * against "p1 = 10%": each failure multiplies the likelihood ratio by p1/p0 = 5, each
 * success by (1 - p1)/(1 - p0) = 0.918, and the test trips when the ratio over the outcomes
 * of the last 10 minutes reaches (1 - beta)/alpha = 9,900. The ratio drifts up exactly when
 * the true rate is above 5.03%, the test's neutral point (the seed's 5%). By Ville's
 * inequality a run whose true rate is 2% or less trips with probability at most alpha =
 * 0.01%, however long it runs; at 10% it trips after ~110 SES outcomes on average and
 * misses with probability about beta = 1%. Six failures in a row trip it; five do not.
 * bench/rollback-simulation.ts measures both rates per list size.
 */
import { GetParameterCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { METRICS, ROLLBACK_CLEARED, ROLLBACK_DEFAULTS, SECRET_PLACEHOLDER, parameterName, runtimeParameterName, type RollbackEvidence, type RollbackRecord } from "./contract";
import { AwsServiceError, DigestError, ProviderSetupError, mapAwsError } from "./errors";
import type { Metrics } from "./metrics";

export type { RollbackEvidence, RollbackRecord } from "./contract";

/**
 * The one definition of what persists the automatic rollback (besides the failure rate):
 * Parameter Store (or its KMS key) denying access, and SES saying sending is paused or the
 * account is suspended (both SES_SENDING_PAUSED). A transient failure (5xx, throttling, a
 * network error) or credentials that do not work are not triggers: at config load they fail
 * the run (exit 2); under the SES client the run keeps the config it started with.
 */
export const ROLLBACK_TRIGGER_CODES = {
  parameterStore: new Set<string>(["AWS_ACCESS_DENIED"]),
  ses: new Set<string>(["SES_SENDING_PAUSED"]),
} as const;

/**
 * The code of a Parameter Store or KMS failure: one from loading the config, or one under
 * the SES client (a ProviderSetupError around a config reload). Undefined for anything else.
 */
export function parameterStoreFailureCode(err: unknown): string | undefined {
  if (err instanceof ProviderSetupError) return /^(ssm|kms):/.test(err.causeOperation ?? "") ? err.causeCode : undefined;
  if (err instanceof AwsServiceError) return /^(ssm|kms):/.test(err.operation) ? err.code : undefined;
  return undefined;
}

/** Whether `err` persists the rollback, with the record's reason and code. */
export function rollbackTriggerOf(err: unknown): { readonly reason: "parameter-store" | "ses-sending-paused"; readonly code: string } | undefined {
  const ps = parameterStoreFailureCode(err);
  if (ps !== undefined) return ROLLBACK_TRIGGER_CODES.parameterStore.has(ps) ? { reason: "parameter-store", code: ps } : undefined;
  if (err instanceof DigestError && ROLLBACK_TRIGGER_CODES.ses.has(err.code)) return { reason: "ses-sending-paused", code: err.code };
  return undefined;
}

/** Counts ParameterStoreAccessDenied when `err` is Parameter Store/KMS denying access (at config load or on a mid-run reload). */
export function countParameterStoreAccessDenied(metrics: Metrics | undefined, err: unknown): void {
  if (parameterStoreFailureCode(err) === "AWS_ACCESS_DENIED") metrics?.count(METRICS.parameterStoreAccessDenied, 1);
}

/** Reads a raw parameter value: undefined when no rollback is in force. */
export function parseRollbackValue(raw: string | undefined): RollbackRecord | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim();
  if (v === "" || [ROLLBACK_CLEARED, SECRET_PLACEHOLDER, "-", "false"].includes(v.toLowerCase())) return undefined;
  try {
    const o = JSON.parse(v) as Partial<RollbackRecord>;
    if (o && typeof o === "object" && o.state === "rolled_back") {
      return {
        state: "rolled_back",
        at: typeof o.at === "string" ? o.at.slice(0, 40) : "unknown",
        reason: (["ses-failure-rate", "ses-sending-paused", "parameter-store", "manual"] as const).find((r) => r === o.reason) ?? "manual",
        detail: typeof o.detail === "string" ? o.detail.slice(0, 300) : "",
        ...(typeof o.runId === "string" ? { runId: o.runId.slice(0, 64) } : {}),
        ...(typeof o.digestDate === "string" ? { digestDate: o.digestDate.slice(0, 10) } : {}),
        ...(typeof o.code === "string" ? { code: o.code.slice(0, 64) } : {}),
        ...(parseEvidence(o.evidence) ?? {}),
      };
    }
  } catch {
    /* not JSON: an operator's manual value, below */
  }
  // Any other value (e.g. an operator typed "rolled_back" or "true") forces the rollback:
  // failing safe towards SendGrid. The value itself is not echoed (it is free text).
  return { state: "rolled_back", at: "unknown", reason: "manual", detail: "set by hand to a value other than the cleared value" };
}

/** The evidence of a stored record, when it has the expected shape (numbers and ISO times only). */
function parseEvidence(raw: unknown): { evidence: RollbackEvidence } | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const o = raw as Record<string, unknown>;
  const nums = ["attempts", "failures", "windowMs", "p0", "p1", "likelihoodRatio", "bound", "confidence"] as const;
  if (o.test !== "sprt" || !nums.every((k) => typeof o[k] === "number" && Number.isFinite(o[k])) || typeof o.from !== "string" || typeof o.to !== "string") return undefined;
  const n = (k: (typeof nums)[number]) => o[k] as number;
  return {
    evidence: {
      test: "sprt",
      attempts: n("attempts"),
      failures: n("failures"),
      windowMs: n("windowMs"),
      from: o.from.slice(0, 40),
      to: o.to.slice(0, 40),
      p0: n("p0"),
      p1: n("p1"),
      likelihoodRatio: n("likelihoodRatio"),
      bound: n("bound"),
      confidence: n("confidence"),
    },
  };
}

/**
 * Whether `sendgrid/api_key` below `root` holds a real key (the value is compared with the
 * placeholder and dropped, never returned or logged): false when missing or the placeholder,
 * undefined when it cannot be read. Asked only when the config could not be loaded.
 */
export async function sendgridKeyConfigured(ssm: SSMClient, root: string): Promise<boolean | undefined> {
  const name = parameterName(root, "sendgridApiKey");
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    const v = out.Parameter?.Value?.trim();
    return v !== undefined && v !== "" && v !== SECRET_PLACEHOLDER;
  } catch (err) {
    return mapAwsError(err, "ssm:GetParameter", name).code === "AWS_PARAMETER_NOT_FOUND" ? false : undefined;
  }
}

/** Reads, records and clears `email/ses_rollback` below a parameter root. */
export class RollbackStore {
  readonly name: string;

  constructor(
    private readonly ssm: SSMClient,
    root: string,
  ) {
    this.name = runtimeParameterName(root, "sesRollback");
  }

  /** The rollback in force, if any (a missing parameter means none). */
  async read(): Promise<RollbackRecord | undefined> {
    try {
      const out = await this.ssm.send(new GetParameterCommand({ Name: this.name }));
      return parseRollbackValue(out.Parameter?.Value);
    } catch (err) {
      const e = mapAwsError(err, "ssm:GetParameter", this.name);
      if (e.code === "AWS_PARAMETER_NOT_FOUND") return undefined;
      throw e;
    }
  }

  /** Records `record` (overwrites; creates the parameter when the stack has not declared it). */
  async record(record: RollbackRecord): Promise<void> {
    await this.put(JSON.stringify(record));
  }

  /** Clears the rollback; resolves with what was in force before. */
  async clear(): Promise<RollbackRecord | undefined> {
    const previous = await this.read();
    await this.put(ROLLBACK_CLEARED);
    return previous;
  }

  private async put(value: string): Promise<void> {
    try {
      await this.ssm.send(new PutParameterCommand({ Name: this.name, Value: value, Type: "String", Overwrite: true }));
    } catch (err) {
      throw mapAwsError(err, "ssm:PutParameter", this.name);
    }
  }
}

export interface FailureTestOptions {
  /** Outcomes older than this leave the test. @default ROLLBACK_DEFAULTS.windowMs (10 minutes) */
  readonly windowMs?: number;
  /** The acceptable failure rate. @default ROLLBACK_DEFAULTS.p0 (2%) */
  readonly p0?: number;
  /** The failure rate that must trip. @default ROLLBACK_DEFAULTS.p1 (10%) */
  readonly p1?: number;
  /** Largest chance of tripping at p0. @default ROLLBACK_DEFAULTS.alpha (0.01%) */
  readonly alpha?: number;
  /** Chance of not tripping at p1. @default ROLLBACK_DEFAULTS.beta (1%) */
  readonly beta?: number;
  readonly now?: () => number;
}

/** What the test holds after an outcome. */
export interface FailureTestState {
  readonly attempts: number;
  readonly failures: number;
  /** Natural log of the likelihood ratio p1 : p0 over the window's outcomes. */
  readonly logLikelihoodRatio: number;
  /** True once the ratio reached the bound: the failure rate is above the neutral point with the stated confidence. */
  readonly tripped: boolean;
}

/**
 * Wald's SPRT over the SES outcomes of a sliding window (see the module comment). Only
 * final SES answers are outcomes: throttling is backpressure, never an outcome here.
 */
export class SesFailureTest {
  readonly windowMs: number;
  readonly p0: number;
  readonly p1: number;
  readonly alpha: number;
  readonly beta: number;
  /** ln(p1/p0): what one failure adds to the log-likelihood ratio. */
  readonly failureWeight: number;
  /** ln((1-p1)/(1-p0)) (negative): what one success adds. */
  readonly successWeight: number;
  /** ln((1-beta)/alpha): the trip bound. */
  readonly logBound: number;
  private readonly now: () => number;
  /** Outcome times and results, oldest first (at most one per recipient of a run). */
  private readonly events: { t: number; ok: boolean }[] = [];
  private failures = 0;

  constructor(opts: FailureTestOptions = {}) {
    this.windowMs = opts.windowMs ?? ROLLBACK_DEFAULTS.windowMs;
    this.p0 = opts.p0 ?? ROLLBACK_DEFAULTS.p0;
    this.p1 = opts.p1 ?? ROLLBACK_DEFAULTS.p1;
    this.alpha = opts.alpha ?? ROLLBACK_DEFAULTS.alpha;
    this.beta = opts.beta ?? ROLLBACK_DEFAULTS.beta;
    if (!(this.p0 > 0 && this.p0 < this.p1 && this.p1 < 1)) throw new RangeError("SesFailureTest needs 0 < p0 < p1 < 1");
    if (!(this.alpha > 0 && this.alpha < 1 && this.beta > 0 && this.beta < 1)) throw new RangeError("SesFailureTest needs alpha and beta in (0, 1)");
    this.failureWeight = Math.log(this.p1 / this.p0);
    this.successWeight = Math.log((1 - this.p1) / (1 - this.p0));
    this.logBound = Math.log((1 - this.beta) / this.alpha);
    this.now = opts.now ?? Date.now;
  }

  /** The failure rate at which the evidence drifts neither way (5.03% for 2% vs 10%). */
  get neutralRate(): number {
    return -this.successWeight / (this.failureWeight - this.successWeight);
  }

  /** Records one SES outcome (true: SES accepted the message). */
  record(ok: boolean): FailureTestState {
    const t = this.now();
    this.events.push({ t, ok });
    if (!ok) this.failures++;
    this.prune(t);
    return this.state();
  }

  state(): FailureTestState {
    this.prune(this.now());
    const attempts = this.events.length;
    const llr = this.failures * this.failureWeight + (attempts - this.failures) * this.successWeight;
    return { attempts, failures: this.failures, logLikelihoodRatio: llr, tripped: llr >= this.logBound };
  }

  /** The evidence of the current window, for the rollback record. */
  evidence(): RollbackEvidence {
    const s = this.state();
    const iso = (t: number | undefined) => new Date(t ?? this.now()).toISOString();
    return {
      test: "sprt",
      attempts: s.attempts,
      failures: s.failures,
      windowMs: this.windowMs,
      from: iso(this.events[0]?.t),
      to: iso(this.events.at(-1)?.t),
      p0: this.p0,
      p1: this.p1,
      likelihoodRatio: round3(Math.exp(s.logLikelihoodRatio)),
      bound: round3(Math.exp(this.logBound)),
      confidence: 1 - this.alpha,
    };
  }

  private prune(t: number): void {
    while (this.events.length > 0 && this.events[0].t <= t - this.windowMs) {
      if (!this.events.shift()!.ok) this.failures--;
    }
  }
}

function round3(x: number): number {
  return Number(x.toPrecision(3));
}

/**
 * "SES failure rate above 5%: 6 of 10 SES sends failed in the last 10 min (60%); the
 * sequential test (2% vs 10%) reached its bound at 99.99% confidence (likelihood ratio
 * 11242 >= 9900)". States the counts and the test, never a rounded comparison with the bound.
 */
export function describeTrip(e: RollbackEvidence, neutralRate: number = ROLLBACK_DEFAULTS.maxFailureRate): string {
  const pct = (x: number, digits = 1) => `${Number((x * 100).toFixed(digits))}%`;
  const ratio = e.likelihoodRatio >= 1e6 ? e.likelihoodRatio.toExponential(2) : String(Math.round(e.likelihoodRatio));
  return (
    `SES failure rate above ${pct(neutralRate, 0)}: ${e.failures} of ${e.attempts} SES sends failed in the last ${Math.round(e.windowMs / 60000)} min ` +
    `(${pct(e.failures / Math.max(1, e.attempts))}); the sequential test (${pct(e.p0, 0)} vs ${pct(e.p1, 0)}) reached its bound ` +
    `at ${pct(e.confidence, 2)} confidence (likelihood ratio ${ratio} >= ${Math.round(e.bound)})`
  );
}
