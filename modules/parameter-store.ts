/**
 * The Parameter Store hierarchy of DESIGN.md under a customer-managed KMS key.
 *
 * Plain parameters (String/StringList) get their values from stage config. SecureStrings
 * are declared with the write-only `value_wo` holding the non-secret SECRET_PLACEHOLDER:
 * a write-only argument is sent to AWS on create and never stored in plan or state, and
 * the provider does not read the value back on refresh. Operators put the real values
 * with `npm run secrets` afterwards, never through Terraform.
 */
import { Construct } from "constructs";
import { KmsKey } from "@cdktf/provider-aws/lib/kms-key";
import { KmsAlias } from "@cdktf/provider-aws/lib/kms-alias";
import { SsmParameter } from "@cdktf/provider-aws/lib/ssm-parameter";
import {
  DEFAULT_PARAMETER_ROOT,
  PARAMETERS,
  SECRET_PLACEHOLDER,
  parameterName,
  type ParameterKey,
} from "../app/src/contract";
import { ConfigError } from "./errors";
import { arnParts, type IGrantee } from "./policy";
import { assertEmail, assertIntegerInRange, assertName, assertParameterRoot, assertRegion, assertUrl } from "./validate";

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
   * Which SecureStrings to declare (each with the placeholder).
   * @default - every secret parameter of the contract
   */
  readonly secrets?: readonly SecretParameterKey[];
  /** Region of the stack, for readable ARNs and the kms:ViaService condition.
   *  @default - the key's region, read from its ARN at apply time */
  readonly region?: string;
  /** Days before a scheduled key deletion completes. @default 30 */
  readonly keyDeletionWindowDays?: number;
}

/** Typed attributes of a {@link ParameterStore}. */
export interface ParameterStoreOutputs {
  /** The hierarchy's root, e.g. "/vibecoding". */
  readonly root: string;
  readonly keyArn: string;
  readonly keyId: string;
  /** Full names of every declared parameter, by contract key. */
  readonly parameterNames: Partial<Record<ParameterKey, string>>;
}

/** The /vibecoding parameter hierarchy under a customer-managed, rotating KMS key. */
export class ParameterStore extends Construct {
  /** The customer-managed key that encrypts the SecureStrings. */
  readonly key: KmsKey;
  readonly alias: KmsAlias;
  /** Every declared parameter by contract key. */
  readonly parameters: Partial<Record<ParameterKey, SsmParameter>> = {};
  readonly outputs: ParameterStoreOutputs;
  private readonly root: string;
  private readonly region?: string;

  constructor(scope: Construct, id: string, props: ParameterStoreProps) {
    super(scope, id);
    const root = props.path ?? DEFAULT_PARAMETER_ROOT;
    assertParameterRoot(this, "path", root);
    assertName(this, "namePrefix", props.namePrefix);
    const deletionWindow = props.keyDeletionWindowDays ?? 30;
    assertIntegerInRange(this, "VALUE_INVALID", "keyDeletionWindowDays", deletionWindow, 7, 30);
    this.root = root;
    if (props.region !== undefined) assertRegion(this, "region", props.region);
    this.region = props.region;
    validateValues(this, props.values);

    this.key = new KmsKey(this, "key", {
      description: `${props.namePrefix}: encrypts the SecureStrings under ${root}`,
      enableKeyRotation: true,
      deletionWindowInDays: deletionWindow,
      keyUsage: "ENCRYPT_DECRYPT",
      customerMasterKeySpec: "SYMMETRIC_DEFAULT",
    });
    this.alias = new KmsAlias(this, "alias", {
      name: `alias/${props.namePrefix}-parameters`,
      targetKeyId: this.key.keyId,
    });

    for (const key of PLAIN_PARAMETER_KEYS) {
      const value = props.values[key];
      if (value === undefined) continue;
      const spec = PARAMETERS[key];
      this.parameters[key] = new SsmParameter(this, paramId(key), {
        name: parameterName(root, key),
        type: spec.type,
        tier: "Standard",
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
        keyId: this.key.arn,
        // Write-only: sent on create, never stored in plan or state. The placeholder is
        // not a secret; the real value is put by the operator outside Terraform.
        valueWo: SECRET_PLACEHOLDER,
        valueWoVersion: 1,
        description: `vibe-digest ${PARAMETERS[key].path} (SecureString; value put by the operator, not Terraform)`,
      });
    }

    const parameterNames: Partial<Record<ParameterKey, string>> = {};
    for (const [k, p] of Object.entries(this.parameters) as [ParameterKey, SsmParameter][]) parameterNames[k] = p.name;
    this.outputs = { root, keyArn: this.key.arn, keyId: this.key.keyId, parameterNames };
  }

  /** The main resource (the key that protects the hierarchy). */
  get resource(): KmsKey {
    return this.key;
  }

  /**
   * Lets `grantee` read the hierarchy: ssm:GetParameter/GetParameters/GetParametersByPath
   * on this root (and below) only, and kms:Decrypt on this key only when SSM calls it on
   * the grantee's behalf (kms:ViaService = ssm.<region>.amazonaws.com).
   */
  grantRead(grantee: IGrantee): void {
    const parts = arnParts(this.key.arn);
    const { partition, account } = parts;
    const region = this.region ?? parts.region;
    const pathArn = `arn:${partition}:ssm:${region}:${account}:parameter${this.root}`;
    grantee.addToPrincipalPolicy({
      sid: "ReadDigestParameters",
      actions: ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
      resources: [pathArn, `${pathArn}/*`],
    });
    grantee.addToPrincipalPolicy({
      sid: "DecryptDigestParametersViaSsm",
      actions: ["kms:Decrypt"],
      resources: [this.key.arn],
      conditions: [{ test: "StringEquals", variable: "kms:ViaService", values: [`ssm.${region}.amazonaws.com`] }],
    });
  }
}

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
    if (typeof value !== "string" || value.length === 0 || value.length > 4096) {
      throw new ConfigError("VALUE_INVALID", scope.node.path, `values.${key}`, "a non-empty string of at most 4096 characters");
    }
  }
  for (const key of PLAIN_PARAMETER_KEYS) {
    if (PARAMETERS[key].required && values[key] === undefined) {
      throw new ConfigError("VALUE_INVALID", scope.node.path, `values.${key}`, "given (the parameter is required)");
    }
  }
  if (values.fromAddress !== undefined) assertEmail(scope, "values.fromAddress", values.fromAddress);
  if (values.toAddress !== undefined) {
    for (const addr of values.toAddress.split(",")) assertEmail(scope, "values.toAddress", addr.trim());
  }
  if (values.awsRegion !== undefined) assertRegion(scope, "values.awsRegion", values.awsRegion);
  if (values.useSes !== undefined && !/^(true|false)$/.test(values.useSes)) {
    throw new ConfigError("VALUE_INVALID", scope.node.path, "values.useSes", `"true" or "false"`);
  }
  if (values.sesPercent !== undefined) {
    if (!/^\d{1,3}$/.test(values.sesPercent)) throw new ConfigError("PERCENT_OUT_OF_RANGE", scope.node.path, "values.sesPercent", "an integer in 0..100");
    assertIntegerInRange(scope, "PERCENT_OUT_OF_RANGE", "values.sesPercent", Number(values.sesPercent), 0, 100);
  }
  if (values.feeds !== undefined) validateFeeds(scope, values.feeds);
}

/** The feeds parameter is a JSON array of {url, name}. */
function validateFeeds(scope: Construct, json: string): void {
  let feeds: unknown;
  try {
    feeds = JSON.parse(json);
  } catch {
    throw new ConfigError("FEEDS_INVALID", scope.node.path, "values.feeds", "a JSON array of {url, name}");
  }
  if (!Array.isArray(feeds) || feeds.length === 0) {
    throw new ConfigError("FEEDS_INVALID", scope.node.path, "values.feeds", "a non-empty JSON array of {url, name}");
  }
  feeds.forEach((f, i) => {
    const feed = f as { url?: unknown; name?: unknown };
    if (typeof feed?.url !== "string" || typeof feed?.name !== "string" || feed.name.trim() === "") {
      throw new ConfigError("FEEDS_INVALID", scope.node.path, `values.feeds[${i}]`, "an object with string url and name");
    }
    assertUrl(scope, `values.feeds[${i}].url`, feed.url);
  });
}
