/**
 * Builds the CDKTF app: one {@link DigestStack} per stage, and one {@link BootstrapStack}
 * per real stage (its pipeline's state bucket and roles). main.ts calls
 * {@link synthesizeApp} with values from the environment; tests and scripts/local.ts call
 * it directly with a moto URL, a feed base URL and an outdir, without env vars.
 */
import "./cdktf-node24";
import { App, type TerraformStack } from "cdktf";
import fs from "node:fs";
import path from "node:path";
import { BootstrapStack } from "./bootstrap-stack";
import { DigestStack } from "./digest-stack";
import { devStage, localStage, prodStage, type LocalStageOptions, type StageConfig, type StageName } from "./stages";

/** The bootstrap stack of a real stage, as a command-line target (`bootstrap-prod`). */
export type BootstrapTarget = `bootstrap-${Exclude<StageName, "local">}`;
/** Everything `scripts/infra.ts` can synth, plan and deploy. */
export type InfraTarget = StageName | BootstrapTarget;
export const INFRA_TARGETS: readonly InfraTarget[] = ["local", "dev", "prod", "bootstrap-dev", "bootstrap-prod"];

export interface SynthesizeAppOptions {
  /** Folder for cdktf.out. */
  readonly outdir: string;
  /** Options of the local (moto) stage. @default - moto at 127.0.0.1:5055, feeds at 127.0.0.1:5056 */
  readonly local?: LocalStageOptions;
  /** Stages to synthesize. @default - every stage */
  readonly stages?: readonly StageName[];
  /** Bootstrap stacks to synthesize. @default - every real stage's when `stages` is not given, else none */
  readonly bootstraps?: readonly BootstrapTarget[];
}

export interface SynthesizedStack {
  readonly stage: StageName;
  /** What it is: the stage itself, or the stage's bootstrap stack. */
  readonly target: InfraTarget;
  readonly stackName: string;
  /** Folder holding cdk.tf.json; run terraform with -chdir=<this>. */
  readonly dir: string;
}

/** Every stage's config, in synth order. */
export function stageConfigs(local: LocalStageOptions = {}): StageConfig[] {
  return [localStage(local), devStage(), prodStage()];
}

/**
 * Builds the app and its stacks without synthesizing (for Testing helpers): `stacks` are the
 * stages' digest stacks, `bootstraps` the real stages' bootstrap stacks.
 */
export function buildApp(opts: SynthesizeAppOptions): { app: App; stacks: DigestStack[]; bootstraps: BootstrapStack[] } {
  const app = new App({ outdir: opts.outdir, skipValidation: false });
  const wanted = opts.stages ? new Set(opts.stages) : undefined;
  const configs = stageConfigs(opts.local);
  const stacks = configs.filter((s) => !wanted || wanted.has(s.name)).map((stage) => new DigestStack(app, { stage }));
  const boot = new Set<string>(opts.bootstraps ?? (wanted ? [] : configs.filter((s) => s.pipeline).map((s) => `bootstrap-${s.name}`)));
  const bootstraps = configs.filter((s) => boot.has(`bootstrap-${s.name}`)).map((stage) => new BootstrapStack(app, { stage }));
  return { app, stacks, bootstraps };
}

/** Synthesizes the chosen stages into `opts.outdir` and says where each stack went. */
export function synthesizeApp(opts: SynthesizeAppOptions): SynthesizedStack[] {
  // cdktf creates only the last folder of outdir (a fresh clone has no cdktf.out yet).
  fs.mkdirSync(opts.outdir, { recursive: true });
  const { app, stacks, bootstraps } = buildApp(opts);
  app.synth();
  return [...describe(opts.outdir, stacks), ...describe(opts.outdir, bootstraps)];
}

/** Synthesizes one target: a stage or a real stage's bootstrap stack. */
export function synthesizeTarget(target: InfraTarget, opts: Omit<SynthesizeAppOptions, "stages" | "bootstraps">): SynthesizedStack {
  const isBootstrap = target.startsWith("bootstrap-");
  return synthesizeApp({ ...opts, stages: isBootstrap ? [] : [target as StageName], bootstraps: isBootstrap ? [target as BootstrapTarget] : [] })[0]!;
}

/**
 * Synthesizes explicit stage configs (e.g. a changed copy of a stage, to review the plan
 * between two versions of the stack).
 */
export function synthesizeStages(outdir: string, stages: readonly StageConfig[]): SynthesizedStack[] {
  fs.mkdirSync(outdir, { recursive: true });
  const app = new App({ outdir, skipValidation: false });
  const stacks = stages.map((stage) => new DigestStack(app, { stage }));
  app.synth();
  return describe(outdir, stacks);
}

function describe(outdir: string, stacks: readonly (DigestStack | BootstrapStack)[]): SynthesizedStack[] {
  return stacks.map((s: TerraformStack & { stage: StageConfig }) => {
    const bootstrap = s instanceof BootstrapStack;
    const stackName = bootstrap ? s.node.id : s.stage.stackName;
    return {
      stage: s.stage.name,
      target: bootstrap ? (`bootstrap-${s.stage.name}` as InfraTarget) : s.stage.name,
      stackName,
      dir: path.join(path.resolve(outdir), "stacks", stackName),
    };
  });
}
