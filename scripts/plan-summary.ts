/**
 * Turns `terraform show -json <plan>` into a Markdown summary for PR review: counts of
 * create / update / replace / destroy, and flagged lines for IAM or KMS policy changes,
 * anything destroyed or replaced, security-group or network changes, and any SecureString
 * touched. It prints addresses and attribute names only, never a value.
 *
 *   npm run plan:summary -- <plan.json | plan.tfplan> [--out summary.md] [--chdir stackDir]
 *
 * A .tfplan is turned into JSON with `terraform show -json` (run in --chdir, the stack's
 * folder, which must be initialized).
 */
import fs from "node:fs";
import path from "node:path";
import { terraform } from "./lib/terraform";

export interface PlanResourceChange {
  address: string;
  mode?: "managed" | "data";
  type: string;
  change: {
    actions: string[];
    before?: Record<string, unknown> | null;
    after?: Record<string, unknown> | null;
    after_unknown?: Record<string, unknown> | boolean;
  };
  action_reason?: string;
}

export interface PlanLike {
  resource_changes?: PlanResourceChange[];
}

export type ChangeKind = "create" | "update" | "replace" | "destroy" | "read" | "no-op";

export type FlagKind = "iam-kms-policy" | "destroy-replace" | "network" | "secure-string";

export interface Flag {
  readonly kind: FlagKind;
  readonly address: string;
  readonly change: ChangeKind;
  /** Names of the attributes that change (never their values). */
  readonly attributes: string[];
}

export interface PlanSummary {
  readonly counts: Record<Exclude<ChangeKind, "read" | "no-op">, number>;
  readonly flags: Flag[];
  readonly markdown: string;
}

/** Resource types whose change is an IAM or KMS policy change. */
export const POLICY_TYPES = new Set([
  "aws_iam_role", "aws_iam_role_policy", "aws_iam_policy", "aws_iam_role_policy_attachment", "aws_iam_user_policy",
  "aws_kms_key", "aws_kms_key_policy", "aws_kms_grant", "aws_kms_alias",
  "aws_sns_topic_policy", "aws_sqs_queue_policy", "aws_ecr_repository_policy", "aws_ses_identity_policy", "aws_sesv2_email_identity_policy",
]);

/** Resource types whose change is a security-group or network change. */
export function isNetworkType(type: string): boolean {
  return /^aws_(security_group|vpc_security_group_(ingress|egress)_rule|default_security_group|vpc|subnet|route|route_table|route_table_association|nat_gateway|internet_gateway|egress_only_internet_gateway|eip|vpc_endpoint|network_acl|network_acl_rule|default_network_acl|flow_log|vpc_peering_connection)$/.test(type);
}

export function changeKind(actions: readonly string[]): ChangeKind {
  const a = actions.join(",");
  if (a === "create") return "create";
  if (a === "update") return "update";
  if (a === "delete") return "destroy";
  if (a === "read") return "read";
  if (a === "delete,create" || a === "create,delete") return "replace";
  return "no-op";
}

/** Names of the attributes that differ between before and after, or become unknown. */
export function changedAttributes(rc: PlanResourceChange): string[] {
  const before = rc.change.before ?? {};
  const after = rc.change.after ?? {};
  const unknown = typeof rc.change.after_unknown === "object" && rc.change.after_unknown ? rc.change.after_unknown : {};
  const names = new Set([...Object.keys(before), ...Object.keys(after), ...Object.keys(unknown)]);
  return [...names]
    .filter((k) => k !== "tags_all" && (JSON.stringify(before[k]) !== JSON.stringify(after[k]) || unknown[k] === true))
    .filter((k) => !(before[k] === undefined && after[k] === null) && !(after[k] === undefined && before[k] === null && unknown[k] !== true))
    .sort();
}

function isSecureString(rc: PlanResourceChange): boolean {
  return rc.type === "aws_ssm_parameter" && (rc.change.before?.type === "SecureString" || rc.change.after?.type === "SecureString");
}

export function summarizePlan(plan: PlanLike, title = "Terraform plan"): PlanSummary {
  const counts = { create: 0, update: 0, replace: 0, destroy: 0 };
  const flags: Flag[] = [];
  for (const rc of plan.resource_changes ?? []) {
    if (rc.mode === "data" || rc.address.startsWith("data.")) continue;
    const kind = changeKind(rc.change.actions);
    if (kind === "no-op" || kind === "read") continue;
    counts[kind]++;
    const attributes = kind === "create" || kind === "destroy" ? [] : changedAttributes(rc);
    const flag = (k: FlagKind): void => void flags.push({ kind: k, address: rc.address, change: kind, attributes });
    // A role whose description or tags change is not a policy change; its trust policy is.
    const roleWithoutPolicyChange = rc.type === "aws_iam_role" && kind === "update" && !attributes.some((a) => /polic/.test(a));
    if (POLICY_TYPES.has(rc.type) && !roleWithoutPolicyChange) flag("iam-kms-policy");
    if (kind === "destroy" || kind === "replace") flag("destroy-replace");
    if (isNetworkType(rc.type)) flag("network");
    if (isSecureString(rc)) flag("secure-string");
  }
  return { counts, flags, markdown: renderMarkdown(title, counts, flags) };
}

const SECTIONS: [FlagKind, string][] = [
  ["destroy-replace", "Destroyed or replaced"],
  ["iam-kms-policy", "IAM or KMS policy changes"],
  ["network", "Security-group or network changes"],
  ["secure-string", "SecureStrings touched"],
];

function renderMarkdown(title: string, counts: PlanSummary["counts"], flags: Flag[]): string {
  const lines = [`## ${title}`, "", "| create | update | replace | destroy |", "|---:|---:|---:|---:|", `| ${counts.create} | ${counts.update} | ${counts.replace} | ${counts.destroy} |`, ""];
  if (flags.length === 0) lines.push("No flagged changes.", "");
  for (const [kind, heading] of SECTIONS) {
    const mine = flags.filter((f) => f.kind === kind);
    if (!mine.length) continue;
    lines.push(`### ⚠️ ${heading} (${mine.length})`, "");
    for (const f of mine) lines.push(`- **${f.change}** \`${f.address}\`${f.attributes.length ? ` — ${f.attributes.map((a) => `\`${a}\``).join(", ")}` : ""}`);
    lines.push("");
  }
  return lines.join("\n");
}

async function main(argv: string[]): Promise<void> {
  const args = [...argv];
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const [, value] = args.splice(i, 2);
    return value;
  };
  const out = opt("--out");
  const chdir = opt("--chdir");
  const title = opt("--title");
  const input = args[0];
  if (!input) throw new Error("usage: plan-summary <plan.json | plan.tfplan> [--out file.md] [--chdir stackDir] [--title text]");
  let json: string;
  if (input.endsWith(".json")) {
    json = fs.readFileSync(input, "utf8");
  } else {
    const cwd = chdir ?? path.dirname(path.resolve(input));
    json = (await terraform(["show", "-json", "-no-color", path.resolve(input)], { cwd })).stdout;
  }
  const summary = summarizePlan(JSON.parse(json) as PlanLike, title ?? `Terraform plan: ${path.basename(input)}`);
  if (out) fs.writeFileSync(out, summary.markdown + "\n");
  else process.stdout.write(summary.markdown + "\n");
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    console.error(`plan-summary failed: ${err.message}`);
    process.exit(1);
  });
}
