/**
 * Where the sender may fetch feeds from. Checked for the feed's URL and for every redirect
 * target, before DNS (scheme, credentials, the host allow-list, IP literals) and after it
 * (every address the name resolves to), by the code that then connects to the address it
 * checked (http.ts), so a DNS answer cannot change between the check and the connect.
 *
 * The rule (docs/feeds.md, "Egress"):
 * - only http and https, no user:password@;
 * - with `digest/feed_hosts` set, the host must match one of its patterns
 *   (`example.com` exactly, `*.example.com` any subdomain, an IP literal exactly);
 * - never a special-purpose address (validation.ts, isSpecialAddress: loopback, private,
 *   link-local with the cloud metadata endpoints, CGNAT, unique-local, ...) or the name
 *   `localhost`, unless `digest/feed_hosts` names that exact IP literal (the local stage
 *   serves its feeds on 127.0.0.1 and lists it). Without `digest/feed_hosts` there is no
 *   host restriction and no exception: a special-purpose address is always refused.
 */
import { isIP } from "node:net";
import { FeedError } from "../errors";
import { canonicalHost, hostMatches, isLoopbackName, isSpecialAddress } from "../validation";

/** The host of a URL as the rules compare it: canonical, IPv6 without brackets. */
export function hostOf(url: URL): string {
  return canonicalHost(url.hostname) ?? url.hostname;
}

/** What a check is about, for the error: the feed, and the redirect target when it is one. */
export interface EgressSubject {
  /** `name (redacted url)` of the feed. */
  readonly feed: string;
  /** The redirect's target (only its scheme and host go into the message). */
  readonly redirect?: URL;
}

/** The egress rule of one run: `digest/feed_hosts` (canonical patterns, validation.ts) or none. */
export class EgressPolicy {
  private readonly literals: ReadonlySet<string>;

  constructor(readonly hosts?: readonly string[]) {
    this.literals = new Set((hosts ?? []).filter((h) => isIP(h) !== 0));
  }

  /** Before any DNS lookup: scheme, credentials, IP literal, loopback name, allow-list. Throws {@link FeedError}. */
  checkUrl(url: URL, s: EgressSubject): void {
    const where = describe(s);
    const invalid = s.redirect ? "FEED_REDIRECT_INVALID" : "FEED_FETCH_FAILED";
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new FeedError(invalid, s.feed, `${where}: only http and https are fetched`, false);
    if (url.username || url.password) throw new FeedError(invalid, s.feed, `${where}: carries credentials`, false);
    const host = hostOf(url);
    if (isIP(host) !== 0) this.checkAddress(host, host, s);
    else if (isLoopbackName(host) && !(this.hosts ?? []).includes(host)) throw refused(s, `${host} is loopback`);
    if (this.hosts && !hostMatches(this.hosts, host)) throw new FeedError("FEED_HOST_NOT_ALLOWED", s.feed, `${where}: ${host} is not in digest/feed_hosts`, false);
  }

  /** After DNS: an address `host` resolved to (or the literal itself). Throws {@link FeedError} unless it may be connected to. */
  checkAddress(host: string, address: string, s: EgressSubject): void {
    const a = canonicalHost(address) ?? address;
    if (isSpecialAddress(a) && !this.literals.has(a)) {
      throw refused(s, `${host === a ? a : `${host} resolves to ${a}, which`} is a private, loopback, link-local or reserved address not named in digest/feed_hosts`);
    }
  }
}

function describe(s: EgressSubject): string {
  return s.redirect ? `redirect to ${s.redirect.protocol}//${s.redirect.host}` : "feed URL";
}

function refused(s: EgressSubject, why: string): FeedError {
  return new FeedError("FEED_ADDRESS_REFUSED", s.feed, `${describe(s)}: ${why}`, false);
}
