/**
 * What pipelines call per stage: synth, plan (writes the plan file, its JSON and a
 * Markdown summary), deploy (applies the reviewed plan file). terraform always runs with
 * the committed CLI config (provider from the filesystem mirror where the machine has it,
 * no registry lookups, no checkpoint calls).
 *
 *   tsx scripts/infra.ts synth  <local|dev|prod>
 *   tsx scripts/infra.ts plan   <local|dev|prod> [--offline]
 *   tsx scripts/infra.ts deploy <local|dev|prod>
 *
 * --offline (plan only) drops the offline override beside cdk.tf.json (static test keys,
 * refusing endpoints, local backend) and refuses all network: a reviewable plan of an
 * empty state on a machine without AWS access. Without it, a leftover override is removed.
 * Environment: CDKTF_OUTDIR (default cdktf.out); for `local`, VIBE_LOCAL_AWS_ENDPOINT and
 * VIBE_LOCAL_FEED_BASE_URL as in main.ts.
 */
import fs from "node:fs";
import path from "node:path";
import { synthesizeApp, type SynthesizedStack } from "../modules/app";
import { DEFAULT_LOCAL_AWS_ENDPOINT, DEFAULT_LOCAL_FEED_BASE_URL, type StageName } from "../modules/stages";
import { summarizePlan, type PlanLike } from "./plan-summary";
import { NO_NETWORK_ENV, OFFLINE_OVERRIDE_FILE, PROJECT_ROOT, terraform, writeOfflineOverride } from "./lib/terraform";

const STAGES: readonly StageName[] = ["local", "dev", "prod"];
type Command = "synth" | "plan" | "deploy";

export interface InfraResult {
  readonly stack: SynthesizedStack;
  readonly planFile?: string;
  readonly planJsonFile?: string;
  readonly summaryFile?: string;
}

function log(line: string): void {
  process.stderr.write(line + "\n");
}

async function step<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  log(`-> ${label}`);
  const r = await fn();
  log(`   done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return r;
}

export function synthStage(stage: StageName, outdir: string): SynthesizedStack {
  return synthesizeApp({
    outdir,
    stages: [stage],
    local: {
      awsEndpoint: process.env.VIBE_LOCAL_AWS_ENDPOINT || DEFAULT_LOCAL_AWS_ENDPOINT,
      feedBaseUrl: process.env.VIBE_LOCAL_FEED_BASE_URL || DEFAULT_LOCAL_FEED_BASE_URL,
    },
  })[0]!;
}

export async function runInfra(command: Command, stage: StageName, opts: { offline?: boolean; outdir?: string } = {}): Promise<InfraResult> {
  const outdir = path.resolve(opts.outdir ?? process.env.CDKTF_OUTDIR ?? path.join(PROJECT_ROOT, "cdktf.out"));
  const stack = await step(`synthesize ${stage}`, () => synthStage(stage, outdir));
  log(`   ${path.relative(process.cwd(), stack.dir) || stack.dir}`);
  if (command === "synth") return { stack };
  if (command === "deploy" && opts.offline) throw new Error("deploy has no --offline mode: it changes real infrastructure");

  const override = path.join(stack.dir, OFFLINE_OVERRIDE_FILE);
  if (opts.offline) writeOfflineOverride(stack.dir);
  else fs.rmSync(override, { force: true });
  const env = opts.offline ? NO_NETWORK_ENV : {};
  const cwd = stack.dir;
  const planFile = `${stage}.tfplan`;

  await step("terraform init", () => terraform(["init", "-input=false", "-no-color"], { cwd, env }));
  if (command === "plan") {
    await step("terraform plan", () =>
      terraform(["plan", "-input=false", "-no-color", "-lock-timeout=5m", ...(opts.offline ? ["-lock=false"] : []), `-out=${planFile}`], { cwd, env, timeoutMs: 900_000 }),
    );
    const show = await step("terraform show -json", () => terraform(["show", "-json", "-no-color", planFile], { cwd, env }));
    const planJsonFile = path.join(cwd, `${stage}.plan.json`);
    fs.writeFileSync(planJsonFile, show.stdout);
    const summary = summarizePlan(JSON.parse(show.stdout) as PlanLike, `Terraform plan: ${stack.stackName}${opts.offline ? " (offline, empty state)" : ""}`);
    const summaryFile = path.join(cwd, `${stage}.plan.md`);
    fs.writeFileSync(summaryFile, summary.markdown + "\n");
    process.stdout.write(summary.markdown + "\n");
    log(`   plan ${path.join(cwd, planFile)}\n   json ${planJsonFile}\n   summary ${summaryFile}`);
    return { stack, planFile: path.join(cwd, planFile), planJsonFile, summaryFile };
  }

  // deploy: apply the reviewed plan file; without one, plan first (so apply never re-plans silently).
  if (!fs.existsSync(path.join(cwd, planFile))) {
    await step("terraform plan (no reviewed plan file found)", () => terraform(["plan", "-input=false", "-no-color", "-lock-timeout=5m", `-out=${planFile}`], { cwd, timeoutMs: 900_000 }));
  }
  await step("terraform apply", () => terraform(["apply", "-input=false", "-no-color", "-lock-timeout=5m", planFile], { cwd, timeoutMs: 1_800_000 }));
  fs.rmSync(path.join(cwd, planFile), { force: true });
  return { stack };
}

if (require.main === module) {
  const [command, stage, ...rest] = process.argv.slice(2);
  if (!["synth", "plan", "deploy"].includes(command ?? "") || !STAGES.includes(stage as StageName)) {
    log("usage: tsx scripts/infra.ts <synth|plan|deploy> <local|dev|prod> [--offline]");
    process.exit(2);
  }
  runInfra(command as Command, stage as StageName, { offline: rest.includes("--offline") }).then(
    () => process.exit(0),
    (err: Error) => {
      log(`infra ${command} ${stage} failed: ${err.message}`);
      process.exit(1);
    },
  );
}
