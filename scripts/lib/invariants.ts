/**
 * The stack's invariants: rules that walk a whole synthesized stack (cdk.tf.json) or a
 * Terraform plan (`terraform show -json`, turned into the same shape by {@link planToTfJson}),
 * so a rule holds for every resource, not just the ones a property test happens to name.
 * One implementation for the tests (test/infra/invariants.test.ts gives each invariant a
 * deliberately bad fixture that makes it fail) and for `npm run plan:summary`, which
 * reports a change that breaks one as high risk, named by the invariant.
 */
import { credentialKindOf } from "../../modules/credential-values";
import { SECRET_LOOKING_NAME } from "../../modules/scheduled-task";

/** One block of synthesized Terraform JSON (a resource's arguments, a nested block). */
export type Block = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Synthesized Terraform JSON (cdk.tf.json), or a plan turned into that shape. */
export interface TfJson {
  resource?: Record<string, Record<string, Block>>;
  data?: Record<string, Record<string, Block>>;
  provider?: Record<string, Block[]>;
  output?: Record<string, Block>;
  terraform?: Block;
}

/** A policy statement as written in an aws_iam_policy_document data source. */
export interface DocStatement {
  sid?: string;
  effect?: string;
  actions?: string[];
  resources?: string[];
  condition?: { test: string; variable: string; values: string[] }[];
  principals?: { type: string; identifiers: string[] }[];
}

/** The parts of `terraform show -json <plan>` that {@link planToTfJson} reads. */
export interface PlanForInvariants {
  configuration?: unknown;
  resource_changes?: readonly {
    address: string;
    mode?: string;
    type: string;
    name?: string;
    change: { actions: readonly string[]; after?: unknown; after_unknown?: unknown };
  }[];
}

export interface Violation {
  readonly invariant: string;
  readonly address: string;
  readonly detail: string;
}

export interface Invariant {
  readonly id: string;
  readonly description: string;
  check(json: TfJson): Violation[];
}

/**
 * Statements that may use Resource "*" because AWS offers nothing narrower, with why.
 * (Key-policy statements are allowed "*" separately: there it means "this key".)
 */
export const WILDCARD_RESOURCE_ALLOWLIST: Readonly<Record<string, string>> = {
  ReadSendQuota: "ses:GetSendQuota has no resource-level permissions",
  EcrAuthToken: "ecr:GetAuthorizationToken has no resource-level permissions",
  OperatorReadsWithoutResourceLevel: "ssm:DescribeParameters and ses:GetAccount (the operator's secrets put and doctor) have no resource-level permissions",
};

/** Environment names that look like secrets: the construct's own rule, imported, not copied. */
export const SECRET_LOOKING_ENV_NAME = SECRET_LOOKING_NAME;

/**
 * Where {@link planToTfJson} leaves an attribute the invariants need as a value when neither
 * the plan's planned values (a create plan: the image is the repository's computed URL) nor
 * the configuration (an HCL expression, not a literal) hold it.
 */
export const UNKNOWN_UNTIL_APPLY = "(known after apply)";

/** The container definitions of every task definition: parsed, unknown until apply, or unreadable. */
export function containerDefinitions(json: TfJson): { address: string; defs: Block[] | "unknown" | "invalid" }[] {
  return each(json, "aws_ecs_task_definition").map(([address, p]) => {
    if (p.container_definitions === UNKNOWN_UNTIL_APPLY) return { address, defs: "unknown" as const };
    try {
      const defs = JSON.parse(String(p.container_definitions)) as unknown;
      return { address, defs: Array.isArray(defs) ? (defs as Block[]) : ("invalid" as const) };
    } catch {
      return { address, defs: "invalid" as const };
    }
  });
}

const POLICY_ARGUMENTS: Record<string, string[]> = {
  aws_iam_role: ["assume_role_policy"],
  aws_iam_role_policy: ["policy"],
  aws_iam_policy: ["policy"],
  aws_kms_key: ["policy"],
  aws_kms_key_policy: ["policy"],
  aws_sns_topic_policy: ["policy"],
  aws_sqs_queue_policy: ["policy"],
  aws_iam_user_policy: ["policy"],
  aws_iam_group_policy: ["policy"],
  aws_s3_bucket_policy: ["policy"],
  aws_ecr_repository_policy: ["policy"],
};

/** Resource types that attach a managed policy to a role, user or group. */
export const ATTACHMENT_TYPES = [
  "aws_iam_role_policy_attachment", "aws_iam_policy_attachment", "aws_iam_role_policy_attachments_exclusive",
  "aws_iam_user_policy_attachment", "aws_iam_group_policy_attachment", "aws_iam_user_policy_attachments_exclusive", "aws_iam_group_policy_attachments_exclusive",
] as const;

const DOC_REF = /^\$\{data\.aws_iam_policy_document\.([^.}]+)\.json\}$/;
const KMS_REF = /^\$\{aws_kms_key\.[^.}]+\.(arn|key_id|id)\}$/;

/** Names of the aliases the stack declares for its own keys ("alias/..."), literal names only. */
function ownAliases(json: TfJson): Set<string> {
  return new Set(each(json, "aws_kms_alias").filter(([, p]) => KMS_REF.test(String(p.target_key_id ?? ""))).map(([, p]) => String(p.name)));
}

function each(json: TfJson, type: string): [string, Block][] {
  return Object.entries(json.resource?.[type] ?? {}).map(([id, props]) => [`${type}.${id}`, props]);
}

function docs(json: TfJson): [string, DocStatement[]][] {
  return Object.entries(json.data?.aws_iam_policy_document ?? {}).map(([id, d]) => [id, (d.statement ?? []) as DocStatement[]]);
}

/** Ids of the policy documents that are used as KMS key policies. */
function keyPolicyDocs(json: TfJson): Set<string> {
  const ids = new Set<string>();
  for (const type of ["aws_kms_key_policy", "aws_kms_key"]) {
    for (const [, props] of each(json, type)) {
      const m = typeof props.policy === "string" ? DOC_REF.exec(props.policy) : null;
      if (m) ids.add(m[1]!);
    }
  }
  return ids;
}

function v(invariant: string, address: string, detail: string): Violation {
  return { invariant, address, detail };
}

export const INVARIANTS: readonly Invariant[] = [
  {
    id: "iam-no-wildcard-action",
    description: "No policy statement allows an action with a wildcard (*, service:*, or Get*)",
    check: (json) =>
      docs(json).flatMap(([id, statements]) =>
        statements.flatMap((s) => (s.actions ?? []).filter((a) => a.includes("*")).map((a) => v("iam-no-wildcard-action", `data.aws_iam_policy_document.${id}`, `${s.sid}: ${a}`))),
      ),
  },
  {
    id: "iam-no-wildcard-resource",
    description: 'Resource "*" only in key policies (where it means the key) or for allowlisted statements',
    check: (json) => {
      const keyDocs = keyPolicyDocs(json);
      return docs(json).flatMap(([id, statements]) =>
        keyDocs.has(id)
          ? []
          : statements
              .filter((s) => (s.resources ?? []).includes("*") && !(s.sid && WILDCARD_RESOURCE_ALLOWLIST[s.sid]))
              .map((s) => v("iam-no-wildcard-resource", `data.aws_iam_policy_document.${id}`, `${s.sid ?? "(no sid)"} has Resource "*"`)),
      );
    },
  },
  {
    id: "iam-policy-from-document",
    description: "Every IAM, key, topic and queue policy is rendered from an aws_iam_policy_document (no hand-written JSON)",
    check: (json) =>
      Object.entries(POLICY_ARGUMENTS).flatMap(([type, args]) =>
        each(json, type).flatMap(([address, props]) =>
          args.filter((a) => props[a] !== undefined && !(typeof props[a] === "string" && DOC_REF.test(props[a]))).map((a) => v("iam-policy-from-document", address, `${a} is not a policy-document reference`)),
        ),
      ),
  },
  {
    id: "iam-no-managed-policy",
    description: "No AWS-managed or attached policy: roles, users and groups get only their own inline grants",
    check: (json) => [
      ...ATTACHMENT_TYPES.flatMap((t) =>
        each(json, t).map(([address]) => v("iam-no-managed-policy", address, "attaches a policy")),
      ),
      ...each(json, "aws_iam_role")
        .filter(([, p]) => Array.isArray(p.managed_policy_arns) && p.managed_policy_arns.length > 0)
        .map(([address]) => v("iam-no-managed-policy", address, "has managed_policy_arns")),
    ],
  },
  {
    id: "kms-rotation",
    description: "Every customer-managed key rotates",
    check: (json) => each(json, "aws_kms_key").filter(([, p]) => p.enable_key_rotation !== true).map(([a]) => v("kms-rotation", a, "enable_key_rotation is not true")),
  },
  {
    id: "encrypted-with-our-key",
    description: "Every log group, topic, queue, repository and table is encrypted with a CMK of this stack",
    check: (json) => [
      ...each(json, "aws_cloudwatch_log_group").filter(([, p]) => !KMS_REF.test(String(p.kms_key_id ?? ""))).map(([a]) => v("encrypted-with-our-key", a, "kms_key_id is not our CMK")),
      ...each(json, "aws_sns_topic").filter(([, p]) => !KMS_REF.test(String(p.kms_master_key_id ?? ""))).map(([a]) => v("encrypted-with-our-key", a, "kms_master_key_id is not our CMK")),
      // A queue may name our CMK by one of our aliases (a literal known at plan time).
      ...each(json, "aws_sqs_queue").filter(([, p]) => !KMS_REF.test(String(p.kms_master_key_id ?? "")) && !ownAliases(json).has(String(p.kms_master_key_id))).map(([a]) => v("encrypted-with-our-key", a, "kms_master_key_id is not our CMK")),
      ...each(json, "aws_ecr_repository")
        .filter(([, p]) => {
          const enc = (p.encryption_configuration ?? [])[0] as Block | undefined;
          return enc?.encryption_type !== "KMS" || !KMS_REF.test(String(enc?.kms_key ?? ""));
        })
        .map(([a]) => v("encrypted-with-our-key", a, "encryption_configuration is not KMS with our CMK")),
      ...each(json, "aws_dynamodb_table")
        .filter(([, p]) => p.server_side_encryption?.enabled !== true || !KMS_REF.test(String(p.server_side_encryption?.kms_key_arn ?? "")))
        .map(([a]) => v("encrypted-with-our-key", a, "server_side_encryption is not our CMK")),
    ],
  },
  {
    id: "log-retention-a-year",
    description: "Every log group keeps events for at least 365 days",
    check: (json) =>
      each(json, "aws_cloudwatch_log_group").filter(([, p]) => !(Number(p.retention_in_days) >= 365)).map(([a, p]) => v("log-retention-a-year", a, `retention_in_days is ${p.retention_in_days}`)),
  },
  {
    id: "secure-strings-write-only",
    description: "SecureStrings carry value_wo only (no value, no insecure_value) and no data source reads a parameter",
    check: (json) => [
      ...each(json, "aws_ssm_parameter")
        .filter(([, p]) => p.type === "SecureString" && (p.value !== undefined || p.insecure_value !== undefined || p.value_wo === undefined))
        .map(([a]) => v("secure-strings-write-only", a, "SecureString is not write-only")),
      ...Object.keys(json.data?.aws_ssm_parameter ?? {}).map((id) => v("secure-strings-write-only", `data.aws_ssm_parameter.${id}`, "reading a parameter puts its value in state")),
    ],
  },
  {
    id: "no-public-ingress",
    description: "No security group admits traffic from anywhere",
    check: (json) => [
      ...each(json, "aws_vpc_security_group_ingress_rule")
        .filter(([, p]) => p.cidr_ipv4 === "0.0.0.0/0" || p.cidr_ipv6 === "::/0")
        .map(([a]) => v("no-public-ingress", a, "ingress from anywhere")),
      ...[...each(json, "aws_security_group"), ...each(json, "aws_default_security_group")].flatMap(([a, p]) =>
        ((p.ingress ?? []) as Block[])
          .filter((r) => (r.cidr_blocks ?? []).includes("0.0.0.0/0") || (r.ipv6_cidr_blocks ?? []).includes("::/0"))
          .map(() => v("no-public-ingress", a, "inline ingress from anywhere")),
      ),
    ],
  },
  {
    id: "internet-egress-opt-in",
    description: "Egress to the internet exists only as the named allowInternetEgress rule",
    check: (json) => [
      ...each(json, "aws_vpc_security_group_egress_rule")
        .filter(([, p]) => (p.cidr_ipv4 === "0.0.0.0/0" || p.cidr_ipv6 === "::/0") && !String(p.description ?? "").startsWith("allowInternetEgress:"))
        .map(([a]) => v("internet-egress-opt-in", a, "egress to anywhere without the allowInternetEgress opt-in")),
      ...[...each(json, "aws_security_group"), ...each(json, "aws_default_security_group")].flatMap(([a, p]) =>
        ((p.egress ?? []) as Block[]).filter((r) => (r.cidr_blocks ?? []).includes("0.0.0.0/0")).map(() => v("internet-egress-opt-in", a, "inline egress to anywhere")),
      ),
    ],
  },
  {
    id: "default-security-group-empty",
    description: "Every VPC's default security group is managed and has no rules",
    check: (json) => {
      const defaults = each(json, "aws_default_security_group");
      const out = defaults
        .filter(([, p]) => (p.ingress ?? []).length > 0 || (p.egress ?? []).length > 0)
        .map(([a]) => v("default-security-group-empty", a, "has rules"));
      // Each VPC must have its default group managed: matched by the group's vpc_id reference.
      const locked = new Set(defaults.map(([, p]) => String(p.vpc_id ?? "")));
      for (const [a] of each(json, "aws_vpc")) {
        if (![...locked].some((ref) => ref.startsWith(`\${${a}.`))) out.push(v("default-security-group-empty", a, "its default security group is not managed (and so keeps AWS's allow-all rules)"));
      }
      return out;
    },
  },
  {
    id: "container-hardened",
    description: "Containers run read-only, unprivileged, as a non-root user, with no secret-looking environment name or credential-looking value",
    check: (json) =>
      containerDefinitions(json).flatMap(({ address: a, defs }) => {
        // Neither planned nor literal: unverifiable, which must not pass as "no violation".
        if (defs === "unknown") return [v("container-hardened", a, "container_definitions is unknown until apply and not a literal in the configuration")];
        if (defs === "invalid") return [v("container-hardened", a, "container_definitions is not a JSON list")];
        return defs.flatMap((d) => {
          const out: Violation[] = [];
          if (d.readonlyRootFilesystem !== true) out.push(v("container-hardened", a, `${d.name}: root file system is writable`));
          if (d.privileged === true) out.push(v("container-hardened", a, `${d.name}: privileged`));
          if (!d.user || /^(0|root)(:|$)/.test(String(d.user))) out.push(v("container-hardened", a, `${d.name}: runs as root`));
          for (const e of (d.environment ?? []) as { name: string; value?: unknown }[]) {
            if (SECRET_LOOKING_ENV_NAME.test(e.name)) out.push(v("container-hardened", a, `${d.name}: secret-looking environment name ${e.name}`));
            const kind = typeof e.value === "string" ? credentialKindOf(e.value) : undefined;
            // Names the variable and the kind of credential, never the value.
            if (kind) out.push(v("container-hardened", a, `${d.name}: environment ${e.name} holds a value that looks like a ${kind}`));
          }
          return out;
        });
      }),
  },
  {
    id: "no-public-ip",
    description: "Scheduled tasks get no public IP",
    check: (json) =>
      each(json, "aws_scheduler_schedule")
        .filter(([, p]) => {
          const ecs = ((p.target ?? {}).ecs_parameters ?? {}) as Block;
          const net = (ecs.network_configuration ?? {}) as Block;
          return ecs && net.assign_public_ip !== false;
        })
        .map(([a]) => v("no-public-ip", a, "assign_public_ip is not false")),
  },
  {
    id: "ses-tls-required",
    description: "SES configuration sets require TLS",
    check: (json) =>
      each(json, "aws_sesv2_configuration_set").filter(([, p]) => p.delivery_options?.tls_policy !== "REQUIRE").map(([a]) => v("ses-tls-required", a, "tls_policy is not REQUIRE")),
  },
  {
    id: "table-recoverable",
    description: "Every DynamoDB table has point-in-time recovery on (the delivery ledger can be restored)",
    check: (json) =>
      each(json, "aws_dynamodb_table")
        .filter(([, p]) => p.point_in_time_recovery?.enabled !== true)
        .map(([a]) => v("table-recoverable", a, "point_in_time_recovery is not enabled")),
  },
  {
    id: "ecr-immutable-scanned",
    description: "Repositories have immutable tags and scan on push",
    check: (json) =>
      each(json, "aws_ecr_repository")
        .filter(([, p]) => p.image_tag_mutability !== "IMMUTABLE" || p.image_scanning_configuration?.scan_on_push !== true)
        .map(([a]) => v("ecr-immutable-scanned", a, "mutable tags or no scan on push")),
  },
];

/** Every violation of every invariant. */
export function checkInvariants(json: TfJson): Violation[] {
  return INVARIANTS.flatMap((i) => i.check(json));
}

// ---------------------------------------------------------------------------------------
// Plan JSON -> the synthesized-JSON shape, from the plan's `configuration` (which includes
// override files): constants stay constants, references become "${first.reference}".
// Attributes an invariant must read as values (a task's container definitions) come from
// the plan's planned values where the plan knows them; otherwise from the configuration
// when it holds them as a literal (cdk.tf.json's JSON template with "${...}" inside);
// else they are UNKNOWN_UNTIL_APPLY.

interface PlanResourceConfig {
  address: string;
  mode: "managed" | "data";
  type: string;
  name: string;
  expressions?: Record<string, unknown>;
}

function expressionValue(expr: unknown): unknown {
  if (Array.isArray(expr)) return expr.map(expressionValue);
  if (expr && typeof expr === "object") {
    const e = expr as Record<string, unknown>;
    if ("constant_value" in e) return e.constant_value;
    if (Array.isArray(e.references)) return e.references.length ? `\${${String(e.references[0])}}` : "${(expression)}";
    return Object.fromEntries(Object.entries(e).map(([k, x]) => [k, expressionValue(x)]));
  }
  return expr;
}

/** Nested blocks come out as arrays of one object; synthesized JSON has single blocks as objects. */
function unwrapSingleBlocks(value: unknown, keepArrays: ReadonlySet<string>, key = ""): unknown {
  if (Array.isArray(value)) {
    const mapped = value.map((x) => unwrapSingleBlocks(x, keepArrays));
    return mapped.length === 1 && mapped[0] && typeof mapped[0] === "object" && !Array.isArray(mapped[0]) && !keepArrays.has(key) ? mapped[0] : mapped;
  }
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, x]) => [k, unwrapSingleBlocks(x, keepArrays, k)]));
  }
  return value;
}

/** Block names that are lists in the synthesized JSON even with one element. */
const LIST_BLOCKS = new Set(["statement", "condition", "principals", "encryption_configuration", "ingress", "egress", "dimension_configuration", "setting", "volume", "rule", "selection", "action", "subscriber", "metric_query", "default_tags", "endpoints"]);

/** Attributes an invariant must read as a value: a bare reference there becomes the planned value. */
const PLANNED_VALUE_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  aws_ecs_task_definition: ["container_definitions"],
};

const BARE_REFERENCE = /^\$\{[^}]*\}$/;

/** Whether a planned value (or the `after_unknown` mark beside it) is known in full. */
function knownInFull(unknown: unknown): boolean {
  if (unknown === true) return false;
  if (Array.isArray(unknown)) return unknown.every(knownInFull);
  if (unknown && typeof unknown === "object") return Object.values(unknown).every(knownInFull);
  return true;
}

/**
 * The plan in the synthesized-JSON shape, for the invariants. Each resource starts from the
 * plan's `configuration` (which includes override files and keeps a reference to our key
 * or to a policy document as the reference, which is what several invariants check). A
 * value the configuration holds as a template with references inside (cdk.tf.json's JSON
 * strings with "${...}") is replaced by the planned value (`resource_changes[].change.after`)
 * where the plan knows it; where it does not, the configuration's literal stays. Attributes
 * in {@link PLANNED_VALUE_ATTRIBUTES} that are a bare reference become the planned value, or
 * {@link UNKNOWN_UNTIL_APPLY}. Resources the plan deletes or forgets are not in the result.
 */
export function planToTfJson(plan: PlanForInvariants): TfJson {
  const root = (plan.configuration as { root_module?: { resources?: PlanResourceConfig[] } } | undefined)?.root_module;
  const out: TfJson = { resource: {}, data: {} };
  for (const r of root?.resources ?? []) {
    const props = unwrapSingleBlocks(expressionValue(r.expressions ?? {}), LIST_BLOCKS) as Block;
    const bucket = r.mode === "data" ? out.data! : out.resource!;
    (bucket[r.type] ??= {})[r.name] = props;
  }
  for (const rc of plan.resource_changes ?? []) {
    const name = rc.name ?? rc.address.split(".")[1];
    const props = name ? out.resource?.[rc.type]?.[name] : undefined;
    if (!props || rc.mode === "data" || !rc.change.actions.includes("create") && !rc.change.actions.includes("update") && !rc.change.actions.includes("no-op")) continue;
    const after = (rc.change.after ?? {}) as Block;
    const unknown = (rc.change.after_unknown && typeof rc.change.after_unknown === "object" ? rc.change.after_unknown : {}) as Block;
    const valueAttributes = PLANNED_VALUE_ATTRIBUTES[rc.type] ?? [];
    for (const [attr, configured] of Object.entries(props)) {
      if (typeof configured !== "string" || !configured.includes("${")) continue;
      const bare = BARE_REFERENCE.test(configured);
      if (bare && !valueAttributes.includes(attr)) continue;
      const planned = after[attr];
      if (planned !== undefined && planned !== null && knownInFull(unknown[attr])) props[attr] = planned;
      else if (bare) props[attr] = UNKNOWN_UNTIL_APPLY;
    }
  }
  return out;
}
