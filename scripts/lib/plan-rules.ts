/**
 * The risk rules of the plan review: what makes a change high, medium, low or no risk, each
 * with a one-line reason. docs/plan-review.md lists them with why; a test plans a real edit
 * for each class and checks the risk and the reason.
 *
 * Values are shown (before → after) only for the attributes named here, which hold no
 * secret: CIDRs, ports, key ids, flags, retention days, enum values, image tags. Container
 * environment variables are shown by name, never by value.
 */
import { SECRET_LOOKING_ENV_NAME, type Block } from "./invariants";
import { isEmpty, sameValue, unknownAt, valueAt, type ChangeView, type ConfigResource } from "./plan-model";
import {
  POLICY_ATTRIBUTES, describeStatementChange, diffStatements, policyCallouts, statementsOfDocument, statementsOfJson, unknownBecause,
  type Labeler, type PolicyKind, type Statement,
} from "./plan-policy";

export type Risk = "high" | "medium" | "low" | "none";
export const RISKS: readonly Risk[] = ["high", "medium", "low", "none"];
export const riskRank = (r: Risk): number => RISKS.length - 1 - RISKS.indexOf(r);
export const maxRisk = (risks: readonly Risk[]): Risk => risks.reduce<Risk>((m, r) => (riskRank(r) > riskRank(m) ? r : m), "none");

/** One reason a change carries risk. */
export interface Finding {
  readonly risk: Risk;
  /** Stable rule id (docs/plan-review.md), e.g. "kms-rotation-off" or "invariant:log-retention-a-year". */
  readonly rule: string;
  readonly reason: string;
}

/** An attribute shown with its values (only attributes a rule names). */
export interface ShownAttribute {
  readonly name: string;
  readonly before: string;
  readonly after: string;
}

/** A policy's statement diff. */
export interface PolicyReview {
  readonly attribute: string;
  readonly kind: PolicyKind;
  /** "known": the plan has the policy; "document": rebuilt from the policy document's planned statements; "unknown": neither. */
  readonly source: "known" | "document" | "unknown";
  /** Why the policy is known only after apply. */
  readonly unknownReason?: string;
  /** One line per statement added, removed or changed. */
  readonly statements: readonly string[];
}

/** What the rules found about one change. */
export interface RuleResult {
  readonly findings: Finding[];
  readonly attributes: ShownAttribute[];
  readonly policies: PolicyReview[];
  /** Lines a reviewer reads beside the attributes (environment names, unknown policies...). */
  readonly notes: string[];
}

/** What the rules may look at besides the change itself. */
export interface RuleContext {
  readonly label: Labeler;
  /** Account ids of the stack's own resources (a principal elsewhere is cross-account). */
  readonly ownAccounts: ReadonlySet<string>;
  readonly config: ReadonlyMap<string, ConfigResource>;
  readonly changes: ReadonlyMap<string, ChangeView>;
}

const UNKNOWN = Symbol("known after apply");
type Value = unknown;

/** A value as a reviewer reads it (only for attributes the rules name). */
export function show(v: Value): string {
  if (v === UNKNOWN) return "(known after apply)";
  if (isEmpty(v)) return "(none)";
  if (Array.isArray(v)) return v.map((x) => show(x)).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  const s = String(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}

const f = (risk: Risk, rule: string, reason: string): Finding => ({ risk, rule, reason });

// ---------------------------------------------------------------------------------------
// Stateful resources: destroy, replace and forget are always high.

/** Resource types that hold data or keys, and what is lost with them. */
export const STATEFUL_TYPES: Readonly<Record<string, string>> = {
  aws_dynamodb_table: "its items are lost (for the delivery ledger: who was sent which digest, so recipients may get a digest twice)",
  aws_kms_key: "whatever is encrypted under it (SecureStrings, logs, the ledger, images) becomes unreadable once the deletion window ends",
  aws_ssm_parameter: "its value is lost (a SecureString must be put again by an operator)",
  aws_cloudwatch_log_group: "its log events are lost",
  aws_s3_bucket: "its objects are lost (for the state bucket: Terraform state and its history)",
  aws_ecr_repository: "its images are lost; the task cannot start until an image is pushed again",
  aws_secretsmanager_secret: "its value is lost",
  aws_sqs_queue: "messages waiting in it (failed schedule runs) are lost",
};

/** Destroying these removes a protection, not only a resource. */
const PROTECTION_TYPES: Readonly<Record<string, string>> = {
  aws_s3_bucket_public_access_block: "the bucket's public-access block is removed",
  aws_s3_bucket_versioning: "the bucket's versioning configuration is removed",
  aws_s3_bucket_server_side_encryption_configuration: "the bucket's default encryption configuration is removed",
  aws_route53_resolver_firewall_rule_group_association: "the VPC's DNS firewall rules stop applying",
  aws_default_security_group: "the VPC's default security group stops being managed (AWS's allow-all default returns)",
};

/** Types whose destroy or replace weakens monitoring, audit or the network path. */
const WATCH_TYPES = /^aws_(cloudwatch_metric_alarm|sns_topic_subscription|flow_log|cloudwatch_event_rule|cloudwatch_event_target|route53_resolver_query_log_config(_association)?|ce_anomaly_(monitor|subscription)|vpc_endpoint|sesv2_email_identity|ses_domain_identity|ses_email_identity|ses_domain_dkim|ses_domain_mail_from|sesv2_configuration_set(_event_destination)?|route53_record|scheduler_schedule)$/;

/** Services whose resources change who or what can reach what; an unknown type there is medium. */
export const SECURITY_RELEVANT = /^aws_(iam|kms|sts|s3|route53_resolver|security_group|vpc_security_group|default_security_group|network_acl|default_network_acl|vpc|subnet|route|route_table|internet_gateway|nat_gateway|egress_only_internet_gateway|eip|flow_log|secretsmanager|ssm|organizations|lambda_permission|ecr_repository_policy|ecr_registry|acm|wafv2|guardduty|cloudtrail|config_|shield|cognito|ssoadmin|identitystore|accessanalyzer|securityhub|ec2_|ram_|networkfirewall|sesv2_email_identity_policy|ses_identity_policy)/;

// ---------------------------------------------------------------------------------------
// Attribute rules: the risky attributes, shown before -> after.

interface AttributeRule {
  readonly id: string;
  readonly types: readonly string[];
  /** Dotted path; a nested block is entered at its first element. */
  readonly path: string;
  /** The finding for the value (before is undefined on create); undefined: shown, no finding. */
  judge(before: Value, after: Value, isNew: boolean): Omit<Finding, "rule"> | undefined;
}

const off = (v: Value) => v === false || v === "false" || v === "DISABLED" || v === "Disabled";
const set = (v: Value) => v === UNKNOWN || !isEmpty(v);
const num = (v: Value) => (typeof v === "number" ? v : typeof v === "string" && v !== "" ? Number(v) : NaN);
const ANYWHERE = (v: Value) => [v].flat().some((x) => x === "0.0.0.0/0" || x === "::/0");

const keyRule = (id: string, types: string[], path: string, what: string): AttributeRule => ({
  id, types, path,
  judge: (b, a, isNew) => {
    if (!set(a)) return { risk: "high", reason: isNew ? `${what} without a customer-managed key` : `${what} no longer encrypted with a customer-managed key` };
    if (typeof a === "string" && /alias\/aws\//.test(a)) return { risk: "high", reason: `${what} encrypted with an AWS-managed key (any principal in the account may use it)` };
    if (!isNew && set(b) && !sameValue(b, a)) return { risk: "medium", reason: `${what} changes key` };
    return undefined;
  },
});

/** A protection that must stay on (a boolean whose default is off). */
const mustStayOn = (id: string, types: string[], path: string, what: string, consequence: string, newRisk: Risk = "high"): AttributeRule => ({
  id, types, path,
  judge: (b, a, isNew) => {
    if (a === UNKNOWN || !(off(a) || isEmpty(a))) return undefined;
    if (isNew) return { risk: newRisk, reason: `created without ${what}${consequence}` };
    return b === true || b === "true" || b === "ENABLED" || b === "Enabled" ? { risk: "high", reason: `${what} turned off${consequence}` } : undefined;
  },
});

export const ATTRIBUTE_RULES: readonly AttributeRule[] = [
  // KMS
  mustStayOn("kms-rotation-off", ["aws_kms_key"], "enable_key_rotation", "key rotation", ""),
  { id: "kms-key-disabled", types: ["aws_kms_key"], path: "is_enabled", judge: (_b, a) => (off(a) ? { risk: "high", reason: "key disabled: everything encrypted under it becomes unreadable" } : undefined) },
  { id: "kms-deletion-window", types: ["aws_kms_key"], path: "deletion_window_in_days", judge: (b, a, isNew) => (!isNew && num(a) < num(b) ? { risk: "medium", reason: "shorter key deletion window (less time to cancel a deletion)" } : undefined) },
  { id: "kms-lockout-check", types: ["aws_kms_key", "aws_kms_key_policy"], path: "bypass_policy_lockout_safety_check", judge: (_b, a) => (a === true ? { risk: "high", reason: "the key-policy lockout safety check is bypassed" } : undefined) },
  // Logs
  keyRule("log-group-key", ["aws_cloudwatch_log_group"], "kms_key_id", "log group"),
  {
    id: "log-retention", types: ["aws_cloudwatch_log_group"], path: "retention_in_days",
    judge: (b, a, isNew) => {
      if (num(a) > 0 && num(a) < 365) return { risk: "high", reason: `log events kept only ${num(a)} day${num(a) === 1 ? "" : "s"}` };
      if (!isNew && num(a) > 0 && (num(b) === 0 || num(a) < num(b))) return { risk: "medium", reason: "shorter log retention" };
      return undefined;
    },
  },
  // Topics and queues
  keyRule("topic-key", ["aws_sns_topic"], "kms_master_key_id", "topic"),
  keyRule("queue-key", ["aws_sqs_queue"], "kms_master_key_id", "queue"),
  // DynamoDB
  mustStayOn("table-encryption-off", ["aws_dynamodb_table"], "server_side_encryption.enabled", "encryption with the stack's key", ": the table is encrypted with an AWS-owned key"),
  {
    id: "table-key", types: ["aws_dynamodb_table"], path: "server_side_encryption.kms_key_arn",
    judge: (b, a, isNew) => (!isNew && set(b) && !sameValue(a, b) ? { risk: set(a) ? "medium" : "high", reason: set(a) ? "table changes key" : "table no longer encrypted with the stack's key" } : undefined),
  },
  mustStayOn("table-pitr-off", ["aws_dynamodb_table"], "point_in_time_recovery.enabled", "point-in-time recovery", ": the table cannot be restored to an earlier state"),
  mustStayOn("table-deletion-protection-off", ["aws_dynamodb_table"], "deletion_protection_enabled", "deletion protection", ": a destroy would delete the table and its items", "medium"),
  // ECR
  { id: "ecr-mutable-tags", types: ["aws_ecr_repository"], path: "image_tag_mutability", judge: (_b, a) => (a === "MUTABLE" ? { risk: "high", reason: "image tags become mutable: a deployed tag can be overwritten" } : undefined) },
  mustStayOn("ecr-scan-off", ["aws_ecr_repository"], "image_scanning_configuration.scan_on_push", "scan on push", ": pushed images are not scanned for vulnerabilities"),
  { id: "ecr-encryption", types: ["aws_ecr_repository"], path: "encryption_configuration.encryption_type", judge: (_b, a) => (a === "AES256" ? { risk: "medium", reason: "images encrypted with an AWS-managed key, not the stack's" } : undefined) },
  { id: "ecr-force-delete", types: ["aws_ecr_repository"], path: "force_delete", judge: (_b, a) => (a === true ? { risk: "medium", reason: "a destroy would delete the repository with its images" } : undefined) },
  // SSM
  {
    id: "ssm-not-secure", types: ["aws_ssm_parameter"], path: "type",
    judge: (b, a) => (b === "SecureString" && a !== "SecureString" && a !== UNKNOWN ? { risk: "high", reason: "no longer a SecureString: the value is stored unencrypted" } : undefined),
  },
  { id: "ssm-key", types: ["aws_ssm_parameter"], path: "key_id", judge: (b, a, isNew) => (!isNew && set(b) && !sameValue(a, b) ? { risk: "medium", reason: "parameter changes key" } : undefined) },
  { id: "ssm-tier", types: ["aws_ssm_parameter"], path: "tier", judge: () => undefined },
  // IAM
  {
    id: "iam-boundary-removed", types: ["aws_iam_role", "aws_iam_user"], path: "permissions_boundary",
    judge: (b, a, isNew) => (!isNew && set(b) && !set(a) ? { risk: "high", reason: "permissions boundary removed: its grants are no longer capped" } : !isNew && set(b) && !sameValue(a, b) ? { risk: "medium", reason: "permissions boundary changes" } : undefined),
  },
  { id: "iam-session-length", types: ["aws_iam_role"], path: "max_session_duration", judge: (b, a, isNew) => (!isNew && num(a) > num(b) ? { risk: "low", reason: "longer role sessions" } : undefined) },
  // Network
  ...(["cidr_ipv4", "cidr_ipv6"] as const).map((path): AttributeRule => ({
    id: "sg-ingress-cidr", types: ["aws_vpc_security_group_ingress_rule"], path,
    judge: (_b, a) => (ANYWHERE(a) ? { risk: "high", reason: `ingress open to the internet (${show(a)})` } : set(a) ? { risk: "medium", reason: `ingress from ${show(a)}` } : undefined),
  })),
  ...(["cidr_ipv4", "cidr_ipv6"] as const).map((path): AttributeRule => ({
    id: "sg-egress-cidr", types: ["aws_vpc_security_group_egress_rule"], path,
    judge: (_b, a) => (ANYWHERE(a) ? { risk: "medium", reason: `egress to the internet (${show(a)})` } : undefined),
  })),
  ...["from_port", "to_port", "ip_protocol", "referenced_security_group_id", "prefix_list_id"].map((path): AttributeRule => ({
    id: "sg-rule", types: ["aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"], path, judge: () => undefined,
  })),
  {
    id: "sg-rule-cidr", types: ["aws_security_group_rule"], path: "cidr_blocks",
    judge: (_b, a) => (ANYWHERE(a) ? { risk: "high", reason: `security-group rule open to the internet (${show(a)})` } : undefined),
  },
  { id: "subnet-public-ip", types: ["aws_subnet"], path: "map_public_ip_on_launch", judge: (_b, a) => (a === true ? { risk: "high", reason: "instances in the subnet get public IPs" } : undefined) },
  { id: "network-cidr", types: ["aws_vpc", "aws_subnet"], path: "cidr_block", judge: () => undefined },
  {
    id: "route-to-internet", types: ["aws_route"], path: "destination_cidr_block",
    judge: (_b, a) => (ANYWHERE(a) ? { risk: "medium", reason: "default route to the internet" } : undefined),
  },
  { id: "endpoint-private-dns", types: ["aws_vpc_endpoint"], path: "private_dns_enabled", judge: (b, a, isNew) => (!isNew && b === true && a === false ? { risk: "medium", reason: "private DNS off: the task resolves the service's public endpoint" } : undefined) },
  { id: "flow-log-traffic", types: ["aws_flow_log"], path: "traffic_type", judge: (b, a, isNew) => (!isNew && b === "ALL" && a !== "ALL" ? { risk: "medium", reason: `flow logs record less (${show(a)})` } : undefined) },
  {
    id: "scheduler-public-ip", types: ["aws_scheduler_schedule"], path: "target.ecs_parameters.network_configuration.assign_public_ip",
    judge: (_b, a) => (a === true ? { risk: "high", reason: "the scheduled task gets a public IP" } : undefined),
  },
  { id: "scheduler-disabled", types: ["aws_scheduler_schedule"], path: "state", judge: (_b, a) => (a === "DISABLED" ? { risk: "medium", reason: "the schedule is disabled: the digest stops running" } : undefined) },
  { id: "scheduler-expression", types: ["aws_scheduler_schedule"], path: "schedule_expression", judge: () => undefined },
  // SES and mail authentication
  {
    id: "ses-tls-optional", types: ["aws_sesv2_configuration_set"], path: "delivery_options.tls_policy",
    judge: (_b, a) => (a === "OPTIONAL" ? { risk: "high", reason: "SES may deliver without TLS" } : undefined),
  },
  {
    id: "mail-dns-record", types: ["aws_route53_record"], path: "records",
    judge: (b, a, isNew) => (!isNew && !sameValue(a, b) && /v=(DMARC1|spf1)|dkim/i.test(show(b) + show(a)) ? { risk: "medium", reason: "a mail authentication record (SPF/DKIM/DMARC) changes" } : undefined),
  },
  // Monitoring
  { id: "alarm-actions-off", types: ["aws_cloudwatch_metric_alarm"], path: "actions_enabled", judge: (b, a) => (b !== false && off(a) ? { risk: "medium", reason: "the alarm no longer notifies anyone" } : undefined) },
  { id: "alarm-no-action", types: ["aws_cloudwatch_metric_alarm"], path: "alarm_actions", judge: (b, a, isNew) => (!isNew && set(b) && !set(a) ? { risk: "medium", reason: "the alarm loses its actions" } : undefined) },
  // S3 (the state bucket)
  ...["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"].map((path): AttributeRule => ({
    id: "s3-public-access", types: ["aws_s3_bucket_public_access_block"], path,
    judge: (_b, a) => (a === false ? { risk: "high", reason: `public access no longer blocked (${path} false)` } : undefined),
  })),
  {
    id: "s3-versioning-off", types: ["aws_s3_bucket_versioning"], path: "versioning_configuration.status",
    judge: (_b, a) => (a === "Suspended" || a === "Disabled" ? { risk: "high", reason: "versioning suspended: overwritten or deleted objects cannot be recovered" } : undefined),
  },
  {
    id: "s3-encryption", types: ["aws_s3_bucket_server_side_encryption_configuration"], path: "rule.apply_server_side_encryption_by_default.sse_algorithm",
    judge: (b, a) => (a === "AES256" && b !== "AES256" ? { risk: "medium", reason: "objects encrypted with an S3-managed key, not a KMS key" } : undefined),
  },
  { id: "s3-encryption-key", types: ["aws_s3_bucket_server_side_encryption_configuration"], path: "rule.apply_server_side_encryption_by_default.kms_master_key_id", judge: (b, a, isNew) => (!isNew && !sameValue(a, b) ? { risk: "medium", reason: "bucket changes key" } : undefined) },
  { id: "s3-force-destroy", types: ["aws_s3_bucket"], path: "force_destroy", judge: (_b, a) => (a === true ? { risk: "medium", reason: "a destroy would delete the bucket with its objects" } : undefined) },
  { id: "s3-acl", types: ["aws_s3_bucket_acl"], path: "acl", judge: (_b, a) => (typeof a === "string" && /public|authenticated/.test(a) ? { risk: "high", reason: `bucket ACL ${a}` } : undefined) },
  { id: "s3-ownership", types: ["aws_s3_bucket_ownership_controls"], path: "rule.object_ownership", judge: (_b, a) => (a !== UNKNOWN && set(a) && a !== "BucketOwnerEnforced" ? { risk: "medium", reason: "object ACLs are enabled again" } : undefined) },
  // Route 53 Resolver DNS Firewall
  {
    id: "dns-firewall-action", types: ["aws_route53_resolver_firewall_rule"], path: "action",
    judge: (b, a, isNew) => {
      if (a === "ALLOW") return isNew ? { risk: "medium", reason: "a DNS firewall rule allows a domain list" } : { risk: "high", reason: `a DNS firewall rule stops blocking (${show(b)} → ALLOW)` };
      if (!isNew && b === "BLOCK" && a === "ALERT") return { risk: "high", reason: "a DNS firewall rule only alerts instead of blocking" };
      return undefined;
    },
  },
  { id: "dns-firewall-priority", types: ["aws_route53_resolver_firewall_rule", "aws_route53_resolver_firewall_rule_group_association"], path: "priority", judge: (b, a, isNew) => (!isNew && !sameValue(a, b) ? { risk: "medium", reason: "DNS firewall evaluation order changes" } : undefined) },
  { id: "dns-firewall-list", types: ["aws_route53_resolver_firewall_rule"], path: "firewall_domain_list_id", judge: (b, a, isNew) => (!isNew && !sameValue(a, b) ? { risk: "medium", reason: "a DNS firewall rule applies to another domain list" } : undefined) },
  { id: "dns-firewall-fail-open", types: ["aws_route53_resolver_firewall_config"], path: "firewall_fail_open", judge: (_b, a) => (a === "ENABLED" ? { risk: "high", reason: "DNS queries pass unfiltered when the firewall fails (fail open)" } : undefined) },
  { id: "dns-firewall-mutation", types: ["aws_route53_resolver_firewall_rule_group_association"], path: "mutation_protection", judge: (_b, a) => (a === "DISABLED" ? { risk: "medium", reason: "the firewall association can be changed outside Terraform" } : undefined) },
  // ECS
  { id: "ecs-insights", types: ["aws_ecs_cluster"], path: "setting.value", judge: (b, a) => (b === "enabled" && a === "disabled" ? { risk: "low", reason: "Container Insights off" } : undefined) },
];

/** Types with a specific rule (an unknown type falls back to the service default). */
const KNOWN_TYPES = new Set([
  ...ATTRIBUTE_RULES.flatMap((r) => r.types), ...Object.keys(STATEFUL_TYPES), ...Object.keys(POLICY_ATTRIBUTES), ...Object.keys(PROTECTION_TYPES),
  "aws_iam_user", "aws_iam_access_key", "aws_iam_user_login_profile", "aws_iam_group", "aws_iam_group_membership", "aws_iam_user_group_membership",
  "aws_iam_role_policy_attachment", "aws_iam_policy_attachment", "aws_iam_user_policy_attachment", "aws_iam_group_policy_attachment",
  "aws_ecs_task_definition", "aws_nat_gateway", "aws_internet_gateway", "aws_egress_only_internet_gateway", "aws_eip", "aws_security_group",
  "aws_default_security_group", "aws_kms_alias", "aws_route_table", "aws_route_table_association", "aws_route53_resolver_firewall_domain_list",
  "aws_route53_resolver_firewall_rule_group", "aws_iam_openid_connect_provider",
]);

// ---------------------------------------------------------------------------------------

function valueOf(block: Block | null, unknown: Block, path: string): Value {
  if (unknownAt(unknown, path)) return UNKNOWN;
  return valueAt(block, path);
}

/** Attribute rules: shown values and findings. */
function attributeFindings(c: ChangeView, out: RuleResult): void {
  if (c.action === "destroy" || c.action === "forget" || c.action === "no-op" || c.action === "read") return;
  const isNew = c.action === "create";
  for (const rule of ATTRIBUTE_RULES.filter((r) => r.types.includes(c.type))) {
    const before = isNew ? undefined : valueAt(c.before, rule.path);
    const after = valueOf(c.after, c.afterUnknown, rule.path);
    const changed = !isNew && (after === UNKNOWN ? set(before) : !sameValue(before, after));
    if (!isNew && !changed) continue;
    const judged = rule.judge(before, after, isNew);
    if (judged) out.findings.push({ ...judged, rule: rule.id });
    const worthShowing = changed || (judged !== undefined && judged.risk !== "none" && judged.risk !== "low");
    if (worthShowing && !out.attributes.some((a) => a.name === rule.path)) out.attributes.push({ name: rule.path, before: isNew ? "(new)" : show(before), after: show(after) });
  }
}

/** Inline security-group rules (aws_security_group / aws_default_security_group ingress and egress blocks). */
function inlineRuleFindings(c: ChangeView, out: RuleResult): void {
  if (!["aws_security_group", "aws_default_security_group"].includes(c.type) || !["create", "update", "replace"].includes(c.action)) return;
  for (const dir of ["ingress", "egress"] as const) {
    const rules = (c.after?.[dir] ?? []) as Block[];
    if (!Array.isArray(rules)) continue;
    const before = (c.before?.[dir] ?? []) as Block[];
    const added = rules.filter((r) => !before.some((b) => sameValue(b, r)));
    if (c.type === "aws_default_security_group" && added.length) out.findings.push(f("high", "default-sg-rules", `the VPC's default security group gets ${dir} rules`));
    for (const r of added) {
      const cidrs = [...((r.cidr_blocks ?? []) as string[]), ...((r.ipv6_cidr_blocks ?? []) as string[])];
      out.attributes.push({ name: `${dir} rule`, before: "(none)", after: `${r.protocol ?? ""} ${r.from_port ?? ""}-${r.to_port ?? ""} ${cidrs.join(", ") || (r.security_groups ?? []).join(", ")}`.trim() });
      if (ANYWHERE(cidrs)) out.findings.push(f(dir === "ingress" ? "high" : "medium", dir === "ingress" ? "sg-ingress-cidr" : "sg-egress-cidr", `${dir} ${dir === "ingress" ? "open to" : "to"} the internet (inline rule)`));
    }
  }
}

const ADMIN_POLICY = /:policy\/(AdministratorAccess|PowerUserAccess|IAMFullAccess|[A-Za-z]*FullAccess)$/;

/** IAM users, keys, groups and policy attachments. */
function iamFindings(c: ChangeView, out: RuleResult): void {
  if (!["create", "update", "replace"].includes(c.action)) return;
  const arn = c.after?.policy_arn;
  if (/^aws_iam_(role|user|group)_policy_attachment$|^aws_iam_policy_attachment$/.test(c.type)) {
    out.attributes.push({ name: "policy_arn", before: c.action === "create" ? "(new)" : show(c.before?.policy_arn), after: show(arn ?? UNKNOWN) });
    if (typeof arn === "string" && ADMIN_POLICY.test(arn)) out.findings.push(f("high", "iam-admin-attachment", `attaches ${arn.includes(":aws:policy/") ? "the AWS-managed " : ""}${arn.split("/").pop()}`));
    else out.findings.push(f("medium", "iam-attachment", `attaches ${typeof arn === "string" && arn.includes("iam::aws:policy/") ? "an AWS-managed" : "a managed"} policy`));
  }
  if (c.type === "aws_iam_role" && Array.isArray(c.after?.managed_policy_arns)) {
    const added = (c.after!.managed_policy_arns as string[]).filter((a) => !((c.before?.managed_policy_arns ?? []) as string[]).includes(a));
    for (const a of added) out.findings.push(f(ADMIN_POLICY.test(a) ? "high" : "medium", "iam-admin-attachment", `managed policy ${a.split("/").pop()} attached to the role`));
  }
  if (c.action !== "create") return;
  if (c.type === "aws_iam_user") out.findings.push(f("medium", "iam-user", "a long-lived IAM user (people and pipelines should assume roles)"));
  if (c.type === "aws_iam_access_key") {
    out.findings.push(f("high", "iam-access-key", isEmpty(c.after?.pgp_key) ? "a long-lived access key whose secret Terraform writes into its state" : "a long-lived access key (its secret PGP-encrypted in state)"));
  }
  if (c.type === "aws_iam_user_login_profile") out.findings.push(f("high", "iam-login-profile", "a console password for an IAM user"));
  if (c.type === "aws_iam_group_membership" || c.type === "aws_iam_user_group_membership") out.findings.push(f("medium", "iam-group-membership", "users get a group's permissions"));
  if (c.type === "aws_iam_openid_connect_provider") out.findings.push(f("medium", "iam-oidc-provider", "a new identity provider roles can trust"));
}

/** The network paths to the internet. */
function internetPathFindings(c: ChangeView, out: RuleResult): void {
  if (c.action !== "create") return;
  if (/^aws_(nat_gateway|internet_gateway|egress_only_internet_gateway)$/.test(c.type)) out.findings.push(f("medium", "internet-path", "a path between the VPC and the internet"));
  if (c.type === "aws_eip") out.findings.push(f("low", "public-ip", "a public IPv4 address (billed hourly)"));
}

interface Container {
  name?: string;
  image?: string;
  privileged?: boolean;
  readonlyRootFilesystem?: boolean;
  user?: string;
  environment?: { name: string }[];
  secrets?: { name: string }[];
  portMappings?: unknown[];
  linuxParameters?: { capabilities?: { add?: string[] } };
}

function containersOf(text: unknown): Container[] | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v as Container[]) : undefined;
  } catch {
    return undefined;
  }
}

const imageTag = (image: unknown): string => (typeof image === "string" ? (image.includes("@") ? image.slice(image.indexOf("@")) : image.includes(":") && !image.endsWith("}") ? image.slice(image.lastIndexOf(":") + 1) : "(from expression)") : "(none)");

/** The task definition's containers: privileges, root file system, user, environment names. */
function containerFindings(c: ChangeView, ctx: RuleContext, out: RuleResult): void {
  if (c.type !== "aws_ecs_task_definition" || !["create", "update", "replace"].includes(c.action)) return;
  let after = containersOf(c.after?.container_definitions);
  if (!after) {
    // Known only after apply (the image URL is computed): read the configuration's literal.
    const expr = ctx.config.get(c.address)?.expressions?.container_definitions as { constant_value?: unknown } | undefined;
    after = containersOf(expr?.constant_value);
    if (after) out.notes.push("container definitions read from the configuration (the plan knows them only after apply)");
  }
  if (!after) {
    out.findings.push(f("medium", "container-unknown", "container definitions known only after apply: review them in the configuration"));
    return;
  }
  const before = c.action === "create" ? [] : containersOf(c.before?.container_definitions) ?? [];
  const isNew = c.action === "create";
  for (const a of after) {
    const b = before.find((x) => x.name === a.name);
    const name = a.name ?? "(unnamed)";
    const shown = (attr: string, x: unknown, y: unknown) => out.attributes.push({ name: `${name}.${attr}`, before: b ? show(x) : "(new)", after: show(y) });
    if (a.privileged === true && b?.privileged !== true) {
      out.findings.push(f("high", "container-privileged", `container ${name} runs privileged`));
      shown("privileged", b?.privileged, a.privileged);
    }
    if (a.readonlyRootFilesystem !== true && (isNew || !b || b.readonlyRootFilesystem === true)) {
      out.findings.push(f("high", "container-writable-root", `container ${name} gets a writable root file system`));
      shown("readonlyRootFilesystem", b?.readonlyRootFilesystem, a.readonlyRootFilesystem ?? false);
    }
    if ((!a.user || /^(0|root)(:|$)/.test(a.user)) && (isNew || !b || (b.user && !/^(0|root)(:|$)/.test(b.user)))) {
      out.findings.push(f("high", "container-root-user", `container ${name} runs as root`));
      shown("user", b?.user, a.user);
    }
    const caps = (a.linuxParameters?.capabilities?.add ?? []).filter((x) => !(b?.linuxParameters?.capabilities?.add ?? []).includes(x));
    if (caps.length) out.findings.push(f("high", "container-capabilities", `container ${name} adds Linux capabilities ${caps.join(", ")}`));
    if ((a.portMappings ?? []).length > (b?.portMappings ?? []).length) out.findings.push(f("medium", "container-ports", `container ${name} opens ports`));
    if (b && imageTag(a.image) !== imageTag(b.image)) shown("image tag", imageTag(b.image), imageTag(a.image));
    // Names only, never values.
    const names = (x?: { name: string }[]) => (x ?? []).map((e) => e.name);
    const envAdded = names(a.environment).filter((n) => !names(b?.environment).includes(n));
    const envRemoved = names(b?.environment).filter((n) => !names(a.environment).includes(n));
    if (b && (envAdded.length || envRemoved.length)) out.notes.push(`${name} environment: ${[...envAdded.map((n) => `+${n}`), ...envRemoved.map((n) => `−${n}`)].join(", ")} (names only)`);
    const secretNamed = envAdded.filter((n) => SECRET_LOOKING_ENV_NAME.test(n));
    if (secretNamed.length) out.findings.push(f("high", "container-secret-env", `container ${name} gets secret-looking environment variable ${secretNamed.join(", ")} in plain text`));
    else if (b && (envAdded.length || envRemoved.length)) out.findings.push(f("low", "container-env", `container ${name} environment variables change`));
    const secretsAdded = names(a.secrets).filter((n) => !names(b?.secrets).includes(n));
    if (b && secretsAdded.length) out.findings.push(f("medium", "container-secrets", `container ${name} reads more secrets: ${secretsAdded.join(", ")}`));
  }
  for (const attr of ["task_role_arn", "execution_role_arn"]) {
    if (!isNew && c.changed.includes(attr)) out.findings.push(f("medium", "task-roles", `the task runs with another ${attr === "task_role_arn" ? "task" : "execution"} role`));
  }
  for (const attr of ["cpu", "memory"]) if (!isNew && c.changed.includes(attr)) out.attributes.push({ name: attr, before: show(c.before?.[attr]), after: show(c.after?.[attr]) });
}

/** Domain lists of the DNS firewall: domains added and removed (public names). */
function domainListFindings(c: ChangeView, out: RuleResult): void {
  if (c.type !== "aws_route53_resolver_firewall_domain_list" || c.action !== "update") return;
  const b = (c.before?.domains ?? []) as string[];
  const a = (c.after?.domains ?? []) as string[];
  const plus = a.filter((d) => !b.includes(d));
  const minus = b.filter((d) => !a.includes(d));
  if (plus.length || minus.length) {
    out.notes.push(`domains: ${[...plus.map((d) => `+${d}`), ...minus.map((d) => `−${d}`)].join(", ")}`);
    out.findings.push(f("medium", "dns-firewall-domains", "a DNS firewall domain list changes"));
  }
}

/** IAM, trust, key and resource policies as statement diffs. */
function policyFindings(c: ChangeView, ctx: RuleContext, out: RuleResult): void {
  const spec = POLICY_ATTRIBUTES[c.type];
  if (!spec || !["create", "update", "replace"].includes(c.action)) return;
  const { attribute, kind } = spec;
  const configured = ctx.config.get(c.address)?.expressions?.[attribute] !== undefined;
  const isNew = c.action === "create";
  const beforeText = c.before?.[attribute];
  const before = typeof beforeText === "string" && beforeText ? statementsOfJson(beforeText) : undefined;
  let after: Statement[] | undefined;
  let source: PolicyReview["source"] = "known";
  let unknownReason: string | undefined;
  if (unknownAt(c.afterUnknown, attribute)) {
    if (!configured) return; // computed by AWS (a key's default policy when aws_kms_key_policy sets it)
    const why = unknownBecause(c, attribute, ctx.config, ctx.changes, ctx.label);
    unknownReason = why.reason;
    if (why.document?.after) {
      after = statementsOfDocument(why.document.after, why.document.afterUnknown, ctx.config.get(why.document.address), ctx.label);
      source = "document";
    } else source = "unknown";
  } else {
    const text = c.after?.[attribute];
    if (typeof text !== "string" || !text) return;
    after = statementsOfJson(text);
    if (!configured && !isNew && sameValue(beforeText, text)) return;
  }
  if (!after) {
    out.policies.push({ attribute, kind, source: "unknown", unknownReason, statements: [] });
    out.findings.push(f("medium", "policy-unknown", `${attribute} known only after apply and not reviewable here: ${unknownReason ?? "not a policy document"}`));
    return;
  }
  const changes = diffStatements(isNew ? undefined : before, after);
  out.policies.push({ attribute, kind, source, unknownReason, statements: changes.map(describeStatementChange) });
  for (const callout of policyCallouts(changes, kind, isNew, ctx.ownAccounts)) out.findings.push(f(callout.risk, callout.rule, callout.reason));
}

/** Destroy, replace and forget. */
function lifecycleFindings(c: ChangeView, out: RuleResult): void {
  const stateful = STATEFUL_TYPES[c.type];
  if (c.action === "forget") {
    out.findings.push(f(stateful ? "high" : "medium", "forget", `removed from Terraform's state but left in AWS: no longer managed, reviewed or protected by this stack`));
    return;
  }
  if (c.action !== "destroy" && c.action !== "replace") return;
  const verb = c.action === "destroy" ? "destroyed" : "replaced (destroyed and created again)";
  if (stateful) {
    out.findings.push(f("high", `stateful-${c.action}`, `${verb}: ${stateful}`));
    return;
  }
  const protection = PROTECTION_TYPES[c.type];
  if (protection && c.action === "destroy") out.findings.push(f("high", "protection-destroy", `${verb}: ${protection}`));
  else if (SECURITY_RELEVANT.test(c.type) || WATCH_TYPES.test(c.type)) out.findings.push(f("medium", `${c.action}`, `${verb}${c.action === "replace" && c.type.includes("security_group") ? ": rules and network interfaces are re-attached" : ""}`));
  else out.findings.push(f("low", c.action, verb));
}

/** When nothing specific applies: a short description, and the type's default risk. */
function defaultFinding(c: ChangeView, changed: readonly string[], out: RuleResult): void {
  if (out.findings.length) return;
  if (c.action === "update" && changed.length > 0 && changed.every((a) => a === "tags")) {
    out.findings.push(f("none", "tags-only", "only tags change"));
    return;
  }
  if (c.action === "update" && changed.length === 0) {
    out.findings.push(f("none", "no-effective-change", "no attribute changes (values re-read at apply)"));
    return;
  }
  if (!KNOWN_TYPES.has(c.type) && SECURITY_RELEVANT.test(c.type)) {
    out.findings.push(f("medium", "unreviewed-type", `no specific rule for ${c.type} (a security-relevant service): review by hand`));
    return;
  }
  const what = c.action === "create" ? `new ${c.type.replace(/^aws_/, "")}` : c.action === "update" ? `changes ${changed.slice(0, 4).join(", ")}${changed.length > 4 ? ", …" : ""}` : c.action;
  out.findings.push(f("low", c.action === "create" ? "create" : "update", what));
}

/** Every rule, for one change. */
export function applyRules(c: ChangeView, ctx: RuleContext): RuleResult {
  const out: RuleResult = { findings: [], attributes: [], policies: [], notes: [] };
  lifecycleFindings(c, out);
  attributeFindings(c, out);
  inlineRuleFindings(c, out);
  iamFindings(c, out);
  internetPathFindings(c, out);
  containerFindings(c, ctx, out);
  domainListFindings(c, out);
  policyFindings(c, ctx, out);
  // A policy whose statements do not change is not a change; nor is it when only that and tags change.
  const unchangedPolicies = out.findings.some((x) => x.rule === "policy-unchanged") ? out.policies.map((p) => p.attribute) : [];
  const others = c.changed.filter((a) => !unchangedPolicies.includes(a));
  if (!out.findings.some((x) => x.risk !== "none") && c.action === "update" && others.some((a) => a !== "tags")) {
    out.findings.splice(0, out.findings.length, ...out.findings.filter((x) => x.rule !== "policy-unchanged"));
  }
  defaultFinding(c, others, out);
  if (c.previousAddress) out.notes.push(`moved from ${c.previousAddress}`);
  if (c.importing) out.notes.push("imported into the state");
  return out;
}
