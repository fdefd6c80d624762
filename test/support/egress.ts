/**
 * What "a feed host is reachable only through the chosen egress and the allow-list" means
 * for a synthesized stack (cdk.tf.json) or a plan's configuration (planToTfJson), as a list
 * of problems (empty when it holds):
 *
 * 1. the task's security group sends TCP 443 only: to the endpoints' group, the gateway
 *    endpoints' prefix lists, and (the feeds) 0.0.0.0/0; nothing else, no other port;
 * 2. the only ways out of the VPC are one default route of the private route table to the
 *    NAT gateway and one of the public route table (the NAT's subnet) to the internet
 *    gateway; the schedules run the task in the private subnets without a public IP;
 * 3. the VPC's resolver is guarded by the DNS firewall: allow rules whose names are exactly
 *    the expected lists, then a BLOCK of "*" last, failing closed, queries logged;
 * 4. every feed host is allowed by the firewall (so no feed depends on a name outside it).
 */
import { SENDGRID_DEFAULT_BASE_URL } from "../../app/src/contract";
import { awsServiceDomains } from "../../modules/dns-firewall";
import { hostMatches } from "../../modules/feed-allow-list";
import type { StageConfig } from "../../modules/stages";
import type { Block, TfJson } from "./tf-json";

export interface ExpectedEgress {
  /** Host names the feeds use (each must resolve). */
  readonly feedHosts: readonly string[];
  /** The DNS firewall's allow lists by rule name (sorted domains). */
  readonly allowLists: Readonly<Record<string, readonly string[]>>;
}

const each = (json: TfJson, type: string): [string, Block][] => Object.entries(json.resource?.[type] ?? {}).map(([id, p]) => [`${type}.${id}`, p]);
const refTo = (address: string, attr = "id") => `\${${address}.${attr}}`;

export function egressProblems(json: TfJson, expected: ExpectedEgress): string[] {
  const problems: string[] = [];
  const sgs = each(json, "aws_security_group");
  const task = sgs.find(([, p]) => String(p.name).endsWith("-task"));
  const endpoints = sgs.find(([, p]) => String(p.name).endsWith("-endpoints"));
  if (!task || !endpoints) return ["no task or endpoint security group"];
  const gatewayLists = each(json, "aws_vpc_endpoint").filter(([, p]) => p.vpc_endpoint_type === "Gateway").map(([a]) => refTo(a, "prefix_list_id"));

  // 1. Security group egress.
  const egress = each(json, "aws_vpc_security_group_egress_rule").filter(([, p]) => p.security_group_id === refTo(task[0]));
  for (const [a, p] of egress) {
    if (p.ip_protocol !== "tcp" || p.from_port !== 443 || p.to_port !== 443) problems.push(`${a}: not TCP 443 only`);
    const to = p.referenced_security_group_id ?? p.prefix_list_id ?? p.cidr_ipv4 ?? p.cidr_ipv6;
    if (!(to === refTo(endpoints[0]) || gatewayLists.includes(to) || to === "0.0.0.0/0")) problems.push(`${a}: egress to ${to}`);
  }
  if (!egress.some(([, p]) => p.cidr_ipv4 === "0.0.0.0/0")) problems.push("the task has no HTTPS egress to the feeds");
  for (const [a, p] of sgs) if ((p.egress ?? []).length) problems.push(`${a}: inline egress rules`);

  // 2. Routes out of the VPC.
  const nats = each(json, "aws_nat_gateway");
  const igws = each(json, "aws_internet_gateway");
  if (nats.length !== 1 || igws.length !== 1) problems.push(`${nats.length} NAT gateway(s), ${igws.length} internet gateway(s)`);
  const routes = each(json, "aws_route");
  const toNat = routes.filter(([, p]) => nats[0] && p.nat_gateway_id === refTo(nats[0][0]));
  const toIgw = routes.filter(([, p]) => igws[0] && p.gateway_id === refTo(igws[0][0]));
  if (toNat.length !== 1 || toIgw.length !== 1 || routes.length !== 2) problems.push(`routes: ${routes.length}, to the NAT ${toNat.length}, to the internet gateway ${toIgw.length}`);
  for (const [a, p] of routes) if (p.destination_cidr_block !== "0.0.0.0/0" || p.destination_ipv6_cidr_block) problems.push(`${a}: route to ${p.destination_cidr_block ?? p.destination_ipv6_cidr_block}`);
  const assoc = each(json, "aws_route_table_association");
  const tableOf = (subnet: string) => assoc.find(([, p]) => p.subnet_id === subnet)?.[1].route_table_id;
  if (nats[0] && toNat[0] && toIgw[0]) {
    if (tableOf(nats[0][1].subnet_id) !== toIgw[0][1].route_table_id) problems.push("the NAT gateway's subnet does not route to the internet gateway");
    const publicTable = toIgw[0][1].route_table_id;
    for (const [a, p] of each(json, "aws_scheduler_schedule")) {
      const net = p.target?.ecs_parameters?.network_configuration ?? {};
      if (net.assign_public_ip !== false) problems.push(`${a}: the task gets a public IP`);
      for (const subnet of net.subnets ?? []) {
        const table = tableOf(subnet);
        if (table === publicTable) problems.push(`${a}: the task runs in the public subnet`);
        if (table !== toNat[0][1].route_table_id) problems.push(`${a}: a task subnet does not route through the NAT gateway`);
      }
    }
  }

  // 3. The DNS firewall.
  const vpc = each(json, "aws_vpc")[0];
  const association = each(json, "aws_route53_resolver_firewall_rule_group_association");
  if (association.length !== 1 || !vpc || association[0]![1].vpc_id !== refTo(vpc[0])) problems.push("the DNS firewall is not associated with the VPC");
  const config = each(json, "aws_route53_resolver_firewall_config");
  if (config.length !== 1 || config[0]![1].firewall_fail_open !== "DISABLED") problems.push("the DNS firewall does not fail closed");
  if (each(json, "aws_route53_resolver_query_log_config_association").length !== 1) problems.push("DNS queries are not logged");
  const lists = new Map(each(json, "aws_route53_resolver_firewall_domain_list").map(([a, p]) => [refTo(a), p]));
  const rules = each(json, "aws_route53_resolver_firewall_rule").map(([, p]) => p).sort((x, y) => x.priority - y.priority);
  const last = rules[rules.length - 1];
  if (!last || last.action !== "BLOCK" || JSON.stringify(lists.get(last.firewall_domain_list_id)?.domains) !== '["*"]') problems.push("the last DNS rule does not block every name");
  const allowed: Record<string, string[]> = {};
  for (const r of rules.slice(0, -1)) {
    if (r.action !== "ALLOW") problems.push(`DNS rule ${r.name} is ${r.action} before the block`);
    const name = String(r.name).replace(/^.*-allow-/, "");
    allowed[name] = [...(lists.get(r.firewall_domain_list_id)?.domains ?? [])].sort();
  }
  const want = Object.fromEntries(Object.entries(expected.allowLists).map(([k, v]) => [k, [...v].sort()]));
  if (JSON.stringify(allowed) !== JSON.stringify(want)) problems.push(`DNS allow lists are ${JSON.stringify(allowed)}`);

  // 4. Every feed host resolves.
  const all = Object.values(allowed).flat();
  for (const h of expected.feedHosts) if (!all.some((d) => hostMatches(h, d))) problems.push(`feed host ${h} is not allowed by the DNS firewall`);
  return problems;
}

/** What a stage's egress should be, computed from its stage data (not from the stack). */
export function expectedEgress(stage: StageConfig): ExpectedEgress {
  const feedHosts = [...new Set(stage.feeds.map((f) => new URL(f.url).hostname))];
  const feeds = [...new Set([...feedHosts, ...stage.extraFeedHosts.map((e) => e.host)])].sort();
  return {
    feedHosts,
    allowLists: {
      feeds,
      ...(stage.useSendGrid ? { sendgrid: [new URL(SENDGRID_DEFAULT_BASE_URL).hostname] } : {}),
      aws: awsServiceDomains(stage.region, stage.account),
    },
  };
}

