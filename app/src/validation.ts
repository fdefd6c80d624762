/**
 * Value rules that the stack (modules/, at synth) and the sender (app/, at run time) must
 * apply identically: a value the stack accepts into Parameter Store is one the sender
 * accepts when it loads it, and the other way round. Both import this one module, so the
 * rules cannot drift apart. Depends on zod and contract.ts only (it is bundled into the sender
 * and the synth).
 *
 * The parsers take the raw parameter value as stored (they trim it, as the sender always
 * did) and never echo it in what they return: a failure says what was expected, not what
 * was found.
 */
import { z } from "zod";
import { SECRET_PLACEHOLDER } from "./contract";

/** A parser's answer: the typed value, or what was expected (no value, so nothing secret leaks). */
export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = <T>(expected: string): Checked<T> => ({ ok: false, expected });

/**
 * Values of an optional parameter that mean "not set" (SSM cannot store an empty string;
 * SECRET_PLACEHOLDER is what Terraform writes into a SecureString). Compared trimmed, case-insensitive.
 */
export const UNSET_VALUES: readonly string[] = [SECRET_PLACEHOLDER, "none", "-", ""];
export function isUnsetValue(v: string | undefined): boolean {
  return v === undefined || UNSET_VALUES.includes(v.trim().toLowerCase());
}

/** One email address (zod's practical address rule, at most 254 characters as RFC 5321 allows). */
export const emailAddress = z.email().max(254);
export function isEmailAddress(v: string): boolean {
  return emailAddress.safeParse(v).success;
}
export const EMAIL_EXPECTED = "one email address";

/** `email/from_address`: one address, trimmed. */
export function parseEmailAddress(raw: string): Checked<string> {
  const v = raw.trim();
  return isEmailAddress(v) ? ok(v) : bad(EMAIL_EXPECTED);
}

/** Most recipients one digest run sends to (`email/to_address`). */
export const MAX_RECIPIENTS = 1000;
export const RECIPIENT_LIST_EXPECTED = `1 to ${MAX_RECIPIENTS} comma-separated email addresses`;

/**
 * `email/to_address` (or EMAIL_TO): comma-separated addresses, each trimmed, empty entries
 * dropped; 1..MAX_RECIPIENTS, every one an email address. Order kept, duplicates kept (the
 * sender de-duplicates case-insensitively).
 */
export function parseRecipientList(raw: string): Checked<string[]> {
  const list = raw
    .split(",")
    .map((r) => r.trim())
    .filter((r) => r !== "");
  if (list.length === 0 || list.length > MAX_RECIPIENTS || !list.every(isEmailAddress)) return bad(RECIPIENT_LIST_EXPECTED);
  return ok(list);
}

/** An AWS region name, e.g. us-east-1, eu-central-2, us-gov-west-1, us-isob-east-1. */
export const awsRegion = z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/);
export const REGION_EXPECTED = "an AWS region such as us-east-1";
export function isAwsRegion(v: string): boolean {
  return awsRegion.safeParse(v).success;
}

/** A URL carrying a user name or password would put a credential into plain config. */
const withoutUserInfo = (v: string): boolean => {
  try {
    const u = new URL(v);
    return u.username === "" && u.password === "";
  } catch {
    return false;
  }
};

/** A feed URL: absolute http(s), no user info. */
export const feedUrl = z.url({ protocol: /^https?$/ }).refine(withoutUserInfo);

/** One feed of the digest. */
export interface FeedSource {
  readonly url: string;
  readonly name: string;
}

/** The feed list: 1..200 feeds, each {url, name} (name 1..200 characters after trimming), nothing else. */
export const feedList = z
  .array(z.object({ url: feedUrl, name: z.string().trim().min(1).max(200) }).strict())
  .min(1)
  .max(200);
export const FEED_LIST_EXPECTED = 'a JSON array of 1 to 200 {"url","name"} (http/https URLs without user info) or comma-separated URLs';

/** `digest/feeds`: a JSON array of {url, name}, or comma-separated URLs (each named by its host). */
export function parseFeedList(raw: string): Checked<FeedSource[]> {
  const value = raw.trim();
  let candidate: unknown;
  if (value.startsWith("[")) {
    try {
      candidate = JSON.parse(value);
    } catch {
      return bad(FEED_LIST_EXPECTED);
    }
  } else {
    candidate = value
      .split(",")
      .map((u) => u.trim())
      .filter((u) => u !== "")
      .map((url) => {
        let host = url;
        try {
          host = new URL(url).host;
        } catch {
          /* reported by the schema below */
        }
        return { url, name: host };
      });
  }
  const r = feedList.safeParse(candidate);
  return r.success ? ok(r.data) : bad(FEED_LIST_EXPECTED);
}

/** List-Unsubscribe target (RFC 2369/8058): an https URL without user info, or a mailto: address. */
export const unsubscribeTarget = z.union([z.url({ protocol: /^https$/ }).refine(withoutUserInfo), z.string().regex(/^mailto:[^\s@]+@[^\s@]+$/)]);
export const UNSUBSCRIBE_EXPECTED = "an https URL or a mailto: address";

/** `email/unsubscribe_url`: undefined when unset (see {@link UNSET_VALUES}). */
export function parseUnsubscribeTarget(raw: string | undefined): Checked<string | undefined> {
  if (isUnsetValue(raw)) return ok(undefined);
  const r = unsubscribeTarget.safeParse(raw!.trim());
  return r.success ? ok(r.data) : bad(UNSUBSCRIBE_EXPECTED);
}

/**
 * Whether a List-Unsubscribe target takes the RFC 8058 one-click POST (an https URL; a
 * mailto: does not). Only such a target gets List-Unsubscribe-Post and, with a signing key,
 * a per-recipient signed URL; the stack declares `email/unsubscribe_signing_key` for it.
 */
export function isOneClickUnsubscribeTarget(target: string | undefined): boolean {
  return target !== undefined && /^https:/i.test(target.trim());
}

/** Shortest `email/unsubscribe_signing_key` accepted (characters). */
export const UNSUBSCRIBE_SIGNING_KEY_MIN_LENGTH = 32;
export const UNSUBSCRIBE_SIGNING_KEY_EXPECTED = `a key of at least ${UNSUBSCRIBE_SIGNING_KEY_MIN_LENGTH} characters without whitespace`;

/**
 * `email/unsubscribe_signing_key` (a secret): undefined when unset (see {@link UNSET_VALUES});
 * otherwise the value as stored (not trimmed: whitespace anywhere is refused, since a
 * stray newline would silently change every token). The answer never echoes the value.
 */
export function parseUnsubscribeSigningKey(raw: string | undefined): Checked<string | undefined> {
  if (isUnsetValue(raw)) return ok(undefined);
  const v = raw!;
  if (v.length < UNSUBSCRIBE_SIGNING_KEY_MIN_LENGTH || /\s/.test(v)) return bad(UNSUBSCRIBE_SIGNING_KEY_EXPECTED);
  return ok(v);
}

/** A whole percentage 0..100 written as digits ("25"; not "25.0", "-1" or "1e2"). */
export const percent = z.string().regex(/^\d{1,3}$/).transform(Number).pipe(z.number().max(100));
export const PERCENT_EXPECTED = "an integer from 0 to 100";

/** `email/ses_percent`: undefined when unset (the sender then uses 100). */
export function parsePercent(raw: string | undefined): Checked<number | undefined> {
  if (isUnsetValue(raw)) return ok(undefined);
  const r = percent.safeParse(raw!.trim());
  return r.success ? ok(r.data) : bad(PERCENT_EXPECTED);
}

export const FLAG_EXPECTED = '"true" or "false"';

/** `email/use_ses`: true/false (any case, trimmed); undefined when unset (the sender then uses true). */
export function parseFlag(raw: string | undefined): Checked<boolean | undefined> {
  if (isUnsetValue(raw)) return ok(undefined);
  const v = raw!.trim().toLowerCase();
  return v === "true" || v === "false" ? ok(v === "true") : bad(FLAG_EXPECTED);
}

/** A DynamoDB table name (the delivery ledger: VIBE_LEDGER_TABLE and the stack's table). */
export const LEDGER_TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;
export const LEDGER_TABLE_NAME_EXPECTED = "a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)";
export function isLedgerTableName(v: string): boolean {
  return LEDGER_TABLE_NAME.test(v);
}
