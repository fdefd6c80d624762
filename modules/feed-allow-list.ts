/**
 * The feed egress allow-list: which hosts the digest may fetch feeds from. A stage's feed
 * list is its one source: the hosts of its feed URLs plus the redirect targets it declares
 * (each with a reason) become
 *
 * - the `digest/feed_hosts` parameter (the sender fetches, and follows redirects to, only
 *   hosts it matches; a redirect elsewhere is a reported feed failure), and
 * - the DNS firewall's feed domain list (the VPC resolves nothing else but AWS's own names).
 *
 * Host patterns follow the contract (app/src/contract.ts, `feedHosts`): `example.com`
 * matches that host exactly, `*.example.com` any subdomain of it (not example.com itself,
 * as in Route 53 Resolver DNS Firewall), and an IP literal matches that address. Checks
 * throw {@link ConfigError} naming the feed by its position, never its URL (a URL could
 * carry a token in its query).
 */
import type { IConstruct } from "constructs";
import { configFail } from "./validate";

/** A feed as the stage lists it. */
export interface AllowListFeed {
  readonly url: string;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;
const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const DNS_NAME = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})+$`);

/** Whether `host` is an IPv4 literal or a bracketed IPv6 literal (as URL.hostname gives it). */
export function isIpLiteral(host: string): boolean {
  const m = IPV4.exec(host);
  if (m) return m.slice(1).every((o) => Number(o) <= 255);
  return IPV6.test(host);
}

/** Whether `host` is a loopback IP literal (127.0.0.0/8 or [::1]). */
export function isLoopbackLiteral(host: string): boolean {
  return (isIpLiteral(host) && host.startsWith("127.")) || host === "[::1]";
}

/** Whether `pattern` is a host pattern of the contract's form (lower case, at most 253 characters). */
export function isHostPattern(pattern: string): boolean {
  if (pattern.length > 253) return false;
  // All digits and dots is an IPv4 literal or nothing (no top-level domain is numeric).
  if (/^[\d.]+$/.test(pattern)) return isIpLiteral(pattern);
  return isIpLiteral(pattern) || DNS_NAME.test(pattern);
}

/** Whether `host` (lower case, as URL.hostname gives it) matches `pattern`. */
export function hostMatches(host: string, pattern: string): boolean {
  const h = host.toLowerCase();
  if (pattern.startsWith("*.")) return h.endsWith(pattern.slice(1)) && h.length > pattern.length - 1;
  return h === pattern;
}

/** The host of a feed URL (lower case), or undefined when it is not a URL. */
export function hostOfUrl(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** A stage's allow-list, in the two forms the stack writes. */
export interface FeedAllowList {
  /** Host patterns, sorted and unique: the value of `digest/feed_hosts` (comma-joined). */
  readonly hostPatterns: readonly string[];
  /** The DNS names among them (IP literals are never resolved): the firewall's feed domains. */
  readonly dnsDomains: readonly string[];
}

/**
 * The allow-list of `feeds` plus `extraHosts` (declared redirect targets). Every feed's host
 * and every extra host is checked: a pattern the contract does not allow, an extra host
 * without a reason, or (with `internet`) a feed that is not https on a DNS name fails.
 */
export function feedAllowList(
  scope: IConstruct,
  feeds: readonly AllowListFeed[],
  extraHosts: readonly { readonly host: string; readonly reason: string }[],
  opts: { readonly internet: boolean },
): FeedAllowList {
  const patterns = new Set<string>();
  feeds.forEach((f, i) => {
    const subject = `feeds[${i}].url`;
    let url: URL;
    try {
      url = new URL(f.url);
    } catch {
      return configFail(scope, "FEEDS_INVALID", subject, "an absolute http(s) URL");
    }
    const host = url.hostname.toLowerCase();
    if (opts.internet) {
      // The task's security group opens 443 only, and the DNS firewall can only allow names.
      if (url.protocol !== "https:") configFail(scope, "FEEDS_INVALID", subject, "an https URL (the stage's egress is HTTPS only)");
      if (isIpLiteral(host)) configFail(scope, "FEEDS_INVALID", subject, "a URL on a DNS name (the DNS firewall cannot allow an IP literal)");
    } else if (!isLoopbackLiteral(host)) {
      configFail(scope, "FEEDS_INVALID", subject, "a URL on a loopback IP literal such as 127.0.0.1 (the stage has no internet egress)");
    }
    if (!isHostPattern(host)) configFail(scope, "FEEDS_INVALID", subject, "a URL whose host is a DNS name or an IP literal");
    patterns.add(host);
  });
  extraHosts.forEach((e, i) => {
    if (!isHostPattern(e.host) || isIpLiteral(e.host)) {
      configFail(scope, "FEEDS_INVALID", `extraFeedHosts[${i}].host`, "a lower-case DNS name, optionally starting with *.");
    }
    if (!opts.internet) configFail(scope, "FEEDS_INVALID", `extraFeedHosts[${i}]`, "absent (the stage has no internet egress)");
    if (e.reason.trim().length < 10) configFail(scope, "FEEDS_INVALID", `extraFeedHosts[${i}].reason`, "a reason of at least 10 characters");
    patterns.add(e.host);
  });
  const hostPatterns = [...patterns].sort();
  assertFeedsAllowed(scope, "feeds", feeds, hostPatterns);
  return { hostPatterns, dnsDomains: hostPatterns.filter((p) => !isIpLiteral(p)) };
}

/**
 * Every feed's host matches one of `patterns`: a feed outside the allow-list would be
 * refused by the sender (and not resolved by the DNS firewall), so it is refused at synth.
 */
export function assertFeedsAllowed(scope: IConstruct, subject: string, feeds: readonly AllowListFeed[], patterns: readonly string[]): void {
  for (const p of patterns) if (!isHostPattern(p)) configFail(scope, "FEEDS_INVALID", `${subject} allow-list`, "host patterns such as example.com, *.example.com or 127.0.0.1");
  feeds.forEach((f, i) => {
    const host = hostOfUrl(f.url);
    if (host === undefined || !patterns.some((p) => hostMatches(host, p))) {
      configFail(scope, "FEEDS_INVALID", `${subject}[${i}].url`, "on a host of the stage's feed allow-list (digest/feed_hosts)");
    }
  });
}
