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
 * `key`. Compares in constant time; a token of the wrong length or alphabet is false.
 */
export function verifyUnsubscribeToken(key: Secret | string, address: string, token: string): boolean {
  if (typeof token !== "string" || typeof address !== "string") return false;
  const expected = Buffer.from(unsubscribeToken(key, address), "utf8");
  const given = Buffer.from(token, "utf8");
  // The length of a valid token is public (43); only equal lengths are compared, in constant time.
  return given.length === expected.length && timingSafeEqual(given, expected);
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
