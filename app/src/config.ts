/**
 * The sender's whole configuration, loaded from Parameter Store in one batched, decrypted
 * request (GetParametersByPath, recursive, paginated at AWS's 10 per page), validated with
 * zod, and cached with a TTL. Errors name the parameter, never its value.
 */
import { paginateGetParametersByPath, type SSMClient, type Parameter } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { SECRET_PLACEHOLDER, parameterName, runtimeParameterName, type ParameterKey, type RollbackRecord } from "./contract";
import { ConfigInvalidError, ConfigMissingError, mapAwsError } from "./errors";
import type { Metrics } from "./metrics";
import { METRICS } from "./contract";
import { parseRollbackValue } from "./rollback";
import { Secret } from "./secret";

/** One feed of the digest. */
export interface FeedSource {
  readonly url: string;
  readonly name: string;
}

/** A static access key pair from Parameter Store (the seed's credential mode). */
export interface StaticCredentials {
  readonly accessKeyId: Secret;
  readonly secretAccessKey: Secret;
}

/** Everything a run needs, typed and validated. */
export interface DigestConfig {
  /** Parameter root it was loaded from, e.g. "/vibecoding". */
  readonly root: string;
  readonly region: string;
  readonly fromAddress: string;
  /** One or more recipients, de-duplicated, in configured order. */
  readonly recipients: readonly string[];
  readonly useSes: boolean;
  /** Share of recipients routed to SES (0..100), for the migration router. */
  readonly sesPercent: number;
  readonly configurationSet?: string;
  /** Present only when both access-key parameters hold real values. */
  readonly credentials?: StaticCredentials;
  readonly sendgridApiKey?: Secret;
  readonly feeds: readonly FeedSource[];
  /** Where recipients unsubscribe (https URL or mailto), for List-Unsubscribe. */
  readonly unsubscribe?: string;
  /** The automatic SES rollback in force (`email/ses_rollback`), if any: SES is not used. */
  readonly sesRollback?: RollbackRecord;
}

/** Values the environment may override (read by the CLI, passed in here). */
export interface ConfigOverrides {
  /** `EMAIL_TO`: replaces the configured recipients. */
  readonly recipients?: readonly string[];
  /** `USE_SES_EMAIL`: overrides `email/use_ses`. */
  readonly useSes?: boolean;
  /** `AWS_REGION`: used when `aws/region` is absent. */
  readonly fallbackRegion?: string;
}

export interface ParameterStoreConfigOptions {
  /** @default "/vibecoding" */
  readonly root?: string;
  /** Cache lifetime; 0 disables the cache (concurrent loads still coalesce). @default 300 */
  readonly ttlSeconds?: number;
  readonly overrides?: ConfigOverrides;
  /** Milliseconds clock. @default Date.now */
  readonly now?: () => number;
  readonly metrics?: Metrics;
}

/** Values that mean "not set" in an optional parameter (SSM cannot store an empty string). */
const UNSET_VALUES = new Set([SECRET_PLACEHOLDER, "none", "-", ""]);
const isUnset = (v: string | undefined): boolean => v === undefined || UNSET_VALUES.has(v.trim().toLowerCase());

const email = z.email();
const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/);
const configurationSetName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
const httpUrl = z.url({ protocol: /^https?$/ });
const feedList = z
  .array(z.object({ url: httpUrl, name: z.string().trim().min(1).max(200) }).strict())
  .min(1)
  .max(200);
const unsubscribeTarget = z.union([z.url({ protocol: /^https$/ }), z.string().regex(/^mailto:[^\s@]+@[^\s@]+$/)]);
const percent = z.string().regex(/^\d{1,3}$/).transform(Number).pipe(z.number().max(100));
const secretToken = z.string().regex(/^\S{1,1024}$/);

/** Loads {@link DigestConfig} from Parameter Store. */
export class ParameterStoreConfig {
  readonly root: string;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private cached?: { config: DigestConfig; expiresAt: number };
  private inflight?: Promise<DigestConfig>;
  private generation = 0;

  constructor(
    private readonly ssm: SSMClient,
    private readonly opts: ParameterStoreConfigOptions = {},
  ) {
    this.root = (opts.root ?? "/vibecoding").replace(/\/+$/, "") || "/";
    const ttl = opts.ttlSeconds ?? 300;
    if (!Number.isFinite(ttl) || ttl < 0) throw new ConfigInvalidError("ttlSeconds", "a number of seconds >= 0");
    this.ttlMs = ttl * 1000;
    this.now = opts.now ?? Date.now;
  }

  /** One decrypted round trip per TTL; concurrent callers share the same request. */
  async load(): Promise<DigestConfig> {
    if (this.cached && this.now() < this.cached.expiresAt) return this.cached.config;
    if (this.inflight) return this.inflight;
    const generation = this.generation;
    const p = this.fetch().then(
      (config) => {
        if (generation === this.generation) {
          if (this.ttlMs > 0) this.cached = { config, expiresAt: this.now() + this.ttlMs };
          this.inflight = undefined;
        }
        return config;
      },
      (err: unknown) => {
        if (generation === this.generation) this.inflight = undefined;
        throw err;
      },
    );
    this.inflight = p;
    return p;
  }

  /** Drops every reference to cached values (secrets included); the next load fetches. */
  clear(): void {
    this.generation++;
    const c = this.cached?.config;
    c?.credentials?.accessKeyId.clear();
    c?.credentials?.secretAccessKey.clear();
    c?.sendgridApiKey?.clear();
    this.cached = undefined;
    this.inflight = undefined;
  }

  private async fetch(): Promise<DigestConfig> {
    const started = this.now();
    const values = new Map<string, string>();
    try {
      const pages = paginateGetParametersByPath(
        { client: this.ssm, pageSize: 10 },
        { Path: this.root, Recursive: true, WithDecryption: true },
      );
      let pageCount = 0;
      for await (const page of pages) {
        for (const p of page.Parameters ?? ([] as Parameter[])) {
          if (p.Name !== undefined && p.Value !== undefined) values.set(p.Name, p.Value);
        }
        // Bounded: a hierarchy of a few dozen parameters is a handful of pages.
        if (++pageCount >= 100) break;
      }
    } catch (err) {
      throw mapAwsError(err, "ssm:GetParametersByPath", this.root);
    } finally {
      this.opts.metrics?.observe(METRICS.parameterStoreLatencyMs, this.now() - started);
    }
    return parseConfig(this.root, values, this.opts.overrides ?? {});
  }
}

/**
 * Validates raw parameter values (full name -> value) into a {@link DigestConfig}.
 * Exported for tests and for callers that obtained values another way.
 */
export function parseConfig(root: string, values: ReadonlyMap<string, string>, overrides: ConfigOverrides = {}): DigestConfig {
  const name = (key: ParameterKey) => parameterName(root, key);
  const raw = (key: ParameterKey) => values.get(name(key));
  const required = (key: ParameterKey): string => {
    const v = raw(key);
    if (v === undefined || v.trim() === "" || v === SECRET_PLACEHOLDER) throw new ConfigMissingError(name(key));
    return v.trim();
  };
  const check = <T>(key: ParameterKey, schema: z.ZodType<T>, value: unknown, expected: string): T => {
    const r = schema.safeParse(value);
    if (!r.success) throw new ConfigInvalidError(name(key), expected);
    return r.data;
  };

  // Region: parameter first, AWS_REGION as the fallback.
  const regionRaw = raw("awsRegion");
  let regionValue: string;
  if (!isUnset(regionRaw)) regionValue = check("awsRegion", region, regionRaw!.trim(), "an AWS region such as us-east-1");
  else if (overrides.fallbackRegion) regionValue = check("awsRegion", region, overrides.fallbackRegion, "an AWS region such as us-east-1");
  else throw new ConfigMissingError(name("awsRegion"));

  const fromAddress = check("fromAddress", email, required("fromAddress"), "one email address");

  let recipients: string[];
  if (overrides.recipients && overrides.recipients.length > 0) {
    recipients = overrides.recipients.map((r) => r.trim());
    if (!recipients.every((r) => email.safeParse(r).success)) throw new ConfigInvalidError("EMAIL_TO", "comma-separated email addresses");
  } else {
    recipients = required("toAddress")
      .split(",")
      .map((r) => r.trim())
      .filter((r) => r !== "");
    if (recipients.length === 0 || recipients.length > 1000 || !recipients.every((r) => email.safeParse(r).success)) {
      throw new ConfigInvalidError(name("toAddress"), "1 to 1000 comma-separated email addresses");
    }
  }
  const seen = new Set<string>();
  recipients = recipients.filter((r) => {
    const k = r.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });

  let useSes = true;
  const useSesRaw = raw("useSes");
  if (overrides.useSes !== undefined) useSes = overrides.useSes;
  else if (!isUnset(useSesRaw)) useSes = check("useSes", z.enum(["true", "false"]), useSesRaw!.trim().toLowerCase(), '"true" or "false"') === "true";

  let sesPercent = 100;
  const pctRaw = raw("sesPercent");
  if (!isUnset(pctRaw)) {
    sesPercent = check("sesPercent", percent, pctRaw!.trim(), "an integer from 0 to 100");
  }

  const csRaw = raw("configurationSet");
  const configurationSet = isUnset(csRaw)
    ? undefined
    : check("configurationSet", configurationSetName, csRaw!.trim(), "an SES configuration set name (letters, digits, _ and -, at most 64)");

  const keyId = raw("awsAccessKeyId");
  const keySecret = raw("awsSecretAccessKey");
  let credentials: StaticCredentials | undefined;
  if (!isUnset(keyId) || !isUnset(keySecret)) {
    if (isUnset(keyId)) throw new ConfigMissingError(name("awsAccessKeyId"));
    if (isUnset(keySecret)) throw new ConfigMissingError(name("awsSecretAccessKey"));
    check("awsAccessKeyId", secretToken, keyId, "an access key id without spaces");
    check("awsSecretAccessKey", secretToken, keySecret, "a secret access key without spaces");
    credentials = { accessKeyId: new Secret(keyId!), secretAccessKey: new Secret(keySecret!) };
  }

  const sgRaw = raw("sendgridApiKey");
  let sendgridApiKey: Secret | undefined;
  if (!isUnset(sgRaw)) {
    check("sendgridApiKey", secretToken, sgRaw, "an API key without spaces");
    sendgridApiKey = new Secret(sgRaw!);
  }

  const feeds = parseFeeds(name("feeds"), required("feeds"));

  const unsubRaw = raw("unsubscribeUrl");
  const unsubscribe = isUnset(unsubRaw) ? undefined : check("unsubscribeUrl", unsubscribeTarget, unsubRaw!.trim(), "an https URL or a mailto: address");

  const sesRollback = parseRollbackValue(values.get(runtimeParameterName(root, "sesRollback")));

  return {
    root,
    region: regionValue,
    fromAddress,
    recipients,
    useSes,
    sesPercent,
    configurationSet,
    credentials,
    sendgridApiKey,
    feeds,
    unsubscribe,
    ...(sesRollback ? { sesRollback } : {}),
  };
}

/** `digest/feeds`: a JSON array of {url, name}, or comma-separated URLs (named by host). */
function parseFeeds(parameter: string, value: string): FeedSource[] {
  const expected = 'a JSON array of {"url","name"} (http/https URLs) or comma-separated URLs';
  let candidate: unknown;
  if (value.startsWith("[")) {
    try {
      candidate = JSON.parse(value);
    } catch {
      throw new ConfigInvalidError(parameter, expected);
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
  if (!r.success) throw new ConfigInvalidError(parameter, expected);
  return r.data;
}
