/**
 * Sticky percentage rollout: a recipient's bucket (0..99) is a stable hash of the address,
 * trimmed and lower-cased, so the same people stay on SES from run to run, and raising
 * `ses_percent` only adds recipients (bucket < percent goes to SES).
 */
import { createHash } from "node:crypto";

/** The address as the ledger and the rollout see it. */
export function normalizeAddress(address: string): string {
  return address.trim().toLowerCase();
}

/** 0..99 from the first 8 bytes of SHA-256 of the normalized address (bias below 1e-17). */
export function rolloutBucket(address: string): number {
  const digest = createHash("sha256").update(normalizeAddress(address), "utf8").digest();
  return Number(digest.readBigUInt64BE(0) % 100n);
}

/** True when `address` is in the SES share of `percent` (0..100). */
export function inSesShare(address: string, percent: number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return rolloutBucket(address) < percent;
}
