/**
 * The operator's way to put secret values into Parameter Store. Terraform declares the
 * SecureStrings with a non-secret placeholder (write-only `value_wo`), so real values
 * never pass through cdktf.out, plan files or state: they go straight from the operator
 * to SSM here, encrypted with the same KMS key the stack gave the parameter.
 */
import {
  DescribeParametersCommand,
  GetParametersCommand,
  PutParameterCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { PARAMETERS, parameterName, type ParameterKey } from "../../app/src/contract";
import { isUnsetValue, parseUnsubscribeSigningKey, type Checked } from "../../app/src/validation";

/** Secrets the sender validates beyond "not empty": checked here too, so a bad value is
 *  refused when it is put rather than failing the next run. */
const SECRET_RULES: Partial<Record<ParameterKey, (v: string) => Checked<unknown>>> = {
  unsubscribeSigningKey: parseUnsubscribeSigningKey,
};

/** Parameter keys that hold secrets (SecureStrings), e.g. `sendgridApiKey`. */
export const SECRET_KEYS = (Object.keys(PARAMETERS) as ParameterKey[]).filter((k) => PARAMETERS[k].secret);

export class SecretCommandError extends Error {
  constructor(
    readonly code: "UNKNOWN_SECRET" | "EMPTY_VALUE" | "VALUE_INVALID" | "NOT_DEPLOYED" | "AWS_ERROR",
    message: string,
  ) {
    super(message);
    this.name = "SecretCommandError";
  }
}

/** Accepts `sendgrid/api_key` (the path below the root) or `sendgridApiKey`. */
export function resolveSecretKey(nameOrPath: string): ParameterKey {
  const key = SECRET_KEYS.find((k) => k === nameOrPath || PARAMETERS[k].path === nameOrPath);
  if (!key) {
    const known = SECRET_KEYS.map((k) => PARAMETERS[k].path).join(", ");
    throw new SecretCommandError("UNKNOWN_SECRET", `"${nameOrPath}" is not a secret parameter; known: ${known}`);
  }
  return key;
}

/**
 * Overwrites the SecureString `key` below `root` with `value`, keeping the KMS key the
 * stack assigned (SSM would otherwise fall back to aws/ssm). Returns the new version.
 */
export async function putSecret(ssm: SSMClient, root: string, key: ParameterKey, value: string): Promise<number> {
  const name = parameterName(root, key);
  // The sender reads these values as "not set" (validation.ts), so storing one is a mistake.
  if (isUnsetValue(value)) {
    throw new SecretCommandError("EMPTY_VALUE", `refusing to put an empty or placeholder value (the sender would read it as not set) into ${name}`);
  }
  const checked = SECRET_RULES[key]?.(value);
  if (checked && !checked.ok) throw new SecretCommandError("VALUE_INVALID", `${name} must be ${checked.expected}`);
  const described = await ssm.send(
    new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [name] }] }),
  );
  const existing = described.Parameters?.find((p) => p.Name === name);
  if (!existing?.KeyId) {
    throw new SecretCommandError("NOT_DEPLOYED", `${name} does not exist (or has no KMS key): deploy the stack first`);
  }
  const out = await ssm.send(
    new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", KeyId: existing.KeyId, Overwrite: true }),
  );
  return out.Version ?? 0;
}

/** For each secret: whether it holds a real value or one the sender reads as not set. No values leave. */
export async function secretStatus(ssm: SSMClient, root: string): Promise<Record<string, "set" | "placeholder" | "missing">> {
  const names = SECRET_KEYS.map((k) => parameterName(root, k));
  const out = await ssm.send(new GetParametersCommand({ Names: names, WithDecryption: true }));
  const status: Record<string, "set" | "placeholder" | "missing"> = {};
  for (const name of names) {
    const p = out.Parameters?.find((x) => x.Name === name);
    status[name] = !p ? "missing" : isUnsetValue(p.Value) ? "placeholder" : "set";
  }
  return status;
}
