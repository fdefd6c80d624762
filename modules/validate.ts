/**
 * Prop validation shared by the constructs. Each check skips unresolved tokens (a value
 * only Terraform knows cannot be checked at synth) and throws {@link ConfigError}.
 */
import { Token } from "cdktf";
import type { IConstruct } from "constructs";
import { ConfigError, type ConfigErrorCode } from "./errors";

function fail(scope: IConstruct, code: ConfigErrorCode, subject: string, bound: string): never {
  throw new ConfigError(code, scope.node.path || "<root>", subject, bound);
}

const PARAMETER_ROOT = /^\/[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;
// Deliberately simple: one @, a dotted domain with a 2+ letter TLD, no spaces.
const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
const DOMAIN = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;

export function assertParameterRoot(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!PARAMETER_ROOT.test(value) || value.length > 200 || /^\/aws(\/|$)|^\/ssm(\/|$)/i.test(value)) {
    fail(scope, "PARAMETER_ROOT_INVALID", subject, "an absolute path like /vibecoding, without a trailing slash, not under /aws or /ssm");
  }
}

export function assertEmail(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!EMAIL.test(value) || value.length > 254) fail(scope, "EMAIL_ADDRESS_INVALID", subject, "an email address like name@example.com");
}

export function assertDomain(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!DOMAIN.test(value) || value.length > 253) fail(scope, "DOMAIN_INVALID", subject, "a DNS domain like example.com");
}

export function assertRegion(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!REGION.test(value)) fail(scope, "REGION_INVALID", subject, "an AWS region like us-east-1");
}

export function assertName(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!NAME.test(value)) fail(scope, "NAME_INVALID", subject, "1-48 letters, digits, '-' or '_', starting with a letter or digit");
}

export function assertIntegerInRange(
  scope: IConstruct,
  code: ConfigErrorCode,
  subject: string,
  value: number,
  min: number,
  max: number,
): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isFinite(value) || !Number.isInteger(value) || value < min || value > max) {
    fail(scope, code, subject, `an integer in ${min}..${max}`);
  }
}

export function assertNumberInRange(
  scope: IConstruct,
  code: ConfigErrorCode,
  subject: string,
  value: number,
  min: number,
  max: number,
): void {
  if (Token.isUnresolved(value)) return;
  if (!Number.isFinite(value) || value < min || value > max) fail(scope, code, subject, `a number in ${min}..${max}`);
}

/** An http(s) URL without credentials in it (user:password@ would land in config). */
export function assertUrl(scope: IConstruct, subject: string, value: string, opts: { loopbackOnly?: boolean } = {}): void {
  if (Token.isUnresolved(value)) return;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(scope, "URL_INVALID", subject, "an absolute http(s) URL");
  }
  if (!/^https?:$/.test(url.protocol)) fail(scope, "URL_INVALID", subject, "an absolute http(s) URL");
  if (url.username || url.password) fail(scope, "URL_INVALID", subject, "a URL without user info");
  if (opts.loopbackOnly && !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname)) {
    fail(scope, "URL_INVALID", subject, "a loopback URL (127.0.0.1, localhost or [::1])");
  }
}

export { fail as configFail };
