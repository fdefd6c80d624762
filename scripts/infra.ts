/**
 * What pipelines call per stage (and per real stage's bootstrap stack): synth, plan (writes
 * the plan file, its JSON and a Markdown summary), deploy (applies the reviewed plan file,
 * and nothing else). terraform always runs with the committed CLI config (provider from the
 * filesystem mirror where the machine has it, no registry lookups, no checkpoint calls).
 *
 *   npm run infra -- synth  --stage <target>
 *   npm run infra -- plan   --stage <target> [--offline | --read-only]
 *   npm run infra -- deploy --stage <target>
 *   npm run infra -- list                         the stacks and where each synthesizes
 *
 * A target is a stage (local, dev, prod) or a real stage's bootstrap stack (bootstrap-dev,
 * bootstrap-prod). (`npm run plan:prod`, `deploy:dev`, `plan:bootstrap:prod`, ... are the
 * same commands with the target filled in.)
 *
 * plan writes <target>.tfplan, <target>.plan.json, <target>.plan.md and
 * <target>.plan.meta.json (what the plan was made from) in the stack's folder. deploy
 * refuses to run without them, when the plan file or the synthesized configuration changed
 * since, or when the plan was not an online one: it never plans and applies in one go.
 *
 * --read-only (plan only) is the pull-request plan: against the real state, but without
 * refreshing (no read of any resource, so the plan role needs only the state) and without
 * the state lock; its files are <target>.review.* and deploy never takes them.
 *
 * --offline (plan only) synthesizes into a separate folder (<outdir>/offline), drops the
 * offline override beside cdk.tf.json there (static test keys, refusing endpoints, local
 * backend) and refuses all network: a reviewable plan of an empty state on a machine
 * without AWS access, named <stage>.offline.tfplan so nothing confuses it with a real one.
 * The real stack folder never sees the override or its backend; every init runs with
 * -reconfigure anyway, so a folder whose backend changed (an older layout, an edited stage)
 * does not stop a real plan.
 * Environment: CDKTF_OUTDIR (default cdktf.out); for `local`, VIBE_LOCAL_AWS_ENDPOINT and
 * VIBE_LOCAL_FEED_BASE_URL as in main.ts.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { INFRA_TARGETS, stageConfigs, synthesizeTarget, type InfraTarget, type SynthesizedStack } from "../modules/app";
import { DEFAULT_LOCAL_AWS_ENDPOINT, DEFAULT_LOCAL_FEED_BASE_URL, pipelineNames } from "../modules/stages";
import { summarizePlan, type PlanLike } from "./plan-summary";
import { NO_NETWORK_ENV, OFFLINE_OVERRIDE_FILE, PROJECT_ROOT, TerraformError, terraform, writeOfflineOverride } from "./lib/terraform";
import { Option } from "commander";
import { AWS_ENV_DOCS, Cli, CliError, EXIT, STANDARD_EXIT_DOCS, processIo, stageOption, type CliIo, type Output } from "../app/src/cli-kit";

type Command = "synth" | "plan" | "deploy";
/** How a plan was made: against the real state (deployable), read-only for review, or offline. */
export type PlanKind = "online" | "read-only" | "offline";

/** Sub-folder of the outdir that offline plans synthesize into. */
export const OFFLINE_SUBDIR = "offline";

export interface InfraResult {
  readonly stack: SynthesizedStack;
  readonly planFile?: string;
  readonly planJsonFile?: string;
  readonly summaryFile?: string;
  /** The plan's Markdown summary (what the CLI prints). */
  readonly summaryMarkdown?: string;
}

/** What a plan was made from; deploy checks it before applying. */
export interface PlanMeta {
  readonly kind: PlanKind;
  readonly stage: InfraTarget;
  readonly planFile: string;
  /** sha256 of the plan file as written. */
  readonly planSha256: string;
  /** sha256 of cdk.tf.json the plan was made from. */
  readonly configSha256: string;
  readonly createdAt: string;
}

/** Why deploy refused; the message says what to run instead. */
export class DeployRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeployRefusedError";
  }
}

/** File names of a target's plan artefacts (offline and read-only ones never share a name with online ones). */
export function planFiles(target: InfraTarget, kind: PlanKind | boolean): { plan: string; json: string; summary: string; meta: string } {
  const k: PlanKind = kind === true ? "offline" : kind === false ? "online" : kind;
  const base = k === "offline" ? `${target}.offline` : k === "read-only" ? `${target}.review` : target;
  return { plan: `${base}.tfplan`, json: `${base}.plan.json`, summary: `${base}.plan.md`, meta: `${base}.plan.meta.json` };
}

/** Where progress lines go (the CLI passes its Output; the default is stderr). */
export type Progress = (line: string) => void;
const stderrProgress: Progress = (line) => void process.stderr.write(line + "\n");

function stepper(log: Progress) {
  return async function step<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    log(`-> ${label}`);
    const r = await fn();
    log(`   done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  };
}

/**
 * terraform's own progress lines worth showing while a plan or apply runs (a resource being
 * created, changed or destroyed, and terraform's "Still creating... [10s elapsed]"), so a
 * long step is never silent; the rest stays in the captured output.
 */
export function terraformProgressLine(line: string): string | undefined {
  const t = line.trim();
  if (/: (Creating|Creation complete|Still creating|Modifying|Modifications complete|Still modifying|Destroying|Destruction complete|Still destroying|Refreshing state|Reading|Read complete)\b/.test(t)) return `   ${t}`;
  if (/^(Plan:|Apply complete!|No changes\.)/.test(t)) return `   ${t}`;
  return undefined;
}

function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

export function synthStage(target: InfraTarget, outdir: string): SynthesizedStack {
  return synthesizeTarget(target, {
    outdir,
    local: {
      awsEndpoint: process.env.VIBE_LOCAL_AWS_ENDPOINT || DEFAULT_LOCAL_AWS_ENDPOINT,
      feedBaseUrl: process.env.VIBE_LOCAL_FEED_BASE_URL || DEFAULT_LOCAL_FEED_BASE_URL,
      ...(process.env.VIBE_LOCAL_STATE_FILE ? { stateFile: process.env.VIBE_LOCAL_STATE_FILE } : {}),
    },
  });
}

/**
 * The reviewed plan of `stack`, or a DeployRefusedError saying why there is none: no plan
 * file, no record of how it was made, an offline plan, a plan file changed since it was
 * summarized, or a configuration synthesized differently since.
 */
export function reviewedPlan(stack: SynthesizedStack): string {
  const files = planFiles(stack.target, "online");
  const planFile = path.join(stack.dir, files.plan);
  const metaFile = path.join(stack.dir, files.meta);
  const again = `run \`npm run infra -- plan --stage ${stack.target}\` (without --offline or --read-only), review ${files.summary}, then deploy`;
  if (!fs.existsSync(planFile) || !fs.existsSync(metaFile)) {
    throw new DeployRefusedError(`deploy ${stack.target}: no reviewed plan in ${stack.dir} (${files.plan} and ${files.meta}); ${again}`);
  }
  const meta = JSON.parse(fs.readFileSync(metaFile, "utf8")) as Partial<PlanMeta>;
  if (meta.kind !== "online" || meta.stage !== stack.target || meta.planFile !== files.plan) {
    throw new DeployRefusedError(`deploy ${stack.target}: ${files.plan} is not an online plan of this stage; ${again}`);
  }
  if (meta.planSha256 !== sha256(planFile)) {
    throw new DeployRefusedError(`deploy ${stack.target}: ${files.plan} changed after it was planned and summarized; ${again}`);
  }
  if (meta.configSha256 !== sha256(path.join(stack.dir, "cdk.tf.json"))) {
    throw new DeployRefusedError(`deploy ${stack.target}: the synthesized configuration changed since ${files.plan} was made; ${again}`);
  }
  return files.plan;
}

export async function runInfra(
  command: Command,
  target: InfraTarget,
  opts: { offline?: boolean; readOnly?: boolean; outdir?: string; progress?: Progress } = {},
): Promise<InfraResult> {
  const stage = target;
  const log = opts.progress ?? stderrProgress;
  const step = stepper(log);
  const onLine = (line: string) => {
    const shown = terraformProgressLine(line);
    if (shown) log(shown);
  };
  if (command === "deploy" && (opts.offline || opts.readOnly)) throw new DeployRefusedError("deploy has no --offline or --read-only mode: it changes real infrastructure");
  if (opts.offline && opts.readOnly) throw new DeployRefusedError("plan takes --offline or --read-only, not both");
  const root = path.resolve(opts.outdir ?? process.env.CDKTF_OUTDIR ?? path.join(PROJECT_ROOT, "cdktf.out"));
  const offline = command === "plan" && opts.offline === true;
  const kind: PlanKind = offline ? "offline" : command === "plan" && opts.readOnly ? "read-only" : "online";
  const outdir = offline ? path.join(root, OFFLINE_SUBDIR) : root;
  const stack = await step(`synthesize ${stage}${offline ? " (offline copy)" : ""}`, () => synthStage(stage, outdir));
  log(`   ${path.relative(process.cwd(), stack.dir) || stack.dir}`);
  if (command === "synth") return { stack };

  const cwd = stack.dir;
  // Only the offline copy ever has the override; a leftover in the real folder would plan
  // against static keys and a local backend, so it goes.
  if (offline) writeOfflineOverride(cwd);
  else fs.rmSync(path.join(cwd, OFFLINE_OVERRIDE_FILE), { force: true });
  const env = offline ? NO_NETWORK_ENV : {};
  const files = planFiles(stage, kind);

  if (command === "deploy") {
    // Checked before init: refusing must not touch the backend or the network.
    const planFile = reviewedPlan(stack);
    await step("terraform init", () => terraform(["init", "-input=false", "-no-color", "-reconfigure"], { cwd }));
    await step("terraform apply (the reviewed plan)", () => terraform(["apply", "-input=false", "-no-color", "-lock-timeout=5m", planFile], { cwd, timeoutMs: 1_800_000, onLine }));
    for (const f of [files.plan, files.meta]) fs.rmSync(path.join(cwd, f), { force: true });
    return { stack };
  }

  // A new plan replaces the old one; until it is complete there is nothing deploy would take.
  fs.rmSync(path.join(cwd, files.meta), { force: true });
  await step("terraform init", () => terraform(["init", "-input=false", "-no-color", "-reconfigure"], { cwd, env }));
  // Offline: no state to lock. Read-only: the plan role may not write the lock file, and
  // without a refresh it reads no resource, only the state.
  const planArgs = kind === "offline" ? ["-lock=false"] : kind === "read-only" ? ["-lock=false", "-refresh=false"] : ["-lock-timeout=5m"];
  await step(`terraform plan${kind === "online" ? "" : ` (${kind})`}`, () =>
    terraform(["plan", "-input=false", "-no-color", ...planArgs, `-out=${files.plan}`], { cwd, env, timeoutMs: 900_000, onLine }),
  );
  const show = await step("terraform show -json", () => terraform(["show", "-json", "-no-color", files.plan], { cwd, env }));
  const planJsonFile = path.join(cwd, files.json);
  fs.writeFileSync(planJsonFile, show.stdout);
  const note = { online: "", offline: " (offline, empty state: not deployable)", "read-only": " (read-only review: not refreshed, not deployable)" }[kind];
  const summary = summarizePlan(JSON.parse(show.stdout) as PlanLike, {
    title: `Terraform plan: ${stack.stackName}${note}`,
    config: JSON.parse(fs.readFileSync(path.join(cwd, "cdk.tf.json"), "utf8")) as object,
  });
  const summaryFile = path.join(cwd, files.summary);
  fs.writeFileSync(summaryFile, summary.markdown + "\n");
  const meta: PlanMeta = {
    kind,
    stage,
    planFile: files.plan,
    planSha256: sha256(path.join(cwd, files.plan)),
    configSha256: sha256(path.join(cwd, "cdk.tf.json")),
    createdAt: new Date().toISOString(),
  };
  fs.writeFileSync(path.join(cwd, files.meta), JSON.stringify(meta, null, 2) + "\n");
  log(`   plan ${path.join(cwd, files.plan)}\n   json ${planJsonFile}\n   summary ${summaryFile}`);
  return { stack, planFile: path.join(cwd, files.plan), planJsonFile, summaryFile, summaryMarkdown: summary.markdown };
}

/** The `infra` command line (one convention: app/src/cli-kit.ts). */
export function infraCli(io: CliIo = processIo()): Cli {
  const cli = new Cli("infra", {
    invocation: "npm run infra --",
    description: "Synthesize, plan and deploy a stage's Terraform (or a real stage's bootstrap stack): plan writes a reviewed plan and its summary, deploy applies that plan and nothing else.",
    env: [
      { name: "CDKTF_OUTDIR", description: "output folder (default cdktf.out)" },
      { name: "VIBE_LOCAL_AWS_ENDPOINT", description: `the local stage's moto (default ${DEFAULT_LOCAL_AWS_ENDPOINT})` },
      { name: "VIBE_LOCAL_FEED_BASE_URL", description: `the local stage's feed server (default ${DEFAULT_LOCAL_FEED_BASE_URL})` },
      { name: "VIBE_LOCAL_STATE_FILE", description: "the local stage's state file (`npm run local -- --keep` exports it)" },
      { name: "VIBE_TF_CLI_CONFIG_FILE", description: "a Terraform CLI config other than the committed config/terraformrc" },
      ...AWS_ENV_DOCS,
    ],
    exitCodes: [
      STANDARD_EXIT_DOCS.ok,
      { code: EXIT.failed, meaning: "terraform failed, or deploy refused (no reviewed plan, an offline or read-only plan, or the plan or configuration changed since)" },
      STANDARD_EXIT_DOCS.internal,
      STANDARD_EXIT_DOCS.usage,
    ],
    examples: ["npm run infra -- plan --stage prod --offline", "npm run plan:prod -- --read-only", "npm run plan:prod && npm run deploy:prod", "npm run infra -- plan --stage bootstrap-prod"],
  }, io);
  const stage = () => stageOption(INFRA_TARGETS);
  type Opts = { json?: boolean; stage: InfraTarget; offline?: boolean; readOnly?: boolean };
  // Refusals and terraform failures are "not done" (exit 1), with what terraform said.
  const notDone = (err: unknown): never => {
    if (err instanceof DeployRefusedError) throw new CliError("DEPLOY_REFUSED", err.message, EXIT.failed);
    if (err instanceof TerraformError) throw new CliError("TERRAFORM_FAILED", err.message, EXIT.failed, "read terraform's message above; for a real stage check AWS_PROFILE and the account");
    throw err;
  };
  const run = (command: Command) => async ({ out, opts }: { out: Output; opts: Opts }) => {
    const r = await runInfra(command, opts.stage, { offline: opts.offline, readOnly: opts.readOnly, progress: (line) => out.info(line) }).catch(notDone);
    const files = { dir: r.stack.dir, plan: r.planFile, planJson: r.planJsonFile, summary: r.summaryFile };
    out.result({ ok: true, command, stage: opts.stage, ...(opts.offline ? { offline: true } : {}), ...(opts.readOnly ? { readOnly: true } : {}), ...files, exitCode: EXIT.ok }, r.summaryMarkdown ?? `${command} ${opts.stage}: done (${r.stack.dir})`);
    return EXIT.ok;
  };
  cli.action<Opts>(cli.command("synth", "synthesize one target into cdktf.out/stacks/<stack>").addOption(stage()), run("synth"));
  cli.action<Opts>(
    cli
      .command("plan", "plan one target: <target>.tfplan, .plan.json, .plan.md (the review summary) and .plan.meta.json")
      .addOption(stage())
      .addOption(new Option("--offline", "plan an empty state with static keys and no network (never deployable)").conflicts("readOnly"))
      .option("--read-only", "the pull-request plan: no refresh, no state lock, only the state is read (<target>.review.*, never deployable)"),
    run("plan"),
  );
  cli.action<Opts>(cli.command("deploy", "apply the target's reviewed plan (refuses without one)").addOption(stage()), run("deploy"));
  cli.action(cli.command("list", "the stages and bootstrap stacks, their stack names and folders"), ({ out }) => {
    const root = process.env.CDKTF_OUTDIR ?? "cdktf.out";
    const rows = stageConfigs().flatMap((s) => [
      { stage: s.name as string, stack: s.stackName, dir: path.join(root, "stacks", s.stackName) },
      ...(s.pipeline ? [{ stage: `bootstrap-${s.name}`, stack: pipelineNames(s).bootstrapStackName, dir: path.join(root, "stacks", pipelineNames(s).bootstrapStackName) }] : []),
    ]);
    out.result({ ok: true, stacks: rows, exitCode: EXIT.ok }, rows.map((r) => `${r.stage.padEnd(14)} ${r.stack.padEnd(26)} ${r.dir}`));
    return EXIT.ok;
  });
  return cli;
}

if (require.main === module) {
  infraCli().run(process.argv.slice(2)).then((code) => process.exit(code));
}
