/**
 * Runs the terraform CLI with the settings that keep it offline on this machine kind:
 * the committed CLI config (provider from the filesystem mirror), no checkpoint calls,
 * no EC2 metadata lookups, no colour, no prompts. Every script and test uses this.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { STACK_SERVICES } from "../../modules/stages";

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
    // Every provider process terraform starts (four in an apply: schemas, validate, plan,
    // apply) first builds the AWS provider's whole schema, ~3-4 s of CPU here, a third of
    // it garbage collection at Go's default GOGC=100. 400 cuts that to ~2.5 s per start
    // for ~40 MB more peak memory; a GOGC set by the caller wins.
    GOGC: process.env.GOGC || "400",
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
  opts: {
    cwd: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    allowFailure?: boolean;
    /** Called with each complete line terraform prints (stdout and stderr), as it prints it. */
    onLine?: (line: string) => void;
    /** Stops terraform (SIGTERM: it ends the operation in progress cleanly) when aborted. */
    signal?: AbortSignal;
  },
): Promise<TerraformResult> {
  const bin = process.env.TERRAFORM_BIN ?? "terraform";
  const child = spawn(bin, ["-chdir=" + opts.cwd, ...args], {
    env: terraformEnv(opts.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const onAbort = () => child.kill("SIGTERM");
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  let stdout = "";
  let stderr = "";
  const lines = (stream: NodeJS.ReadableStream, add: (s: string) => void) => {
    let partial = "";
    stream.on("data", (d: Buffer) => {
      const text = d.toString();
      add(text);
      if (!opts.onLine) return;
      const parts = (partial + text).split("\n");
      partial = parts.pop() ?? "";
      for (const l of parts) opts.onLine(l);
    });
  };
  lines(child.stdout, (t) => (stdout += t));
  lines(child.stderr, (t) => (stderr += t));
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
  const code = await new Promise<number>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (c, signal) => resolve(c ?? (signal ? 128 : 1)));
  }).finally(() => {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  });
  const result = { code, stdout, stderr };
  if (code !== 0 && !opts.allowFailure) throw new TerraformError(args, result);
  return result;
}

// ---------------------------------------------------------------------------------------
// Offline validate/plan of a real-AWS stage (added for the infrastructure tests and
// `scripts/infra.ts plan --offline`). The synthesized JSON stays clean: an override file
// beside cdk.tf.json supplies static test keys, skip flags, endpoints that refuse
// connections, capped retries, and a local backend instead of S3.

/** Name of the override file (Terraform merges any `*_override.tf.json`). */
export const OFFLINE_OVERRIDE_FILE = "zz_offline_override.tf.json";
/** Nothing listens on port 1: a call there fails at once. */
export const REFUSING_ENDPOINT = "http://127.0.0.1:1";

/** Environment that makes any network attempt of terraform or the provider fail fast. */
export const NO_NETWORK_ENV: NodeJS.ProcessEnv = {
  HTTP_PROXY: REFUSING_ENDPOINT,
  HTTPS_PROXY: REFUSING_ENDPOINT,
  http_proxy: REFUSING_ENDPOINT,
  https_proxy: REFUSING_ENDPOINT,
  NO_PROXY: "",
  no_proxy: "",
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_SESSION_TOKEN: "",
  AWS_PROFILE: "",
  AWS_CONFIG_FILE: "/dev/null",
  AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
};

/** The override document. */
export function offlineOverride(): object {
  return {
    provider: {
      aws: {
        access_key: "test",
        secret_key: "test",
        skip_credentials_validation: true,
        skip_requesting_account_id: true,
        skip_metadata_api_check: "true",
        skip_region_validation: true,
        // Nothing asks STS who we are offline, so the stage's account cannot be checked.
        allowed_account_ids: null,
        max_retries: 1,
        // The stack's own list (a test keeps it complete for every resource type it declares).
        endpoints: Object.fromEntries(STACK_SERVICES.map((s) => [s, REFUSING_ENDPOINT])),
      },
    },
    terraform: { backend: { local: { path: "offline.tfstate" } } },
  };
}

/** Writes the override beside cdk.tf.json in `stackDir`; returns its path. */
export function writeOfflineOverride(stackDir: string): string {
  const file = path.join(stackDir, OFFLINE_OVERRIDE_FILE);
  fs.writeFileSync(file, JSON.stringify(offlineOverride(), null, 2) + "\n");
  return file;
}
