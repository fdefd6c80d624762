/**
 * Builds the CDKTF app: one {@link DigestStack} per stage. main.ts calls
 * {@link synthesizeApp} with values from the environment; tests and scripts/local.ts call
 * it directly with a moto URL, a feed base URL and an outdir, without env vars.
 */
import "./cdktf-node24";
import { App } from "cdktf";
import path from "node:path";
import { DigestStack } from "./digest-stack";
import { devStage, localStage, prodStage, type LocalStageOptions, type StageConfig, type StageName } from "./stages";

export interface SynthesizeAppOptions {
  /** Folder for cdktf.out. */
  readonly outdir: string;
  /** Options of the local (moto) stage. @default - moto at 127.0.0.1:5055, feeds at 127.0.0.1:5056 */
  readonly local?: LocalStageOptions;
  /** Stages to synthesize. @default - every stage */
  readonly stages?: readonly StageName[];
}

export interface SynthesizedStack {
  readonly stage: StageName;
  readonly stackName: string;
  /** Folder holding cdk.tf.json; run terraform with -chdir=<this>. */
  readonly dir: string;
}

/** Every stage's config, in synth order. */
export function stageConfigs(local: LocalStageOptions = {}): StageConfig[] {
  return [localStage(local), devStage(), prodStage()];
}

/** Builds the app and its stacks without synthesizing (for Testing helpers). */
export function buildApp(opts: SynthesizeAppOptions): { app: App; stacks: DigestStack[] } {
  const app = new App({ outdir: opts.outdir, skipValidation: false });
  const wanted = opts.stages ? new Set(opts.stages) : undefined;
  const stacks = stageConfigs(opts.local)
    .filter((s) => !wanted || wanted.has(s.name))
    .map((stage) => new DigestStack(app, { stage }));
  return { app, stacks };
}

/** Synthesizes the chosen stages into `opts.outdir` and says where each stack went. */
export function synthesizeApp(opts: SynthesizeAppOptions): SynthesizedStack[] {
  const { app, stacks } = buildApp(opts);
  app.synth();
  return describe(opts.outdir, stacks);
}

/**
 * Synthesizes explicit stage configs (e.g. a changed copy of a stage, to review the plan
 * between two versions of the stack).
 */
export function synthesizeStages(outdir: string, stages: readonly StageConfig[]): SynthesizedStack[] {
  const app = new App({ outdir, skipValidation: false });
  const stacks = stages.map((stage) => new DigestStack(app, { stage }));
  app.synth();
  return describe(outdir, stacks);
}

function describe(outdir: string, stacks: readonly DigestStack[]): SynthesizedStack[] {
  return stacks.map((s) => ({
    stage: s.stage.name,
    stackName: s.stage.stackName,
    dir: path.join(path.resolve(outdir), "stacks", s.stage.stackName),
  }));
}
