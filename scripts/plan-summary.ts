/**
 * The review of a Terraform plan for a pull request, as a senior platform engineer would
 * write it: every change grouped by risk (high / medium / low / none) with its construct
 * path and a one-line reason, risky attributes before -> after, IAM / trust / key /
 * resource policies as statement diffs, the stack's invariants evaluated on the planned
 * values, and the stage's monthly cost before and after. docs/plan-review.md lists every
 * rule and why.
 *
 *   npm run plan:summary -- <plan.json | plan.tfplan> [--config cdk.tf.json] [--out review.md] [--fail-on high|medium|low]
 *
 * Paths are relative to where the command was run (npm sets INIT_CWD to that folder).
 * scripts/infra.ts calls {@link summarizePlan} after each plan.
 */
import fs from "node:fs";
import path from "node:path";
import { InvalidArgumentError, Option } from "commander";
import { Cli, CliError, EXIT, STANDARD_EXIT_DOCS, processIo, type CliIo } from "../app/src/cli-kit";
import type { TfJson } from "./lib/invariants";
import { parsePlan, planInputError, validatePlan, type PlanJson } from "./lib/plan-model";
import { renderMarkdown } from "./lib/plan-render";
import { reviewPlan, type PlanReview, type ReviewOptions } from "./lib/plan-review";
import { riskRank, type Risk } from "./lib/plan-rules";
import { terraform } from "./lib/terraform";

/** The JSON of a plan (`terraform show -json <plan file>`). */
export type PlanLike = PlanJson;

/** The review, and its Markdown for a pull-request comment. */
export interface PlanSummary extends PlanReview {
  readonly markdown: string;
}

/**
 * Reviews a plan. `plan` is the parsed JSON of `terraform show -json`; anything else is
 * refused with a CliError (code PLAN_INVALID, exit 2). Pass the synthesized configuration
 * the plan was made from (`config`, cdk.tf.json) to name changes by construct path.
 */
export function summarizePlan(plan: unknown, opts: ReviewOptions = {}): PlanSummary {
  const review = reviewPlan(validatePlan(plan, "the plan"), opts);
  return { ...review, markdown: renderMarkdown(review) };
}

/** Changes at or above `threshold` (the pipeline gate). */
export function changesAtOrAbove(review: PlanReview, threshold: Risk): PlanReview["changes"] {
  return review.changes.filter((c) => riskRank(c.risk) >= riskRank(threshold));
}

function readJsonFile(file: string, what: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw planInputError(`${what} ${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a folder" : `cannot be read (${code ?? "error"})`}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw planInputError(`${what} ${file} is not JSON`);
  }
}

/** The plan's JSON from a .json file, or from a binary plan file through `terraform show -json`. */
async function loadPlan(file: string, chdir: string | undefined): Promise<PlanJson> {
  let head: Buffer;
  try {
    head = fs.readFileSync(file).subarray(0, 2);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw planInputError(`plan ${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a folder" : `cannot be read (${code ?? "error"})`}`);
  }
  if (head.toString("latin1") !== "PK") return parsePlan(fs.readFileSync(file, "utf8"), file);
  // A binary plan file (a zip): terraform shows it as JSON from the initialized stack folder.
  const cwd = chdir ?? path.dirname(file);
  const show = await terraform(["show", "-json", "-no-color", file], { cwd, allowFailure: true });
  if (show.code !== 0) throw planInputError(`terraform could not read the plan file ${file} (in ${cwd}): ${show.stderr.trim().split("\n").slice(-1)[0] ?? ""}`, "run it where the stack is initialized (--chdir), or give the JSON of the plan");
  return parsePlan(show.stdout, file);
}

const positive = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number >= 0`);
  return n;
};

interface Opts {
  json?: boolean;
  config?: string;
  out?: string;
  failOn?: Risk;
  title?: string;
  chdir?: string;
  runMinutes?: number;
  recipients?: number;
  logMbPerDay?: number;
}

/** The `plan:summary` command line (one convention: app/src/cli-kit.ts). */
export function planSummaryCli(io: CliIo = processIo(), env: NodeJS.ProcessEnv = process.env): Cli {
  const cli = new Cli("plan-summary", {
    invocation: "npm run plan:summary --",
    description:
      "Review a Terraform plan for a pull request: every change by risk (high / medium / low / none) with its construct path and reason, " +
      "risky attributes before -> after, policy statement diffs, the stack's invariants on the planned values, and the stage's monthly cost before and after. " +
      "Markdown in a terminal or with --out; JSON lines otherwise.",
    env: [
      { name: "INIT_CWD", description: "set by npm to where you ran it: relative paths resolve from there (else the current folder)" },
      { name: "VIBE_TF_CLI_CONFIG_FILE", description: "a Terraform CLI config other than config/terraformrc (for a binary plan file)" },
    ],
    exitCodes: [
      { code: EXIT.ok, meaning: "reviewed; no change at or above --fail-on" },
      { code: EXIT.failed, meaning: "reviewed; a change is at or above --fail-on (the pipeline gate)" },
      { code: EXIT.config, meaning: "the input is not a plan (empty, a state, not JSON, missing), or --config cannot be read" },
      STANDARD_EXIT_DOCS.internal,
      STANDARD_EXIT_DOCS.usage,
    ],
    examples: [
      "npm run plan:summary -- cdktf.out/stacks/vibe-digest-prod/prod.plan.json",
      "npm run plan:summary -- prod.plan.json --out review.md --fail-on high   # pipeline gate",
    ],
  }, io);
  const program = cli.program
    .usage("<plan> [options]")
    .argument("<plan>", "the JSON of a plan (terraform show -json), or a binary plan file")
    .option("--config <cdk.tf.json>", "the synthesized configuration the plan was made from, for construct paths (default: cdk.tf.json beside the plan)")
    .option("--out <file>", "also write the Markdown review to this file")
    .addOption(new Option("--fail-on <risk>", "exit 1 when a change is at or above this risk").choices(["high", "medium", "low"]))
    .option("--title <text>", "the review's heading")
    .option("--chdir <dir>", "for a binary plan file: the initialized stack folder (default: the plan's folder)")
    .option("--run-minutes <n>", "cost: minutes per scheduled run (default 5)", positive("--run-minutes"))
    .option("--recipients <n>", "cost: recipients (default: the to_address parameter's count)", positive("--recipients"))
    .option("--log-mb-per-day <mb>", "cost: MB of logs per log group a day (default 2)", positive("--log-mb-per-day"));
  cli.action<Opts>(program, async ({ out, opts, args }) => {
    const base = env.INIT_CWD || process.cwd();
    const planFile = path.resolve(base, args[0]!);
    const plan = await loadPlan(planFile, opts.chdir ? path.resolve(base, opts.chdir) : undefined);
    const configFile = opts.config ? path.resolve(base, opts.config) : path.join(path.dirname(planFile), "cdk.tf.json");
    const config = opts.config || fs.existsSync(configFile) ? (readJsonFile(configFile, "configuration") as TfJson) : undefined;
    if (!config) out.warn("no cdk.tf.json beside the plan: changes are named by Terraform address", { expected: configFile });
    const assumptions = {
      ...(opts.runMinutes !== undefined ? { runMinutes: opts.runMinutes } : {}),
      ...(opts.recipients !== undefined ? { recipients: opts.recipients } : {}),
      ...(opts.logMbPerDay !== undefined ? { logMbPerDay: opts.logMbPerDay } : {}),
    };
    const summary = summarizePlan(plan, { title: opts.title ?? `Plan review: ${path.basename(planFile)}`, ...(config ? { config } : {}), assumptions });
    let summaryFile: string | undefined;
    if (opts.out) {
      summaryFile = path.resolve(base, opts.out);
      try {
        fs.writeFileSync(summaryFile, summary.markdown + "\n");
      } catch (err) {
        throw new CliError("OUT_UNWRITABLE", `cannot write ${summaryFile} (${(err as NodeJS.ErrnoException).code ?? "error"})`, EXIT.config);
      }
    }
    const gate = opts.failOn ? changesAtOrAbove(summary, opts.failOn) : [];
    const exitCode = gate.length ? EXIT.failed : EXIT.ok;
    if (gate.length) out.warn(`${gate.length} change${gate.length === 1 ? "" : "s"} at or above ${opts.failOn} risk: the gate fails`);
    const { markdown, ...review } = summary;
    out.result(
      { ok: exitCode === EXIT.ok, ...review, ...(opts.failOn ? { failOn: opts.failOn, gate: gate.map((c) => c.label) } : {}), ...(summaryFile ? { summaryFile } : {}), markdown, exitCode },
      summaryFile ? [summary.verdict, `review written to ${summaryFile}`] : markdown,
    );
    return exitCode;
  });
  return cli;
}

/** Runs the command line; for tests and the script entry. */
export async function main(argv: readonly string[], io?: CliIo, env?: NodeJS.ProcessEnv): Promise<number> {
  return planSummaryCli(io, env).run(argv);
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
