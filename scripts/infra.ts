/**
 * What pipelines call per stage (and per real stage's bootstrap stack): synth, plan (writes
 * the plan file, its JSON and a Markdown summary), deploy (applies the reviewed plan file,
 * and nothing else). terraform always runs with the committed CLI config (provider from the
 * filesystem mirror where the machine has it, no registry lookups, no checkpoint calls).
 *
 *   tsx scripts/infra.ts synth  --stage <target>
 *   tsx scripts/infra.ts plan   --stage <target> [--offline | --read-only]
 *   tsx scripts/infra.ts deploy --stage <target>
 *
 * A target is a stage (local, dev, prod) or a real stage's bootstrap stack (bootstrap-dev,
 * bootstrap-prod). plan writes <target>.tfplan, <target>.plan.json, <target>.plan.md and
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
import { Cli, CliError, EXIT, STANDARD_EXIT_DOCS, type Output } from "../app/src/cli-kit";
import { INFRA_TARGETS, synthesizeTarget, type InfraTarget, type SynthesizedStack } from "../modules/app";
import { DEFAULT_LOCAL_AWS_ENDPOINT, DEFAULT_LOCAL_FEED_BASE_URL } from "../modules/stages";
import { Option } from "commander";
import { summarizePlan, type PlanLike } from "./plan-summary";
import { NO_NETWORK_ENV, OFFLINE_OVERRIDE_FILE, PROJECT_ROOT, TerraformError, terraform, writeOfflineOverride } from "./lib/terraform";

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
  /** The plan's Markdown summary. */
  readonly markdown?: string;
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

function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

export function synthStage(target: InfraTarget, outdir: string): SynthesizedStack {
  return synthesizeTarget(target, {
    outdir,
    local: {
      awsEndpoint: process.env.VIBE_LOCAL_AWS_ENDPOINT || DEFAULT_LOCAL_AWS_ENDPOINT,
      feedBaseUrl: process.env.VIBE_LOCAL_FEED_BASE_URL || DEFAULT_LOCAL_FEED_BASE_URL,
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
  const again = `run \`npm run plan:${stack.target.replace("bootstrap-", "bootstrap:")}\` (not :offline, not --read-only), review ${files.summary}, then deploy`;
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
  opts: { offline?: boolean; readOnly?: boolean; outdir?: string; log?: (line: string) => void } = {},
): Promise<InfraResult> {
  const say = opts.log ?? log;
  if (command === "deploy" && (opts.offline || opts.readOnly)) throw new DeployRefusedError("deploy has no --offline or --read-only mode: it changes real infrastructure");
  if (opts.offline && opts.readOnly) throw new DeployRefusedError("plan takes --offline or --read-only, not both");
  const root = path.resolve(opts.outdir ?? process.env.CDKTF_OUTDIR ?? path.join(PROJECT_ROOT, "cdktf.out"));
  const offline = command === "plan" && opts.offline === true;
  const kind: PlanKind = offline ? "offline" : command === "plan" && opts.readOnly ? "read-only" : "online";
  const outdir = offline ? path.join(root, OFFLINE_SUBDIR) : root;
  const stack = await step(`synthesize ${target}${offline ? " (offline copy)" : ""}`, () => synthStage(target, outdir));
  say(`   ${path.relative(process.cwd(), stack.dir) || stack.dir}`);
  if (command === "synth") return { stack };

  const cwd = stack.dir;
  // Only the offline copy ever has the override; a leftover in the real folder would plan
  // against static keys and a local backend, so it goes.
  if (offline) writeOfflineOverride(cwd);
  else fs.rmSync(path.join(cwd, OFFLINE_OVERRIDE_FILE), { force: true });
  const env = offline ? NO_NETWORK_ENV : {};
  const files = planFiles(target, kind);

  if (command === "deploy") {
    // Checked before init: refusing must not touch the backend or the network.
    const planFile = reviewedPlan(stack);
    await step("terraform init", () => terraform(["init", "-input=false", "-no-color", "-reconfigure"], { cwd }));
    await step("terraform apply (the reviewed plan)", () => terraform(["apply", "-input=false", "-no-color", "-lock-timeout=5m", planFile], { cwd, timeoutMs: 1_800_000 }));
    for (const f of [files.plan, files.meta]) fs.rmSync(path.join(cwd, f), { force: true });
    return { stack };
  }

  // A new plan replaces the old one; until it is complete there is nothing deploy would take.
  fs.rmSync(path.join(cwd, files.meta), { force: true });
  // Offline: no state to lock. Read-only: the plan role may not write the lock file, and
  // without a refresh it reads no resource, only the state.
  const planArgs = kind === "offline" ? ["-lock=false"] : kind === "read-only" ? ["-lock=false", "-refresh=false"] : ["-lock-timeout=5m"];
  await step("terraform init", () => terraform(["init", "-input=false", "-no-color", "-reconfigure"], { cwd, env }));
  await step(`terraform plan${kind === "online" ? "" : ` (${kind})`}`, () =>
    terraform(["plan", "-input=false", "-no-color", ...planArgs, `-out=${files.plan}`], { cwd, env, timeoutMs: 900_000 }),
  );
  const show = await step("terraform show -json", () => terraform(["show", "-json", "-no-color", files.plan], { cwd, env }));
  const planJsonFile = path.join(cwd, files.json);
  fs.writeFileSync(planJsonFile, show.stdout);
  const note = { online: "", offline: " (offline, empty state: not deployable)", "read-only": " (read-only review: not refreshed, not deployable)" }[kind];
  const summary = summarizePlan(JSON.parse(show.stdout) as PlanLike, `Terraform plan: ${stack.stackName}${note}`);
  const summaryFile = path.join(cwd, files.summary);
  fs.writeFileSync(summaryFile, summary.markdown + "\n");
  const meta: PlanMeta = {
    kind,
    stage: target,
    planFile: files.plan,
    planSha256: sha256(path.join(cwd, files.plan)),
    configSha256: sha256(path.join(cwd, "cdk.tf.json")),
    createdAt: new Date().toISOString(),
  };
  fs.writeFileSync(path.join(cwd, files.meta), JSON.stringify(meta, null, 2) + "\n");
  say(`   plan ${path.join(cwd, files.plan)}\n   json ${planJsonFile}\n   summary ${summaryFile}`);
  return { stack, planFile: path.join(cwd, files.plan), planJsonFile, summaryFile, markdown: summary.markdown };
}

/** The `infra` command line (the project's one CLI convention, app/src/cli-kit.ts). */
export function infraCli(io?: ConstructorParameters<typeof Cli>[2]): Cli {
  const cli = new Cli(
    "infra",
    {
      invocation: "npm run synth:<stage> | plan:<stage>[:offline] | deploy:<stage>  (tsx scripts/infra.ts)",
      description: "Synthesizes, plans and deploys a stage or a real stage's bootstrap stack. deploy applies only the reviewed plan that plan wrote.",
      env: [
        { name: "CDKTF_OUTDIR", description: "output folder (default cdktf.out)" },
        { name: "VIBE_TF_CLI_CONFIG_FILE", description: "another Terraform CLI config than config/terraformrc (e.g. a CI runner without the provider mirror)" },
        { name: "VIBE_LOCAL_AWS_ENDPOINT", description: "moto URL of the local stage" },
        { name: "VIBE_LOCAL_FEED_BASE_URL", description: "sample feed server of the local stage" },
        { name: "AWS_PROFILE / AWS_REGION", description: "credentials and region for online plans and deploys" },
      ],
      exitCodes: [
        STANDARD_EXIT_DOCS.ok,
        { code: EXIT.failed, meaning: "terraform failed, or deploy refused (no reviewed online plan, or it changed since)" },
        STANDARD_EXIT_DOCS.internal,
        STANDARD_EXIT_DOCS.usage,
      ],
      examples: ["npm run plan:prod:offline", "npm run plan:prod -- --read-only", "npm run deploy:prod", "tsx scripts/infra.ts plan --stage bootstrap-prod"],
    },
    io,
  );
  const stage = () => new Option("--stage <target>", "the stage, or a real stage's bootstrap stack (required: no default)").choices([...INFRA_TARGETS]).makeOptionMandatory(true);
  const done = (out: Output, r: InfraResult, command: Command) => {
    out.result({ ok: true, command, target: r.stack.target, dir: r.stack.dir, planFile: r.planFile, summaryFile: r.summaryFile, exitCode: EXIT.ok }, r.markdown ?? `${command} ${r.stack.target}: done (${r.stack.dir})`);
    return EXIT.ok;
  };
  // Refusals and terraform failures are "not done" (exit 1), with what terraform said.
  const refused = (err: unknown): never => {
    if (err instanceof DeployRefusedError) throw new CliError("DEPLOY_REFUSED", err.message, EXIT.failed);
    if (err instanceof TerraformError) throw new CliError("TERRAFORM_FAILED", err.message, EXIT.failed, "read terraform's message above; for a real stage check AWS_PROFILE and the account");
    throw err;
  };
  cli.action<{ json?: boolean; stage: InfraTarget }>(cli.command("synth", "synthesize the target into cdktf.out/stacks/<stack>").addOption(stage()), async ({ out, opts }) =>
    done(out, await runInfra("synth", opts.stage, { log: (l) => out.info(l.trim()) }), "synth"),
  );
  cli.action<{ json?: boolean; stage: InfraTarget; offline?: boolean; readOnly?: boolean }>(
    cli
      .command("plan", "plan the target: online (deployable), --read-only (pull-request review) or --offline (no network, empty state)")
      .addOption(stage())
      .addOption(new Option("--offline", "no network, static keys, empty state; never deployable").conflicts("readOnly"))
      .option("--read-only", "no refresh and no state lock: only the state is read (the plan role's pull-request plan); never deployable"),
    async ({ out, opts }) => done(out, await runInfra("plan", opts.stage, { offline: opts.offline, readOnly: opts.readOnly, log: (l) => out.info(l.trim()) }).catch(refused), "plan"),
  );
  cli.action<{ json?: boolean; stage: InfraTarget }>(cli.command("deploy", "apply the reviewed online plan of the target, and nothing else").addOption(stage()), async ({ out, opts }) =>
    done(out, await runInfra("deploy", opts.stage, { log: (l) => out.info(l.trim()) }).catch(refused), "deploy"),
  );
  return cli;
}

if (require.main === module) {
  infraCli()
    .run(process.argv.slice(2))
    .then((code) => process.exit(code));
}
