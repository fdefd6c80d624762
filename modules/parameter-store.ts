/**
 * The Parameter Store hierarchy (docs/design.md, app/src/contract.ts) under a customer-managed KMS key.
 *
 * Plain parameters (String/StringList) get their values from stage config. SecureStrings
 * are declared with the write-only `value_wo` holding the non-secret SECRET_PLACEHOLDER:
 * a write-only argument is sent to AWS on create and never stored in plan or state, and
 * the provider does not read the value back on refresh. Operators put the real values
 * with `npm run secrets` afterwards, never through Terraform.
 */
import { Construct } from "constructs";
import { Token } from "cdktf";
import type { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter";
import {
  DEFAULT_PARAMETER_ROOT,
  PARAMETERS,
  ROLLBACK_CLEARED,
  RUNTIME_PARAMETERS,
  SECRET_PLACEHOLDER,
  parameterName,
  runtimeParameterName,
  type ParameterKey,
  type RuntimeParameterKey,
} from "../app/src/contract";
import { MAX_RECIPIENT_LIST_BYTES, isOneClickUnsubscribeTarget, parseFeedSources } from "../app/src/validation";
import { CustomerManagedKey } from "./customer-managed-key";
import { ConfigError } from "./errors";
import { assertFeedsAllowed } from "./feed-allow-list";
import { UNSCOPED_READS_SID, partitionOf, type IGrantee } from "./policy";
import {
  assertAccount,
  assertEmailParameter,
  assertFeedList,
  assertFlagParameter,
  assertIntegerInRange,
  assertName,
  assertParameterRoot,
  assertPercentParameter,
  assertRecipientList,
  assertRegion,
  assertUnsubscribeTarget,
} from "./validate";

/** Keys of the parameters that hold secrets (SecureString). */
export type SecretParameterKey = {
  [K in ParameterKey]: (typeof PARAMETERS)[K]["secret"] extends true ? K : never;
}[ParameterKey];
/** Keys of the plain (String/StringList) parameters whose values come from stage config. */
export type PlainParameterKey = Exclude<ParameterKey, SecretParameterKey>;

export const SECRET_PARAMETER_KEYS = (Object.keys(PARAMETERS) as ParameterKey[]).filter(
  (k): k is SecretParameterKey => PARAMETERS[k].secret,
);
export const PLAIN_PARAMETER_KEYS = (Object.keys(PARAMETERS) as ParameterKey[]).filter(
  (k): k is PlainParameterKey => !PARAMETERS[k].secret,
);

/** What a stage's sender can use, which decides the SecureStrings its stack declares. */
export interface SecretNeeds {
  /** The seed's access-key mode: the key pair lives in Parameter Store. */
  readonly staticCredentials: boolean;
  /** The stage's List-Unsubscribe target; an https one may be signed per recipient. */
  readonly unsubscribeUrl?: string;
}

/**
 * The SecureStrings a stage declares: the SendGrid key always (the migration fallback), the
 * access-key pair only in access-key mode, and `email/unsubscribe_signing_key` only where the
 * unsubscribe target is https (a mailto: target has nothing to sign). Contract order.
 */
export function secretKeysFor(needs: SecretNeeds): SecretParameterKey[] {
  const wanted: Record<SecretParameterKey, boolean> = {
    awsAccessKeyId: needs.staticCredentials,
    awsSecretAccessKey: needs.staticCredentials,
    sendgridApiKey: true,
    unsubscribeSigningKey: isOneClickUnsubscribeTarget(needs.unsubscribeUrl),
  };
  return SECRET_PARAMETER_KEYS.filter((k) => wanted[k]);
}

/** What Terraform writes into each parameter the sender owns, on create only. */
export const RUNTIME_PARAMETER_INITIAL_VALUES: Record<RuntimeParameterKey, string> = { sesRollback: ROLLBACK_CLEARED };

/** Props for {@link ParameterStore}. */
export interface ParameterStoreProps {
  /** Prefix for the key alias and descriptions, e.g. "vibe-digest-prod". */
  readonly namePrefix: string;
  /** Root of the hierarchy. @default "/vibecoding" (DEFAULT_PARAMETER_ROOT) */
  readonly path?: string;
  /**
   * Values of the plain parameters. Every required plain parameter of the contract must
   * be given; optional ones are created only when given. Secret parameters cannot be
   * given here (the type excludes them and a runtime check rejects them).
   */
  readonly values: Partial<Record<PlainParameterKey, string>>;
  /**
   * Which SecureStrings to declare (each with the placeholder); {@link secretKeysFor} gives a
   * stage's list.
   * @default - every secret parameter of the contract
   */
  readonly secrets?: readonly SecretParameterKey[];
  /** Region of the stack, for ARNs and the kms:ViaService condition. */
  readonly region: string;
  /** Account of the stack (12 digits), for ARNs and the key. */
  readonly account: string;
  /** Days before a scheduled key deletion completes. @default 30 */
  readonly keyDeletionWindowDays?: number;
  /**
   * Encrypt the SecureStrings with the AWS managed `aws/ssm` key, as the seed describes,
   * instead of our own CMK. Weaker: that key's policy lets every principal in the account
   * that may call SSM decrypt with it, so only IAM on the parameters protects them, and
   * its policy cannot be reviewed or narrowed here.
   * @default false
   */
  readonly useAwsManagedKey?: boolean;
  /**
   * Principals that run `terraform apply` for this stack. They create the SecureStrings
   * (with the placeholder), so they may encrypt via SSM; and the AWS provider (5.100.0)
   * reads every aws_ssm_parameter back with decryption on refresh, so they may decrypt via
   * SSM. Only in the key policy: their identity policy is the pipeline's (bootstrap stack).
   * @default - none (only granted readers may decrypt, only operators may write)
   */
  readonly deployerPrincipalArns?: readonly string[];
  /**
   * Declare the parameters the sender writes (RUNTIME_PARAMETERS, e.g. the SES rollback
   * flag) with their initial value; Terraform ignores later changes of their value, so a
   * deploy never undoes what the sender recorded.
   * @default true
   */
  readonly runtimeParameters?: boolean;
}

/** Typed attributes of a {@link ParameterStore}. */
export interface ParameterStoreOutputs {
  /** The hierarchy's root, e.g. "/vibecoding". */
  readonly root: string;
  readonly keyArn: string;
  readonly keyId: string;
  /** Full names of every declared parameter, by contract key. */
  readonly parameterNames: Partial<Record<ParameterKey, string>>;
  /** Full names of the declared runtime parameters (written by the sender). */
  readonly runtimeParameterNames: Partial<Record<RuntimeParameterKey, string>>;
}

/** The /vibecoding parameter hierarchy under a customer-managed, rotating KMS key. */
export class ParameterStore extends Construct {
  /** The customer-managed key that encrypts the SecureStrings (none with useAwsManagedKey). */
  readonly cmk?: CustomerManagedKey;
  /** Every declared parameter by contract key. */
  readonly parameters: Partial<Record<ParameterKey, SsmParameter>> = {};
  /** The parameters the sender writes, by contract key. */
  readonly runtimeParameters: Partial<Record<RuntimeParameterKey, SsmParameter>> = {};
  readonly outputs: ParameterStoreOutputs;
  private readonly root: string;
  private readonly region: string;
  private readonly account: string;

  constructor(scope: Construct, id: string, props: ParameterStoreProps) {
    super(scope, id);
    const root = props.path ?? DEFAULT_PARAMETER_ROOT;
    assertParameterRoot(this, "path", root);
    assertName(this, "namePrefix", props.namePrefix);
    const deletionWindow = props.keyDeletionWindowDays ?? 30;
    assertIntegerInRange(this, "VALUE_INVALID", "keyDeletionWindowDays", deletionWindow, 7, 30);
    this.root = root;
    assertRegion(this, "region", props.region);
    assertAccount(this, "account", props.account);
    this.region = props.region;
    this.account = props.account;
    validateValues(this, props.values);

    let keyRef = AWS_MANAGED_SSM_KEY;
    if (!props.useAwsManagedKey) {
      const cmk = new CustomerManagedKey(this, "key", {
        description: `${props.namePrefix}: encrypts the SecureStrings under ${root}`,
        alias: `${props.namePrefix}-parameters`,
        deletionWindowDays: deletionWindow,
        account: props.account,
        region: props.region,
      });
      this.cmk = cmk;
      keyRef = cmk.arn;
      // Deployers write the placeholders and read every parameter back on refresh: both via
      // SSM only, and only in the key policy (no account-wide delegation: each writer is named).
      for (const arn of props.deployerPrincipalArns ?? []) {
        cmk.grantUse(KEY_SIDS.decrypt, arn, ["kms:Decrypt"], [this.viaSsm()]);
        cmk.grantUse(KEY_SIDS.encrypt, arn, ["kms:Encrypt", "kms:GenerateDataKey"], [this.viaSsm()]);
      }
    }

    for (const key of PLAIN_PARAMETER_KEYS) {
      const value = props.values[key];
      if (value === undefined) continue;
      const spec = PARAMETERS[key];
      this.parameters[key] = new SsmParameter(this, paramId(key), {
        name: parameterName(root, key),
        type: spec.type,
        tier: tierFor(value),
        value,
        description: `vibe-digest ${spec.path} (from stage config)`,
      });
    }
    for (const key of props.secrets ?? SECRET_PARAMETER_KEYS) {
      if (!PARAMETERS[key]?.secret) {
        throw new ConfigError("VALUE_INVALID", this.node.path, "secrets", "a list of secret parameter keys");
      }
      this.parameters[key] = new SsmParameter(this, paramId(key), {
        name: parameterName(root, key),
        type: "SecureString",
        tier: "Standard",
        keyId: keyRef,
        // Write-only: sent on create, never stored in plan or state. The placeholder is
        // not a secret; the real value is put by the operator outside Terraform.
        valueWo: SECRET_PLACEHOLDER,
        valueWoVersion: 1,
        description: `vibe-digest ${PARAMETERS[key].path} (SecureString; value put by the operator, not Terraform)`,
      });
    }

    if (props.runtimeParameters ?? true) {
      for (const key of Object.keys(RUNTIME_PARAMETERS) as RuntimeParameterKey[]) {
        const spec = RUNTIME_PARAMETERS[key];
        this.runtimeParameters[key] = new SsmParameter(this, `runtime-${spec.path.replace(/[^A-Za-z0-9]+/g, "-")}`, {
          name: runtimeParameterName(root, key),
          type: spec.type,
          tier: "Standard",
          value: RUNTIME_PARAMETER_INITIAL_VALUES[key],
          description: `vibe-digest ${spec.path} (written by the sender; Terraform sets only the initial value)`,
          lifecycle: { ignoreChanges: ["value"] },
        });
      }
    }

    const parameterNames: Partial<Record<ParameterKey, string>> = {};
    for (const [k, p] of Object.entries(this.parameters) as [ParameterKey, SsmParameter][]) parameterNames[k] = p.name;
    this.outputs = {
      root,
      keyArn: this.cmk?.arn ?? AWS_MANAGED_SSM_KEY,
      keyId: this.cmk?.keyId ?? AWS_MANAGED_SSM_KEY,
      parameterNames,
      runtimeParameterNames: Object.fromEntries(Object.entries(this.runtimeParameters).map(([k, p]) => [k, p.name])),
    };
  }

  /**
   * Lets `grantee` (the sender) write the runtime parameters: ssm:PutParameter on exactly
   * those names. They are plain Strings, so no key use is involved.
   */
  grantWriteRuntime(grantee: IGrantee): void {
    const arns = (Object.keys(this.runtimeParameters) as RuntimeParameterKey[]).map((k) => this.parameterArn(runtimeParameterName(this.root, k)));
    if (arns.length === 0) throw new ConfigError("VALUE_INVALID", this.node.path, "runtimeParameters", "declared before granting writes to them");
    grantee.addToPrincipalPolicy({ sid: "WriteRuntimeParameters", actions: ["ssm:PutParameter"], resources: arns });
  }

  /** The main resource: the CMK that protects the hierarchy (undefined with useAwsManagedKey). */
  get resource(): KmsKey | undefined {
    return this.cmk?.key;
  }

  /**
   * Lets `grantee` read the hierarchy: ssm:GetParameter/GetParameters/GetParametersByPath
   * on this root (and below) only, and kms:Decrypt on this key only when SSM calls it on
   * the grantee's behalf (kms:ViaService = ssm.<region>.amazonaws.com), in the grantee's
   * policy and in the key policy. With the AWS managed key only the SSM statement is
   * added (that key's own policy already lets the account decrypt via SSM).
   */
  grantRead(grantee: IGrantee): void {
    grantee.addToPrincipalPolicy({
      sid: "ReadDigestParameters",
      actions: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
      resources: this.hierarchyArns(),
    });
    this.cmk?.grantUseVia(grantee, "ssm", ["kms:Decrypt"], "DecryptDigestParametersViaSsm", KEY_SIDS.decrypt);
  }

  /**
   * Lets an operator run the operator commands on the hierarchy: read every parameter
   * (secrets status, rollback status, the doctor), put any parameter below the root
   * (secrets put, rollback clear, a rollout's ses_percent), find a parameter's key
   * (`secrets put` keeps it: ssm:DescribeParameters, which has no resource-level
   * permissions), label versions and read their history (an access-key rotation marks the
   * pair's version so a run never reads half of it: docs/rotation.md), and decrypt and
   * encrypt with this key via SSM only.
   */
  grantOperate(grantee: IGrantee): void {
    grantee.addToPrincipalPolicy({
      sid: "OperateDigestParameters",
      actions: ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:LabelParameterVersion", "ssm:PutParameter", "ssm:UnlabelParameterVersion"],
      resources: this.hierarchyArns(),
    });
    grantee.addToPrincipalPolicy({ sid: UNSCOPED_READS_SID, actions: ["ssm:DescribeParameters"], resources: ["*"] });
    this.cmk?.grantUseVia(grantee, "ssm", ["kms:Decrypt"], "DecryptDigestParametersViaSsm", KEY_SIDS.decrypt);
    this.cmk?.grantUseVia(grantee, "ssm", ["kms:Encrypt", "kms:GenerateDataKey"], "EncryptDigestParametersViaSsm", KEY_SIDS.encrypt);
  }

  /** The root and everything below it, as parameter ARNs (known at plan time). */
  private hierarchyArns(): string[] {
    const pathArn = this.parameterArn(this.root);
    return [pathArn, `${pathArn}/*`];
  }

  /** A parameter's ARN built from its name (known in every plan). */
  private parameterArn(name: string): string {
    return `arn:${partitionOf(this.region)}:ssm:${this.region}:${this.account}:parameter${name}`;
  }

  private viaSsm() {
    return { test: "StringEquals", variable: "kms:ViaService", values: [`ssm.${this.region}.amazonaws.com`] };
  }
}

/** Key-policy statements of the parameters key that grants add principals to. */
export const KEY_SIDS = { decrypt: "DecryptViaSsmForReaders", encrypt: "EncryptViaSsmForWriters" } as const;

/** Largest value of a Standard-tier parameter, and of an Advanced-tier one (bytes, SSM's limits). */
export const PARAMETER_TIER_LIMITS = { Standard: 4096, Advanced: MAX_RECIPIENT_LIST_BYTES } as const;

/**
 * The tier a plain value needs: Standard (free) up to 4 KB, Advanced ($0.05 a month) up to
 * 8 KB. `email/to_address` is the one value that can grow past 4 KB; validateValues refuses
 * anything past 8 KB, so the stack never declares a value SSM would refuse.
 */
export function tierFor(value: string): "Standard" | "Advanced" {
  return Buffer.byteLength(value, "utf8") <= PARAMETER_TIER_LIMITS.Standard ? "Standard" : "Advanced";
}

/** The AWS managed key of Parameter Store (seed default; see `useAwsManagedKey`). */
export const AWS_MANAGED_SSM_KEY = "alias/aws/ssm";

function paramId(key: ParameterKey): string {
  return `param-${PARAMETERS[key].path.replace(/[^A-Za-z0-9]+/g, "-")}`;
}

/** Checks the plain values against the contract; a message names the parameter only. */
function validateValues(scope: Construct, values: Partial<Record<string, string>>): void {
  for (const [key, value] of Object.entries(values)) {
    const spec = (PARAMETERS as Record<string, (typeof PARAMETERS)[ParameterKey] | undefined>)[key];
    if (!spec) throw new ConfigError("VALUE_INVALID", scope.node.path, `values.${key}`, "a parameter key of the contract");
    if (spec.secret) {
      // A secret must never reach Terraform config; say which parameter, not what was passed.
      throw new ConfigError("SECRET_VALUE_REJECTED", scope.node.path, `values.${key}`, "put by the operator (`npm run secrets`), not passed to Terraform");
    }
    if (value === undefined) continue;
    const limit = key === "toAddress" ? PARAMETER_TIER_LIMITS.Advanced : PARAMETER_TIER_LIMITS.Standard;
    if (typeof value !== "string" || value.length === 0 || Buffer.byteLength(value, "utf8") > limit) {
      const tier = key === "toAddress" ? "an Advanced-tier parameter; use a list address for more recipients" : "a Standard-tier parameter";
      throw new ConfigError("VALUE_INVALID", scope.node.path, `values.${key}`, `a non-empty string of at most ${limit} bytes (${tier})`);
    }
  }
  for (const key of PLAIN_PARAMETER_KEYS) {
    if (PARAMETERS[key].required && values[key] === undefined) {
      throw new ConfigError("VALUE_INVALID", scope.node.path, `values.${key}`, "given (the parameter is required)");
    }
  }
  // The sender's own rules (app/src/validation.ts): the stack writes nothing it would reject.
  if (values.fromAddress !== undefined) assertEmailParameter(scope, "values.fromAddress", values.fromAddress);
  if (values.toAddress !== undefined) assertRecipientList(scope, "values.toAddress", values.toAddress);
  if (values.awsRegion !== undefined) assertRegion(scope, "values.awsRegion", values.awsRegion);
  if (values.useSes !== undefined) assertFlagParameter(scope, "values.useSes", values.useSes);
  if (values.sesPercent !== undefined) assertPercentParameter(scope, "values.sesPercent", values.sesPercent);
  if (values.feeds !== undefined) assertFeedList(scope, "values.feeds", values.feeds);
  // The sender fetches only feeds on hosts of digest/feed_hosts: never write a feed it would refuse.
  if (values.feedHosts !== undefined && values.feeds !== undefined && !Token.isUnresolved(values.feeds) && !Token.isUnresolved(values.feedHosts)) {
    // What the sender loads (both together), then what it fetches: every feed on an allowed host.
    const sources = parseFeedSources(values.feeds, values.feedHosts);
    if (!sources.ok) throw new ConfigError("FEEDS_INVALID", scope.node.path, `values.${sources.parameter ?? "feeds"}`, sources.expected);
    assertFeedsAllowed(scope, "values.feeds", sources.value.feeds, sources.value.hosts ?? []);
  }
  if (values.unsubscribeUrl !== undefined) assertUnsubscribeTarget(scope, "values.unsubscribeUrl", values.unsubscribeUrl);
}
