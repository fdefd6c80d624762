/**
 * `npm run rollout -- status|set <percent>|rollback|clear --stage <stage>`: the SES migration
 * from an operator's chair (docs/runbook.md).
 *
 *   status          use_ses, ses_percent, any rollback in force and why, and the last 7 days
 *                   per provider from the delivery ledger (sent, failed, unknown, p50/p95 latency)
 *   set <percent>   move ses_percent one runbook step up (after the gate) or to any step down
 *   rollback        force the rollback: every recipient through SendGrid from the next run on
 *   clear           clear a rollback: the next run uses SES again (per use_ses/ses_percent)
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SSMClient } from "@aws-sdk/client-ssm";
import { Cli, CliError, EXIT, STANDARD_EXIT_DOCS, describeFailure, processIo, stageOption, type CliIo } from "../app/src/cli-kit";
import { DIGEST_TIME_ZONE, type RollbackRecord } from "../app/src/contract";
import { RollbackStore, sendgridKeyConfigured } from "../app/src/rollback";
import { parsePercent } from "../app/src/validation";
import {
  ROLLOUT_GATE,
  ROLLOUT_STEPS,
  checkMove,
  checkRollbackDetail,
  evaluateGate,
  nextStep,
  readOutcomes,
  readRolloutState,
  recentDates,
  statsByProvider,
  writeSesPercent,
  type GateVerdict,
  type LedgerOutcome,
  type ProviderStats,
  type RolloutState,
} from "./lib/rollout";
import { STAGE_ENV_DOCS, STAGE_NAMES, awsClientConfig, describeStage, resolveStage, type StageEnv } from "./lib/stage-env";
import type { StageName } from "../modules/stages";

export interface RolloutClients {
  readonly ssm: SSMClient;
  readonly ddb: DynamoDBClient;
  readonly destroy?: () => void;
}

export interface RolloutDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clients: (s: StageEnv) => RolloutClients;
  readonly now: () => Date;
}

function stageClients(s: StageEnv): RolloutClients {
  const ssm = new SSMClient(awsClientConfig(s));
  const ddb = new DynamoDBClient(awsClientConfig(s));
  return { ssm, ddb, destroy: () => [ssm, ddb].forEach((c) => c.destroy()) };
}

/** Everything `status` reports (also what `set` decides on). */
interface Snapshot {
  readonly state: RolloutState;
  readonly dates: string[];
  readonly outcomes: LedgerOutcome[];
  readonly gate: GateVerdict;
  /** Set when the ledger could not be read (the rest is still reported). */
  readonly ledgerError?: string;
}

async function snapshot(s: StageEnv, c: RolloutClients, now: Date): Promise<Snapshot> {
  const state = await readRolloutState(c.ssm, s);
  const dates = recentDates(now, ROLLOUT_GATE.windowDays);
  let outcomes: LedgerOutcome[] = [];
  let ledgerError: string | undefined;
  try {
    outcomes = await readOutcomes(c.ddb, s.ledgerTable, dates);
  } catch (err) {
    const d = describeFailure(err);
    // Access denied or no credentials: the operator cannot act either; say so with the usual exit code.
    if (d.exitCode === EXIT.config) throw err;
    ledgerError = `${d.code}: ${d.message}`;
  }
  return { state, dates, outcomes, gate: evaluateGate(outcomes), ...(ledgerError ? { ledgerError } : {}) };
}

const pct = (x: number | null) => (x === null ? "-" : `${(Math.round(x * 1000) / 10).toFixed(1)}%`);
const ms = (x: number | null) => (x === null ? "-" : String(x));

function statsRow(label: string, provider: string, st: ProviderStats): string {
  return `${label.padEnd(10)}  ${provider.padEnd(9)} ${String(st.sent).padStart(5)} ${String(st.failed).padStart(7)} ${String(st.unknown).padStart(8)} ${String(st.inProgress).padStart(12)} ${pct(st.failureRate).padStart(7)} ${ms(st.p50Ms).padStart(7)} ${ms(st.p95Ms).padStart(7)}`;
}

function rollbackLines(r: RolloutState["rollback"]): string[] {
  if (!r) return ["rollback     none"];
  const extra = Object.entries(r).filter(([k]) => !["state", "at", "reason", "detail", "runId", "digestDate", "code"].includes(k));
  const ids = [r.runId && `run ${r.runId}`, r.digestDate && `digest ${r.digestDate}`, r.code && `code ${r.code}`].filter(Boolean).join(", ");
  return [
    `rollback     IN FORCE since ${r.at}: ${r.reason}${r.detail ? `: ${r.detail}` : ""}${ids ? ` (${ids})` : ""}`,
    ...extra.map(([k, v]) => `             ${k}: ${typeof v === "object" && v !== null ? Object.entries(v).map(([a, b]) => `${a}=${typeof b === "object" ? JSON.stringify(b) : String(b)}`).join(" ") : String(v)}`),
    "             every recipient goes through SendGrid until: npm run rollout -- clear --stage <stage>",
  ];
}

function statusLines(s: StageEnv, snap: Snapshot): string[] {
  const st = snap.state;
  const data = s.stage;
  const drift: string[] = [];
  if (st.sesPercent !== undefined && st.sesPercent !== data.sesPercent) drift.push(`modules/stages.ts says ${data.sesPercent}: the next deploy writes ${data.sesPercent} back`);
  const next = st.sesPercent !== undefined ? nextStep(st.sesPercent) : undefined;
  const lines = [
    describeStage(s),
    `use_ses      ${st.useSes === undefined ? `invalid (${JSON.stringify(st.rawUseSes)}): the sender fails its config load` : String(st.useSes)}${st.useSes !== undefined && st.useSes !== data.useSes ? `   (modules/stages.ts says ${data.useSes}: the next deploy writes it back)` : ""}`,
    `ses_percent  ${st.sesPercent === undefined ? "invalid: the sender fails its config load" : String(st.sesPercent)}${drift.length ? `   (${drift.join("; ")})` : ""}`,
    ...rollbackLines(st.rollback),
  ];
  if (next !== undefined) {
    const gated = checkMove(st.sesPercent!, next).gated;
    lines.push(
      `next step    ${next}: ${!gated ? "no gate (the first step is where SES's data comes from)" : snap.gate.passed ? "gate passed" : "gate not met"}`,
      ...(gated ? snap.gate.reasons.map((r) => `               - ${r}`) : []),
    );
  } else if (st.sesPercent === 100) lines.push("next step    none: every recipient is on SES (docs/runbook.md, phase 3: remove SendGrid)");
  lines.push("", `last ${snap.dates.length} days from the ledger ${s.ledgerTable} (digest dates, ${DIGEST_TIME_ZONE})`);
  if (snap.ledgerError) return [...lines, `  could not read it: ${snap.ledgerError}`];
  lines.push(`${"date".padEnd(10)}  ${"provider".padEnd(9)} ${"sent".padStart(5)} ${"failed".padStart(7)} ${"unknown".padStart(8)} ${"in_progress".padStart(12)} ${"fail%".padStart(7)} ${"p50 ms".padStart(7)} ${"p95 ms".padStart(7)}`);
  for (const date of snap.dates) {
    for (const [provider, stats] of Object.entries(statsByProvider(snap.outcomes.filter((o) => o.date === date)))) lines.push(statsRow(date, provider, stats));
  }
  const total = statsByProvider(snap.outcomes);
  if (Object.keys(total).length === 0) lines.push("  (no ledger items in these days)");
  for (const [provider, stats] of Object.entries(total)) lines.push(statsRow(`${snap.dates.length} days`, provider, stats));
  return lines;
}

function snapshotJson(s: StageEnv, snap: Snapshot): Record<string, unknown> {
  const byDate = Object.fromEntries(snap.dates.map((d) => [d, statsByProvider(snap.outcomes.filter((o) => o.date === d))]));
  return {
    stage: s.name,
    parameterRoot: s.parameterRoot,
    ledgerTable: s.ledgerTable,
    useSes: snap.state.useSes ?? null,
    sesPercent: snap.state.sesPercent ?? null,
    stageData: { useSes: s.stage.useSes, sesPercent: s.stage.sesPercent },
    rollback: snap.state.rollback ?? null,
    window: { from: snap.dates[snap.dates.length - 1], to: snap.dates[0], days: snap.dates.length },
    providers: statsByProvider(snap.outcomes),
    days: byDate,
    gate: { ...ROLLOUT_GATE, passed: snap.gate.passed, reasons: snap.gate.reasons, sesDays: snap.gate.sesDays },
    ...(snap.ledgerError ? { ledgerError: snap.ledgerError } : {}),
  };
}

/** The `rollout` command line (one convention: app/src/cli-kit.ts). */
export function rolloutCli(io: CliIo = processIo(), given: Partial<RolloutDeps> = {}): Cli {
  const deps: RolloutDeps = { env: process.env, clients: stageClients, now: () => new Date(), ...given };
  const cli = new Cli("rollout", {
    invocation: "npm run rollout --",
    description: `Control the SES migration of a stage: the share of recipients on SES (runbook steps ${ROLLOUT_STEPS.join(" -> ")}), a forced rollback to SendGrid and its clearing, and how SES and SendGrid compared over the last ${ROLLOUT_GATE.windowDays} days from the delivery ledger. See docs/runbook.md.`,
    env: STAGE_ENV_DOCS,
    exitCodes: [
      { code: EXIT.ok, meaning: "done (status: reported; set/rollback/clear: written, or already so)" },
      { code: EXIT.failed, meaning: "refused: a step the runbook does not allow or a gate not met (set), no SendGrid to fall back to (rollback); nothing was written" },
      { code: EXIT.config, meaning: "your AWS credentials or permissions are missing, or the environment belongs to another stage" },
      STANDARD_EXIT_DOCS.internal,
      STANDARD_EXIT_DOCS.usage,
    ],
    examples: [
      "npm run rollout -- status --stage prod",
      "npm run rollout -- set 25 --stage prod",
      'npm run rollout -- rollback --stage prod --detail "bounces at one provider, INC-42"',
      "npm run rollout -- clear --stage prod",
    ],
  }, io);

  const withStage = async (stage: StageName, fn: (s: StageEnv, c: RolloutClients) => Promise<number>): Promise<number> => {
    const s = resolveStage(stage, deps.env);
    const c = deps.clients(s);
    try {
      return await fn(s, c);
    } finally {
      c.destroy?.();
    }
  };
  const deployNote = (s: StageEnv) => `a deploy writes the stage's value (${s.stage.sesPercent}, modules/stages.ts) back unless sesPercent is changed there too`;

  cli.action<{ json?: boolean; stage: StageName }>(
    cli.command("status", "Show use_ses, ses_percent, any rollback in force and why, the next step and its gate, and the last 7 days per provider from the ledger.").addOption(stageOption(STAGE_NAMES)),
    ({ out, opts }) =>
      withStage(opts.stage, async (s, c) => {
        const snap = await snapshot(s, c, deps.now());
        out.result({ ok: true, ...snapshotJson(s, snap), exitCode: EXIT.ok }, statusLines(s, snap));
        return EXIT.ok;
      }),
  );

  cli.action<{ json?: boolean; stage: StageName; force?: boolean }>(
    cli
      .command("set <percent>", `Set ses_percent: one runbook step up (${ROLLOUT_STEPS.join(", ")}) once the gate passes, or any step down. Prints that a deploy writes the stage's value back unless modules/stages.ts changes too.`)
      .addOption(stageOption(STAGE_NAMES))
      .option("--force", "write it even when the runbook does not allow the move or the gate is not met (says which)"),
    ({ out, opts, args }) =>
      withStage(opts.stage, async (s, c) => {
        const parsed = parsePercent(args[0]);
        if (!parsed.ok || parsed.value === undefined) throw new CliError("USAGE", `<percent> must be an integer from 0 to 100`, EXIT.usage);
        const to = parsed.value;
        const snap = await snapshot(s, c, deps.now());
        const from = snap.state.sesPercent ?? 100;
        const move = checkMove(from, to);
        if (move.direction === "same") {
          out.result({ ok: true, stage: s.name, from, to, changed: false, exitCode: EXIT.ok }, [`ses_percent is already ${to} on stage ${s.name}: nothing written`]);
          return EXIT.ok;
        }
        const objections: { code: string; message: string }[] = [];
        if (move.refused) objections.push({ code: "ROLLOUT_STEP_REFUSED", message: move.refused });
        if (move.direction === "up" && snap.state.rollback) objections.push({ code: "ROLLOUT_ROLLED_BACK", message: `a rollback is in force (${snap.state.rollback.reason}): clear it first, or SES is not used whatever the share` });
        if (move.direction === "up" && move.gated && !snap.gate.passed) objections.push({ code: "ROLLOUT_GATE_NOT_MET", message: `the gate is not met: ${snap.gate.reasons.join("; ")}` });
        if (move.direction === "up" && move.gated && snap.ledgerError) objections.push({ code: "ROLLOUT_GATE_NOT_MET", message: `the ledger could not be read (${snap.ledgerError})` });
        if (objections.length && !opts.force) {
          throw new CliError(objections[0]!.code, `not setting ses_percent ${from} -> ${to} on stage ${s.name}: ${objections.map((o) => o.message).join("; ")}`, EXIT.failed, "see docs/runbook.md; --force writes it anyway");
        }
        await writeSesPercent(c.ssm, s, to);
        const warnings = [
          ...objections.map((o) => `forced past: ${o.message}`),
          ...(snap.state.useSes === false ? ["use_ses is false: every recipient goes through SendGrid whatever ses_percent says"] : []),
          ...(to !== s.stage.sesPercent ? [deployNote(s)] : []),
        ];
        out.result(
          { ok: true, stage: s.name, from, to, changed: true, forced: objections.length > 0, gate: move.gated ? { passed: snap.gate.passed, reasons: snap.gate.reasons } : null, warnings, exitCode: EXIT.ok },
          [
            `ses_percent ${from} -> ${to} on stage ${s.name}${move.gated ? ` (gate ${snap.gate.passed ? "passed" : "not met, forced"})` : ""}; the next run routes by it`,
            ...warnings.map((w) => `note: ${w}`),
          ],
        );
        return EXIT.ok;
      }),
  );

  cli.action<{ json?: boolean; stage: StageName; detail?: string; force?: boolean }>(
    cli
      .command("rollback", "Force the SES rollback (a manual record in email/ses_rollback): every recipient goes through SendGrid from the next run on, until `rollout clear`.")
      .addOption(stageOption(STAGE_NAMES))
      .option("--detail <text>", "why, one line without addresses (kept in the record)")
      .option("--force", "record it even when the stage has no SendGrid key (then nothing is sent at all until cleared)"),
    ({ out, opts }) =>
      withStage(opts.stage, async (s, c) => {
        const detail = checkRollbackDetail(opts.detail ?? "forced by an operator (npm run rollout -- rollback)");
        const store = new RollbackStore(c.ssm, s.parameterRoot);
        const existing = await store.read();
        if (existing) {
          out.result({ ok: true, stage: s.name, changed: false, rollback: existing, exitCode: EXIT.ok }, [`a rollback is already in force on stage ${s.name} (since ${existing.at}: ${existing.reason}); nothing written`]);
          return EXIT.ok;
        }
        const fallback = await sendgridKeyConfigured(c.ssm, s.parameterRoot);
        if (fallback !== true && !opts.force) {
          throw new CliError(
            "ROLLOUT_NO_FALLBACK",
            `stage ${s.name} has ${fallback === false ? "no SendGrid key" : "a SendGrid key that could not be read"}: with the rollback in force its runs would send nothing at all; nothing was written`,
            EXIT.failed,
            `put the SendGrid key first (npm run secrets -- put sendgrid/api_key --stage ${s.name}), or --force to stop all sending on purpose`,
          );
        }
        const record: RollbackRecord = { state: "rolled_back", at: deps.now().toISOString(), reason: "manual", detail };
        await store.record(record);
        out.result({ ok: true, stage: s.name, changed: true, rollback: record, exitCode: EXIT.ok }, [
          `rollback in force on stage ${s.name}: from the next run every recipient goes through SendGrid`,
          `  clear it with: npm run rollout -- clear --stage ${s.name}`,
        ]);
        return EXIT.ok;
      }),
  );

  cli.action<{ json?: boolean; stage: StageName }>(
    cli.command("clear", "Clear the SES rollback: the next run uses SES again as use_ses and ses_percent say.").addOption(stageOption(STAGE_NAMES)),
    ({ out, opts }) =>
      withStage(opts.stage, async (s, c) => {
        const previous = await new RollbackStore(c.ssm, s.parameterRoot).clear();
        out.result(
          { ok: true, stage: s.name, changed: previous !== undefined, cleared: previous ?? null, exitCode: EXIT.ok },
          previous
            ? [`cleared the rollback on stage ${s.name} (it was in force since ${previous.at}: ${previous.reason}${previous.detail ? `: ${previous.detail}` : ""}); the next run uses SES again`]
            : [`no rollback was in force on stage ${s.name}`],
        );
        return EXIT.ok;
      }),
  );
  return cli;
}

if (require.main === module) {
  rolloutCli()
    .run(process.argv.slice(2))
    .then((code) => process.exit(code));
}
