/**
 * Mermaid diagrams for docs/diagrams.md (`npm run docs`), each generated from the code it
 * pictures so it cannot drift:
 *
 * - the architecture and the network, from a synthesized stack (cdk.tf.json: the resource
 *   types, the construct tree in each resource's metadata path, and the references between
 *   resources);
 * - the ledger's states from LEDGER.states with the transitions table below (the ledger has
 *   no table of its own: its transitions are conditions in app/src/ledger.ts);
 * - the rollback's states from the contract (ROLLBACK_CLEARED, RollbackRecord's reasons) and
 *   the triggers in app/src/rollback.ts;
 * - the migration's steps from ROLLOUT_STEPS and ROLLOUT_GATE;
 * - the run, hand-written ({@link RUN_FLOW}), its exits checked against EXIT by a test.
 *
 * Mermaid syntax is kept to what GitHub renders: flowchart and stateDiagram-v2, quoted
 * labels, ids of letters, digits and underscores.
 */
import { EXIT } from "../../app/src/cli-kit";
import { LEDGER, ROLLBACK_CLEARED, ROLLBACK_DEFAULTS, runtimeParameterName, DEFAULT_PARAMETER_ROOT, type LedgerState } from "../../app/src/contract";
import { ROLLBACK_TRIGGER_CODES } from "../../app/src/rollback";
import { ROLLOUT_GATE, ROLLOUT_STEPS } from "./rollout";

/** The parts of cdk.tf.json the diagrams read. */
export interface TfJson {
  readonly resource?: Record<string, Record<string, Record<string, unknown>>>;
}

interface Res {
  readonly type: string;
  readonly name: string;
  /** Construct path below the stack, e.g. ["network", "vpc"]. */
  readonly path: string[];
  readonly props: Record<string, unknown>;
}

function resourcesOf(json: TfJson): Res[] {
  const out: Res[] = [];
  for (const [type, byName] of Object.entries(json.resource ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [name, props] of Object.entries(byName).sort(([a], [b]) => a.localeCompare(b))) {
      const meta = (props["//"] as { metadata?: { path?: string } } | undefined)?.metadata?.path ?? `${type}/${name}`;
      out.push({ type, name, path: meta.split("/").slice(1), props });
    }
  }
  return out;
}

/** `${aws_x.name.attr}` references in a resource's body, as "aws_x.name". */
function referencesOf(props: Record<string, unknown>): string[] {
  const text = JSON.stringify(Object.fromEntries(Object.entries(props).filter(([k]) => k !== "//")));
  return [...new Set([...text.matchAll(/\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\./g)].map((m) => `${m[1]}.${m[2]}`))];
}

const id = (s: string) => `n_${s.replace(/[^A-Za-z0-9]/g, "_")}`;
/** A label safe inside Mermaid's double quotes. */
const q = (s: string) => s.replace(/"/g, "#quot;");

/**
 * The stack's top-level constructs as nodes (each with its resource types and counts) and an
 * arrow wherever a resource of one construct refers to a resource of another.
 */
export function architectureDiagram(json: TfJson, stackName: string): string {
  const res = resourcesOf(json);
  const key = (r: Res) => `${r.type}.${r.name}`;
  const owner = new Map(res.map((r) => [key(r), r.path[0] ?? "stack"]));
  const groups = new Map<string, Map<string, number>>();
  for (const r of res) {
    const g = groups.get(r.path[0] ?? "stack") ?? new Map<string, number>();
    g.set(r.type, (g.get(r.type) ?? 0) + 1);
    groups.set(r.path[0] ?? "stack", g);
  }
  const edges = new Set<string>();
  for (const r of res) {
    for (const ref of referencesOf(r.props)) {
      const from = r.path[0] ?? "stack";
      const to = owner.get(ref);
      if (to && to !== from) edges.add(`${from}\u0000${to}`);
    }
  }
  const lines = ["flowchart LR", `  subgraph stack["${q(`${stackName}: ${res.length} resources`)}"]`];
  for (const [group, types] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const parts = [...types].sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `${t.replace(/^aws_/, "")} ×${n}`);
    const rows: string[] = [];
    for (let i = 0; i < parts.length; i += 3) rows.push(parts.slice(i, i + 3).join(", "));
    lines.push(`    ${id(group)}["${q([`<b>${group}</b>`, ...rows].join("<br/>"))}"]`);
  }
  lines.push("  end");
  for (const e of [...edges].sort()) {
    const [from, to] = e.split("\u0000") as [string, string];
    lines.push(`  ${id(from)} --> ${id(to)}`);
  }
  return lines.join("\n");
}

/** cidrsubnet(prefix, newbits, netnum) for IPv4, as Terraform computes it. */
export function cidrsubnet(prefix: string, newbits: number, netnum: number): string {
  const [addr, bitsText] = prefix.split("/") as [string, string];
  const bits = Number(bitsText);
  const base = addr.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = bits + newbits;
  const value = base + netnum * 2 ** (32 - size);
  const octets = [24, 16, 8, 0].map((s) => Math.floor(value / 2 ** s) % 256);
  return `${octets.join(".")}/${size}`;
}

function cidrOf(expr: unknown): string {
  const s = String(expr ?? "");
  const m = /^\$\{cidrsubnet\("([\d./]+)", (\d+), (\d+)\)\}$/.exec(s);
  return m ? cidrsubnet(m[1]!, Number(m[2]), Number(m[3])) : s;
}

/**
 * The network of a stack: the VPC, its subnets grouped by their route (to a NAT gateway, to
 * the internet gateway, or none), where the task runs, its security group's egress rules to
 * the endpoints, the gateway endpoints' prefix lists and the internet; resource types of the
 * network construct that this picture does not draw are listed so nothing is hidden.
 */
export function networkDiagram(json: TfJson): string {
  const res = resourcesOf(json);
  const byKey = new Map(res.map((r) => [`${r.type}.${r.name}`, r]));
  const of = (type: string) => res.filter((r) => r.type === type);
  const refTo = (v: unknown) => {
    const m = /\$\{(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\./.exec(String(v ?? ""));
    return m ? byKey.get(`${m[1]}.${m[2]}`) : undefined;
  };
  const label = (r: Res) => r.path.slice(1).join("/") || r.name;
  const vpc = of("aws_vpc")[0];
  const lines = ["flowchart TB"];
  if (!vpc) return [...lines, '  none["no VPC in this stack"]'].join("\n");

  // Routes: route table -> "nat" | "igw".
  const routeKind = new Map<string, string>();
  for (const r of of("aws_route")) {
    const table = refTo(r.props.route_table_id);
    if (!table) continue;
    if (r.props.nat_gateway_id) routeKind.set(table.name, "nat");
    else if (refTo(r.props.gateway_id)?.type === "aws_internet_gateway") routeKind.set(table.name, "igw");
  }
  const subnetRoute = new Map<string, string>();
  for (const a of of("aws_route_table_association")) {
    const subnet = refTo(a.props.subnet_id);
    const table = refTo(a.props.route_table_id);
    if (subnet && table) subnetRoute.set(subnet.name, routeKind.get(table.name) ?? "none");
  }
  const groupsOfSubnets: Record<string, { title: string; subnets: Res[] }> = {
    nat: { title: "private subnets (default route to the NAT gateway)", subnets: [] },
    none: { title: "private subnets (no route out)", subnets: [] },
    igw: { title: "public subnets (route to the internet gateway)", subnets: [] },
  };
  for (const s of of("aws_subnet")) groupsOfSubnets[subnetRoute.get(s.name) ?? "none"]!.subnets.push(s);

  // Where the task runs: the subnets its launch configurations (schedule, service) name.
  const taskSubnets = new Set<string>();
  for (const r of res) {
    if (!/^aws_(scheduler_schedule|ecs_service)$/.test(r.type)) continue;
    for (const m of JSON.stringify(r.props).matchAll(/\$\{aws_subnet\.([A-Za-z0-9_-]+)\.id\}/g)) taskSubnets.add(m[1]!);
  }
  const taskSg = of("aws_security_group").find((sg) => of("aws_vpc_security_group_egress_rule").some((e) => refTo(e.props.security_group_id) === sg && /task/i.test(label(sg))));

  lines.push(`  internet(("internet"))`);
  lines.push(`  subgraph ${id("vpc")}["${q(`VPC ${String(vpc.props.cidr_block ?? "")}`)}"]`);
  for (const [kind, g] of Object.entries(groupsOfSubnets)) {
    if (!g.subnets.length) continue;
    lines.push(`    subgraph ${id(`subnets_${kind}`)}["${q(g.title)}"]`);
    for (const s of g.subnets) lines.push(`      ${id(s.name)}["${q(`${label(s)}<br/>${cidrOf(s.props.cidr_block)} ${String(s.props.availability_zone ?? "")}`)}"]`);
    if (g.subnets.some((s) => taskSubnets.has(s.name))) lines.push(`      task["${q("digest task (ECS Fargate)")}"]`);
    lines.push("    end");
  }
  const interfaces = of("aws_vpc_endpoint").filter((e) => e.props.vpc_endpoint_type === "Interface");
  const gateways = of("aws_vpc_endpoint").filter((e) => e.props.vpc_endpoint_type === "Gateway");
  const svc = (e: Res) => String(e.props.service_name ?? "").replace(/^com\.amazonaws\.[a-z0-9-]+\./, "");
  if (interfaces.length) lines.push(`    endpoints["${q(`interface endpoints<br/>${interfaces.map(svc).join(", ")}`)}"]`);
  for (const g of gateways) lines.push(`    ${id(g.name)}["${q(`gateway endpoint<br/>${svc(g)}`)}"]`);
  const nat = of("aws_nat_gateway")[0];
  if (nat) lines.push(`    nat["NAT gateway"]`);
  const igw = of("aws_internet_gateway")[0];
  if (igw) lines.push(`    igw["internet gateway"]`);
  lines.push("  end");

  // The task's egress, from its security group's rules.
  const from = taskSubnets.size ? "task" : id(`subnets_${Object.keys(groupsOfSubnets).find((k) => groupsOfSubnets[k]!.subnets.length) ?? "none"}`);
  for (const e of of("aws_vpc_security_group_egress_rule").filter((x) => taskSg && refTo(x.props.security_group_id) === taskSg)) {
    const port = e.props.from_port === e.props.to_port ? `${String(e.props.ip_protocol ?? "")} ${String(e.props.from_port ?? "")}` : `${String(e.props.ip_protocol ?? "")} ${String(e.props.from_port ?? "")}-${String(e.props.to_port ?? "")}`;
    const sg = refTo(e.props.referenced_security_group_id);
    const pl = refTo(e.props.prefix_list_id);
    if (sg && interfaces.length) lines.push(`  ${from} -->|"${q(port)}"| endpoints`);
    else if (pl) lines.push(`  ${from} -->|"${q(port)}"| ${id(pl.name)}`);
    else if (e.props.cidr_ipv4 === "0.0.0.0/0" && nat) lines.push(`  ${from} -->|"${q(`${port} to anywhere`)}"| nat`);
    else lines.push(`  ${from} -->|"${q(`${port} to ${String(e.props.cidr_ipv4 ?? e.props.cidr_ipv6 ?? "?")}`)}"| internet`);
  }
  if (nat && igw) lines.push("  nat --> igw");
  if (igw) lines.push("  igw --> internet");
  // A DNS firewall on this VPC decides which names the task can resolve at all.
  const associated = of("aws_route53_resolver_firewall_rule_group_association").filter((a) => refTo(a.props.vpc_id) === vpc);
  const groups = new Set(associated.map((a) => refTo(a.props.firewall_rule_group_id)?.name));
  const rules = of("aws_route53_resolver_firewall_rule")
    .filter((r) => groups.has(refTo(r.props.firewall_rule_group_id)?.name))
    .sort((a, b) => Number(a.props.priority ?? 0) - Number(b.props.priority ?? 0));
  if (rules.length) {
    const ruleLine = (r: Res) => {
      const list = refTo(r.props.firewall_domain_list_id);
      const n = Array.isArray(list?.props.domains) ? (list!.props.domains as unknown[]).length : "?";
      return `${String(r.props.action ?? "?")} ${label(list ?? r)} (${n} domain${n === 1 ? "" : "s"})`;
    };
    lines.push(`  dnsfw["${q(["DNS firewall on the VPC's resolver, in order:", ...rules.map(ruleLine)].join("<br/>"))}"]`);
    lines.push(`  ${from} -.->|"DNS lookups"| dnsfw`);
  }
  const drawn = new Set(["aws_vpc", "aws_subnet", "aws_route", "aws_route_table", "aws_route_table_association", "aws_vpc_endpoint", "aws_nat_gateway", "aws_internet_gateway", "aws_security_group", "aws_vpc_security_group_egress_rule", "aws_vpc_security_group_ingress_rule"]);
  const others = new Map<string, number>();
  for (const r of res.filter((x) => x.path[0] === vpc.path[0] && !drawn.has(x.type))) others.set(r.type, (others.get(r.type) ?? 0) + 1);
  if (others.size) {
    const list = [...others].sort(([a], [b]) => a.localeCompare(b)).map(([t, n]) => `${t.replace(/^aws_/, "")} ×${n}`);
    lines.push(`  also["${q(`also in ${vpc.path[0]}:<br/>${list.join("<br/>")}`)}"]`);
  }
  return lines.join("\n");
}

/** A transition of the ledger's state machine (what app/src/ledger.ts and its callers do). */
export interface LedgerTransition {
  readonly from: LedgerState | "absent";
  readonly to: LedgerState | "expired";
  readonly by: string;
}

/** The ledger's transitions (app/src/ledger.ts: claim, sending, settle, markForResend, the TTL). */
export const LEDGER_TRANSITIONS: readonly LedgerTransition[] = [
  { from: "absent", to: "in_progress", by: "claim (first run of the digest date)" },
  { from: "failed", to: "in_progress", by: "claim by a later run (the 09:00 catch-up)" },
  { from: "in_progress", to: "in_progress", by: "claim taken over (lease expired before sending started)" },
  { from: "in_progress", to: "sent", by: "settle (the provider accepted, message id kept)" },
  { from: "in_progress", to: "failed", by: "settle (certainly not sent)" },
  { from: "in_progress", to: "unknown", by: "settle (ambiguous), or lease expired after sending started" },
  { from: "unknown", to: "failed", by: "ledger resend (an operator checked the provider)" },
  { from: "sent", to: "expired", by: `TTL (${LEDGER.ttlDays} days after the last write)` },
  { from: "failed", to: "expired", by: "TTL" },
  { from: "unknown", to: "expired", by: "TTL" },
];

/** The ledger's state machine. */
export function ledgerStateDiagram(transitions: readonly LedgerTransition[] = LEDGER_TRANSITIONS): string {
  const node = (s: string) => (s === "absent" || s === "expired" ? "[*]" : s);
  return ["stateDiagram-v2", ...transitions.map((t) => `  ${node(t.from)} --> ${node(t.to)}: ${t.by}`)].join("\n");
}

/** The reasons a rollback record can carry, with what records each (RollbackRecord.reason in the contract). */
export function rollbackReasons(): Record<string, string> {
  const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
  return {
    "ses-failure-rate": `the run's SES sends in a ${ROLLBACK_DEFAULTS.windowMs / 60000} min window failed above ${pct(ROLLBACK_DEFAULTS.maxFailureRate)}, with enough evidence`,
    "ses-sending-paused": `SES answered ${[...ROLLBACK_TRIGGER_CODES.ses].join(" or ")}`,
    "parameter-store": `Parameter Store or its key answered ${[...ROLLBACK_TRIGGER_CODES.parameterStore].join(" or ")}`,
    manual: "an operator ran rollout rollback (or wrote another value by hand)",
  };
}

/** The rollback's state machine (`email/ses_rollback`). */
export function rollbackStateDiagram(): string {
  const name = runtimeParameterName(DEFAULT_PARAMETER_ROOT, "sesRollback");
  return [
    "stateDiagram-v2",
    "  direction LR",
    `  cleared: cleared (${name} = ${ROLLBACK_CLEARED})`,
    "  rolled_back: rolled_back (a JSON record, every run sends via SendGrid)",
    "  [*] --> cleared",
    ...Object.entries(rollbackReasons()).map(([reason, why]) => `  cleared --> rolled_back: ${reason} - ${why}`),
    "  rolled_back --> cleared: rollout clear (or digest rollback clear)",
  ].join("\n");
}

/** The migration's steps (ses_percent) and what moves between them. */
export function rolloutStateDiagram(): string {
  const steps: readonly number[] = ROLLOUT_STEPS;
  const lines = ["stateDiagram-v2", "  direction LR", "  sendgrid_only: use_ses false (phase 1, parallel)"];
  for (const s of steps) lines.push(`  p${s}: ses_percent ${s}${s === 0 ? " (phase 1)" : s === 100 ? " (phase 3, then remove SendGrid)" : " (phase 2)"}`);
  lines.push("  [*] --> sendgrid_only", `  sendgrid_only --> p${steps[0]}: set use_ses true`);
  for (let i = 1; i < steps.length; i++) {
    lines.push(`  p${steps[i - 1]} --> p${steps[i]}: rollout set ${steps[i]}${steps[i - 1]! > 0 ? ` (gate - ${ROLLOUT_GATE.minSesDays} days, SES no worse than SendGrid)` : ""}`);
  }
  lines.push(`  p${steps[steps.length - 1]} --> p${steps[0]}: rollout set (any lower step)`);
  return lines.join("\n");
}

/** One node of the run's flow. */
export interface RunNode {
  readonly id: string;
  readonly label: string;
  readonly shape: "start" | "step" | "decision" | "exit";
  /** For an exit node: the exit code. */
  readonly exit?: number;
  /** For a step that ends a recipient: the ledger states it can write. */
  readonly ledger?: readonly LedgerState[];
}

/**
 * The run (`digest run`, the scheduled task), hand-written: the code has no table of it. A
 * test checks that its exits are exactly the sender's exit codes and its ledger states the
 * ledger's.
 */
export const RUN_FLOW: { readonly nodes: readonly RunNode[]; readonly edges: readonly [string, string, string?][] } = {
  nodes: [
    { id: "start", label: "the schedule starts the task (07:00, catch-up 09:00)", shape: "start" },
    { id: "config", label: "load the config from Parameter Store (one call, decrypted)", shape: "step" },
    { id: "rolledback", label: "rollback in force?", shape: "decision" },
    { id: "feeds", label: "fetch the feeds (a failed feed is left out)", shape: "step" },
    { id: "render", label: "render the digest once", shape: "step" },
    { id: "claim", label: "per recipient: claim it in the ledger", shape: "decision" },
    { id: "route", label: "route: SES share (sticky), or SendGrid", shape: "decision" },
    { id: "ses", label: "SES SendRawEmail", shape: "step" },
    { id: "sendgrid", label: "SendGrid mail/send", shape: "step" },
    { id: "settle", label: "settle the ledger item", shape: "step", ledger: ["sent", "failed", "unknown"] },
    { id: "trip", label: "SES failure rate over the bound, or sending paused?", shape: "decision" },
    { id: "record", label: "record the rollback, the rest via SendGrid", shape: "step" },
    { id: "recordload", label: "record the rollback (when SendGrid is configured)", shape: "step" },
    { id: "summary", label: "summary line and metrics", shape: "step" },
    { id: "exit0", label: "exit 0: every recipient sent", shape: "exit", exit: EXIT.ok },
    { id: "exit1", label: "exit 1: a recipient not sent", shape: "exit", exit: EXIT.failed },
    { id: "exit2", label: "exit 2: config missing or invalid", shape: "exit", exit: EXIT.config },
    { id: "exit3", label: "exit 3: unexpected failure", shape: "exit", exit: EXIT.internal },
    { id: "exit4", label: "exit 4: nothing to send (every feed failed or no items), nobody sent anything", shape: "exit", exit: EXIT.nothingToSend },
    { id: "exit143", label: "exit 143: SIGTERM, in-flight sends settled", shape: "exit", exit: EXIT.interrupted },
  ],
  edges: [
    ["start", "config"],
    ["config", "exit2", "missing or invalid"],
    ["config", "recordload", "access denied"],
    ["recordload", "exit2"],
    ["config", "rolledback", "loaded"],
    ["rolledback", "feeds"],
    ["feeds", "render"],
    ["feeds", "exit4", "no items"],
    ["render", "claim"],
    ["render", "exit3", "unexpected error"],
    ["claim", "route", "claimed"],
    ["claim", "summary", "already sent, unknown, or held by another run: skipped"],
    ["route", "ses", "SES share, no rollback"],
    ["route", "sendgrid", "SendGrid share or rollback"],
    ["ses", "sendgrid", "rejected, certainly not sent"],
    ["ses", "settle"],
    ["sendgrid", "settle"],
    ["settle", "trip"],
    ["trip", "record", "yes"],
    ["trip", "claim", "no: next recipient"],
    ["record", "claim", "next recipient"],
    ["settle", "summary", "last recipient"],
    ["summary", "exit0"],
    ["summary", "exit1"],
    ["summary", "exit143", "after SIGTERM"],
  ],
};

/** The run's flowchart. */
export function runDiagram(flow = RUN_FLOW): string {
  const shape = (n: RunNode) => {
    const l = q(n.label);
    if (n.shape === "start" || n.shape === "exit") return `${n.id}(["${l}"])`;
    if (n.shape === "decision") return `${n.id}{"${l}"}`;
    return `${n.id}["${l}${n.ledger ? `<br/>${n.ledger.join(" / ")}` : ""}"]`;
  };
  return ["flowchart TD", ...flow.nodes.map((n) => `  ${shape(n)}`), ...flow.edges.map(([a, b, l]) => (l ? `  ${a} -->|"${q(l)}"| ${b}` : `  ${a} --> ${b}`))].join("\n");
}
