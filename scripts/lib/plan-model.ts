/**
 * Reading a Terraform plan (`terraform show -json <plan>`) for review: refusing what is not
 * a plan, telling the actions apart (create, update, replace, destroy, forget), naming each
 * resource by its construct path (cdktf writes it into cdk.tf.json as `//` metadata; the
 * plan has only addresses), and reading attribute values at a path, known or not.
 *
 * Nothing here prints a value: what is shown is decided by the rules (plan-rules.ts), which
 * name the attributes whose values are safe to show.
 */
import { z } from "zod";
import { CliError, EXIT } from "../../app/src/cli-kit";
import type { Block, TfJson } from "./invariants";

/** What Terraform will do to a resource, as a reviewer says it. */
export type Action = "create" | "update" | "replace" | "destroy" | "forget" | "read" | "no-op";

/** The actions that change something (a `read` of a data source and a `no-op` do not). */
export const CHANGING_ACTIONS: readonly Action[] = ["create", "update", "replace", "destroy", "forget"];

export interface PlanResourceChange {
  address: string;
  mode?: "managed" | "data";
  type: string;
  name?: string;
  index?: unknown;
  previous_address?: string;
  action_reason?: string;
  change: {
    actions: string[];
    before?: unknown;
    after?: unknown;
    after_unknown?: unknown;
    before_sensitive?: unknown;
    after_sensitive?: unknown;
    importing?: unknown;
  };
}

/** The parts of Terraform's plan JSON format the review reads. */
export interface PlanJson {
  format_version: string;
  terraform_version?: string;
  resource_changes?: PlanResourceChange[];
  planned_values?: unknown;
  prior_state?: unknown;
  configuration?: unknown;
  [k: string]: unknown;
}

/** A file given as a plan is not one (or cannot be read): exit 2, with what to do. */
export function planInputError(message: string, hint = "give the JSON of a plan: `terraform show -json <plan file> > plan.json`"): CliError {
  return new CliError("PLAN_INVALID", message, EXIT.config, hint);
}

const resourceChangeSchema = z.object({
  address: z.string(),
  type: z.string(),
  change: z.object({ actions: z.array(z.string()).min(1) }).passthrough(),
}).passthrough();

const planSchema = z.object({
  format_version: z.string(),
  planned_values: z.object({}).passthrough(),
  resource_changes: z.array(resourceChangeSchema).optional(),
}).passthrough();

/**
 * Parses `text` as the JSON of a Terraform plan, or throws {@link planInputError} saying
 * what it is instead (not JSON, empty, a state file, the JSON of a state, anything else).
 */
export function parsePlan(text: string, source: string): PlanJson {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw planInputError(`${source} is not JSON${text.startsWith("PK") ? " (it looks like a binary plan file)" : ""}`);
  }
  return validatePlan(doc, source);
}

/** `doc` as a plan, or {@link planInputError} saying what it is instead. */
export function validatePlan(doc: unknown, source: string): PlanJson {
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw planInputError(`${source} is not a Terraform plan: not a JSON object`);
  const o = doc as Record<string, unknown>;
  if (Object.keys(o).length === 0) throw planInputError(`${source} is not a Terraform plan: it is an empty object`);
  if ("lineage" in o && "serial" in o) throw planInputError(`${source} is a Terraform state file, not a plan`, "plan first (`terraform plan -out=plan.tfplan`), then `terraform show -json plan.tfplan > plan.json`");
  if ("values" in o && !("planned_values" in o)) throw planInputError(`${source} is the JSON of a Terraform state, not of a plan`, "run `terraform show -json` on the plan file, not on the state");
  const parsed = planSchema.safeParse(doc);
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.join(".") || "(top level)";
    throw planInputError(`${source} is not a Terraform plan: ${where} is missing or malformed`);
  }
  return parsed.data as PlanJson;
}

/** The reviewer's word for Terraform's action list. */
export function actionOf(actions: readonly string[]): Action {
  if (actions.includes("forget")) return "forget";
  const a = actions.join(",");
  if (a === "create") return "create";
  if (a === "update") return "update";
  if (a === "delete") return "destroy";
  if (a === "read") return "read";
  if (a === "delete,create" || a === "create,delete") return "replace";
  return "no-op";
}

/** Construct paths by Terraform address, from cdk.tf.json's `//` metadata. */
export function constructPaths(config: TfJson | undefined): Map<string, string> {
  const paths = new Map<string, string>();
  const add = (prefix: string, blocks: Record<string, Record<string, Block>> | undefined) => {
    for (const [type, byName] of Object.entries(blocks ?? {})) {
      for (const [name, block] of Object.entries(byName)) {
        const p = (block?.["//"] as { metadata?: { path?: unknown } } | undefined)?.metadata?.path;
        if (typeof p === "string") paths.set(`${prefix}${type}.${name}`, p);
      }
    }
  };
  add("", config?.resource);
  add("data.", config?.data);
  return paths;
}

/** One resource of the plan, with what a reviewer needs around it. */
export interface ChangeView {
  readonly address: string;
  readonly type: string;
  readonly mode: "managed" | "data";
  /** The construct path, or undefined when the configuration beside the plan is missing. */
  readonly path?: string;
  readonly action: Action;
  readonly actionReason?: string;
  readonly before: Block | null;
  readonly after: Block | null;
  /** `after_unknown`: true where a value is known only after apply. */
  readonly afterUnknown: Block;
  readonly previousAddress?: string;
  readonly importing: boolean;
  /** Names of the top-level attributes that change (never their values). */
  readonly changed: readonly string[];
}

function asBlock(v: unknown): Block | null {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Block) : null;
}

/** Every resource change of the plan (data sources and no-ops included), as {@link ChangeView}s. */
export function changeViews(plan: PlanJson, paths: ReadonlyMap<string, string>): ChangeView[] {
  return (plan.resource_changes ?? []).map((rc) => {
    const before = asBlock(rc.change.before);
    const after = asBlock(rc.change.after);
    const afterUnknown = asBlock(rc.change.after_unknown) ?? {};
    const action = actionOf(rc.change.actions);
    const baseAddress = rc.address.replace(/\[[^\]]*\]$/, "");
    return {
      address: rc.address,
      type: rc.type,
      mode: rc.mode === "data" || rc.address.startsWith("data.") ? "data" : "managed",
      path: paths.get(baseAddress),
      action,
      actionReason: rc.action_reason,
      before,
      after,
      afterUnknown,
      previousAddress: rc.previous_address,
      importing: rc.change.importing !== undefined && rc.change.importing !== null,
      changed: action === "update" || action === "replace" ? changedAttributes(before, after, afterUnknown) : [],
    };
  });
}

/** Names of the attributes that differ between before and after, or become unknown. */
export function changedAttributes(before: Block | null, after: Block | null, unknown: Block): string[] {
  const b = before ?? {};
  const a = after ?? {};
  const names = new Set([...Object.keys(b), ...Object.keys(a), ...Object.keys(unknown)]);
  return [...names]
    .filter((k) => k !== "tags_all" && (unknown[k] === true || !sameValue(b[k], a[k])))
    .sort();
}

/** null, undefined, "", [] and {} all mean "not set" in a plan. */
export function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0) || (typeof v === "object" && !Array.isArray(v) && Object.keys(v as object).length === 0);
}

export function sameValue(a: unknown, b: unknown): boolean {
  if (isEmpty(a) && isEmpty(b)) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The value at a dotted path (`point_in_time_recovery.enabled`); a nested block, which the
 * plan holds as a list of one, is entered at its first element.
 */
export function valueAt(block: unknown, path: string): unknown {
  let cur: unknown = block;
  for (const seg of path.split(".")) {
    if (Array.isArray(cur)) cur = cur[0];
    if (!cur || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/** Whether the value at `path` is marked unknown (known only after apply) in `after_unknown`. */
export function unknownAt(afterUnknown: unknown, path: string): boolean {
  let cur: unknown = afterUnknown;
  for (const seg of path.split(".")) {
    if (cur === true) return true;
    if (Array.isArray(cur)) cur = cur[0];
    if (!cur || typeof cur !== "object") return false;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur === true;
}

/** A configuration resource of the plan (`configuration.root_module.resources[]`). */
export interface ConfigResource {
  readonly address: string;
  readonly mode: "managed" | "data";
  readonly type: string;
  readonly name: string;
  readonly expressions?: Record<string, unknown>;
}

/** The plan's configuration resources by address. */
export function configResources(plan: PlanJson): Map<string, ConfigResource> {
  const root = (plan.configuration as { root_module?: { resources?: ConfigResource[] } } | undefined)?.root_module;
  return new Map((root?.resources ?? []).map((r) => [r.address, r]));
}

/** Every reference an expression tree makes (`aws_kms_key.k.arn`, `aws_kms_key.k`, ...). */
export function referencesIn(expr: unknown, out: Set<string> = new Set()): Set<string> {
  if (Array.isArray(expr)) for (const e of expr) referencesIn(e, out);
  else if (expr && typeof expr === "object") {
    const e = expr as Record<string, unknown>;
    if (Array.isArray(e.references)) for (const r of e.references) if (typeof r === "string") out.add(r);
    for (const [k, v] of Object.entries(e)) if (k !== "references" && k !== "constant_value") referencesIn(v, out);
  }
  return out;
}

/** The resource address of a reference (`aws_kms_key.k.arn` -> `aws_kms_key.k`, `data.x.y.json` -> `data.x.y`). */
export function referencedResource(ref: string): string {
  const parts = ref.split(".");
  return (parts[0] === "data" ? parts.slice(0, 3) : parts.slice(0, 2)).join(".").replace(/\[[^\]]*\]$/, "");
}

/** The literal value of an expression in the plan's configuration (templates as written), or undefined. */
export function constantOf(expr: unknown): unknown {
  if (expr && typeof expr === "object" && !Array.isArray(expr) && "constant_value" in expr) return (expr as { constant_value: unknown }).constant_value;
  return undefined;
}
