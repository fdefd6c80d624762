/**
 * Validates and plans a real-AWS stage offline. The synthesized JSON stays clean; a
 * Terraform override file beside cdk.tf.json gives the provider static test keys, the
 * skip flags, loopback endpoints that refuse connections, capped retries, and swaps any
 * remote backend for a local one. Every terraform call also gets a proxy that refuses
 * connections, so a plan that tried to reach the network would fail instead of passing.
 */
import fs from "node:fs";
import path from "node:path";
import { terraform, type TerraformResult } from "../../scripts/lib/terraform";

export const OVERRIDE_FILE = "zz_offline_override.tf.json";
/** Nothing listens on port 1: a call there fails at once. */
export const REFUSING_ENDPOINT = "http://127.0.0.1:1";

/** Provider endpoint keys a stack may use (a superset is harmless). */
export const OFFLINE_SERVICES = [
  "ce", "cloudwatch", "dynamodb", "ec2", "ecr", "ecs", "events", "iam", "kms", "logs", "route53",
  "s3", "scheduler", "ses", "sesv2", "sns", "sqs", "ssm", "sts",
] as const;

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
  AWS_PROFILE: "",
  AWS_CONFIG_FILE: "/dev/null",
  AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
};

/** The override document (exported so tests can assert on it). */
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
        max_retries: 1,
        endpoints: Object.fromEntries(OFFLINE_SERVICES.map((s) => [s, REFUSING_ENDPOINT])),
      },
    },
    terraform: { backend: { local: { path: "offline.tfstate" } } },
  };
}

/** Writes the override beside cdk.tf.json; returns its path. */
export function writeOfflineOverride(stackDir: string): string {
  const file = path.join(stackDir, OVERRIDE_FILE);
  fs.writeFileSync(file, JSON.stringify(offlineOverride(), null, 2) + "\n");
  return file;
}

async function timed(fn: () => Promise<TerraformResult>): Promise<TerraformResult & { ms: number }> {
  const t0 = Date.now();
  const r = await fn();
  return { ...r, ms: Date.now() - t0 };
}

/** `terraform init` with the override in place (provider from the mirror, no backend I/O). */
export async function initOffline(stackDir: string): Promise<TerraformResult & { ms: number }> {
  writeOfflineOverride(stackDir);
  return timed(() => terraform(["init", "-input=false", "-no-color"], { cwd: stackDir, env: NO_NETWORK_ENV }));
}

export async function validateOffline(stackDir: string): Promise<TerraformResult & { ms: number }> {
  return timed(() => terraform(["validate", "-no-color"], { cwd: stackDir, env: NO_NETWORK_ENV }));
}

export interface OfflinePlan {
  readonly planFile: string;
  /** `terraform show -json` of the plan. */
  readonly json: PlanJson;
  readonly ms: number;
}

/** The parts of Terraform's plan JSON format the tests read. */
export interface PlanJson {
  resource_changes?: {
    address: string;
    type: string;
    change: { actions: string[]; before: unknown; after: Record<string, unknown> | null; after_unknown?: unknown; after_sensitive?: unknown };
  }[];
  planned_values?: unknown;
  configuration?: unknown;
  [k: string]: unknown;
}

/** Plans an empty state offline, writes the plan file and returns its JSON. */
export async function planOffline(stackDir: string, planName = "offline.tfplan"): Promise<OfflinePlan> {
  const t0 = Date.now();
  await terraform(["plan", "-input=false", "-no-color", "-lock=false", `-out=${planName}`], { cwd: stackDir, env: NO_NETWORK_ENV });
  const ms = Date.now() - t0;
  const show = await terraform(["show", "-json", "-no-color", planName], { cwd: stackDir, env: NO_NETWORK_ENV });
  return { planFile: path.join(stackDir, planName), json: JSON.parse(show.stdout) as PlanJson, ms };
}
