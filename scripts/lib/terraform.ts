/**
 * Runs the terraform CLI with the settings that keep it offline on this machine kind:
 * the committed CLI config (provider from the filesystem mirror), no checkpoint calls,
 * no EC2 metadata lookups, no colour, no prompts. Every script and test uses this.
 */
import { spawn } from "node:child_process";
import path from "node:path";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
export const TERRAFORM_CLI_CONFIG = path.join(PROJECT_ROOT, "config", "terraformrc");

/** Environment for a terraform child process. */
export function terraformEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // Always the committed config: this machine kind exports TF_CLI_CONFIG_FILE pointing at
    // a missing ~/.terraformrc, and inheriting it silently drops the provider mirror (init
    // then tries registry.terraform.io). VIBE_TF_CLI_CONFIG_FILE is the deliberate escape hatch.
    TF_CLI_CONFIG_FILE: process.env.VIBE_TF_CLI_CONFIG_FILE || TERRAFORM_CLI_CONFIG,
    CHECKPOINT_DISABLE: "1",
    TF_IN_AUTOMATION: "1",
    TF_INPUT: "0",
    AWS_EC2_METADATA_DISABLED: "true",
    ...extra,
  };
}

export interface TerraformResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class TerraformError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly result: TerraformResult,
  ) {
    super(`terraform ${args.join(" ")} exited with ${result.code}: ${result.stderr.slice(-3000) || result.stdout.slice(-3000)}`);
    this.name = "TerraformError";
  }
}

/**
 * Runs `terraform ...args` in `cwd` and resolves with its output; rejects with
 * TerraformError on a non-zero exit (unless `allowFailure`), or after `timeoutMs`.
 */
export async function terraform(
  args: readonly string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; allowFailure?: boolean },
): Promise<TerraformResult> {
  const bin = process.env.TERRAFORM_BIN ?? "terraform";
  const child = spawn(bin, ["-chdir=" + opts.cwd, ...args], {
    env: terraformEnv(opts.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
  const code = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  }).finally(() => clearTimeout(timer));
  const result = { code, stdout, stderr };
  if (code !== 0 && !opts.allowFailure) throw new TerraformError(args, result);
  return result;
}
