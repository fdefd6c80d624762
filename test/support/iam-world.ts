/**
 * A stage's IAM as the permission table evaluates it: the synthesized stage stack and its
 * bootstrap stack, with every Terraform reference in their policy documents replaced by the
 * concrete value AWS would have after apply (an ARN built from the resource's own
 * arguments, the stage's account and region). Gives the roles (identity policy and
 * boundary), the key and bucket policies, and the ARNs a request names.
 */
import { partitionOf } from "../../modules/policy";
import type { StageConfig } from "../../modules/stages";
import type { Principal, Statement } from "./iam-eval";
import type { Block, TfJson } from "./tf-json";

const REF = /\$\{([a-z0-9_]+)\.([^.}]+)\.([a-z_]+)\}/g;

/** The value of `type.name.attr` after apply (what AWS would answer), for the types policies reference. */
function valueOf(json: TfJson, type: string, name: string, attr: string, stage: StageConfig): string {
  const p = json.resource?.[type]?.[name] as Block | undefined;
  if (!p) throw new Error(`iam-world: no ${type}.${name}`);
  const part = partitionOf(stage.region);
  const regional = (service: string, rest: string) => `arn:${part}:${service}:${stage.region}:${stage.account}:${rest}`;
  const arns: Record<string, () => string> = {
    aws_iam_role: () => `arn:${part}:iam::${stage.account}:role/${p.name}`,
    aws_iam_policy: () => `arn:${part}:iam::${stage.account}:policy/${p.name}`,
    aws_iam_openid_connect_provider: () => `arn:${part}:iam::${stage.account}:oidc-provider/${String(p.url).replace(/^https:\/\//, "")}`,
    aws_kms_key: () => regional("kms", `key/${name}`),
    aws_dynamodb_table: () => regional("dynamodb", `table/${p.name}`),
    aws_ssm_parameter: () => regional("ssm", `parameter${p.name}`),
    aws_sns_topic: () => regional("sns", String(p.name)),
    aws_sqs_queue: () => regional("sqs", String(p.name)),
    aws_ecr_repository: () => regional("ecr", `repository/${p.name}`),
    aws_ecs_cluster: () => regional("ecs", `cluster/${p.name}`),
    aws_ses_email_identity: () => regional("ses", `identity/${p.email}`),
    aws_sesv2_email_identity: () => regional("ses", `identity/${p.email_identity}`),
    aws_sesv2_configuration_set: () => regional("ses", `configuration-set/${p.configuration_set_name}`),
    aws_cloudwatch_log_group: () => regional("logs", `log-group:${p.name}`),
    aws_s3_bucket: () => `arn:${part}:s3:::${p.bucket}`,
  };
  if (attr === "arn" && arns[type]) return arns[type]!();
  if (type === "aws_kms_key" && (attr === "key_id" || attr === "id")) return name;
  if (type === "aws_s3_bucket" && (attr === "id" || attr === "bucket")) return String(p.bucket);
  if ((attr === "name" || attr === "id") && typeof p.name === "string") return p.name;
  throw new Error(`iam-world: cannot resolve ${type}.${name}.${attr}`);
}

/** `value` with every reference resolved (recursively through arrays and objects). */
export function resolveRefs<T>(json: TfJson, stage: StageConfig, value: T): T {
  if (typeof value === "string") return value.replace(REF, (_m, type: string, name: string, attr: string) => valueOf(json, type, name, attr, stage)) as T;
  if (Array.isArray(value)) return value.map((v) => resolveRefs(json, stage, v)) as T;
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveRefs(json, stage, v)])) as T;
  return value;
}

/** The statements of the policy document a policy argument references, resolved. */
function documentOf(json: TfJson, stage: StageConfig, policyRef: unknown): Statement[] {
  const m = /^\$\{data\.aws_iam_policy_document\.([^.]+)\.json\}$/.exec(String(policyRef));
  if (!m) throw new Error(`iam-world: not a policy-document reference: ${String(policyRef).slice(0, 60)}`);
  const doc = json.data?.aws_iam_policy_document?.[m[1]!];
  if (!doc) throw new Error(`iam-world: no policy document ${m[1]}`);
  const statements = (doc.statement ?? []) as Record<string, unknown>[];
  return resolveRefs(json, stage, statements).map((s) => ({
    sid: s.sid as string | undefined,
    effect: s.effect as string | undefined,
    actions: s.actions as string[] | undefined,
    notActions: s.not_actions as string[] | undefined,
    resources: s.resources as string[] | undefined,
    notResources: s.not_resources as string[] | undefined,
    principals: s.principals as Statement["principals"],
    condition: s.condition as Statement["condition"],
  }));
}

const entries = (json: TfJson, type: string): [string, Block][] => Object.entries(json.resource?.[type] ?? {});

/** A stage's roles, policies and resources, concrete. */
export class IamWorld {
  private readonly all: { json: TfJson; name: string }[];

  constructor(
    readonly stage: StageConfig,
    readonly digest: TfJson,
    readonly bootstrap: TfJson,
  ) {
    this.all = [
      { json: digest, name: "stage" },
      { json: bootstrap, name: "bootstrap" },
    ];
  }

  /** A role of either stack by name: its ARN, every inline policy naming it (in both stacks), its boundary. */
  role(roleName: string): Principal {
    const owner = this.all.find(({ json }) => entries(json, "aws_iam_role").some(([, p]) => p.name === roleName));
    if (!owner) throw new Error(`iam-world: no role ${roleName}`);
    const [id, role] = entries(owner.json, "aws_iam_role").find(([, p]) => p.name === roleName)!;
    const identity = this.all.flatMap(({ json }) =>
      entries(json, "aws_iam_role_policy")
        .filter(([, p]) => p.role === roleName || (json === owner.json && p.role === `\${aws_iam_role.${id}.id}`) || (json === owner.json && p.role === `\${aws_iam_role.${id}.name}`))
        .flatMap(([, p]) => documentOf(json, this.stage, p.policy)),
    );
    const boundaryArn = role.permissions_boundary === undefined ? undefined : resolveRefs(owner.json, this.stage, String(role.permissions_boundary));
    const boundary = boundaryArn === undefined ? undefined : this.managedPolicy(boundaryArn);
    return { arn: valueOf(owner.json, "aws_iam_role", id, "arn", this.stage), identity, ...(boundary ? { boundary } : {}) };
  }

  /** A customer-managed policy (a boundary) by ARN, from either stack. */
  managedPolicy(arn: string): Statement[] {
    for (const { json } of this.all) {
      for (const [id, p] of entries(json, "aws_iam_policy")) {
        if (valueOf(json, "aws_iam_policy", id, "arn", this.stage) === arn) return documentOf(json, this.stage, p.policy);
      }
    }
    throw new Error(`iam-world: no managed policy ${arn}`);
  }

  /** The ARN of the KMS key whose alias is `alias/<alias>`. */
  keyArnByAlias(alias: string): string {
    for (const { json } of this.all) {
      const a = entries(json, "aws_kms_alias").find(([, p]) => p.name === `alias/${alias}`);
      if (a) return resolveRefs(json, this.stage, String(a[1].target_key_id)).replace(/^/, `arn:${partitionOf(this.stage.region)}:kms:${this.stage.region}:${this.stage.account}:key/`);
    }
    throw new Error(`iam-world: no alias ${alias}`);
  }

  /** The aliases of a key (the kms:ResourceAliases of a request on it). */
  aliasesOf(keyArn: string): string[] {
    const id = keyArn.replace(/^.*:key\//, "");
    return this.all.flatMap(({ json }) => entries(json, "aws_kms_alias").filter(([, p]) => resolveRefs(json, this.stage, String(p.target_key_id)) === id).map(([, p]) => String(p.name)));
  }

  /** The key policy of a key, resolved. */
  keyPolicy(keyArn: string): Statement[] {
    const id = keyArn.replace(/^.*:key\//, "");
    for (const { json } of this.all) {
      const kp = entries(json, "aws_kms_key_policy").find(([, p]) => resolveRefs(json, this.stage, String(p.key_id)) === id);
      if (kp) return documentOf(json, this.stage, kp[1].policy);
    }
    throw new Error(`iam-world: no key policy for ${keyArn}`);
  }

  /** The bucket policy of a bucket (by ARN), resolved. */
  bucketPolicy(bucketArn: string): Statement[] | undefined {
    for (const { json } of this.all) {
      for (const [, p] of entries(json, "aws_s3_bucket_policy")) {
        const bucket = resolveRefs(json, this.stage, String(p.bucket));
        if (`arn:${partitionOf(this.stage.region)}:s3:::${bucket}` === bucketArn) return documentOf(json, this.stage, p.policy);
      }
    }
    return undefined;
  }

  /** The after-apply ARN of the one resource of `type` whose argument `by` equals `value`. */
  arnOf(type: string, by: string, value: string): string {
    for (const { json } of this.all) {
      const found = entries(json, type).find(([, p]) => p[by] === value);
      if (found) return valueOf(json, type, found[0], "arn", this.stage);
    }
    throw new Error(`iam-world: no ${type} with ${by} = ${value}`);
  }
}
