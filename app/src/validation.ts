/**
 * Value rules that the stack (modules/, at synth) and the sender (app/, at run time) must
 * apply identically: a value the stack accepts into Parameter Store is one the sender
 * accepts when it loads it, and the other way round. Both import this one module, so the
 * rules cannot drift apart. Depends on zod, contract.ts and node:net only (it is bundled into
 * the sender and the synth). `npm run secrets -- put` applies the same rules before it
 * writes (scripts/lib/secrets.ts), so a value that is accepted is a value the next run uses.
 *
 * The parsers take the raw parameter value as stored (they trim it, as the sender always
 * did) and never echo it in what they return: a failure says what was expected, not what
 * was found.
 */
import { BlockList, isIP } from "node:net";
import { z } from "zod";
import { SECRET_PLACEHOLDER, type ParameterKey } from "./contract";

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

/**
 * Text a value may hold at all: no U+FFFD (what undecodable bytes became somewhere on the
 * way), no unpaired surrogate, no control character but tab, CR and LF.
 */
export function isCleanText(v: string): boolean {
  return !/[\ufffd\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(v);
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
/**
 * Largest recipient list, as the comma-separated value the parameter holds: SSM's limit for
 * an Advanced-tier parameter (8 KB). The stack declares `email/to_address` Advanced past 4 KB
 * and refuses more than this, so the sender accepts exactly what the parameter can hold.
 */
export const MAX_RECIPIENT_LIST_BYTES = 8192;
export const RECIPIENT_LIST_EXPECTED = `1 to ${MAX_RECIPIENTS} comma-separated email addresses, at most ${MAX_RECIPIENT_LIST_BYTES} bytes in all`;

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
  if (Buffer.byteLength(list.join(","), "utf8") > MAX_RECIPIENT_LIST_BYTES) return bad(RECIPIENT_LIST_EXPECTED);
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
  .array(z.object({ url: feedUrl, name: z.string().trim().min(1).max(200).refine(isCleanText) }).strict())
  .min(1)
  .max(200);
export const FEED_LIST_EXPECTED = 'a JSON array of 1 to 200 {"url","name"} (http/https URLs without user info) or comma-separated URLs';

/**
 * `digest/feeds`, its syntax: a JSON array of {url, name}, or comma-separated URLs (each
 * named by its host). {@link parseFeedSources} adds the egress rule (which hosts a feed URL
 * may name), which needs `digest/feed_hosts` too.
 */
export function parseFeedList(raw: string): Checked<FeedSource[]> {
  const value = raw.trim();
  if (!isCleanText(value)) return bad(FEED_LIST_EXPECTED);
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

// ---- Feed egress: digest/feed_hosts and special-purpose addresses ----

/** Most patterns in `digest/feed_hosts`. */
export const MAX_FEED_HOSTS = 200;
export const FEED_HOSTS_EXPECTED = `1 to ${MAX_FEED_HOSTS} comma-separated host patterns: example.com (exactly), *.example.com (any subdomain) or an IP literal`;

const DNS_NAME = /^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?)*$/;

/**
 * A host as URLs compare it: lower case, IDNs in punycode, IPv4 in dotted decimal, IPv6
 * compressed and without brackets. Undefined when it is no valid host.
 */
export function canonicalHost(host: string): string | undefined {
  const h = host.trim().replace(/^\[(.*)\]$/, "$1");
  if (h === "" || /[\s/?#@\\]/.test(h)) return undefined;
  try {
    const u = new URL(`http://${isIP(h) === 6 ? `[${h}]` : h}/`);
    return u.hostname.replace(/^\[(.*)\]$/, "$1");
  } catch {
    return undefined;
  }
}

/**
 * `digest/feed_hosts` (a StringList): undefined when unset; otherwise the patterns, each
 * canonical (see {@link canonicalHost}); a wildcard only as a whole first label (`*.x.y`).
 */
export function parseFeedHosts(raw: string | undefined): Checked<string[] | undefined> {
  if (isUnsetValue(raw)) return ok(undefined);
  const list = raw!
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "");
  if (list.length === 0 || list.length > MAX_FEED_HOSTS || !list.every(isCleanText)) return bad(FEED_HOSTS_EXPECTED);
  const out: string[] = [];
  for (const p of list) {
    const wildcard = p.startsWith("*.");
    const host = canonicalHost(wildcard ? p.slice(2) : p);
    if (host === undefined || host.includes("*")) return bad(FEED_HOSTS_EXPECTED);
    const literal = isIP(host) !== 0;
    if ((wildcard && literal) || (!literal && !DNS_NAME.test(host))) return bad(FEED_HOSTS_EXPECTED);
    out.push(wildcard ? `*.${host}` : host);
  }
  return ok(out);
}

/** Whether `host` (canonical, see {@link canonicalHost}) matches one of `patterns` (from {@link parseFeedHosts}). */
export function hostMatches(patterns: readonly string[], host: string): boolean {
  const h = canonicalHost(host);
  if (h === undefined) return false;
  return patterns.some((p) => (p.startsWith("*.") ? h.endsWith(p.slice(1)) && h.length > p.length - 1 : p === h));
}

const SPECIAL_V4 = new BlockList();
for (const [net, bits] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // CGNAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local: 169.254.169.254 (EC2/GCP/Azure metadata), 169.254.170.2 (ECS task credentials)
  ["172.16.0.0", 12],
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast
] as const) {
  SPECIAL_V4.addSubnet(net, bits, "ipv4");
}
const SPECIAL_V6 = new BlockList();
for (const [net, bits] of [
  ["::", 96], // unspecified, loopback, IPv4-compatible (deprecated)
  ["100::", 64], // discard
  ["2001::", 23], // IETF protocol assignments (Teredo among them)
  ["2001:db8::", 32], // documentation
  ["64:ff9b:1::", 48], // local NAT64
  ["fc00::", 7], // unique-local: fd00:ec2::254 (EC2 metadata over IPv6)
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
] as const) {
  SPECIAL_V6.addSubnet(net, bits, "ipv6");
}

/** The 8 groups of an IPv6 literal (no zone, no brackets). */
function ipv6Groups(ip: string): number[] {
  let s = ip;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted) {
    const o = dotted.slice(1).map(Number);
    s = `${s.slice(0, -dotted[0].length)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const fill = tail !== undefined ? 8 - h.length - t.length : 0;
  return [...h, ...Array<string>(fill).fill("0"), ...t].map((g) => parseInt(g, 16));
}

/** The IPv4 address an IPv6 one carries: IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) or 6to4 (2002::/16). */
function embeddedIpv4(g: number[]): string | undefined {
  const quad = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g[5] === 0xffff) return quad(g[6], g[7]);
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return quad(g[6], g[7]);
  if (g[0] === 0x2002) return quad(g[1], g[2]);
  return undefined;
}

/**
 * Whether `ip` (an IPv4 or IPv6 literal, without brackets) is a special-purpose address no
 * feed may be fetched from unless `digest/feed_hosts` names it: loopback, private (RFC
 * 1918), link-local (the cloud metadata endpoints among them), CGNAT, unique-local, "this
 * network", multicast, reserved, documentation and benchmarking ranges, and the IPv6 forms
 * that carry one of those IPv4 addresses. Anything that is not an IP literal counts as
 * special (never connect to it).
 */
export function isSpecialAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return SPECIAL_V4.check(ip, "ipv4");
  if (family !== 6) return true;
  const embedded = embeddedIpv4(ipv6Groups(ip));
  if (embedded !== undefined) return SPECIAL_V4.check(embedded, "ipv4");
  return SPECIAL_V6.check(ip, "ipv6");
}

/** Whether the host of a URL is a loopback name (`localhost`, `*.localhost`: RFC 6761). */
export function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return h === "localhost" || h.endsWith(".localhost");
}

/**
 * Whether a feed URL's host may be named in `digest/feeds`: not a special-purpose IP
 * literal or a loopback name, unless `hosts` (`digest/feed_hosts`) names that exact literal
 * (or, for a name, that name).
 */
export function isAllowedFeedHost(host: string, hosts: readonly string[] | undefined): boolean {
  const h = canonicalHost(host);
  if (h === undefined) return false;
  if (isIP(h) !== 0) return !isSpecialAddress(h) || (hosts ?? []).includes(h);
  return !isLoopbackName(h) || (hosts ?? []).includes(h);
}

export const FEED_SOURCES_EXPECTED = `${FEED_LIST_EXPECTED}, none at a private, loopback or link-local address unless digest/feed_hosts names that IP literal`;

/**
 * `digest/feeds` with `digest/feed_hosts`: the feed list ({@link parseFeedList}) and the
 * host patterns ({@link parseFeedHosts}), where no feed URL names a special-purpose
 * address (169.254.169.254, 127.0.0.1, 10.0.0.1, localhost ...) that the patterns do not
 * name as that exact literal. What the sender loads, and what the stack should check
 * before it writes either parameter.
 */
export function parseFeedSources(rawFeeds: string, rawHosts: string | undefined): Checked<{ feeds: FeedSource[]; hosts?: string[] }> & { parameter?: "feeds" | "feedHosts" } {
  const hosts = parseFeedHosts(rawHosts);
  if (!hosts.ok) return { ...hosts, parameter: "feedHosts" };
  const feeds = parseFeedList(rawFeeds);
  if (!feeds.ok) return { ...feeds, parameter: "feeds" };
  if (!feeds.value.every((f) => isAllowedFeedHost(new URL(f.url).hostname, hosts.value))) return { ...bad(FEED_SOURCES_EXPECTED), parameter: "feeds" };
  return ok({ feeds: feeds.value, ...(hosts.value ? { hosts: hosts.value } : {}) });
}

/**
 * Characters an unsubscribe target may contain: RFC 3986's unreserved and reserved set and
 * `%`, without the comma (it separates targets in List-Unsubscribe) and without anything
 * that could end the `<...>` of the header or start another value (`<`, `>`, `"`, spaces,
 * tabs, CR, LF). Percent-encode anything else.
 */
const UNSUBSCRIBE_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+;=%]+$/;
const VALID_PERCENT = /%(?![0-9A-Fa-f]{2})/;

/** List-Unsubscribe target (RFC 2369/8058): an https URL without user info, or a mailto: address; header-safe as written. */
export const unsubscribeTarget = z
  .string()
  .max(2000)
  .regex(UNSUBSCRIBE_CHARS)
  .refine((v) => !VALID_PERCENT.test(v))
  .pipe(z.union([z.url({ protocol: /^https$/ }).refine(withoutUserInfo), z.string().regex(/^mailto:[^@?]+@[^@?]+(\?[^@]*)?$/)]));
export const UNSUBSCRIBE_EXPECTED = "an https URL or a mailto: address, written without spaces, commas, <, > or quotes (percent-encode them)";

/** `email/unsubscribe_url`: undefined when unset (see {@link UNSET_VALUES}). */
export function parseUnsubscribeTarget(raw: string | undefined): Checked<string | undefined> {
  if (isUnsetValue(raw)) return ok(undefined);
  const r = unsubscribeTarget.safeParse(raw!.trim());
  return r.success ? ok(r.data) : bad(UNSUBSCRIBE_EXPECTED);
}

/** Whether `target` can go into a List-Unsubscribe header as `<target>` without adding a value (see {@link UNSUBSCRIBE_CHARS}). */
export function isHeaderSafeUnsubscribeTarget(target: string): boolean {
  return UNSUBSCRIBE_CHARS.test(target) && !VALID_PERCENT.test(target);
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
  if (v.length < UNSUBSCRIBE_SIGNING_KEY_MIN_LENGTH || v.length > 4096 || /\s/.test(v) || !isCleanText(v)) return bad(UNSUBSCRIBE_SIGNING_KEY_EXPECTED);
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

/** Longest secret token accepted (SSM's standard tier holds 4 KB). */
export const SECRET_TOKEN_MAX_LENGTH = 1024;
export const SECRET_TOKEN_EXPECTED = `1 to ${SECRET_TOKEN_MAX_LENGTH} printable ASCII characters without spaces or line breaks`;

/**
 * An API key or access key (`sendgrid/api_key`, `aws/access_key_id`,
 * `aws/secret_access_key`): undefined when unset; otherwise the value exactly as stored
 * (not trimmed), printable ASCII without whitespace. A key with an inner space or a
 * trailing newline would be sent as it is and rejected by the provider, so it is refused
 * here, by the run and by `secrets put` alike (which strips the one line break a shell's
 * `echo` adds, nothing more).
 */
export function parseSecretToken(raw: string | undefined): Checked<string | undefined> {
  if (isUnsetValue(raw)) return ok(undefined);
  return /^[\x21-\x7e]+$/.test(raw!) && raw!.length <= SECRET_TOKEN_MAX_LENGTH ? ok(raw!) : bad(SECRET_TOKEN_EXPECTED);
}

export const CONFIGURATION_SET_EXPECTED = "an SES configuration set name (letters, digits, _ and -, at most 64)";
/** `email/configuration_set`: undefined when unset. */
export function parseConfigurationSet(raw: string | undefined): Checked<string | undefined> {
  if (isUnsetValue(raw)) return ok(undefined);
  const v = raw!.trim();
  return /^[A-Za-z0-9_-]{1,64}$/.test(v) ? ok(v) : bad(CONFIGURATION_SET_EXPECTED);
}

/** `aws/region` (and AWS_REGION): an AWS region name, trimmed. */
export function parseRegion(raw: string): Checked<string> {
  const v = raw.trim();
  return isAwsRegion(v) ? ok(v) : bad(REGION_EXPECTED);
}

/** The From display name when `email/from_name` is unset. */
export const DEFAULT_FROM_NAME = "Vibe Coding Digest";
export const FROM_NAME_MAX_LENGTH = 64;
export const FROM_NAME_EXPECTED = `a display name of 1 to ${FROM_NAME_MAX_LENGTH} characters without line breaks, control characters, quotes, < or >`;

/**
 * `email/from_name`, the From display name: undefined when unset (the sender then uses
 * {@link DEFAULT_FROM_NAME}). Trimmed; any letters (the header encodes non-ASCII), but no
 * character that could end the name or the header (`"`, `<`, `>`, `\`, CR, LF, controls)
 * and no bidi control (it would reorder the name in the inbox).
 */
export function parseFromName(raw: string | undefined): Checked<string | undefined> {
  if (isUnsetValue(raw)) return ok(undefined);
  const v = raw!.trim();
  const ok_ = v.length >= 1 && Array.from(v).length <= FROM_NAME_MAX_LENGTH && isCleanText(v) && !/[\t\r\n"<>\\\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/.test(v);
  return ok_ ? ok(v) : bad(FROM_NAME_EXPECTED);
}

/** A Parameter Store root: absolute, no trailing slash, not under /aws or /ssm (VIBE_PARAMETER_ROOT, the stack's root). */
export const PARAMETER_ROOT_EXPECTED = "an absolute path like /vibecoding, without a trailing slash, not under /aws or /ssm";
export function parseParameterRoot(raw: string): Checked<string> {
  const v = raw.trim();
  const good = /^\/[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(v) && v.length <= 200 && !/^\/(aws|ssm)(\/|$)/i.test(v) && !/(^|\/)\.\.?(\/|$)/.test(v);
  return good ? ok(v) : bad(PARAMETER_ROOT_EXPECTED);
}

export const ENDPOINT_URL_EXPECTED = "an http(s) URL without credentials, query or fragment, e.g. http://127.0.0.1:5055";
/** AWS_ENDPOINT_URL (and other service base URLs): http(s), no user info, no query or fragment. */
export function parseEndpointUrl(raw: string): Checked<string> {
  const v = raw.trim();
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return bad(ENDPOINT_URL_EXPECTED);
  }
  if (!/^https?:$/.test(u.protocol) || u.username || u.password || u.search || u.hash || !isCleanText(v) || /\s/.test(v)) return bad(ENDPOINT_URL_EXPECTED);
  return ok(v);
}

/**
 * The rule for each parameter that holds one value of its own (the feed list and its
 * allow-list are checked together by {@link parseFeedSources}). `secrets put` refuses a
 * value its rule refuses.
 */
export const PARAMETER_RULES: { readonly [K in ParameterKey]?: (raw: string) => Checked<unknown> } = {
  awsAccessKeyId: parseSecretToken,
  awsSecretAccessKey: parseSecretToken,
  awsRegion: parseRegion,
  fromAddress: parseEmailAddress,
  fromName: parseFromName,
  toAddress: parseRecipientList,
  useSes: parseFlag,
  sesPercent: parsePercent,
  configurationSet: parseConfigurationSet,
  sendgridApiKey: parseSecretToken,
  feeds: parseFeedList,
  feedHosts: parseFeedHosts,
  unsubscribeUrl: parseUnsubscribeTarget,
  unsubscribeSigningKey: parseUnsubscribeSigningKey,
};
