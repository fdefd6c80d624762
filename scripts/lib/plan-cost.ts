/**
 * What the stage costs a month before and after a plan, from the dated price table in
 * plan-prices.json (us-east-1 list prices, each with its official pricing page), for the
 * resource types the stack uses. Usage-driven items rest on stated assumptions (runs a day
 * and their length, recipients, log volume, image size); what has no price rule is listed
 * as not priced, never silently counted as free.
 */
import { METRICS } from "../../app/src/contract";
import type { Block } from "./invariants";
import { constantOf, unknownAt, valueAt, type ChangeView, type ConfigResource } from "./plan-model";
import PRICE_TABLE from "./plan-prices.json";

export type PriceKey = keyof typeof PRICE_TABLE.prices;
export const PRICES = PRICE_TABLE;

/** Usage the estimate assumes; each one is printed with the estimate. */
export interface CostAssumptions {
  /** Minutes one scheduled run of the task takes (every schedule runs once a day). @default 5 */
  readonly runMinutes: number;
  /** Recipients of the digest. @default - the number of addresses in the to_address parameter, else 1 */
  readonly recipients?: number;
  /** MB of log events each log group ingests a day (sender logs, VPC flow logs). @default 2 */
  readonly logMbPerDay: number;
  /** GB one image takes in ECR (kept images: the lifecycle policy's count). @default 0.1 */
  readonly imageGb: number;
  /** GB a month through the NAT gateway (feeds, SendGrid). @default 1 */
  readonly natGbPerMonth: number;
  /** GB a month through the interface endpoints, all together. @default 1 */
  readonly endpointGbPerMonth: number;
  /** DNS queries a day through a DNS firewall. @default 1000 */
  readonly dnsQueriesPerDay: number;
}

export const DEFAULT_ASSUMPTIONS: CostAssumptions = { runMinutes: 5, logMbPerDay: 2, imageGb: 0.1, natGbPerMonth: 1, endpointGbPerMonth: 1, dnsQueriesPerDay: 1000 };

/** One priced line: what, how much a month, and how it was worked out. */
export interface CostLine {
  readonly address: string;
  /** A stage-wide item (SES sending, custom metrics): counted once, on the first resource that brings it. */
  readonly once?: boolean;
  readonly item: string;
  readonly usdMonth: number;
  readonly basis: string;
  readonly prices: readonly PriceKey[];
}

export interface CostEstimate {
  readonly date: string;
  readonly region: string;
  readonly before: number;
  readonly after: number;
  readonly delta: number;
  /** The stage after the plan, line by line. */
  readonly lines: readonly CostLine[];
  /** Lines that change (added, removed or a different amount), with before and after. */
  readonly changes: readonly { item: string; address: string; before: number; after: number }[];
  readonly assumptions: readonly string[];
  /** Resource types in the plan without a price rule, and usage the table does not price. */
  readonly notPriced: readonly string[];
  /** Price key -> its official pricing page, for the keys used. */
  readonly sources: Readonly<Record<string, string>>;
}

/** Priced elsewhere or free by nature: no line, and not "not priced". */
const FREE_TYPES = /^aws_(iam_|kms_alias|kms_key_policy|ssm_parameter$|security_group|vpc_security_group_|default_security_group|vpc$|subnet|route|route_table|route_table_association|internet_gateway|flow_log|ecs_cluster|ecs_task_definition|ecr_lifecycle_policy|ecr_repository_policy|sns_topic_policy|sqs_queue_policy|scheduler_schedule_group|sesv2_configuration_set|sesv2_configuration_set_event_destination|ses_domain_mail_from|ses_domain_identity|ses_domain_dkim|sesv2_email_identity_policy|route53_record|s3_bucket_(public_access_block|versioning|server_side_encryption_configuration|policy|ownership_controls|lifecycle_configuration|logging|acl)|route53_resolver_firewall_(rule|rule_group|config)|cloudwatch_log_resource_policy)/;

const NOT_PRICED_USAGE = [
  "data transfer out to the internet (feeds, SendGrid) and between AZs",
  "KMS API requests ($0.03 per 10,000; a few thousand a month here)",
  "ECS Container Insights (billed as custom metrics and performance-log ingestion)",
  "CloudWatch API calls (GetMetricData, dashboards) and Logs Insights queries",
  "Route 53 queries to the domain's records",
];

const P = PRICE_TABLE.prices;
const HOURS = PRICE_TABLE.hoursPerMonth;
const DAYS = PRICE_TABLE.daysPerMonth;

/** A resource as the estimate sees it: planned values, the configuration's literal where unknown. */
interface Priced {
  readonly address: string;
  readonly type: string;
  readonly values: Block;
  readonly unknown: Block;
  readonly config?: ConfigResource;
}

function get(r: Priced, path: string): unknown {
  if (!unknownAt(r.unknown, path)) {
    const v = valueAt(r.values, path);
    if (v !== undefined && v !== null) return v;
  }
  const top = path.split(".")[0]!;
  return constantOf(r.config?.expressions?.[top]);
}

const money = (n: number): string => `$${n.toFixed(2)}`;

function dailyRuns(expression: unknown): number {
  if (typeof expression !== "string") return 1;
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (rate) return Number(rate[1]) === 0 ? 0 : ({ minute: 1440, minutes: 1440, hour: 24, hours: 24, day: 1, days: 1 } as Record<string, number>)[rate[2]!]! / Number(rate[1]);
  if (expression.startsWith("at(")) return 0;
  return 1; // the stack's crons run once a day
}

/** The stage-wide quantities the per-resource rules need. */
interface StageFacts {
  readonly runsPerDay: number;
  readonly recipients: number;
  readonly recipientsFrom: string;
  readonly interfaceEndpoints: number;
  readonly imagesKept: number;
  readonly imagesKeptFrom: string;
}

function imagesKept(resources: readonly Priced[]): number | undefined {
  const policy = resources.find((r) => r.type === "aws_ecr_lifecycle_policy");
  const text = policy ? get(policy, "policy") : undefined;
  if (typeof text !== "string") return undefined;
  try {
    const rules = (JSON.parse(text) as { rules?: { selection?: { countType?: string; countNumber?: number } }[] }).rules ?? [];
    return rules.find((x) => x.selection?.countType === "imageCountMoreThan")?.selection?.countNumber;
  } catch {
    return undefined;
  }
}

function stageFacts(resources: readonly Priced[], a: CostAssumptions): StageFacts {
  const runsPerDay = resources.filter((r) => r.type === "aws_scheduler_schedule" && get(r, "state") !== "DISABLED").reduce((n, r) => n + dailyRuns(get(r, "schedule_expression")), 0);
  const to = resources.find((r) => r.type === "aws_ssm_parameter" && /\/email\/to_address$/.test(String(get(r, "name"))));
  const toValue = to ? get(to, "value") : undefined;
  const listed = typeof toValue === "string" ? toValue.split(",").filter((x) => x.trim()).length : 0;
  const kept = imagesKept(resources);
  const [recipients, recipientsFrom] = a.recipients !== undefined ? [a.recipients, "given"] : listed ? [listed, "the to_address parameter"] : [1, "assumed"];
  return {
    runsPerDay,
    recipients,
    recipientsFrom,
    interfaceEndpoints: resources.filter((r) => r.type === "aws_vpc_endpoint" && get(r, "vpc_endpoint_type") === "Interface").length,
    imagesKept: kept ?? 10,
    imagesKeptFrom: kept !== undefined ? "the lifecycle policy's count" : "assumed: no lifecycle policy count",
  };
}

type Rule = (r: Priced, facts: StageFacts, a: CostAssumptions) => Omit<CostLine, "address">[] | undefined;

const line = (item: string, usdMonth: number, basis: string, ...prices: PriceKey[]): Omit<CostLine, "address"> => ({ item, usdMonth, basis, prices });

/** Price rules by resource type. */
const RULES: Readonly<Record<string, Rule>> = {
  aws_nat_gateway: (_r, _f, a) => [line("NAT gateway", P.natGatewayHour.usd * HOURS + P.natGatewayGb.usd * a.natGbPerMonth, `${HOURS} h × $${P.natGatewayHour.usd} + ${a.natGbPerMonth} GB × $${P.natGatewayGb.usd}`, "natGatewayHour", "natGatewayGb")],
  aws_eip: () => [line("public IPv4 address", P.publicIpv4Hour.usd * HOURS, `${HOURS} h × $${P.publicIpv4Hour.usd}`, "publicIpv4Hour")],
  aws_vpc_endpoint: (r, facts, a) => {
    const service = String(get(r, "service_name") ?? "").split(".").slice(3).join(".") || "endpoint";
    if (get(r, "vpc_endpoint_type") !== "Interface") return [line(`gateway endpoint ${service}`, 0, "free", "gatewayEndpoint")];
    const subnets = get(r, "subnet_ids");
    const azs = Array.isArray(subnets) ? subnets.length : 1;
    const gb = a.endpointGbPerMonth / Math.max(facts.interfaceEndpoints, 1);
    return [line(`interface endpoint ${service}`, P.interfaceEndpointAzHour.usd * HOURS * azs + gb * P.interfaceEndpointGb.usd, `${azs} AZ × ${HOURS} h × $${P.interfaceEndpointAzHour.usd} + ${gb.toFixed(2)} GB × $${P.interfaceEndpointGb.usd}`, "interfaceEndpointAzHour", "interfaceEndpointGb")];
  },
  aws_kms_key: () => [line("KMS key", P.kmsKeyMonth.usd, `$${P.kmsKeyMonth.usd} a key-month (up to $${3 * P.kmsKeyMonth.usd} after two rotations)`, "kmsKeyMonth")],
  aws_ssm_parameter: (r) => (get(r, "tier") === "Advanced" ? [line("advanced parameter", P.ssmAdvancedParameterMonth.usd, "advanced tier", "ssmAdvancedParameterMonth")] : undefined),
  aws_ecs_task_definition: (r, facts, a) => {
    const vcpu = Number(get(r, "cpu") ?? 256) / 1024;
    const gb = Number(get(r, "memory") ?? 512) / 1024;
    const hours = (facts.runsPerDay * a.runMinutes * DAYS) / 60;
    const metrics = Object.keys(METRICS).filter((k) => k !== "namespace").length;
    return [
      line("Fargate task runs", hours * (vcpu * P.fargateVcpuHour.usd + gb * P.fargateGbHour.usd), `${facts.runsPerDay} run/day × ${a.runMinutes} min × ${DAYS} days = ${hours.toFixed(1)} h of ${vcpu} vCPU, ${gb} GB`, "fargateVcpuHour", "fargateGbHour"),
      { ...line("custom metrics (EMF)", metrics * P.customMetricMonth.usd, `${metrics} metrics (app/src/contract.ts) × 1 dimension set × $${P.customMetricMonth.usd}`, "customMetricMonth"), once: true },
    ];
  },
  aws_cloudwatch_metric_alarm: (r) => {
    const queries = get(r, "metric_query");
    let units = 1;
    if (Array.isArray(queries) && queries.length) {
      const q = queries as Block[];
      units = q.some((x) => /ANOMALY_DETECTION_BAND/.test(String(x.expression ?? ""))) ? 3 : q.filter((x) => Array.isArray(x.metric) ? x.metric.length > 0 : !!x.metric).length;
    }
    return [line("alarm", units * P.alarmMetricMonth.usd, `${units} metric${units === 1 ? "" : "s"} × $${P.alarmMetricMonth.usd}`, "alarmMetricMonth")];
  },
  aws_cloudwatch_log_group: (r, _f, a) => {
    const gbMonth = (a.logMbPerDay * DAYS) / 1024;
    const retention = Number(get(r, "retention_in_days") ?? 0);
    const months = retention > 0 ? Math.min(retention / DAYS, 12) : 12;
    return [line(`log group ${String(get(r, "name") ?? "")}`, gbMonth * P.logsIngestGb.usd + gbMonth * months * P.logsStoreGbMonth.usd,
      `${a.logMbPerDay} MB/day ingested; ${months.toFixed(0)} months stored`, "logsIngestGb", "logsStoreGbMonth")];
  },
  aws_ses_email_identity: (_r, facts) => sesLine(facts),
  aws_sesv2_email_identity: (_r, facts) => sesLine(facts),
  aws_dynamodb_table: (r, facts) => {
    const writes = facts.recipients * 2 * DAYS;
    const reads = facts.runsPerDay * DAYS * (1 + facts.recipients);
    const gb = (facts.recipients * 400 * 0.5) / 1024 / 1024;
    const pitr = valueAt(r.values, "point_in_time_recovery.enabled") === true ? gb * P.dynamodbPitrGbMonth.usd : 0;
    return [line("DynamoDB on demand", (writes * P.dynamodbWriteMillion.usd + reads * P.dynamodbReadMillion.usd) / 1e6 + gb * P.dynamodbStorageGbMonth.usd + pitr,
      `${Math.round(writes)} writes, ${Math.round(reads)} reads a month; ${(gb * 1024).toFixed(2)} MB stored${pitr ? " with PITR" : ""}`, "dynamodbWriteMillion", "dynamodbReadMillion", "dynamodbStorageGbMonth", "dynamodbPitrGbMonth")];
  },
  aws_ecr_repository: (_r, facts, a) => [line("ECR images", facts.imagesKept * a.imageGb * P.ecrStorageGbMonth.usd, `up to ${facts.imagesKept} images (${facts.imagesKeptFrom}) × ${a.imageGb} GB`, "ecrStorageGbMonth")],
  aws_sns_topic: () => [line("SNS topic", 0, "alarm mail within the 1,000 free email notifications", "snsEmailPer100k")],
  aws_sns_topic_subscription: () => [],
  aws_sqs_queue: () => [line("SQS queue", 0, "dead letters within the free million requests", "sqsRequestsMillion")],
  aws_scheduler_schedule: () => [line("schedule", 0, "within the 14 million free invocations", "schedulerInvocationsMillion")],
  aws_cloudwatch_event_rule: () => [line("EventBridge rule", 0, "AWS service events are free", "eventBridgeAwsEvents")],
  aws_ce_anomaly_monitor: () => [line("cost anomaly monitor", 0, "free", "costAnomalyDetection")],
  aws_ce_anomaly_subscription: () => [],
  aws_s3_bucket: () => [line("S3 bucket", 0.01 * P.s3StandardGbMonth.usd + 0.5 * P.s3Put1000.usd + 1 * P.s3Get1000.usd, "0.01 GB stored, ~500 PUT and ~1,000 GET a month (Terraform state)", "s3StandardGbMonth", "s3Put1000", "s3Get1000")],
  aws_route53_zone: () => [line("hosted zone", P.route53ZoneMonth.usd, "one zone", "route53ZoneMonth")],
  aws_route53_resolver_firewall_rule_group_association: (_r, _f, a) => [line("DNS firewall queries", (a.dnsQueriesPerDay * DAYS * P.dnsFirewallQueriesMillion.usd) / 1e6, `${a.dnsQueriesPerDay} queries/day`, "dnsFirewallQueriesMillion")],
  aws_route53_resolver_firewall_domain_list: (r) => {
    const domains = get(r, "domains");
    const n = Array.isArray(domains) ? domains.length : 0;
    return [line("DNS firewall domain list", n * P.dnsFirewallDomainMonth.usd, `${n} domains`, "dnsFirewallDomainMonth")];
  },
};

function sesLine(facts: StageFacts): Omit<CostLine, "address">[] {
  const mails = facts.recipients * DAYS;
  return [{ ...line("SES sending", (mails / 1000) * P.sesPer1000.usd, `${facts.recipients} recipient(s) × ${DAYS} digests`, "sesPer1000"), once: true }];
}

function priceAll(resources: readonly Priced[], a: CostAssumptions): { lines: CostLine[]; unpriced: Set<string> } {
  const facts = stageFacts(resources, a);
  const lines: CostLine[] = [];
  const unpriced = new Set<string>();
  for (const r of resources) {
    const rule = RULES[r.type];
    if (!rule) {
      if (!FREE_TYPES.test(r.type)) unpriced.add(r.type);
      continue;
    }
    for (const l of rule(r, facts, a) ?? []) {
      if (l.once && lines.some((x) => x.once && x.item === l.item)) continue;
      lines.push({ ...l, address: r.address });
    }
  }
  return { lines, unpriced };
}

const total = (lines: readonly CostLine[]): number => lines.reduce((n, l) => n + l.usdMonth, 0);

/**
 * The stage's monthly cost before and after the plan. Before: every managed resource the
 * plan starts from; after: what the plan leaves (a forgotten resource stays in AWS and is
 * still billed, so it counts on both sides).
 */
export function estimateCost(changes: readonly ChangeView[], config: ReadonlyMap<string, ConfigResource>, assumptions: Partial<CostAssumptions> = {}): CostEstimate {
  const a: CostAssumptions = { ...DEFAULT_ASSUMPTIONS, ...assumptions };
  const managed = changes.filter((c) => c.mode === "managed");
  const beforeSet: Priced[] = managed.filter((c) => c.before && c.action !== "create").map((c) => ({ address: c.address, type: c.type, values: c.before!, unknown: {} }));
  const afterSet: Priced[] = managed
    .filter((c) => c.action !== "destroy")
    .map((c) => (c.action === "forget" ? { address: c.address, type: c.type, values: c.before ?? {}, unknown: {} } : { address: c.address, type: c.type, values: c.after ?? {}, unknown: c.afterUnknown, config: config.get(c.address) }));
  const before = priceAll(beforeSet, a);
  const after = priceAll(afterSet, a);
  const facts = stageFacts(afterSet, a);
  const key = (l: CostLine) => `${l.address}|${l.item}`;
  const b = new Map(before.lines.map((l) => [key(l), l]));
  const n = new Map(after.lines.map((l) => [key(l), l]));
  const changed = [...new Set([...b.keys(), ...n.keys()])]
    .map((k) => ({ item: (n.get(k) ?? b.get(k))!.item, address: (n.get(k) ?? b.get(k))!.address, before: b.get(k)?.usdMonth ?? 0, after: n.get(k)?.usdMonth ?? 0 }))
    .filter((x) => Math.abs(x.after - x.before) >= 0.005);
  const used = new Set([...before.lines, ...after.lines].flatMap((l) => l.prices));
  const forgotten = managed.filter((c) => c.action === "forget").length;
  return {
    date: PRICE_TABLE.date,
    region: PRICE_TABLE.region,
    before: total(before.lines),
    after: total(after.lines),
    delta: total(after.lines) - total(before.lines),
    lines: after.lines,
    changes: changed,
    assumptions: [
      `${facts.runsPerDay} scheduled run${facts.runsPerDay === 1 ? "" : "s"} a day (one per enabled schedule) of ${a.runMinutes} minutes each`,
      `${facts.recipients} recipient${facts.recipients === 1 ? "" : "s"} (${facts.recipientsFrom}), one digest a day each, all through SES`,
      `${a.logMbPerDay} MB of log events a day per log group, stored for its retention (at most 12 months counted)`,
      `${a.imageGb} GB per image in ECR, as many images as the lifecycle policy keeps (an upper bound: layers shared between images are stored once)`,
      `${a.natGbPerMonth} GB/month through the NAT gateway (where there is one) and ${a.endpointGbPerMonth} GB/month through the interface endpoints`,
      `${HOURS} hours and ${DAYS} days a month`,
      ...(forgotten ? [`${forgotten} forgotten resource(s) stay in AWS and are still billed`] : []),
    ],
    notPriced: [...[...new Set([...before.unpriced, ...after.unpriced])].sort().map((t) => `${t} (no price rule)`), ...NOT_PRICED_USAGE],
    sources: Object.fromEntries([...used].sort().map((k) => [k, P[k].source])),
  };
}

export { money };
