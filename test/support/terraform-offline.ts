/**
 * Validates and plans a real-AWS stage offline. The synthesized JSON stays clean; a
 * Terraform override file beside cdk.tf.json gives the provider static test keys, the
 * skip flags, loopback endpoints that refuse connections, capped retries, and swaps any
 * remote backend for a local one. Every terraform call also gets a proxy that refuses
 * connections, so a plan that tried to reach the network would fail instead of passing.
 */
import path from "node:path";
import {
  NO_NETWORK_ENV,
  OFFLINE_OVERRIDE_FILE,
  offlineOverride,
  terraform,
  writeOfflineOverride,
  type TerraformResult,
} from "../../scripts/lib/terraform";

export { NO_NETWORK_ENV, offlineOverride, writeOfflineOverride };
export const OVERRIDE_FILE = OFFLINE_OVERRIDE_FILE;

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
    mode?: "managed" | "data";
    type: string;
    name?: string;
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
