/**
 * Synthesizing and applying the `local` stage to moto: the one way `npm run local` and the
 * tests' shared local stage (test/support/shared-stage.ts) do it, so the tests apply what
 * the local run applies, with the same terraform flags.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { PROJECT_ROOT, terraform } from "./terraform";

export const LOCAL_STACK = "vibe-digest-local";

/** Terraform outputs (`terraform output -json`). */
export type TerraformOutputs = Record<string, { value: unknown }>;

/** Runs a child to completion, collecting stdout; rejects on a non-zero exit or after `timeoutMs`. */
export function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    // With `signal`, node sends the child SIGTERM when it aborts (and the exit rejects below).
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"], ...(signal ? { signal, killSignal: "SIGTERM" as const } : {}) });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("exit", (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(cmd)} ${args.join(" ")} failed (${code ?? sig}):\n${(err || out).slice(-4000)}`));
    });
  });
}

export interface SynthLocalOptions {
  /** cdktf.out folder to write. */
  readonly outdir: string;
  /** moto's URL. */
  readonly awsEndpoint: string;
  /** Where the sample feeds are served (written into digest/feeds). */
  readonly feedBaseUrl: string;
  /** Absolute state file; without it the state is terraform.tfstate in the stack's folder. */
  readonly stateFile?: string;
  readonly signal?: AbortSignal;
}

/**
 * Synthesizes the app (scripts/synth.mjs, as `npm run synth` does) with the local stage
 * pointed at `awsEndpoint` and `feedBaseUrl`; resolves with the local stack's folder.
 */
export async function synthLocalStage(opts: SynthLocalOptions): Promise<string> {
  await runChild(process.execPath, [path.join(PROJECT_ROOT, "scripts", "synth.mjs")], {
    ...process.env,
    CDKTF_OUTDIR: opts.outdir,
    VIBE_LOCAL_AWS_ENDPOINT: opts.awsEndpoint,
    VIBE_LOCAL_FEED_BASE_URL: opts.feedBaseUrl,
    VIBE_LOCAL_STATE_FILE: opts.stateFile ?? "",
  }, 120_000, opts.signal);
  return path.join(opts.outdir, "stacks", LOCAL_STACK);
}

export interface ApplyLocalOptions {
  /** Each line terraform apply prints (e.g. a heartbeat). */
  readonly onLine?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** @default 300000 */
  readonly timeoutMs?: number;
}

/**
 * terraform's -parallelism for the local stage: the ~20 resources ready at the start all
 * start at once. With the default 10 the SQS dead-letter queue, whose creation alone holds
 * ~25 s (the provider reads its attributes back until six reads in a row agree, 5 s apart),
 * waits ~3 s for a slot and the whole apply waits on it. moto on loopback has no API rate
 * limits; real stages keep terraform's default of 10, which suits AWS's.
 */
export const LOCAL_APPLY_PARALLELISM = 32;

/** `terraform init` then `apply` of the synthesized local stack in `stackDir`; resolves with its outputs. */
export async function applyLocalStage(stackDir: string, opts: ApplyLocalOptions = {}): Promise<TerraformOutputs> {
  const signal = opts.signal;
  await terraform(["init", "-input=false", "-no-color"], { cwd: stackDir, ...(signal ? { signal } : {}) });
  signal?.throwIfAborted();
  await terraform(["apply", "-auto-approve", "-input=false", "-no-color", `-parallelism=${LOCAL_APPLY_PARALLELISM}`], {
    cwd: stackDir,
    timeoutMs: opts.timeoutMs ?? 300_000,
    ...(opts.onLine ? { onLine: opts.onLine } : {}),
    ...(signal ? { signal } : {}),
  });
  signal?.throwIfAborted();
  const out = await terraform(["output", "-json"], { cwd: stackDir, ...(signal ? { signal } : {}) });
  return JSON.parse(out.stdout) as TerraformOutputs;
}
