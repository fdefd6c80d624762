/**
 * IAM, trust, key and resource policies in a plan, as statement diffs: actions, resources,
 * principals and conditions added or removed, matched by Sid, with wildcards and new
 * principals called out. A policy Terraform knows only after apply (its
 * aws_iam_policy_document is read during apply because something it uses is created,
 * replaced or changed) is rebuilt from the document's planned statements, with each value
 * that is still unknown shown as what it is made of (‹account›, ‹ledger/table.arn›), and the
 * reason it is unknown is said.
 */
import type { Block } from "./invariants";
import { WILDCARD_RESOURCE_ALLOWLIST } from "./invariants";
import { constantOf, referencedResource, referencesIn, type ChangeView, type ConfigResource } from "./plan-model";

/** Whose policy it is: who it grants to decides what a new principal or a "*" means. */
export type PolicyKind = "identity" | "trust" | "key" | "resource";

/** The policy arguments of each resource type, and their kind. */
export const POLICY_ATTRIBUTES: Readonly<Record<string, { attribute: string; kind: PolicyKind }>> = {
  aws_iam_role: { attribute: "assume_role_policy", kind: "trust" },
  aws_iam_role_policy: { attribute: "policy", kind: "identity" },
  aws_iam_policy: { attribute: "policy", kind: "identity" },
  aws_iam_user_policy: { attribute: "policy", kind: "identity" },
  aws_iam_group_policy: { attribute: "policy", kind: "identity" },
  aws_kms_key: { attribute: "policy", kind: "key" },
  aws_kms_key_policy: { attribute: "policy", kind: "key" },
  aws_sns_topic_policy: { attribute: "policy", kind: "resource" },
  aws_sns_topic: { attribute: "policy", kind: "resource" },
  aws_sqs_queue_policy: { attribute: "policy", kind: "resource" },
  aws_sqs_queue: { attribute: "policy", kind: "resource" },
  aws_s3_bucket_policy: { attribute: "policy", kind: "resource" },
  aws_ecr_repository_policy: { attribute: "policy", kind: "resource" },
  aws_vpc_endpoint: { attribute: "policy", kind: "resource" },
  aws_cloudwatch_log_resource_policy: { attribute: "policy_document", kind: "resource" },
  aws_sesv2_email_identity_policy: { attribute: "policy", kind: "resource" },
  aws_secretsmanager_secret_policy: { attribute: "policy", kind: "resource" },
};

/** One statement, normalized: every list sorted, principals as "Service x" / "AWS arn" / "*". */
export interface Statement {
  readonly sid?: string;
  readonly effect: string;
  readonly actions: string[];
  readonly notActions: string[];
  readonly resources: string[];
  readonly notResources: string[];
  readonly principals: string[];
  readonly notPrincipals: string[];
  /** "StringEquals aws:SourceAccount = ‹account›" */
  readonly conditions: string[];
}

const LIST_FIELDS = ["actions", "notActions", "resources", "notResources", "principals", "notPrincipals", "conditions"] as const;
type ListField = (typeof LIST_FIELDS)[number];

const FIELD_WORDS: Record<ListField, string> = {
  actions: "actions",
  notActions: "NotAction",
  resources: "resources",
  notResources: "NotResource",
  principals: "principals",
  notPrincipals: "NotPrincipal",
  conditions: "conditions",
};

const list = (v: unknown): string[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);
const sorted = (xs: string[]): string[] => [...new Set(xs)].sort();

function principalsOfJson(p: unknown): string[] {
  if (p === undefined || p === null) return [];
  if (p === "*") return ["*"];
  if (typeof p !== "object") return [String(p)];
  return Object.entries(p as Record<string, unknown>).flatMap(([type, ids]) => list(ids).map((id) => (id === "*" && type === "AWS" ? "*" : `${type} ${id}`)));
}

function conditionsOfJson(c: unknown): string[] {
  if (!c || typeof c !== "object") return [];
  return Object.entries(c as Record<string, unknown>).flatMap(([test, byKey]) =>
    Object.entries((byKey ?? {}) as Record<string, unknown>).map(([variable, values]) => `${test} ${variable} = ${sorted(list(values)).join(", ")}`),
  );
}

/** The statements of a policy JSON string, or undefined when it is not a policy document. */
export function statementsOfJson(json: string): Statement[] | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return undefined;
  }
  const raw = (doc as { Statement?: unknown } | null)?.Statement;
  if (raw === undefined) return undefined;
  return (Array.isArray(raw) ? raw : [raw]).map((s: Record<string, unknown>) => ({
    ...(typeof s.Sid === "string" && s.Sid ? { sid: s.Sid } : {}),
    effect: String(s.Effect ?? "Allow"),
    actions: sorted(list(s.Action)),
    notActions: sorted(list(s.NotAction)),
    resources: sorted(list(s.Resource)),
    notResources: sorted(list(s.NotResource)),
    principals: sorted(principalsOfJson(s.Principal)),
    notPrincipals: sorted(principalsOfJson(s.NotPrincipal)),
    conditions: sorted(conditionsOfJson(s.Condition)),
  }));
}

/** Names a resource in a reviewer's words: its construct path without the stack, else its address. */
export type Labeler = (address: string) => string;

/**
 * What a template from cdk.tf.json is made of, in words: the account, partition and region
 * the stack reads from a resource's ARN, and other references by construct path.
 */
export function describeTemplate(template: string, label: Labeler): string {
  return template.replace(/\$\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}/g, (_m, inner: string) => {
    const part = /^element\(split\(":", *([^,]+)\), *(\d)\)$/.exec(inner.trim());
    if (part) return `‹${["arn", "partition", "service", "region", "account"][Number(part[2])] ?? "ARN part"}›`;
    const ref = /^((?:data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+)\.([a-z0-9_]+)$/.exec(inner.trim());
    if (ref) return `‹${label(ref[1]!)}.${ref[2]}›`;
    return "‹expression›";
  });
}

/**
 * The statements of an aws_iam_policy_document as planned (`change.after.statement` of its
 * read), each value still unknown replaced by its configuration template in words.
 */
export function statementsOfDocument(after: Block, afterUnknown: Block, config: ConfigResource | undefined, label: Labeler): Statement[] {
  const blocks = (after.statement ?? []) as Block[];
  const unknownBlocks = (afterUnknown.statement ?? []) as Block[];
  const configBlocks = ((config?.expressions ?? {}).statement ?? []) as Block[];
  // Statements keep their order; inside one, Terraform holds actions, resources, principals
  // and conditions as sets, so their planned order need not be the configuration's.
  return blocks.map((b, i) => {
    const u = (unknownBlocks[i] ?? {}) as Block;
    const c = (configBlocks.find((x) => constantOf(x.sid) === b.sid && b.sid) ?? configBlocks[i] ?? {}) as Block;
    const values = (value: unknown, unknown: unknown, expr: unknown) => setValues(value, unknown, expr, label);
    const nested = (field: string, k: number, match: (x: Block) => boolean): [Block, Block] => {
      const cu = (((u[field] ?? []) as Block[])[k] ?? {}) as Block;
      const cc = (((c[field] ?? []) as Block[]).find(match) ?? {}) as Block;
      return [cu, cc];
    };
    const principals = (field: "principals" | "not_principals"): string[] =>
      ((b[field] ?? []) as Block[]).flatMap((p, k) => {
        const [pu, pc] = nested(field, k, (x) => constantOf(x.type) === p.type);
        return values(p.identifiers, pu.identifiers, pc.identifiers).map((id) => (id === "*" && (p.type === "AWS" || p.type === "*") ? "*" : `${p.type} ${id}`));
      });
    const conditions = ((b.condition ?? []) as Block[]).map((cond, k) => {
      const [cu, cc] = nested("condition", k, (x) => constantOf(x.test) === cond.test && constantOf(x.variable) === cond.variable);
      return `${cond.test} ${cond.variable} = ${sorted(values(cond.values, cu.values, cc.values)).join(", ")}`;
    });
    return {
      ...(typeof b.sid === "string" && b.sid ? { sid: b.sid } : {}),
      effect: String(b.effect ?? "Allow"),
      actions: sorted(values(b.actions, u.actions, c.actions)),
      notActions: sorted(values(b.not_actions, u.not_actions, c.not_actions)),
      resources: sorted(values(b.resources, u.resources, c.resources)),
      notResources: sorted(values(b.not_resources, u.not_resources, c.not_resources)),
      principals: sorted(principals("principals")),
      notPrincipals: sorted(principals("not_principals")),
      conditions: sorted(conditions),
    };
  });
}

/** Whether a configuration template could have produced `value` (each ${...} matching anything). */
function templateMatches(template: string, value: string): boolean {
  const re = template.split(/\$\{(?:[^{}]|\{[^{}]*\})*\}/).map((x) => x.replace(/[.*+?^$()|[\]\\{}]/g, "\\$&")).join(".*");
  return new RegExp(`^${re}$`).test(value);
}

/**
 * A set-valued field of a planned policy document: the known values, and for each value
 * still unknown a configuration template (one that no known value came from) in words.
 */
function setValues(value: unknown, unknown: unknown, expr: unknown, label: Labeler): string[] {
  const templates = list(constantOf(expr));
  if (unknown === true) return templates.length ? templates.map((t) => describeTemplate(t, label)) : ["‹known after apply›"];
  if (!Array.isArray(value)) return value === null || value === undefined ? [] : [String(value)];
  const marks = Array.isArray(unknown) ? unknown : [];
  const known = value.filter((v, j) => v !== null && marks[j] !== true).map(String);
  const missing = value.length - known.length;
  if (!missing) return known;
  const open = templates.filter((t) => t.includes("${") && !known.some((k) => templateMatches(t, k)));
  const described = open.slice(0, missing).map((t) => describeTemplate(t, label));
  while (described.length < missing) described.push("‹known after apply›");
  return [...known, ...described];
}

/** How one statement changes. */
export interface StatementChange {
  /** The Sid, or "statement N" when there is none. */
  readonly key: string;
  readonly status: "added" | "removed" | "changed";
  readonly effect: { readonly before?: string; readonly after?: string };
  readonly added: Partial<Record<ListField, string[]>>;
  readonly removed: Partial<Record<ListField, string[]>>;
}

function keyed(statements: readonly Statement[]): Map<string, Statement> {
  const out = new Map<string, Statement>();
  statements.forEach((s, i) => {
    let key = s.sid ?? `statement ${i + 1} (${s.effect} ${s.actions.slice(0, 2).join(", ")}${s.actions.length > 2 ? ", …" : ""})`;
    while (out.has(key)) key += "'";
    out.set(key, s);
  });
  return out;
}

const EMPTY: Statement = { effect: "", actions: [], notActions: [], resources: [], notResources: [], principals: [], notPrincipals: [], conditions: [] };

/** Statement-by-statement difference of two policies (undefined before: a new policy). */
export function diffStatements(before: readonly Statement[] | undefined, after: readonly Statement[]): StatementChange[] {
  const b = keyed(before ?? []);
  const a = keyed(after);
  const keys = [...new Set([...b.keys(), ...a.keys()])];
  const out: StatementChange[] = [];
  for (const key of keys) {
    const x = b.get(key) ?? EMPTY;
    const y = a.get(key) ?? EMPTY;
    const added: StatementChange["added"] = {};
    const removed: StatementChange["removed"] = {};
    for (const f of LIST_FIELDS) {
      const plus = y[f].filter((v) => !x[f].includes(v));
      const minus = x[f].filter((v) => !y[f].includes(v));
      if (plus.length) added[f] = plus;
      if (minus.length) removed[f] = minus;
    }
    const status = !b.has(key) ? "added" : !a.has(key) ? "removed" : "changed";
    if (status === "changed" && !Object.keys(added).length && !Object.keys(removed).length && x.effect === y.effect) continue;
    out.push({ key, status, effect: { ...(b.has(key) ? { before: x.effect } : {}), ...(a.has(key) ? { after: y.effect } : {}) }, added, removed });
  }
  return out;
}

/** A statement change in a line a reviewer reads. */
export function describeStatementChange(c: StatementChange): string {
  const parts: string[] = [];
  const effect = c.effect.after ?? c.effect.before;
  if (c.status === "changed" && c.effect.before !== c.effect.after) parts.push(`effect ${c.effect.before} → ${c.effect.after}`);
  for (const f of LIST_FIELDS) {
    if (c.added[f]?.length) parts.push(`+${FIELD_WORDS[f]}: ${c.added[f]!.map((v) => `\`${v}\``).join(", ")}`);
    if (c.removed[f]?.length) parts.push(`−${FIELD_WORDS[f]}: ${c.removed[f]!.map((v) => `\`${v}\``).join(", ")}`);
  }
  const verb = c.status === "added" ? "added" : c.status === "removed" ? "removed" : "changed";
  return `${verb} \`${c.key}\` (${effect}): ${parts.join("; ") || "no field changes"}`;
}

/** A risk call-out on a policy change. */
export interface PolicyCallout {
  readonly risk: "high" | "medium" | "low" | "none";
  readonly rule: string;
  readonly reason: string;
}

const ACCOUNT_IN_ARN = /^(?:AWS )?arn:[^:]+:(?:iam|sts)::(\d{12}):/;

/**
 * What a reviewer must notice in a policy change. `ownAccounts`: the account ids of the
 * stack's own resources (from ARNs in the plan); a principal in another account is
 * cross-account. `isNew`: the policy is created (everything in it is "added").
 */
export function policyCallouts(changes: readonly StatementChange[], kind: PolicyKind, isNew: boolean, ownAccounts: ReadonlySet<string>): PolicyCallout[] {
  const out: PolicyCallout[] = [];
  const push = (risk: PolicyCallout["risk"], rule: string, reason: string) => out.push({ risk, rule, reason });
  const whose = kind === "trust" ? "trust policy" : kind === "key" ? "key policy" : kind === "resource" ? "resource policy" : "policy";
  for (const c of changes) {
    const allow = (c.effect.after ?? c.effect.before) === "Allow";
    if (c.status === "changed" && c.effect.before === "Deny" && c.effect.after === "Allow") push("high", "policy-deny-to-allow", `\`${c.key}\` turns from Deny into Allow`);
    if (c.status === "removed" && c.effect.before === "Deny") push("medium", "policy-deny-removed", `Deny statement \`${c.key}\` removed`);
    if (!allow || c.status === "removed") continue;
    for (const a of c.added.actions ?? []) if (a.includes("*")) push("high", "policy-wildcard-action", `wildcard action \`${a}\` in \`${c.key}\``);
    if (c.added.notActions?.length) push("high", "policy-not-action", `\`${c.key}\` allows everything except ${c.added.notActions.map((a) => `\`${a}\``).join(", ")} (NotAction)`);
    if (c.added.notResources?.length) push("high", "policy-not-resource", `\`${c.key}\` allows every resource except some (NotResource)`);
    if ((c.added.resources ?? []).includes("*")) {
      if (kind === "identity" && !WILDCARD_RESOURCE_ALLOWLIST[c.key]) push("high", "policy-wildcard-resource", `\`${c.key}\` allows Resource \`*\``);
      else if (kind === "resource") push("medium", "policy-wildcard-resource", `\`${c.key}\` allows Resource \`*\` in a resource policy`);
    }
    for (const p of c.added.principals ?? []) {
      const account = ACCOUNT_IN_ARN.exec(p)?.[1];
      if (p === "*") push("high", "policy-any-principal", `\`${c.key}\` lets any principal (\`*\`) in`);
      else if (account && !ownAccounts.has(account)) push("high", "policy-cross-account", `\`${c.key}\` adds a principal in another account: \`${p}\``);
      else if (kind === "trust") push(isNew ? "medium" : "high", "policy-new-principal", `${isNew ? "assumable by" : "new principal may assume the role:"} \`${p}\``);
      else if (!isNew) push("medium", "policy-new-principal", `new principal in the ${whose}: \`${p}\``);
    }
    if (c.status === "changed" && c.removed.conditions?.length) {
      push(kind === "trust" ? "high" : "medium", "policy-condition-removed", `\`${c.key}\` loses condition ${c.removed.conditions.map((x) => `\`${x}\``).join(", ")}: the ${whose} grants more widely`);
    }
  }
  const widens = changes.some((c) => c.status !== "removed" && (c.effect.after === "Allow") && (c.added.actions?.length || c.added.resources?.length || c.added.principals?.length));
  const narrowsOnly = changes.length > 0 && changes.every((c) => !Object.keys(c.added).length && (c.status !== "changed" || c.effect.before === c.effect.after));
  if (isNew) {
    const n = changes.filter((c) => c.status === "added").length;
    push("medium", "policy-new", `new ${whose}: ${n} statement${n === 1 ? "" : "s"}`);
  } else if (changes.length === 0) push("none", "policy-unchanged", `${whose} statements unchanged`);
  else if (narrowsOnly) push("low", "policy-narrows", `${whose} narrows (only removals)`);
  else if (widens) push("medium", "policy-widens", `${whose} grants more (added ${[...new Set(changes.flatMap((c) => Object.keys(c.added).map((f) => FIELD_WORDS[f as ListField])))].join(", ")})`);
  else push("low", "policy-changes", `${whose} changes`);
  return out;
}

/** Why a resource's value is known only after apply, in a sentence. */
export function unknownBecause(
  change: ChangeView,
  attribute: string,
  config: ReadonlyMap<string, ConfigResource>,
  changes: ReadonlyMap<string, ChangeView>,
  label: Labeler,
): { reason: string; document?: ChangeView } {
  const refs = [...referencesIn(config.get(change.address.replace(/\[[^\]]*\]$/, ""))?.expressions?.[attribute])].map(referencedResource);
  const docAddress = refs.find((r) => r.startsWith("data.aws_iam_policy_document."));
  const pending = (addresses: Iterable<string>): string[] =>
    [...new Set(addresses)]
      .map((a) => changes.get(a))
      .filter((c): c is ChangeView => !!c && c.mode === "managed" && ["create", "replace", "update"].includes(c.action))
      .map((c) => `${label(c.address)} (${c.action === "create" ? "created" : c.action === "replace" ? "replaced" : "updated"} by this plan)`);
  if (docAddress) {
    const doc = changes.get(docAddress);
    const docRefs = [...referencesIn(config.get(docAddress)?.expressions)].map(referencedResource);
    const what = pending(docRefs);
    const why = doc?.actionReason === "read_because_dependency_pending"
      ? `something it depends on has changes pending${what.length ? `: ${what.join(", ")}` : ""}`
      : `it uses values known only after apply${what.length ? `, from ${what.join(", ")}` : ""}`;
    return { reason: `rendered during apply by ${label(docAddress)}, which Terraform reads then because ${why}`, document: doc };
  }
  const what = pending(refs);
  return { reason: what.length ? `computed from ${what.join(", ")}` : "computed by AWS or the provider during apply" };
}
