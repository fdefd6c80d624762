/**
 * The feed egress allow-list: which hosts the digest may fetch feeds from. A stage's feed
 * list is its one source: the hosts of its feed URLs plus the redirect targets it declares
 * (each with a reason) become
 *
 * - the `digest/feed_hosts` parameter (the sender fetches, and follows redirects to, only
 *   hosts it matches; a redirect elsewhere is a reported feed failure), and
 * - the DNS firewall's feed domain list (the VPC resolves nothing else but AWS's own names).
 *
 * Host patterns follow the contract (app/src/contract.ts, `feedHosts`) and the sender's own
 * rule in app/src/validation.ts, which this module uses rather than copies: `example.com`
 * matches that host exactly, `*.example.com` any subdomain of it (not example.com itself,
 * as in Route 53 Resolver DNS Firewall), and an IP literal matches that address. Checks
 * throw {@link ConfigError} naming the feed by its position, never its URL (a URL could
 * carry a token in its query).
 */
import { isIP } from "node:net";
import type { IConstruct } from "constructs";
import { canonicalHost, hostMatches as matchesAnyPattern, isAllowedFeedHost, parseFeedHosts } from "../app/src/validation";
import { configFail } from "./validate";

/** A feed as the stage lists it. */
export interface AllowListFeed {
  readonly url: string;
}

/** Whether `host` is an IP literal (IPv4, or IPv6 with or without brackets). */
export function isIpLiteral(host: string): boolean {
  return isIP(host.replace(/^\[(.*)\]$/, "$1")) !== 0;
}

/** Whether `host` is a loopback IP literal (127.0.0.0/8 or ::1). */
export function isLoopbackLiteral(host: string): boolean {
  const h = canonicalHost(host);
  return h !== undefined && ((isIP(h) === 4 && h.startsWith("127.")) || h === "::1");
}

/**
 * Whether `pattern` is one host pattern of `digest/feed_hosts` in its canonical form (the
 * sender's rule, app/src/validation.ts: lower case, punycode, `*.` only as the first label).
 */
export function isHostPattern(pattern: string): boolean {
  const r = parseFeedHosts(pattern);
  return r.ok && r.value?.length === 1 && r.value[0] === pattern;
}

/** Whether `host` matches `pattern`, by the sender's own rule (app/src/validation.ts). */
export function hostMatches(host: string, pattern: string): boolean {
  return matchesAnyPattern([pattern], host);
}

/** The host of a feed URL in canonical form, or undefined when it is not a URL. */
export function hostOfUrl(url: string): string | undefined {
  try {
    return canonicalHost(new URL(url).hostname);
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
    const host = canonicalHost(url.hostname) ?? "";
    if (opts.internet) {
      // The task's security group opens 443 only, and the DNS firewall can only allow names.
      if (url.protocol !== "https:") configFail(scope, "FEEDS_INVALID", subject, "an https URL (the stage's egress is HTTPS only)");
      if (isIpLiteral(host)) configFail(scope, "FEEDS_INVALID", subject, "a URL on a DNS name (the DNS firewall cannot allow an IP literal)");
    } else if (!isLoopbackLiteral(host)) {
      configFail(scope, "FEEDS_INVALID", subject, "a URL on a loopback IP literal such as 127.0.0.1 (the stage has no internet egress)");
    }
    if (!isHostPattern(host)) configFail(scope, "FEEDS_INVALID", subject, "a URL whose host is a DNS name or an IP literal");
    // The sender refuses a special-purpose address (metadata, private, loopback) unless the
    // allow-list names that literal; on the internet none may be a feed at all.
    if (!isAllowedFeedHost(host, opts.internet ? [] : [host])) configFail(scope, "FEEDS_INVALID", subject, "a URL on a public host (not a private, loopback or metadata address)");
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
