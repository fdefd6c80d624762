/**
 * Prop validation shared by the constructs. Each check skips unresolved tokens (a value
 * only Terraform knows cannot be checked at synth) and throws {@link ConfigError}.
 */
import { Token } from "cdktf";
import type { IConstruct } from "constructs";
import {
  isAwsRegion,
  isEmailAddress,
  isLedgerTableName,
  parseEmailAddress,
  parseFeedList,
  parseFlag,
  parsePercent,
  parseRecipientList,
  parseUnsubscribeTarget,
  LEDGER_TABLE_NAME_EXPECTED,
  type Checked,
} from "../app/src/validation";
import { ConfigError, type ConfigErrorCode } from "./errors";

function fail(scope: IConstruct, code: ConfigErrorCode, subject: string, bound: string): never {
  throw new ConfigError(code, scope.node.path || "<root>", subject, bound);
}

const PARAMETER_ROOT = /^\/[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;
// Email addresses and regions follow the sender's rules (app/src/validation.ts), so the
// stack never writes a value the sender then rejects.
const DOMAIN = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;

export function assertParameterRoot(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!PARAMETER_ROOT.test(value) || value.length > 200 || /^\/aws(\/|$)|^\/ssm(\/|$)/i.test(value)) {
    fail(scope, "PARAMETER_ROOT_INVALID", subject, "an absolute path like /vibecoding, without a trailing slash, not under /aws or /ssm");
  }
}

export function assertEmail(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!isEmailAddress(value)) fail(scope, "EMAIL_ADDRESS_INVALID", subject, "an email address like name@example.com");
}

export function assertDomain(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!DOMAIN.test(value) || value.length > 253) fail(scope, "DOMAIN_INVALID", subject, "a DNS domain like example.com");
}

/** An AWS account id: 12 digits. */
export function assertAccount(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!/^\d{12}$/.test(value)) fail(scope, "VALUE_INVALID", subject, "an AWS account id (12 digits)");
}

export function assertRegion(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!isAwsRegion(value)) fail(scope, "REGION_INVALID", subject, "an AWS region like us-east-1");
}

/** A DynamoDB table name, as the sender checks VIBE_LEDGER_TABLE. */
export function assertLedgerTableName(scope: IConstruct, subject: string, value: string): void {
  if (Token.isUnresolved(value)) return;
  if (!isLedgerTableName(value)) fail(scope, "NAME_INVALID", subject, LEDGER_TABLE_NAME_EXPECTED);
}

/*
 * Parameter values the sender parses (validation.ts): each check below accepts exactly
 * what the sender accepts when it loads that parameter.
 */
function assertChecked(scope: IConstruct, code: ConfigErrorCode, subject: string, value: string, parse: (v: string) => Checked<unknown>): void {
  if (Token.isUnresolved(value)) return;
  const r = parse(value);
  if (!r.ok) fail(scope, code, subject, r.expected);
}

/** `email/from_address`: one address. */
export function assertEmailParameter(scope: IConstruct, subject: string, value: string): void {
  assertChecked(scope, "EMAIL_ADDRESS_INVALID", subject, value, parseEmailAddress);
}

/** `email/to_address`: comma-separated addresses. */
export function assertRecipientList(scope: IConstruct, subject: string, value: string): void {
  assertChecked(scope, "EMAIL_ADDRESS_INVALID", subject, value, parseRecipientList);
}

/** `digest/feeds`: a JSON array of {url, name} or comma-separated URLs. */
export function assertFeedList(scope: IConstruct, subject: string, value: string): void {
  assertChecked(scope, "FEEDS_INVALID", subject, value, parseFeedList);
}

/** `email/use_ses`: true or false (or an unset value: the sender uses true). */
export function assertFlagParameter(scope: IConstruct, subject: string, value: string): void {
  assertChecked(scope, "VALUE_INVALID", subject, value, parseFlag);
}

/** `email/ses_percent`: 0..100 (or an unset value: the sender uses 100). */
export function assertPercentParameter(scope: IConstruct, subject: string, value: string): void {
  assertChecked(scope, "PERCENT_OUT_OF_RANGE", subject, value, parsePercent);
}

/** `email/unsubscribe_url`: https URL or mailto: (or an unset value: no header). */
export function assertUnsubscribeTarget(scope: IConstruct, subject: string, value: string): void {
  assertChecked(scope, "URL_INVALID", subject, value, parseUnsubscribeTarget);
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
