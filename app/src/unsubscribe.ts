/**
 * Per-recipient one-click unsubscribe URLs (RFC 8058 asks that the URI carry an opaque,
 * hard-to-forge identifier of the recipient). For an https target and a signing key,
 * each message's List-Unsubscribe points at
 *
 *   <target>?u=<base64url(address)>&t=<base64url(HMAC-SHA256(key, "unsubscribe:v1:" + address))>
 *
 * with the address trimmed and lower-cased (`&` instead of `?` when the target already
 * has a query). Whoever builds the endpoint decodes `u` and calls
 * {@link verifyUnsubscribeToken} with the same key: the one rule lives here.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Secret } from "./secret";
import { parseUnsubscribeSigningKey } from "./validation";

/** Domain separation and version of the signed text; a new rule gets a new prefix. */
export const UNSUBSCRIBE_TOKEN_PREFIX = "unsubscribe:v1:";
/** Query parameter names of the signed URL. */
export const UNSUBSCRIBE_QUERY = { address: "u", token: "t" } as const;

/** The address as it is signed: trimmed and lower-cased (as the ledger keys it). */
function canonical(address: string): string {
  return address.trim().toLowerCase();
}

function keyBytes(key: Secret | string): string {
  return typeof key === "string" ? key : key.reveal();
}

/** base64url(HMAC-SHA256(key, "unsubscribe:v1:" + address)), 43 characters. */
export function unsubscribeToken(key: Secret | string, address: string): string {
  return createHmac("sha256", keyBytes(key)).update(UNSUBSCRIBE_TOKEN_PREFIX + canonical(address), "utf8").digest("base64url");
}

/**
 * Whether `token` is the one {@link unsubscribeToken} gives for `address` (any case) under
 * `key`, or under any of several keys (the current one and, during a rotation's grace
 * period, the previous one: {@link unsubscribeVerificationKeys}). Compares in constant time
 * and checks every key, whichever matches; a token of the wrong length or alphabet is false.
 */
export function verifyUnsubscribeToken(key: Secret | string | readonly (Secret | string)[], address: string, token: string): boolean {
  if (typeof token !== "string" || typeof address !== "string") return false;
  const keys = Array.isArray(key) ? (key as readonly (Secret | string)[]) : [key as Secret | string];
  const given = Buffer.from(token, "utf8");
  let ok = false;
  for (const k of keys) {
    const expected = Buffer.from(unsubscribeToken(k, address), "utf8");
    // The length of a valid token is public (43); only equal lengths are compared, in constant time.
    if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true;
  }
  return ok;
}

/** The signing key a rotation replaced, and when its grace period ends. */
export interface PreviousSigningKey {
  readonly key: string;
  readonly expiresAt: Date;
}

/** Longest grace period a rotation may give the previous key (days). */
export const SIGNING_KEY_MAX_GRACE_DAYS = 365;

/**
 * The value of `email/unsubscribe_signing_key_previous` (contract.ts OPERATOR_PARAMETERS):
 * `{"v":1,"key":"...","expiresAt":"<ISO time>"}`. Stored as a SecureString; never logged.
 */
export function formatPreviousSigningKey(key: string, expiresAt: Date): string {
  return JSON.stringify({ v: 1, key, expiresAt: expiresAt.toISOString() });
}

/**
 * Reads `email/unsubscribe_signing_key_previous`: the key while `now` is before its expiry;
 * undefined when unset, malformed or expired. Never echoes the value.
 */
export function parsePreviousSigningKey(raw: string | undefined, now: Date): PreviousSigningKey | undefined {
  if (raw === undefined) return undefined;
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const { v, key, expiresAt } = (o ?? {}) as { v?: unknown; key?: unknown; expiresAt?: unknown };
  if (v !== 1 || typeof key !== "string" || typeof expiresAt !== "string") return undefined;
  if (!isSigningKey(key)) return undefined;
  const at = new Date(expiresAt);
  if (Number.isNaN(at.getTime()) || at.getTime() <= now.getTime()) return undefined;
  return { key, expiresAt: at };
}

/**
 * The keys an unsubscribe endpoint verifies a token with: the current key, then the previous
 * one while its grace period lasts. Read `email/unsubscribe_signing_key` first and
 * `email/unsubscribe_signing_key_previous` after it: a rotation writes them in the opposite
 * order, so a reader that sees the new current key also sees the old key as previous.
 */
export function unsubscribeVerificationKeys(current: Secret | string | undefined, previousRaw: string | undefined, now: Date): (Secret | string)[] {
  const previous = parsePreviousSigningKey(previousRaw, now);
  // A raw value read from Parameter Store counts only when it is a signing key (not the placeholder).
  const usable = typeof current === "string" ? isSigningKey(current) : current !== undefined;
  return [...(usable ? [current!] : []), ...(previous ? [previous.key] : [])];
}

function isSigningKey(v: string): boolean {
  const c = parseUnsubscribeSigningKey(v);
  return c.ok && c.value !== undefined;
}

/** The address a signed URL's `u` carries (not yet verified: check `t` with {@link verifyUnsubscribeToken}). */
export function unsubscribeAddressOf(u: string): string {
  return Buffer.from(u, "base64url").toString("utf8");
}

/**
 * `target` with `u` and `t` for `address` appended: after an existing query with `&`,
 * otherwise with `?`, and before any fragment. The target's own query is kept as written.
 */
export function signedUnsubscribeUrl(target: string, key: Secret | string, address: string): string {
  const hashAt = target.indexOf("#");
  const base = hashAt >= 0 ? target.slice(0, hashAt) : target;
  const fragment = hashAt >= 0 ? target.slice(hashAt) : "";
  const sep = !base.includes("?") ? "?" : base.endsWith("?") || base.endsWith("&") ? "" : "&";
  const u = Buffer.from(canonical(address), "utf8").toString("base64url");
  return `${base}${sep}${UNSUBSCRIBE_QUERY.address}=${u}&${UNSUBSCRIBE_QUERY.token}=${unsubscribeToken(key, address)}${fragment}`;
}
