/**
 * Recognizes values that look like credentials, so a construct can refuse them in plain
 * configuration (e.g. a container's environment) and the plan invariants can refuse them in
 * a synthesized stack or a plan. It reports which kind of credential a value resembles,
 * never the value or any part of it.
 */

/** Kinds of credential-looking values, for error messages (never the value itself). */
export type CredentialKind = "aws-access-key-id" | "sendgrid-api-key" | "high-entropy-string";

const AWS_ACCESS_KEY_ID = /(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/;
/** SendGrid API keys: "SG." + key id + "." + secret (22 and 43 url-safe characters today). */
const SENDGRID_API_KEY = /(?<![A-Za-z0-9])SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/;
/** Runs of characters that secrets are made of (base64, base64url, hex). */
const TOKEN = /[A-Za-z0-9+/=_-]{20,}/g;

/** Shannon entropy in bits per character. */
export function entropyBitsPerChar(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * A run of 20+ secret alphabet characters that is random-looking: mixed lower case, upper
 * case and digits at >= 4 bits of entropy per character (e.g. an AWS secret access key, an
 * API token), or 32+ hex digits (letters and digits, >= 3 bits). Paths, names, regions and
 * addresses are single-case words with separators and stay well below that.
 */
function isHighEntropy(token: string): boolean {
  const core = token.replace(/^[/=_-]+|[/=_-]+$/g, "");
  if (core.length < 20) return false;
  if (/^[0-9a-f]{32,}$/i.test(core)) return /[0-9]/.test(core) && /[a-f]/i.test(core) && entropyBitsPerChar(core) >= 3;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((re) => re.test(core)).length;
  return classes === 3 && entropyBitsPerChar(core) >= 4;
}

/**
 * Which credential `value` looks like, or undefined when it looks like plain configuration.
 * Terraform references (`${aws_x.y.attr}`) are not values and are ignored.
 */
export function credentialKindOf(value: string): CredentialKind | undefined {
  const literal = value.replace(/\$\{[^}]*\}/g, " ");
  if (AWS_ACCESS_KEY_ID.test(literal)) return "aws-access-key-id";
  if (SENDGRID_API_KEY.test(literal)) return "sendgrid-api-key";
  for (const [token] of literal.matchAll(TOKEN)) if (isHighEntropy(token)) return "high-entropy-string";
  return undefined;
}
