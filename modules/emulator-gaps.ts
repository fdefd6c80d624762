/**
 * The one place that lists what the `local` stage leaves out because the emulator (moto
 * 5.2.1) cannot apply it, and why. `dev` and `prod` keep every one of these. A test
 * checks that `local` lacks exactly these resource types and the other stages have them.
 */
export const EMULATOR_GAPS = {
  sesDomainIdentity: {
    resourceTypes: ["aws_sesv2_email_identity", "aws_ses_domain_mail_from"],
    reason:
      "moto 5.2.1's SESv2 CreateEmailIdentity answers a timestamp as a string, which the provider cannot " +
      "decode (measured); the MAIL FROM setting belongs to that domain identity. The From address keeps its " +
      "SES v1 email identity, which is all that sending on moto needs.",
  },
  sesConfigurationSet: {
    resourceTypes: ["aws_sesv2_configuration_set"],
    reason:
      "moto 5.2.1 does not implement the SESv2 configuration-set options the provider sets and reads " +
      "(delivery options with TLS required, reputation, suppression); the calls answer HTTP 500 (measured).",
  },
  sesEventDestinations: {
    resourceTypes: ["aws_sesv2_configuration_set_event_destination"],
    reason: "moto 5.2.1 does not implement SESv2 configuration-set event destinations (measured: HTTP 500).",
  },
  dnsFirewall: {
    resourceTypes: [
      "aws_route53_resolver_firewall_domain_list",
      "aws_route53_resolver_firewall_rule_group",
      "aws_route53_resolver_firewall_rule",
      "aws_route53_resolver_firewall_rule_group_association",
      "aws_route53_resolver_firewall_config",
      "aws_route53_resolver_query_log_config",
      "aws_route53_resolver_query_log_config_association",
    ],
    reason:
      "moto 5.2.1's Route 53 Resolver has no DNS Firewall API (domain lists, rule groups, rules, their " +
      "association, the firewall config); its query logging, which only serves the firewall here, goes with " +
      "it. The local stage's feeds are on loopback and it has no internet egress to filter.",
  },
  costAnomalyMonitor: {
    resourceTypes: ["aws_ce_anomaly_monitor", "aws_ce_anomaly_subscription"],
    reason: "moto 5.2.1's Cost Explorer implements cost categories only, no anomaly monitors or subscriptions.",
  },
} as const;

export type EmulatorGap = keyof typeof EMULATOR_GAPS;
export const ALL_EMULATOR_GAPS = Object.keys(EMULATOR_GAPS) as EmulatorGap[];

/** Resource types that a stage omitting `gaps` must not contain. */
export function omittedResourceTypes(gaps: readonly EmulatorGap[]): string[] {
  return gaps.flatMap((g) => [...EMULATOR_GAPS[g].resourceTypes]);
}
