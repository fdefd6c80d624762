/**
 * The automatic SES rollback: a sliding-window failure-rate trip (the seed: SES failure
 * rate > 5% over 10 minutes) and the `email/ses_rollback` parameter that records it, so
 * later runs send through SendGrid until an operator clears it. The parameter holds a
 * small JSON record (when, why, which run), never a secret or an address.
 */
import { GetParameterCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { METRICS, ROLLBACK_CLEARED, ROLLBACK_DEFAULTS, SECRET_PLACEHOLDER, parameterName, runtimeParameterName, type RollbackRecord } from "./contract";
import { AwsServiceError, DigestError, ProviderSetupError, mapAwsError } from "./errors";
import type { Metrics } from "./metrics";

export type { RollbackRecord } from "./contract";

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
      };
    }
  } catch {
    /* not JSON: an operator's manual value, below */
  }
  // Any other value (e.g. an operator typed "rolled_back" or "true") forces the rollback:
  // failing safe towards SendGrid. The value itself is not echoed (it is free text).
  return { state: "rolled_back", at: "unknown", reason: "manual", detail: "set by hand to a value other than the cleared value" };
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

export interface FailureRateOptions {
  /** @default 600000 (10 minutes) */
  readonly windowMs?: number;
  /** Trips when failures / attempts is strictly greater. @default 0.05 */
  readonly maxFailureRate?: number;
  /** Fewer outcomes than this in the window never trip. @default 20 */
  readonly minAttempts?: number;
  readonly now?: () => number;
}

/** What the window holds after an outcome. */
export interface FailureRateState {
  readonly attempts: number;
  readonly failures: number;
  readonly rate: number;
  /** True when this outcome crossed the threshold. */
  readonly exceeded: boolean;
}

/** SES outcomes over a sliding time window; says when the failure rate exceeds the bound. */
export class FailureRateWindow {
  readonly windowMs: number;
  readonly maxFailureRate: number;
  readonly minAttempts: number;
  private readonly now: () => number;
  /** Outcome times, oldest first (bounded by the sends of one run, at most 1000 recipients x attempts). */
  private readonly events: { t: number; ok: boolean }[] = [];
  private failures = 0;

  constructor(opts: FailureRateOptions = {}) {
    this.windowMs = opts.windowMs ?? ROLLBACK_DEFAULTS.windowMs;
    this.maxFailureRate = opts.maxFailureRate ?? ROLLBACK_DEFAULTS.maxFailureRate;
    this.minAttempts = Math.max(1, Math.floor(opts.minAttempts ?? ROLLBACK_DEFAULTS.minAttempts));
    this.now = opts.now ?? Date.now;
  }

  /** Records one SES outcome. */
  record(ok: boolean): FailureRateState {
    const t = this.now();
    this.events.push({ t, ok });
    if (!ok) this.failures++;
    this.prune(t);
    return this.state();
  }

  state(): FailureRateState {
    this.prune(this.now());
    const attempts = this.events.length;
    const rate = attempts === 0 ? 0 : this.failures / attempts;
    return { attempts, failures: this.failures, rate, exceeded: attempts >= this.minAttempts && rate > this.maxFailureRate };
  }

  private prune(t: number): void {
    while (this.events.length > 0 && this.events[0].t <= t - this.windowMs) {
      if (!this.events.shift()!.ok) this.failures--;
    }
  }
}

/** "3 of 40 SES sends failed in 10 min (7.5% > 5%)". */
export function describeRate(s: FailureRateState, w: Pick<FailureRateWindow, "windowMs" | "maxFailureRate">): string {
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  return `${s.failures} of ${s.attempts} SES sends failed in ${Math.round(w.windowMs / 60000)} min (${pct(s.rate)} > ${pct(w.maxFailureRate)})`;
}
