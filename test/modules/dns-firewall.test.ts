import { DnsFirewall, RULE_GROUP_PRIORITY, awsServiceDomains, type DnsFirewallProps } from "../../modules/dns-firewall";
import { synthWith, thrownBy, type Fixture } from "../support/construct-fixtures";
import { onlyResource, ref, resources, type TfJson } from "../support/tf-json";

const ALLOW: DnsFirewallProps["allow"] = [
  { name: "feeds", domains: ["www.reddit.com", "*.example.com"], reason: "the stage's feed hosts" },
  { name: "aws", domains: ["ssm.us-east-1.amazonaws.com"], reason: "the AWS endpoints the task calls" },
];

function build(f: Fixture, props: Partial<DnsFirewallProps> = {}): void {
  new DnsFirewall(f.stack, "dns", { namePrefix: "vd", vpcId: "vpc-1", key: f.key, region: "us-east-1", allow: ALLOW, ...props });
}
const synth = (props: Partial<DnsFirewallProps> = {}): TfJson => synthWith((f) => build(f, props));

describe("DnsFirewall", () => {
  const json = synth();
  const group = onlyResource(json, "aws_route53_resolver_firewall_rule_group");
  const rules = resources(json, "aws_route53_resolver_firewall_rule").map((r) => r.props).sort((a, b) => a.priority - b.priority);
  const list = (id: string) => resources(json, "aws_route53_resolver_firewall_domain_list").find((l) => ref(l, "id") === id)!.props;

  test("when synthesized, each allow rule allows its domain list in order, and a last rule blocks every other name with NXDOMAIN", () => {
    expect(rules.map((r) => [r.priority, r.action, list(r.firewall_domain_list_id).domains])).toEqual([
      [100, "ALLOW", ["*.example.com", "www.reddit.com"]],
      [200, "ALLOW", ["ssm.us-east-1.amazonaws.com"]],
      [300, "BLOCK", ["*"]],
    ]);
    expect(rules[2]!.block_response).toBe("NXDOMAIN");
    for (const r of rules) expect(r.firewall_rule_group_id).toBe(ref(group, "id"));
  });

  test("when a name is allowed, its CNAME chain is trusted (a feed host behind a CDN resolves)", () => {
    for (const r of rules.filter((x) => x.action === "ALLOW")) expect(r.firewall_domain_redirection_action).toBe("TRUST_REDIRECTION_DOMAIN");
  });

  test("when synthesized, the rule group guards the VPC with mutation protection, and the VPC's firewall fails closed", () => {
    expect(onlyResource(json, "aws_route53_resolver_firewall_rule_group_association").props).toMatchObject({
      vpc_id: "vpc-1", firewall_rule_group_id: ref(group, "id"), priority: RULE_GROUP_PRIORITY, mutation_protection: "ENABLED",
    });
    expect(onlyResource(json, "aws_route53_resolver_firewall_config").props).toEqual({ resource_id: "vpc-1", firewall_fail_open: "DISABLED" });
  });

  test("when synthesized, every query of the VPC (blocked ones marked) is logged to a log group under the CMK, kept a year", () => {
    const log = resources(json, "aws_cloudwatch_log_group").find((l) => l.props.name === "/vd/dns-queries")!;
    expect(log.props).toMatchObject({ kms_key_id: ref(onlyResource(json, "aws_kms_key"), "arn"), retention_in_days: 365 });
    const config = onlyResource(json, "aws_route53_resolver_query_log_config");
    expect(config.props.destination_arn).toBe(ref(log, "arn"));
    expect(onlyResource(json, "aws_route53_resolver_query_log_config_association").props).toEqual({ resolver_query_log_config_id: ref(config, "id"), resource_id: "vpc-1" });
  });

  test("when failing open is opted into, the config says so", () => {
    expect(onlyResource(synth({ allowFailOpen: true }), "aws_route53_resolver_firewall_config").props.firewall_fail_open).toBe("ENABLED");
  });

  test("when a host that must resolve is covered by an allow rule (exactly or by a wildcard), it synthesizes", () => {
    expect(() => synth({ mustResolve: [{ subject: "feeds[0]", host: "www.reddit.com" }, { subject: "feeds[1]", host: "blog.example.com" }] })).not.toThrow();
  });

  test("when a host that must resolve is not allowed, it throws FEEDS_INVALID naming the subject", () => {
    expect(thrownBy((f) => build(f, { mustResolve: [{ subject: "stage.feeds[3].url", host: "example.com" }] }))).toMatchObject({ code: "FEEDS_INVALID", subject: "stage.feeds[3].url" });
  });

  test.each([
    ["no allow rule", { allow: [] }, "VALUE_INVALID"],
    ["an IP literal as a domain", { allow: [{ name: "x", domains: ["203.0.113.7"], reason: "a host the task needs" }] }, "DOMAIN_INVALID"],
    ["a block-all wildcard in an allow rule", { allow: [{ name: "x", domains: ["*"], reason: "a host the task needs" }] }, "DOMAIN_INVALID"],
    ["a rule without a reason", { allow: [{ name: "x", domains: ["a.example.com"], reason: "" }] }, "VALUE_INVALID"],
    ["a rule name with a space", { allow: [{ name: "my feeds", domains: ["a.example.com"], reason: "a host the task needs" }] }, "VALUE_INVALID"],
  ] as [string, Partial<DnsFirewallProps>, string][])("when given %s, it throws %s", (_what, props, code) => {
    expect(thrownBy((f) => build(f, props)).code).toBe(code);
  });

  test("when the AWS names are listed, they are the endpoints the task calls in the stage's region and account, nothing wider", () => {
    const names = awsServiceDomains("us-east-1", "111111111111");
    expect(names).toEqual(expect.arrayContaining(["ssm.us-east-1.amazonaws.com", "email.us-east-1.amazonaws.com", "logs.us-east-1.amazonaws.com", "api.ecr.us-east-1.amazonaws.com", "111111111111.dkr.ecr.us-east-1.amazonaws.com", "dynamodb.us-east-1.amazonaws.com"]));
    expect(names.filter((n) => n.startsWith("*"))).toEqual([]);
  });
});
