/**
 * Checks of checkov's CKV_AWS_297 kind ("encrypted with a customer-managed key") over the
 * synthesized dev and prod stacks and their bootstrap stacks, written here because checkov
 * is not installable on this machine: every resource type the stacks declare is either one
 * that can take a customer-managed key (and then every resource of it names a key of its
 * own stack) or listed as having no such setting, with why. A new type fails until it is
 * put in one table or the other.
 */
import { buildApp } from "../../modules/app";
import { synthStack, type Block, type TfJson } from "../support/tf-json";

/** Where each CMK-capable type names its key (undefined: not encrypted with a CMK). */
const CMK_SETTING: Record<string, { readonly check: string; readonly key: (p: Block) => unknown }> = {
  aws_scheduler_schedule: { check: "CKV_AWS_297", key: (p) => p.kms_key_arn },
  aws_cloudwatch_log_group: { check: "CKV_AWS_158", key: (p) => p.kms_key_id },
  aws_sns_topic: { check: "CKV_AWS_26", key: (p) => p.kms_master_key_id },
  aws_sqs_queue: { check: "CKV_AWS_27", key: (p) => p.kms_master_key_id },
  aws_dynamodb_table: { check: "CKV_AWS_119", key: (p) => (p.server_side_encryption?.enabled === true ? p.server_side_encryption.kms_key_arn : undefined) },
  aws_ecr_repository: { check: "CKV_AWS_136", key: (p) => ((p.encryption_configuration ?? [])[0]?.encryption_type === "KMS" ? p.encryption_configuration[0].kms_key : undefined) },
  // Only SecureStrings are encrypted at all; String and StringList parameters hold no secret.
  aws_ssm_parameter: { check: "CKV_AWS_337", key: (p) => (p.type === "SecureString" ? p.key_id : "(plain parameter: not encrypted by design)") },
  aws_ecs_cluster: { check: "Fargate ephemeral storage", key: (p) => p.configuration?.managed_storage_configuration?.fargate_ephemeral_storage_kms_key_id },
  aws_s3_bucket_server_side_encryption_configuration: {
    check: "CKV_AWS_145",
    key: (p) => {
      const rule = (Array.isArray(p.rule) ? p.rule[0] : p.rule) as Block | undefined;
      const byDefault = rule?.apply_server_side_encryption_by_default as Block | undefined;
      return byDefault?.sse_algorithm === "aws:kms" ? byDefault.kms_master_key_id : undefined;
    },
  },
};

/** Types with no customer-managed-key setting, and why that is fine. */
const NO_CMK_SETTING: Record<string, string> = {
  aws_s3_bucket: "encrypted by its aws_s3_bucket_server_side_encryption_configuration (checked above, one per bucket)",
  aws_kms_key: "the customer-managed key itself",
  aws_kms_alias: "a name for a key", aws_kms_key_policy: "a key's policy",
  aws_iam_role: "no data", aws_iam_role_policy: "no data", aws_iam_policy: "no data", aws_iam_openid_connect_provider: "no data",
  aws_ecs_task_definition: "its ephemeral storage is encrypted through the cluster's setting (checked above)",
  aws_ecr_lifecycle_policy: "no data",
  aws_cloudwatch_metric_alarm: "no data at rest", aws_cloudwatch_event_rule: "matches events on the default bus, stores none",
  aws_flow_log: "writes to a log group (checked above)",
  aws_route53_resolver_query_log_config: "writes to a log group (checked above)",
  aws_route53_resolver_query_log_config_association: "no data",
  aws_route53_resolver_firewall_config: "no data", aws_route53_resolver_firewall_domain_list: "public host names, no encryption setting",
  aws_route53_resolver_firewall_rule: "no data", aws_route53_resolver_firewall_rule_group: "no data", aws_route53_resolver_firewall_rule_group_association: "no data",
  aws_route53_record: "public DNS records",
  aws_scheduler_schedule_group: "no data (its schedules are checked above)",
  aws_ses_email_identity: "no data", aws_ses_domain_mail_from: "no data", aws_sesv2_email_identity: "no data",
  aws_sesv2_configuration_set: "no data at rest", aws_sesv2_configuration_set_event_destination: "sends to the topic (checked above)",
  aws_sns_topic_policy: "no data", aws_sns_topic_subscription: "no data",
  aws_ce_anomaly_monitor: "no data", aws_ce_anomaly_subscription: "no data",
  aws_s3_bucket_versioning: "no data", aws_s3_bucket_public_access_block: "no data", aws_s3_bucket_ownership_controls: "no data",
  aws_s3_bucket_policy: "no data", aws_s3_bucket_lifecycle_configuration: "no data",
  aws_vpc: "network", aws_subnet: "network", aws_route_table: "network", aws_route_table_association: "network", aws_route: "network",
  aws_default_security_group: "network", aws_security_group: "network", aws_vpc_security_group_ingress_rule: "network", aws_vpc_security_group_egress_rule: "network",
  aws_vpc_endpoint: "network", aws_internet_gateway: "network", aws_nat_gateway: "network", aws_eip: "network",
};

const KEY_REF = /^\$\{aws_kms_key\.([^.}]+)\.(arn|key_id|id)\}$/;

/** Every resource whose CMK setting is missing or not a key of its own stack (by reference, or by an alias the stack declares for one). */
function notOnOurKey(json: TfJson): string[] {
  const keys = new Set(Object.keys(json.resource?.aws_kms_key ?? {}));
  const ownAliases = new Set(
    Object.values(json.resource?.aws_kms_alias ?? {})
      .filter((a) => keys.has(KEY_REF.exec(String(a.target_key_id))?.[1] ?? ""))
      .map((a) => String(a.name)),
  );
  const out: string[] = [];
  for (const [type, rule] of Object.entries(CMK_SETTING)) {
    for (const [id, props] of Object.entries(json.resource?.[type] ?? {})) {
      const key = rule.key(props);
      if (typeof key === "string" && key.startsWith("(plain parameter")) continue;
      const m = typeof key === "string" ? KEY_REF.exec(key) : null;
      if (!(m && keys.has(m[1]!)) && !(typeof key === "string" && ownAliases.has(key))) out.push(`${type}.${id} (${rule.check})`);
    }
  }
  return out;
}

const { stacks, bootstraps } = buildApp({ outdir: "unused", stages: ["dev", "prod"], bootstraps: ["bootstrap-dev", "bootstrap-prod"] });
const all = [...stacks, ...bootstraps].map((s) => [s.node.id, synthStack(s)] as const);

describe("customer-managed keys (checkov CKV_AWS_297 and its kind)", () => {
  test.each(all)("when %s is synthesized, every resource that can take a customer-managed key has one of its stack", (_name, json) => {
    expect(notOnOurKey(json)).toEqual([]);
  });

  test.each(all)("when %s is synthesized, every resource type is classified (a CMK setting checked above, or none, with why)", (_name, json) => {
    const types = Object.keys(json.resource ?? {});
    expect(types.filter((t) => !(t in CMK_SETTING) && !(t in NO_CMK_SETTING))).toEqual([]);
    expect(types.filter((t) => t in CMK_SETTING && t in NO_CMK_SETTING)).toEqual([]);
  });

  test.each(all.filter(([name]) => name.includes("bootstrap")))("when %s is synthesized, each bucket has its own KMS encryption configuration", (_name, json) => {
    const buckets = Object.keys(json.resource?.aws_s3_bucket ?? {});
    const configured = Object.values(json.resource?.aws_s3_bucket_server_side_encryption_configuration ?? {}).map((p) => String(p.bucket));
    expect(buckets.length).toBeGreaterThan(0);
    for (const b of buckets) expect(configured).toContain(`\${aws_s3_bucket.${b}.id}`);
  });

  test.each(["aws_scheduler_schedule", "aws_ecs_cluster", "aws_cloudwatch_log_group", "aws_sqs_queue"])("when a %s has no key or AWS's own key, the check reports it", (type) => {
    const prod = structuredClone(all.find(([n]) => n === "vibe-digest-prod")![1]);
    const [id, props] = Object.entries(prod.resource![type]!)[0]!;
    if (type === "aws_scheduler_schedule") delete props.kms_key_arn;
    if (type === "aws_ecs_cluster") delete props.configuration;
    if (type === "aws_cloudwatch_log_group") props.kms_key_id = "alias/aws/logs";
    if (type === "aws_sqs_queue") props.kms_master_key_id = "alias/aws/sqs";
    expect(notOnOurKey(prod)).toEqual([expect.stringContaining(`${type}.${id}`)]);
  });
});
