/**
 * The review as Markdown for a pull-request comment: the verdict first, a one-line-per-change
 * list of high-risk changes, everything else folded in <details>. GitHub caps a comment at
 * 65,536 characters; past {@link MAX_MARKDOWN} the least risky details are dropped, with a
 * note (the JSON output keeps everything).
 */
import { PRICES, money } from "./plan-cost";
import type { PlanReview, ReviewedChange } from "./plan-review";
import type { Risk } from "./plan-rules";

export const MAX_MARKDOWN = 60_000;

const RISK_WORDS: Record<Risk, string> = { high: "High risk", medium: "Medium risk", low: "Low risk", none: "No risk" };

/** Text safe inside a Markdown code span. */
const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;
/** Text safe inside a table cell. */
const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const signed = (n: number): string => (Math.abs(n) < 0.005 ? "±$0.00" : `${n < 0 ? "−" : "+"}${money(Math.abs(n))}`);

function headline(c: ReviewedChange): string {
  return `- **${c.action}** ${code(c.label)} — ${c.reason}`;
}

function details(c: ReviewedChange): string[] {
  const out = [`#### ${code(c.label)}`, "", `${code(c.address)} · ${c.action} · ${c.risk === "none" ? "no" : c.risk} risk`, ""];
  for (const a of c.attributes) out.push(`- ${code(a.name)}: ${code(a.before)} → ${code(a.after)}`);
  for (const n of c.notes) out.push(`- ${n}`);
  for (const f of c.findings) out.push(`- ${f.risk}: ${f.reason} (${code(f.rule)})`);
  for (const p of c.policies) {
    const where = p.source === "known" ? "" : p.source === "document" ? ` — known after apply (${p.unknownReason}); statements from the policy document as planned` : ` — known after apply (${p.unknownReason})`;
    out.push(`- ${p.kind} policy ${code(p.attribute)}${where}:`);
    if (!p.statements.length) out.push(p.source === "unknown" ? "  - statements unknown until apply" : "  - statements unchanged");
    for (const s of p.statements) out.push(`  - ${s}`);
  }
  out.push("");
  return out;
}

function section(review: PlanReview, risk: Risk, withDetails: boolean): string[] {
  const mine = review.changes.filter((c) => c.risk === risk);
  if (!mine.length) return [];
  const list = mine.map(headline);
  // A low- or no-risk change with nothing beyond its one finding says it all in its line.
  const informative = (c: ReviewedChange) => risk === "high" || risk === "medium" || c.attributes.length > 0 || c.policies.length > 0 || c.notes.length > 0 || c.findings.length > 1;
  const more = withDetails ? mine.filter(informative).flatMap(details) : [];
  if (risk === "high") {
    return [`### ${RISK_WORDS.high} (${mine.length})`, "", ...list, "", "<details><summary>High-risk details</summary>", "", ...more, "</details>", ""];
  }
  return [`<details><summary>${RISK_WORDS[risk]} (${mine.length})</summary>`, "", ...list, "", ...more, "</details>", ""];
}

function invariantsSection(review: PlanReview): string[] {
  const broken = review.invariants.filter((i) => i.status !== "holds").length;
  const rows = review.invariants.map((i) => {
    const status = i.status === "holds" ? "holds" : i.status === "broken" ? "**broken by this plan**" : "broken (unchanged resources)";
    const where = i.violations.slice(0, 4).map((v) => `${code(v.label)}: ${v.detail}`).join("; ") + (i.violations.length > 4 ? `; and ${i.violations.length - 4} more` : "");
    return `| ${code(i.id)} | ${cell(i.description)} | ${status} | ${cell(where)} |`;
  });
  return [`<details><summary>Invariants: ${broken ? `${broken} of ${review.invariants.length} broken` : `all ${review.invariants.length} hold`}</summary>`, "", "| invariant | what it checks | status | where |", "|---|---|---|---|", ...rows, "", "</details>", ""];
}

function costSection(review: PlanReview): string[] {
  const c = review.cost;
  const byItem = new Map<string, { n: number; usd: number }>();
  for (const l of c.lines) {
    const item = l.item.startsWith("log group") ? "log groups" : l.item.startsWith("interface endpoint") ? "interface endpoints" : l.item.startsWith("gateway endpoint") ? "gateway endpoints" : l.item;
    const x = byItem.get(item) ?? { n: 0, usd: 0 };
    byItem.set(item, { n: x.n + 1, usd: x.usd + l.usdMonth });
  }
  const rows = [...byItem].sort((a, b) => b[1].usd - a[1].usd).map(([item, x]) => `| ${cell(item)} | ${x.n} | ${money(x.usd)} |`);
  const changed = c.changes.map((x) => `| ${cell(x.item)} | ${code(x.address)} | ${money(x.before)} | ${money(x.after)} |`);
  return [
    `<details><summary>Cost: ${money(c.after)} a month after this plan (${signed(c.delta)}), list prices of ${c.date}</summary>`,
    "",
    `Before ${money(c.before)}, after ${money(c.after)}, change ${signed(c.delta)} a month (${c.region}, on-demand list prices of ${c.date}; the first real bill in Cost Explorer must confirm them).`,
    "",
    "| item | count | a month |",
    "|---|---:|---:|",
    ...rows,
    "",
    ...(changed.length ? ["What this plan changes:", "", "| item | resource | before | after |", "|---|---|---:|---:|", ...changed, ""] : []),
    "Assumptions:",
    "",
    ...c.assumptions.map((a) => `- ${a}`),
    "",
    "Not priced:",
    "",
    ...c.notPriced.map((n) => `- ${n}`),
    "",
    `Sources (${PRICES.date}): ${Object.entries(c.sources).map(([k, url]) => `${k} ${url}`).join("; ")}`,
    "",
    "</details>",
    "",
  ];
}

/** The review as Markdown for a pull-request comment. */
export function renderMarkdown(review: PlanReview): string {
  const a = review.actions;
  const top = [
    `## ${review.title}`,
    "",
    `**${review.verdict}**`,
    "",
    "| high | medium | low | none | cost a month |",
    "|---:|---:|---:|---:|---:|",
    `| ${review.risks.high} | ${review.risks.medium} | ${review.risks.low} | ${review.risks.none} | ${money(review.cost.before)} → ${money(review.cost.after)} (${signed(review.cost.delta)}) |`,
    "",
    `Terraform will create ${a.create}, update ${a.update}, replace ${a.replace}, destroy ${a.destroy} and forget ${a.forget}. ` +
      `Invariants: ${describeInvariants(review)}.` +
      (review.constructPaths ? "" : " No cdk.tf.json beside the plan: changes are named by Terraform address."),
    "",
  ];
  const tail = [...invariantsSection(review), ...costSection(review)];
  // Most detail first; drop the least risky details until the comment fits.
  for (const detailed of [["high", "medium", "low", "none"], ["high", "medium"], ["high"], []] as Risk[][]) {
    const body = (["high", "medium", "low", "none"] as Risk[]).flatMap((r) => section(review, r, detailed.includes(r)));
    const note = detailed.length < 4 ? ["_Some details are left out to fit a comment; `--json` has all of them._", ""] : [];
    const md = [...top, ...body, ...tail, ...note].join("\n");
    if (md.length <= MAX_MARKDOWN || detailed.length === 0) return md;
  }
  return top.join("\n");
}

function describeInvariants(review: PlanReview): string {
  const broken = review.invariants.filter((i) => i.status === "broken").map((i) => code(i.id));
  const standing = review.invariants.filter((i) => i.status === "standing").map((i) => code(i.id));
  const parts = [broken.length ? `${broken.length} of ${review.invariants.length} broken by this plan (${broken.join(", ")})` : `none of ${review.invariants.length} broken by this plan`];
  if (standing.length) parts.push(`already broken by unchanged resources: ${standing.join(", ")}`);
  return parts.join("; ");
}
