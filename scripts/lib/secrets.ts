/**
 * The operator's way to put secret values into Parameter Store. Terraform declares the
 * SecureStrings with a non-secret placeholder (write-only `value_wo`), so real values
 * never pass through cdktf.out, plan files or state: they go straight from the operator
 * to SSM here, encrypted with the same KMS key the stack gave the parameter.
 *
 * A value is checked with the rule the sender applies when it loads it
 * (app/src/validation.ts, PARAMETER_RULES), so a value `put` accepts is a value the next
 * run uses; and a secret that exists as a plain String (unencrypted) is refused here and
 * reported by `status`, as the run refuses it.
 */
import { DescribeParametersCommand, GetParametersCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { PARAMETERS, parameterName, type ParameterKey } from "../../app/src/contract";
import { PARAMETER_RULES, isUnsetValue } from "../../app/src/validation";

/** Parameter keys that hold secrets (SecureStrings), e.g. `sendgridApiKey`. */
export const SECRET_KEYS = (Object.keys(PARAMETERS) as ParameterKey[]).filter((k) => PARAMETERS[k].secret);

/** Largest value accepted on standard input (SSM's standard tier holds 4 KB). */
export const MAX_SECRET_BYTES = 4096;

export type SecretCommandErrorCode =
  /** The name is not one of the secret parameters. */
  | "UNKNOWN_SECRET"
  /** Nothing (or only a placeholder the sender reads as "not set") was given. */
  | "EMPTY_VALUE"
  /** The value breaks the parameter's rule (or is not UTF-8, or too long). */
  | "VALUE_INVALID"
  /** The parameter does not exist yet: deploy the stack first. */
  | "NOT_DEPLOYED"
  /** The parameter exists as a plain String or StringList (unencrypted). */
  | "NOT_SECURE_STRING";

export class SecretCommandError extends Error {
  constructor(
    readonly code: SecretCommandErrorCode,
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
    throw new SecretCommandError("UNKNOWN_SECRET", `"${nameOrPath.slice(0, 80)}" is not a secret parameter; known: ${known}`);
  }
  return key;
}

/**
 * The value piped on standard input: strictly UTF-8 (invalid bytes are refused, not turned
 * into U+FFFD), at most {@link MAX_SECRET_BYTES}, with the one line break a shell's `echo`
 * adds removed (`\n` or `\r\n`; nothing else is trimmed, so the rule sees the rest as is).
 */
export function secretValueFromStdin(bytes: Uint8Array): string {
  if (bytes.length > MAX_SECRET_BYTES) throw new SecretCommandError("VALUE_INVALID", `the value is over ${MAX_SECRET_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new SecretCommandError("VALUE_INVALID", "the value is not valid UTF-8");
  }
  return text.replace(/\r?\n$/, "");
}

/** Checks `value` with the sender's rule for `key` (the message names the parameter, never the value). */
export function checkSecretValue(name: string, key: ParameterKey, value: string): void {
  // The sender reads these values as "not set" (validation.ts), so storing one is a mistake.
  if (isUnsetValue(value)) throw new SecretCommandError("EMPTY_VALUE", `refusing to put an empty or placeholder value (the sender would read it as not set) into ${name}`);
  const checked = PARAMETER_RULES[key]?.(value);
  if (checked && !checked.ok) throw new SecretCommandError("VALUE_INVALID", `${name} must be ${checked.expected}; nothing was written`);
}

const notSecure = (name: string, type: string) =>
  new SecretCommandError("NOT_SECURE_STRING", `${name} exists as a plain ${type}, unencrypted: delete it (aws ssm delete-parameter --name ${name}) and deploy the stack, which declares it as a SecureString, then put the value again`);

/**
 * Overwrites the SecureString `key` below `root` with `value`, keeping the KMS key the
 * stack assigned (SSM would otherwise fall back to aws/ssm). Returns the new version.
 */
export async function putSecret(ssm: SSMClient, root: string, key: ParameterKey, value: string): Promise<number> {
  const name = parameterName(root, key);
  checkSecretValue(name, key, value);
  const described = await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [name] }] }));
  const existing = described.Parameters?.find((p) => p.Name === name);
  if (!existing) throw new SecretCommandError("NOT_DEPLOYED", `${name} does not exist: deploy the stack first`);
  if (existing.Type !== "SecureString") throw notSecure(name, existing.Type ?? "String");
  if (!existing.KeyId) throw new SecretCommandError("NOT_DEPLOYED", `${name} has no KMS key: deploy the stack first`);
  const out = await ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: "SecureString", KeyId: existing.KeyId, Overwrite: true }));
  return out.Version ?? 0;
}

/**
 * A secret's state: `set` (a value the sender accepts), `placeholder` (read as not set),
 * `missing`, `invalid` (a value the sender would refuse: the next run stops with
 * CONFIG_INVALID), `insecure` (stored as a plain String: the run refuses it).
 */
export type SecretState = "set" | "placeholder" | "missing" | "invalid" | "insecure";

/** For each secret, its {@link SecretState}. No value leaves this function. */
export async function secretStatus(ssm: SSMClient, root: string): Promise<Record<string, SecretState>> {
  const names = SECRET_KEYS.map((k) => parameterName(root, k));
  const out = await ssm.send(new GetParametersCommand({ Names: names, WithDecryption: true }));
  const status: Record<string, SecretState> = {};
  SECRET_KEYS.forEach((key, i) => {
    const name = names[i];
    const p = out.Parameters?.find((x) => x.Name === name);
    if (!p) status[name] = "missing";
    else if (p.Type !== "SecureString") status[name] = "insecure";
    else if (isUnsetValue(p.Value)) status[name] = "placeholder";
    else status[name] = PARAMETER_RULES[key]?.(p.Value ?? "").ok === false ? "invalid" : "set";
  });
  return status;
}
