/**
 * A Route 53 Resolver DNS Firewall for the digest's VPC: named allow rules (each a domain
 * list with its reason), then one rule that blocks every other name, failing closed, with
 * every query (blocked ones marked with the rule that blocked them) logged to an encrypted
 * log group. The security group can only say "HTTPS to any address"; this is what keeps the
 * task from resolving any host but its allow-list (feeds, SendGrid while the stage uses it,
 * the AWS endpoints it calls). Allow rules trust the CNAME chain of an allowed name (a feed
 * host behind a CDN resolves), so the list names what the task asks for, not where it lands.
 */
import { Construct } from "constructs";
import { Route53ResolverFirewallDomainList } from "@cdktf/provider-aws/lib/route53-resolver-firewall-domain-list";
import { Route53ResolverFirewallRuleGroup } from "@cdktf/provider-aws/lib/route53-resolver-firewall-rule-group";
import { Route53ResolverFirewallRule } from "@cdktf/provider-aws/lib/route53-resolver-firewall-rule";
import { Route53ResolverFirewallRuleGroupAssociation } from "@cdktf/provider-aws/lib/route53-resolver-firewall-rule-group-association";
import { Route53ResolverFirewallConfig } from "@cdktf/provider-aws/lib/route53-resolver-firewall-config";
import { Route53ResolverQueryLogConfig } from "@cdktf/provider-aws/lib/route53-resolver-query-log-config";
import { Route53ResolverQueryLogConfigAssociation } from "@cdktf/provider-aws/lib/route53-resolver-query-log-config-association";
import type { CustomerManagedKey } from "./customer-managed-key";
import { EncryptedLogGroup } from "./encrypted-log-group";
import { hostMatches, isHostPattern, isIpLiteral } from "./feed-allow-list";
import { assertName, configFail } from "./validate";

/** One allow rule: a domain list and why the stage needs it. */
export interface DnsAllowRule {
  /** Short name, e.g. "feeds" (part of the domain list's and rule's names). */
  readonly name: string;
  /** `example.com` (exactly that name) or `*.example.com` (any subdomain). */
  readonly domains: readonly string[];
  readonly reason: string;
}

/** Props for {@link DnsFirewall}. */
export interface DnsFirewallProps {
  readonly namePrefix: string;
  readonly vpcId: string;
  /** Allow rules, evaluated in this order before the block-everything rule. */
  readonly allow: readonly DnsAllowRule[];
  /**
   * Hosts that must resolve (e.g. every feed's host): each must match a domain of an allow
   * rule, or construction fails, so a host the stage needs cannot be blocked by mistake.
   * @default []
   */
  readonly mustResolve?: readonly { readonly subject: string; readonly host: string }[];
  /** CMK and region of the query-log group. */
  readonly key: CustomerManagedKey;
  readonly region: string;
  /** Days the query log keeps events (>= 365). @default 365 */
  readonly logRetentionDays?: number;
  /**
   * Let queries through when the firewall cannot evaluate them (`firewall_fail_open`), for
   * availability over filtering. @default false (fail closed)
   */
  readonly allowFailOpen?: boolean;
}

/** Rule group association priority: 100 and 9900 are reserved by AWS. */
export const RULE_GROUP_PRIORITY = 1000;

/** The VPC's DNS allow-list, its block-everything rule and its query log. */
export class DnsFirewall extends Construct {
  readonly ruleGroup: Route53ResolverFirewallRuleGroup;
  readonly rules: Route53ResolverFirewallRule[] = [];
  readonly domainLists: Record<string, Route53ResolverFirewallDomainList> = {};
  readonly queryLog: EncryptedLogGroup;

  constructor(scope: Construct, id: string, props: DnsFirewallProps) {
    super(scope, id);
    assertName(this, "namePrefix", props.namePrefix);
    if (props.allow.length === 0) configFail(this, "VALUE_INVALID", "allow", "at least one allow rule");
    props.allow.forEach((rule, i) => {
      if (!/^[a-z][a-z0-9-]{0,23}$/.test(rule.name)) configFail(this, "VALUE_INVALID", `allow[${i}].name`, "a short lower-case name");
      if (rule.domains.length === 0 || rule.domains.length > 1000) configFail(this, "VALUE_INVALID", `allow[${i}].domains`, "1 to 1000 domains");
      rule.domains.forEach((d, j) => {
        if (!isHostPattern(d) || isIpLiteral(d)) configFail(this, "DOMAIN_INVALID", `allow[${i}].domains[${j}]`, "a lower-case DNS name, optionally starting with *.");
      });
      if (rule.reason.trim().length < 10) configFail(this, "VALUE_INVALID", `allow[${i}].reason`, "a reason of at least 10 characters");
    });
    const allowed = props.allow.flatMap((r) => r.domains);
    for (const need of props.mustResolve ?? []) {
      if (!allowed.some((d) => hostMatches(need.host, d))) {
        configFail(this, "FEEDS_INVALID", need.subject, "on a host the DNS firewall allows (the stage's allow-list)");
      }
    }
    const p = props.namePrefix;

    this.ruleGroup = new Route53ResolverFirewallRuleGroup(this, "rule-group", { name: `${p}-egress` });
    props.allow.forEach((rule, i) => {
      const list = new Route53ResolverFirewallDomainList(this, `allow-${rule.name}-domains`, { name: `${p}-allow-${rule.name}`, domains: [...rule.domains].sort() });
      this.domainLists[rule.name] = list;
      this.rules.push(
        new Route53ResolverFirewallRule(this, `allow-${rule.name}`, {
          name: `${p}-allow-${rule.name}`,
          firewallRuleGroupId: this.ruleGroup.id,
          firewallDomainListId: list.id,
          priority: (i + 1) * 100,
          action: "ALLOW",
          // An allowed name behind a CNAME (a CDN) resolves; the chain is not matched again.
          firewallDomainRedirectionAction: "TRUST_REDIRECTION_DOMAIN",
        }),
      );
    });
    const everything = new Route53ResolverFirewallDomainList(this, "block-all-domains", { name: `${p}-block-all`, domains: ["*"] });
    this.domainLists.blockAll = everything;
    this.rules.push(
      new Route53ResolverFirewallRule(this, "block-all", {
        name: `${p}-block-all`,
        firewallRuleGroupId: this.ruleGroup.id,
        firewallDomainListId: everything.id,
        priority: (props.allow.length + 1) * 100,
        action: "BLOCK",
        blockResponse: "NXDOMAIN",
      }),
    );
    new Route53ResolverFirewallRuleGroupAssociation(this, "association", {
      name: `${p}-egress`,
      firewallRuleGroupId: this.ruleGroup.id,
      vpcId: props.vpcId,
      priority: RULE_GROUP_PRIORITY,
      // Removing or changing the association needs this turned off first: a reviewed change.
      mutationProtection: "ENABLED",
    });
    new Route53ResolverFirewallConfig(this, "config", {
      resourceId: props.vpcId,
      firewallFailOpen: props.allowFailOpen ? "ENABLED" : "DISABLED",
    });

    // Every query of the VPC, with firewall_rule_action BLOCK on the blocked ones.
    this.queryLog = new EncryptedLogGroup(this, "query-log", {
      logGroupName: `/${p}/dns-queries`,
      key: props.key,
      region: props.region,
      retentionDays: props.logRetentionDays,
    });
    const logConfig = new Route53ResolverQueryLogConfig(this, "query-log-config", { name: `${p}-dns-queries`, destinationArn: this.queryLog.logGroup.arn });
    new Route53ResolverQueryLogConfigAssociation(this, "query-log-association", { resolverQueryLogConfigId: logConfig.id, resourceId: props.vpcId });
  }

  get resource(): Route53ResolverFirewallRuleGroup {
    return this.ruleGroup;
  }
}

/**
 * The AWS names the digest task resolves (besides its feeds): the interface endpoints'
 * services (their private DNS names are still resolver queries the firewall sees), DynamoDB
 * (regional and SDK v3's account-based endpoint) and ECR's image-layer bucket in S3 (both
 * reached through the gateway endpoints).
 */
export function awsServiceDomains(region: string, account: string): string[] {
  return [
    `ssm.${region}.amazonaws.com`,
    `email.${region}.amazonaws.com`,
    `logs.${region}.amazonaws.com`,
    `api.ecr.${region}.amazonaws.com`,
    `${account}.dkr.ecr.${region}.amazonaws.com`,
    `dynamodb.${region}.amazonaws.com`,
    `${account}.ddb.${region}.amazonaws.com`,
    `prod-${region}-starport-layer-bucket.s3.${region}.amazonaws.com`,
    `prod-${region}-starport-layer-bucket.s3.amazonaws.com`,
  ];
}
