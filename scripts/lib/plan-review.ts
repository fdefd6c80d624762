/**
 * The review of a plan: every change with its construct path, risk, one-line reason and
 * findings (plan-rules.ts), the stack's invariants evaluated on the planned values
 * (invariants.ts), and the monthly cost before and after (plan-cost.ts).
 */
import { INVARIANTS, checkInvariants, planToTfJson, type TfJson } from "./invariants";
import { estimateCost, type CostAssumptions, type CostEstimate } from "./plan-cost";
import { CHANGING_ACTIONS, changeViews, configResources, constructPaths, referencedResource, referencesIn, type Action, type ChangeView, type PlanJson } from "./plan-model";
import { RISKS, applyRules, maxRisk, riskRank, type Finding, type PolicyReview, type Risk, type ShownAttribute } from "./plan-rules";

/** One change as the reviewer sees it. */
export interface ReviewedChange {
  readonly address: string;
  readonly type: string;
  /** Construct path (cdk.tf.json's `//` metadata), or undefined without the configuration. */
  readonly path?: string;
  /** The construct path, else the address. */
  readonly label: string;
  readonly action: Exclude<Action, "read" | "no-op">;
  readonly risk: Risk;
  /** One line: the most serious finding, and the invariants the change breaks. */
  readonly reason: string;
  readonly findings: readonly Finding[];
  readonly attributes: readonly ShownAttribute[];
  readonly policies: readonly PolicyReview[];
  readonly notes: readonly string[];
  /** Ids of the invariants this change breaks. */
  readonly invariants: readonly string[];
}

export interface InvariantStatus {
  readonly id: string;
  readonly description: string;
  /** "broken": a change of this plan breaks it; "standing": broken by resources the plan does not change. */
  readonly status: "holds" | "broken" | "standing";
  readonly violations: readonly { readonly label: string; readonly detail: string }[];
}

export type ChangeCounts = Record<Exclude<Action, "read" | "no-op">, number>;

export interface PlanReview {
  readonly title: string;
  readonly verdict: string;
  readonly risks: Record<Risk, number>;
  readonly actions: ChangeCounts;
  readonly changes: readonly ReviewedChange[];
  readonly invariants: readonly InvariantStatus[];
  readonly cost: CostEstimate;
  /** Whether construct paths came from the configuration beside the plan. */
  readonly constructPaths: boolean;
  readonly terraformVersion?: string;
}

export interface ReviewOptions {
  readonly title?: string;
  /** The synthesized configuration the plan was made from (cdk.tf.json), for construct paths. */
  readonly config?: TfJson;
  readonly assumptions?: Partial<CostAssumptions>;
}

const ACTION_ORDER: readonly ReviewedChange["action"][] = ["forget", "destroy", "replace", "update", "create"];

/** Accounts of the stack's own resources, from their ARNs. */
function ownAccounts(changes: readonly ChangeView[]): Set<string> {
  const out = new Set<string>();
  for (const c of changes) {
    for (const v of [c.before?.arn, c.after?.arn, c.before?.owner_id]) {
      const m = typeof v === "string" ? /^arn:[^:]+:[^:]+:[^:]*:(\d{12}):/.exec(v) ?? /^(\d{12})$/.exec(v) : null;
      if (m) out.add(m[1]!);
    }
  }
  return out;
}

/**
 * The construct path of a resource the configuration no longer has (destroyed, forgotten),
 * from its cdktf logical id: `ledger_table_BE9C0D06` -> `<stack>/ledger/table` (the stack's
 * construct ids use hyphens, never underscores). Undefined without the configuration.
 */
export function derivedPath(address: string, stackName: string | undefined): string | undefined {
  if (!stackName || address.startsWith("data.")) return undefined;
  const m = /^[a-z0-9_]+\.(.+)_[0-9A-F]{8}$/.exec(address.replace(/\[[^\]]*\]$/, ""));
  return m ? `${stackName}/${m[1]!.split("_").join("/")}` : undefined;
}

/** Builds the review of `plan` (already checked by parsePlan). */
export function reviewPlan(plan: PlanJson, opts: ReviewOptions = {}): PlanReview {
  const paths = constructPaths(opts.config);
  const views = changeViews(plan, paths);
  const byAddress = new Map(views.map((v) => [v.address, v]));
  const config = configResources(plan);
  const stackName = [...paths.values()][0]?.split("/")[0];
  const pathOf = (address: string) => paths.get(address.replace(/\[[^\]]*\]$/, "")) ?? derivedPath(address, stackName);
  // In templates a path without the stack's name reads best: ‹operations-key/key.arn›.
  const shortLabel = (address: string) => pathOf(address)?.split("/").slice(1).join("/") || address;
  const ctx = { label: shortLabel, ownAccounts: new Set([...ownAccounts(views), ...((opts.config?.provider?.aws ?? []) as { allowed_account_ids?: string[] }[]).flatMap((p) => p.allowed_account_ids ?? [])]), config, changes: byAddress };

  const changing = views.filter((v) => v.mode === "managed" && CHANGING_ACTIONS.includes(v.action));
  const reviewed = new Map(changing.map((c) => [c.address, { change: c, result: applyRules(c, ctx), invariants: [] as string[] }]));

  // Invariants on the planned values: a violation on a resource this plan changes is high;
  // a policy document's violation belongs to the resources that use the document.
  const consumers = new Map<string, string[]>();
  for (const [address, r] of config) {
    for (const ref of referencesIn(r.expressions)) {
      const target = referencedResource(ref);
      if (target.startsWith("data.")) consumers.set(target, [...new Set([...(consumers.get(target) ?? []), address])]);
    }
  }
  const violations = checkInvariants(planToTfJson(plan));
  const statuses = new Map(INVARIANTS.map((i) => [i.id, { id: i.id, description: i.description, status: "holds" as InvariantStatus["status"], violations: [] as { label: string; detail: string }[] }]));
  for (const v of violations) {
    const targets = v.address.startsWith("data.") ? consumers.get(v.address) ?? [] : [v.address];
    const hit = targets.map((t) => reviewed.get(t)).filter((x) => x !== undefined);
    const status = statuses.get(v.invariant)!;
    status.violations.push({ label: pathOf(v.address) ?? v.address, detail: v.detail });
    if (hit.length) status.status = "broken";
    else if (status.status === "holds") status.status = "standing";
    for (const r of hit) {
      r.result.findings.push({ risk: "high", rule: `invariant:${v.invariant}`, reason: `breaks invariant \`${v.invariant}\`: ${v.detail}` });
      if (!r.invariants.includes(v.invariant)) r.invariants.push(v.invariant);
    }
  }

  const changes: ReviewedChange[] = [...reviewed.values()].map(({ change: c, result, invariants }) => {
    const path = c.path ?? pathOf(c.address);
    if (path && !c.path) result.notes.push("construct path read from the Terraform address: the configuration no longer has this resource");
    const risk = maxRisk(result.findings.map((x) => x.risk));
    const top = result.findings.find((x) => x.risk === risk && !x.rule.startsWith("invariant:")) ?? result.findings.find((x) => x.risk === risk)!;
    const named = invariants.length ? ` (breaks ${invariants.map((i) => `\`${i}\``).join(", ")})` : "";
    return {
      address: c.address,
      type: c.type,
      ...(path ? { path } : {}),
      label: path ?? c.address,
      action: c.action as ReviewedChange["action"],
      risk,
      reason: top.rule.startsWith("invariant:") ? top.reason : `${top.reason}${named}`,
      findings: [...result.findings].sort((a, b) => riskRank(b.risk) - riskRank(a.risk)),
      attributes: result.attributes,
      policies: result.policies,
      notes: result.notes,
      invariants,
    };
  });
  changes.sort((a, b) => riskRank(b.risk) - riskRank(a.risk) || ACTION_ORDER.indexOf(a.action) - ACTION_ORDER.indexOf(b.action) || a.label.localeCompare(b.label));

  const risks = Object.fromEntries(RISKS.map((r) => [r, changes.filter((c) => c.risk === r).length])) as Record<Risk, number>;
  const actions = Object.fromEntries(CHANGING_ACTIONS.map((a) => [a, changes.filter((c) => c.action === a).length])) as ChangeCounts;
  return {
    title: opts.title ?? "Terraform plan",
    verdict: verdictOf(changes, risks),
    risks,
    actions,
    changes,
    invariants: [...statuses.values()],
    cost: estimateCost(views, config, opts.assumptions),
    constructPaths: paths.size > 0,
    ...(plan.terraform_version ? { terraformVersion: plan.terraform_version } : {}),
  };
}

/** The short verdict a pull request shows first. */
function verdictOf(changes: readonly ReviewedChange[], risks: Record<Risk, number>): string {
  const total = changes.length;
  if (total === 0) return "No changes.";
  const some = (risk: Risk, word: string) => {
    const mine = changes.filter((c) => c.risk === risk);
    const named = mine.slice(0, 3).map((c) => `${c.action} \`${c.label}\` (${c.reason})`).join("; ");
    return `${mine.length} ${word} change${mine.length === 1 ? "" : "s"}: ${named}${mine.length > 3 ? `; and ${mine.length - 3} more` : ""}`;
  };
  if (risks.high) return some("high", "high-risk");
  if (risks.medium) return `No high-risk change. ${some("medium", "medium-risk")}`;
  return `No high- or medium-risk change: ${risks.low} low, ${risks.none} without risk.`;
}
