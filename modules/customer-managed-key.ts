/**
 * A customer-managed KMS key with rotation on and a key policy built from statements
 * (never hand-written JSON). The policy is a separate `aws_kms_key_policy`, so it can name
 * the principals that constructs grant to without a dependency cycle. The account and
 * region come from props (the stage data), never from the key's ARN: a replaced key then
 * leaves every policy that names the account readable in a plan, and identity policies
 * refer to the key through its alias ({@link CustomerManagedKey.identityScope}), so they
 * stay readable too.
 */
import { Construct } from "constructs";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { KmsKeyPolicy } from "@cdktf/provider-aws/lib/kms-key-policy";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { ConfigError } from "./errors";
import { partitionOf, toDocumentStatements, type IGrantee, type PolicyCondition, type PolicyPrincipal, type PolicyStatement } from "./policy";
import { assertAccount, assertIntegerInRange, assertRegion } from "./validate";

/**
 * Key-management actions the account root gets; no use of the key for data. No
 * kms:CreateGrant: a principal that may create grants can grant itself Decrypt without any
 * key-policy change (see {@link CustomerManagedKeyProps.allowAwsServiceGrants}).
 */
export const KEY_ADMIN_ACTIONS = [
  "kms:CancelKeyDeletion",
  "kms:CreateAlias",
  "kms:DeleteAlias",
  "kms:DescribeKey",
  "kms:DisableKey",
  "kms:DisableKeyRotation",
  "kms:EnableKey",
  "kms:EnableKeyRotation",
  "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:ListAliases",
  "kms:ListGrants",
  "kms:ListKeyPolicies",
  "kms:ListResourceTags",
  "kms:PutKeyPolicy",
  "kms:RevokeGrant",
  "kms:RotateKeyOnDemand",
  "kms:ScheduleKeyDeletion",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:UpdateAlias",
  "kms:UpdateKeyDescription",
] as const;

/** Data actions a service needs to encrypt and decrypt with the key. */
export const KEY_USE_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey"] as const;

/** Props for {@link CustomerManagedKey}. */
export interface CustomerManagedKeyProps {
  /** What the key protects (becomes the description). */
  readonly description: string;
  /** Alias without the "alias/" prefix, e.g. "vibe-digest-prod-parameters". */
  readonly alias: string;
  /** The account the key lives in (12 digits, from the stage data). */
  readonly account: string;
  /** The key's region (from the stage data). */
  readonly region: string;
  /** Days before a scheduled deletion completes. @default 30 */
  readonly deletionWindowDays?: number;
  /**
   * Let the account's principals create grants on the key, but only for AWS services that
   * use the key on their behalf (`kms:GrantIsForAWSResource` = true): ECR repositories and
   * DynamoDB tables encrypted with the key need that at creation. Never a grant to an IAM
   * principal directly. @default false (no kms:CreateGrant at all)
   */
  readonly allowAwsServiceGrants?: boolean;
}

/** A rotating symmetric CMK whose key policy is assembled from statements. */
export class CustomerManagedKey extends Construct {
  readonly key: KmsKey;
  readonly alias: KmsAlias;
  readonly keyPolicy: KmsKeyPolicy;
  /**
   * The alias name ("alias/<alias>") as a literal, known at plan time. A resource that takes
   * it instead of the key's ARN does not wait for the key to be created (see ScheduledTask's
   * queue) and reads the same in a plan whatever happens to the key.
   */
  readonly aliasName: string;
  /** `arn:<partition>:iam::<account>:root` of the key's own account. */
  readonly accountRootArn: string;
  readonly partition: string;
  readonly account: string;
  readonly region: string;
  private readonly statements: PolicyStatement[] = [];
  private readonly document: DataAwsIamPolicyDocument;

  constructor(scope: Construct, id: string, props: CustomerManagedKeyProps) {
    super(scope, id);
    const window = props.deletionWindowDays ?? 30;
    assertIntegerInRange(this, "VALUE_INVALID", "deletionWindowDays", window, 7, 30);
    assertAccount(this, "account", props.account);
    assertRegion(this, "region", props.region);
    this.key = new KmsKey(this, "key", {
      description: props.description,
      enableKeyRotation: true,
      deletionWindowInDays: window,
      keyUsage: "ENCRYPT_DECRYPT",
      customerMasterKeySpec: "SYMMETRIC_DEFAULT",
    });
    this.aliasName = `alias/${props.alias}`;
    this.alias = new KmsAlias(this, "alias", { name: this.aliasName, targetKeyId: this.key.keyId });
    this.partition = partitionOf(props.region);
    this.account = props.account;
    this.region = props.region;
    this.accountRootArn = `arn:${this.partition}:iam::${this.account}:root`;

    this.document = new DataAwsIamPolicyDocument(this, "policy-document", { statement: [] });
    this.keyPolicy = new KmsKeyPolicy(this, "policy", { keyId: this.key.keyId, policy: this.document.json });
    const root: PolicyPrincipal = { type: "AWS", identifiers: [this.accountRootArn] };
    // The account root (i.e. IAM principals it delegates to) may manage the key but not
    // use it for data: every data use is a named statement below it.
    this.addToResourcePolicy({ sid: "KeyAdministration", actions: [...KEY_ADMIN_ACTIONS], resources: ["*"], principals: [root] });
    if (props.allowAwsServiceGrants) {
      this.addToResourcePolicy({
        sid: "GrantsForAwsServicesOnly",
        actions: ["kms:CreateGrant"],
        resources: ["*"],
        principals: [root],
        conditions: [{ test: "Bool", variable: "kms:GrantIsForAWSResource", values: ["true"] }],
      });
    }
  }

  /** The main resource (the key). */
  get resource(): KmsKey {
    return this.key;
  }

  get arn(): string {
    return this.key.arn;
  }

  get keyId(): string {
    return this.key.keyId;
  }

  /**
   * How an identity policy names this key without its ARN: any key of the account and
   * region (`key/*`) that carries this key's alias (`kms:ResourceAliases`). Known at plan
   * time even when the key is replaced, so a key change never hides a policy change; the
   * key policy, which names each principal, remains what lets a principal use the key.
   */
  identityScope(): { readonly resources: string[]; readonly conditions: PolicyCondition[] } {
    return {
      resources: [`arn:${this.partition}:kms:${this.region}:${this.account}:key/*`],
      conditions: [{ test: "ForAnyValue:StringEquals", variable: "kms:ResourceAliases", values: [this.aliasName] }],
    };
  }

  /**
   * Lets `grantee` use the key for `actions` only when `service` calls KMS for it
   * (kms:ViaService = <service>.<region>.amazonaws.com): a statement `sid` in the grantee's
   * own policy (scoped by {@link identityScope}) and the principal in the key-policy
   * statement `keySid` (shared by every grantee of the same use).
   */
  grantUseVia(grantee: IGrantee, service: string, actions: readonly string[], sid: string, keySid: string): void {
    const via: PolicyCondition = { test: "StringEquals", variable: "kms:ViaService", values: [`${service}.${this.region}.amazonaws.com`] };
    const scope = this.identityScope();
    grantee.addToPrincipalPolicy({ sid, actions, resources: scope.resources, conditions: [via, ...scope.conditions] });
    this.grantUse(keySid, grantee.grantPrincipalArn, actions, [via]);
  }

  /**
   * The ARN of a resource of this key's account and region, built from its name, e.g.
   * `regionalArn("sqs", "vibe-digest-prod-schedule-dlq")`. Policy documents name resources
   * this way, not by a resource's `arn` attribute: the ARN is then known in every plan (a
   * create plan, and a plan that replaces the resource because its key changed).
   */
  regionalArn(service: string, resource: string): string {
    return `arn:${this.partition}:${service}:${this.region}:${this.account}:${resource}`;
  }

  /** Every statement of the key policy so far. */
  get policyStatements(): readonly PolicyStatement[] {
    return [...this.statements];
  }

  /**
   * Adds a statement to the key policy; a statement with the same sid gets the new
   * principals merged in (so several grantees share one reviewable statement).
   */
  addToResourcePolicy(statement: PolicyStatement): void {
    if (!statement.principals?.length) {
      throw new ConfigError("VALUE_INVALID", this.node.path, `key policy statement ${statement.sid}`, "given principals");
    }
    const i = this.statements.findIndex((s) => s.sid === statement.sid);
    if (i >= 0) {
      const existing = this.statements[i]!;
      if (existing.actions.join() !== statement.actions.join()) {
        throw new ConfigError("VALUE_INVALID", this.node.path, `key policy statement ${statement.sid}`, "granted with the same actions each time");
      }
      this.statements[i] = {
        ...existing,
        principals: mergePrincipals(existing.principals ?? [], statement.principals),
        conditions: mergeConditions(existing.conditions ?? [], statement.conditions ?? []),
      };
    } else {
      this.statements.push(statement);
    }
    this.document.putStatement(toDocumentStatements(this.statements));
  }

  /**
   * Lets an AWS service principal use the key for data (e.g. cloudwatch.amazonaws.com to
   * publish alarms to an encrypted topic), optionally limited by conditions.
   */
  grantToService(sid: string, service: string, actions: readonly string[], conditions: PolicyStatement["conditions"] = []): void {
    this.addToResourcePolicy({ sid, actions, resources: ["*"], principals: [{ type: "Service", identifiers: [service] }], conditions });
  }

  /** Lets an IAM principal (a role of this stack) use the key for data. */
  grantUse(sid: string, principalArn: string, actions: readonly string[], conditions: PolicyStatement["conditions"] = []): void {
    this.addToResourcePolicy({ sid, actions, resources: ["*"], principals: [{ type: "AWS", identifiers: [principalArn] }], conditions });
  }
}

/** Same (test, variable) pairs get the union of their values (IAM ORs values within one key). */
function mergeConditions(a: readonly PolicyCondition[], b: readonly PolicyCondition[]): PolicyCondition[] {
  const out: { test: string; variable: string; values: string[] }[] = a.map((c) => ({ ...c, values: [...c.values] }));
  for (const c of b) {
    const same = out.find((o) => o.test === c.test && o.variable === c.variable);
    if (same) same.values = [...new Set([...same.values, ...c.values])];
    else out.push({ ...c, values: [...c.values] });
  }
  return out;
}

function mergePrincipals(a: readonly PolicyPrincipal[], b: readonly PolicyPrincipal[]): PolicyPrincipal[] {
  const byType = new Map<string, string[]>();
  for (const p of [...a, ...b]) byType.set(p.type, [...new Set([...(byType.get(p.type) ?? []), ...p.identifiers])]);
  return [...byType].map(([type, identifiers]) => ({ type: type as PolicyPrincipal["type"], identifiers }));
}
