/**
 * Migration control (`npm run rollout`): what share of recipients goes through SES, whether a
 * rollback is in force and why, and how SES and SendGrid compared over the last days, read
 * from the delivery ledger (LEDGER in app/src/contract.ts: one item per digest date and
 * recipient with its state, provider and the provider's latency).
 *
 * The runbook's steps and the gate between them are defined here once ({@link ROLLOUT_STEPS},
 * {@link ROLLOUT_GATE}); `rollout set` enforces them and docs/runbook.md is generated from them.
 */
import { QueryCommand, type AttributeValue, type DynamoDBClient, type QueryCommandOutput } from "@aws-sdk/client-dynamodb";
import { GetParametersCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { CliError, EXIT } from "../../app/src/cli-kit";
import { LEDGER, ROLLBACK_DEFAULTS, parameterName, runtimeParameterName, type RollbackRecord } from "../../app/src/contract";
import { mapAwsError } from "../../app/src/errors";
import { digestDate } from "../../app/src/render";
import { parseRollbackValue } from "../../app/src/rollback";
import { parseFlag, parsePercent } from "../../app/src/validation";
import type { StageEnv } from "./stage-env";

/** The runbook's SES shares, in order: `rollout set` moves up one step at a time (down: any step). */
export const ROLLOUT_STEPS = [0, 10, 25, 50, 100] as const;

/** The measured gate before the share goes up a step (docs/runbook.md is generated from it). */
export const ROLLOUT_GATE = {
  /** Days `rollout status` reports and the gate looks back over (digest dates, today included). */
  windowDays: 7,
  /** Digest dates in the window with SES outcomes the gate needs (so one good day is not enough). */
  minSesDays: 3,
  /** SES's failure rate may exceed SendGrid's by at most this (absolute; 0.01 = one percentage point). */
  failureRateMargin: 0.01,
  /** SES's p95 latency may be at most this multiple of SendGrid's. */
  p95Ratio: 1.2,
  /** And SES's failure rate never above the automatic rollback's own trigger. */
  maxFailureRate: ROLLBACK_DEFAULTS.maxFailureRate,
} as const;

/** One provider's outcomes over some days. `failureRate` counts failed and unknown against all settled outcomes. */
export interface ProviderStats {
  readonly sent: number;
  readonly failed: number;
  readonly unknown: number;
  readonly inProgress: number;
  readonly failureRate: number | null;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  /** How many sent items carried a latency. */
  readonly latencySamples: number;
}

/** One ledger item, as much of it as the statistics need. */
export interface LedgerOutcome {
  readonly date: string;
  /** The provider that settled it; "none" when the item has none (e.g. failed before any provider). */
  readonly provider: string;
  readonly state: string;
  readonly latencyMs?: number;
}

/** Nearest-rank percentile of `sorted` (ascending); null when empty. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** Statistics per provider of `items`. */
export function statsByProvider(items: readonly LedgerOutcome[]): Record<string, ProviderStats> {
  const groups = new Map<string, LedgerOutcome[]>();
  for (const i of items) groups.set(i.provider, [...(groups.get(i.provider) ?? []), i]);
  const out: Record<string, ProviderStats> = {};
  for (const [provider, list] of [...groups].sort(([a], [b]) => providerOrder(a) - providerOrder(b) || a.localeCompare(b))) {
    const count = (state: string) => list.filter((i) => i.state === state).length;
    const [sent, failed, unknown] = [count("sent"), count("failed"), count("unknown")];
    const latencies = list.filter((i) => i.state === "sent" && i.latencyMs !== undefined).map((i) => i.latencyMs!).sort((a, b) => a - b);
    const settled = sent + failed + unknown;
    out[provider] = {
      sent,
      failed,
      unknown,
      inProgress: count("in_progress"),
      failureRate: settled ? (failed + unknown) / settled : null,
      p50Ms: percentile(latencies, 0.5),
      p95Ms: percentile(latencies, 0.95),
      latencySamples: latencies.length,
    };
  }
  return out;
}

function providerOrder(p: string): number {
  return p === "ses" ? 0 : p === "sendgrid" ? 1 : 2;
}

/** The `n` digest dates ending with the one of `now` (America/New_York), newest first. */
export function recentDates(now: Date, n: number): string[] {
  const [y, m, d] = digestDate(now).split("-").map(Number) as [number, number, number];
  return Array.from({ length: n }, (_, i) => new Date(Date.UTC(y, m - 1, d - i)).toISOString().slice(0, 10));
}

/** Every item of the ledger for `dates` (one paginated Query per date, bounded). */
export async function readOutcomes(ddb: DynamoDBClient, table: string, dates: readonly string[]): Promise<LedgerOutcome[]> {
  const A = LEDGER.attributes;
  const out: LedgerOutcome[] = [];
  for (const date of dates) {
    let start: Record<string, AttributeValue> | undefined;
    // Bounded: 1000 recipients of small items fit in a few 1 MB pages.
    for (let page = 0; page < 20; page++) {
      let res: QueryCommandOutput;
      try {
        res = await ddb.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: "#pk = :d",
            ProjectionExpression: "#st, #pv, #lat",
            ExpressionAttributeNames: { "#pk": LEDGER.partitionKey, "#st": A.state, "#pv": A.provider, "#lat": A.latencyMs },
            ExpressionAttributeValues: { ":d": { S: date } },
            ExclusiveStartKey: start,
          }),
        );
      } catch (err) {
        throw mapAwsError(err, "dynamodb:Query", table);
      }
      for (const item of res.Items ?? []) {
        const lat = item[A.latencyMs]?.N;
        out.push({ date, provider: item[A.provider]?.S ?? "none", state: item[A.state]?.S ?? "unknown", ...(lat !== undefined && Number.isFinite(Number(lat)) ? { latencyMs: Number(lat) } : {}) });
      }
      start = res.LastEvaluatedKey;
      if (!start) break;
    }
  }
  return out;
}

/** Whether the data of `outcomes` lets the share go up a step (see {@link ROLLOUT_GATE}). */
export interface GateVerdict {
  readonly passed: boolean;
  /** Why not (empty when passed). */
  readonly reasons: readonly string[];
  readonly sesDays: number;
  readonly ses?: ProviderStats;
  readonly sendgrid?: ProviderStats;
}

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;

/** Evaluates the gate over `outcomes` (the window's ledger items). */
export function evaluateGate(outcomes: readonly LedgerOutcome[], gate = ROLLOUT_GATE): GateVerdict {
  const stats = statsByProvider(outcomes);
  const ses = stats.ses;
  const sendgrid = stats.sendgrid;
  const sesDays = new Set(outcomes.filter((o) => o.provider === "ses" && o.state !== "in_progress").map((o) => o.date)).size;
  const reasons: string[] = [];
  if (sesDays < gate.minSesDays) reasons.push(`SES has outcomes on ${sesDays} of the ${gate.minSesDays} digest days the gate needs (last ${gate.windowDays} days)`);
  if (ses?.failureRate != null) {
    if (ses.failureRate > gate.maxFailureRate) reasons.push(`SES failure rate ${pct(ses.failureRate)} is above ${pct(gate.maxFailureRate)} (the automatic rollback's trigger)`);
    if (sendgrid?.failureRate != null && ses.failureRate > sendgrid.failureRate + gate.failureRateMargin) {
      reasons.push(`SES failure rate ${pct(ses.failureRate)} is worse than SendGrid's ${pct(sendgrid.failureRate)} by more than ${pct(gate.failureRateMargin)}`);
    }
  }
  if (ses?.p95Ms != null && sendgrid?.p95Ms != null && ses.p95Ms > sendgrid.p95Ms * gate.p95Ratio) {
    reasons.push(`SES p95 latency ${ses.p95Ms} ms is above ${gate.p95Ratio}x SendGrid's ${sendgrid.p95Ms} ms`);
  }
  return { passed: reasons.length === 0, reasons, sesDays, ...(ses ? { ses } : {}), ...(sendgrid ? { sendgrid } : {}) };
}

/** What moving the share from `from` to `to` is, by the runbook. */
export interface MoveCheck {
  readonly direction: "up" | "down" | "same";
  /** Why the runbook does not allow it (undefined: allowed, subject to the gate when up). */
  readonly refused?: string;
  /** Whether the gate applies (moving up from a share that already sends through SES). */
  readonly gated: boolean;
}

/** Checks a move against {@link ROLLOUT_STEPS}: up one step at a time, down to any step. */
export function checkMove(from: number, to: number): MoveCheck {
  const steps: readonly number[] = ROLLOUT_STEPS;
  const direction = to > from ? "up" : to < from ? "down" : "same";
  if (!steps.includes(to)) return { direction, refused: `${to} is not a step of the runbook (${steps.join(", ")})`, gated: false };
  if (direction !== "up") return { direction, gated: false };
  const next = steps.find((s) => s > from)!;
  if (to !== next) return { direction, refused: `from ${from} the next step is ${next}, not ${to} (one step at a time)`, gated: from > 0 };
  return { direction, gated: from > 0 };
}

/** The next step up from `from`, if any. */
export function nextStep(from: number): number | undefined {
  return (ROLLOUT_STEPS as readonly number[]).find((s) => s > from);
}

/** The rollout parameters of a stage as they are now. */
export interface RolloutState {
  /** `email/use_ses` as the sender reads it (unset: true); undefined when the value is invalid. */
  readonly useSes: boolean | undefined;
  /** `email/ses_percent` as the sender reads it (unset: 100); undefined when invalid. */
  readonly sesPercent: number | undefined;
  readonly rawUseSes?: string;
  readonly rawSesPercent?: string;
  /** The rollback in force, and every field its record carries (evidence included). */
  readonly rollback?: RollbackRecord & Record<string, unknown>;
}

/** Reads use_ses, ses_percent and the rollback record below the stage's root. */
export async function readRolloutState(ssm: SSMClient, s: Pick<StageEnv, "parameterRoot">): Promise<RolloutState> {
  const useSesName = parameterName(s.parameterRoot, "useSes");
  const percentName = parameterName(s.parameterRoot, "sesPercent");
  const rollbackName = runtimeParameterName(s.parameterRoot, "sesRollback");
  let values: Map<string, string>;
  try {
    const out = await ssm.send(new GetParametersCommand({ Names: [useSesName, percentName, rollbackName] }));
    values = new Map((out.Parameters ?? []).map((p) => [p.Name ?? "", p.Value ?? ""]));
  } catch (err) {
    throw mapAwsError(err, "ssm:GetParameters", s.parameterRoot);
  }
  const flag = parseFlag(values.get(useSesName));
  const percent = parsePercent(values.get(percentName));
  const raw = values.get(rollbackName);
  const record = parseRollbackValue(raw);
  let extra: Record<string, unknown> = {};
  if (record && raw) {
    try {
      const o = JSON.parse(raw) as unknown;
      // Fields beyond the parsed record (e.g. the evidence the sender recorded), shown as they are.
      if (o && typeof o === "object" && !Array.isArray(o)) extra = Object.fromEntries(Object.entries(o).filter(([k]) => !(k in record)));
    } catch {
      /* a value set by hand: the parsed record says so */
    }
  }
  return {
    useSes: flag.ok ? (flag.value ?? true) : undefined,
    sesPercent: percent.ok ? (percent.value ?? 100) : undefined,
    ...(values.has(useSesName) ? { rawUseSes: values.get(useSesName) } : {}),
    ...(values.has(percentName) ? { rawSesPercent: values.get(percentName) } : {}),
    ...(record ? { rollback: { ...extra, ...record } } : {}),
  };
}

/** Writes `email/ses_percent` (a String the stack declares). */
export async function writeSesPercent(ssm: SSMClient, s: Pick<StageEnv, "parameterRoot">, percent: number): Promise<void> {
  const name = parameterName(s.parameterRoot, "sesPercent");
  try {
    await ssm.send(new PutParameterCommand({ Name: name, Value: String(percent), Type: "String", Overwrite: true }));
  } catch (err) {
    throw mapAwsError(err, "ssm:PutParameter", name);
  }
}

/** A detail an operator gives a manual rollback: one short line, no address (the record holds none). */
export function checkRollbackDetail(detail: string): string {
  const d = detail.trim();
  if (d.length === 0 || d.length > 200 || /[\u0000-\u001f\u007f]/.test(d) || d.includes("@")) {
    throw new CliError("USAGE", "--detail must be one line of 1-200 characters without an email address", EXIT.usage);
  }
  return d;
}
