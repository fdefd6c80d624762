/**
 * The sender's whole configuration, loaded from Parameter Store in one batched, decrypted
 * request (GetParametersByPath, recursive, paginated at AWS's 10 per page), validated with
 * zod, and cached with a TTL. Errors name the parameter, never its value.
 */
import { paginateGetParametersByPath, type SSMClient, type Parameter } from "@aws-sdk/client-ssm";
import { PARAMETERS, SECRET_PLACEHOLDER, parameterName, runtimeParameterName, type ParameterKey, type RollbackRecord } from "./contract";
import { ConfigInvalidError, ConfigMissingError, mapAwsError } from "./errors";
import type { Metrics } from "./metrics";
import { METRICS } from "./contract";
import { pinPairedSecret } from "./credential-pair";
import { parseRollbackValue } from "./rollback";
import { Secret } from "./secret";
import {
  DEFAULT_FROM_NAME,
  isUnsetValue,
  parseConfigurationSet,
  parseEmailAddress,
  parseFeedSources,
  parseFlag,
  parseFromName,
  parsePercent,
  parseRecipientList,
  parseRegion,
  parseSecretToken,
  parseUnsubscribeSigningKey,
  parseUnsubscribeTarget,
  type Checked,
  type FeedSource,
} from "./validation";

export type { FeedSource } from "./validation";

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
  /** The From display name (`email/from_name`, else DEFAULT_FROM_NAME). */
  readonly fromName: string;
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
  /**
   * `digest/feed_hosts`: the host patterns feeds (and their redirects) may be fetched from,
   * canonical (validation.ts). Undefined: no host restriction (special-purpose addresses
   * are refused all the same: feeds/egress.ts).
   */
  readonly feedHosts?: readonly string[];
  /** Where recipients unsubscribe (https URL or mailto), for List-Unsubscribe. */
  readonly unsubscribe?: string;
  /**
   * Signs each recipient's https List-Unsubscribe URL (`email/unsubscribe_signing_key`;
   * unsubscribe.ts). Unset: an https target stays one static URL for everyone.
   */
  readonly unsubscribeSigningKey?: Secret;
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

/** Values that mean "not set" in an optional parameter (the stack applies the same rule: validation.ts). */
const isUnset = isUnsetValue;

// Every value follows its rule in validation.ts, which the stack's constructs and
// `npm run secrets -- put` apply too: a value one of them accepts, the others accept.

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
    c?.unsubscribeSigningKey?.clear();
    this.cached = undefined;
    this.inflight = undefined;
  }

  private async fetch(): Promise<DigestConfig> {
    const started = this.now();
    const values = new Map<string, string>();
    const types = new Map<string, string>();
    try {
      const pages = paginateGetParametersByPath(
        { client: this.ssm, pageSize: 10 },
        { Path: this.root, Recursive: true, WithDecryption: true },
      );
      let pageCount = 0;
      for await (const page of pages) {
        for (const p of page.Parameters ?? ([] as Parameter[])) {
          if (p.Name !== undefined && p.Value !== undefined) values.set(p.Name, p.Value);
          if (p.Name !== undefined && p.Type !== undefined) types.set(p.Name, p.Type);
        }
        // Bounded: a hierarchy of a few dozen parameters is a handful of pages.
        if (++pageCount >= 100) break;
      }
      // The access key pair as one value: the secret labelled for the key id read above
      // (credential-pair.ts), so a rotation in progress never pairs a new id with an old secret.
      await pinPairedSecret(this.ssm, this.root, values);
    } catch (err) {
      throw mapAwsError(err, "ssm:GetParametersByPath", this.root);
    } finally {
      this.opts.metrics?.observe(METRICS.parameterStoreLatencyMs, this.now() - started);
    }
    return parseConfig(this.root, values, this.opts.overrides ?? {}, types);
  }
}

/** What CONFIG_INVALID says of a secret parameter that is not a SecureString. */
export const SECURE_STRING_EXPECTED = "a SecureString (it is stored unencrypted as a plain String: delete it, deploy, and put the value again with `npm run secrets -- put`)";

/**
 * Validates raw parameter values (full name -> value) into a {@link DigestConfig}.
 * `types` (full name -> SSM type), when given, must say SecureString for every secret
 * parameter present. Exported for tests and for callers that obtained values another way.
 */
export function parseConfig(root: string, values: ReadonlyMap<string, string>, overrides: ConfigOverrides = {}, types?: ReadonlyMap<string, string>): DigestConfig {
  const name = (key: ParameterKey) => parameterName(root, key);
  const raw = (key: ParameterKey) => values.get(name(key));
  // A secret found as a plain String is readable by anyone with ssm:GetParameter and sits
  // unencrypted: refused, whatever it holds, before any value is used.
  for (const key of Object.keys(PARAMETERS) as ParameterKey[]) {
    const type = types?.get(name(key));
    if (PARAMETERS[key].secret && type !== undefined && type !== "SecureString") throw new ConfigInvalidError(name(key), SECURE_STRING_EXPECTED);
  }
  const required = (key: ParameterKey): string => {
    const v = raw(key);
    if (v === undefined || v.trim() === "" || v === SECRET_PLACEHOLDER) throw new ConfigMissingError(name(key));
    return v.trim();
  };
  /** A shared rule's answer (validation.ts), or CONFIG_INVALID naming `parameter`. */
  const valid = <T>(parameter: string, r: Checked<T>): T => {
    if (!r.ok) throw new ConfigInvalidError(parameter, r.expected);
    return r.value;
  };

  // Region: parameter first, AWS_REGION as the fallback.
  const regionRaw = raw("awsRegion");
  let regionValue: string;
  if (!isUnset(regionRaw)) regionValue = valid(name("awsRegion"), parseRegion(regionRaw!));
  else if (overrides.fallbackRegion) regionValue = valid("AWS_REGION", parseRegion(overrides.fallbackRegion));
  else throw new ConfigMissingError(name("awsRegion"));

  const fromAddress = valid(name("fromAddress"), parseEmailAddress(required("fromAddress")));
  const fromName = valid(name("fromName"), parseFromName(raw("fromName"))) ?? DEFAULT_FROM_NAME;

  let recipients: string[];
  if (overrides.recipients && overrides.recipients.length > 0) {
    recipients = valid("EMAIL_TO", parseRecipientList(overrides.recipients.join(",")));
  } else {
    recipients = valid(name("toAddress"), parseRecipientList(required("toAddress")));
  }
  const seen = new Set<string>();
  recipients = recipients.filter((r) => {
    const k = r.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });

  const useSes = overrides.useSes ?? valid(name("useSes"), parseFlag(raw("useSes"))) ?? true;

  const sesPercent = valid(name("sesPercent"), parsePercent(raw("sesPercent"))) ?? 100;

  const configurationSet = valid(name("configurationSet"), parseConfigurationSet(raw("configurationSet")));

  const keyId = valid(name("awsAccessKeyId"), parseSecretToken(raw("awsAccessKeyId")));
  const keySecret = valid(name("awsSecretAccessKey"), parseSecretToken(raw("awsSecretAccessKey")));
  let credentials: StaticCredentials | undefined;
  if (keyId !== undefined || keySecret !== undefined) {
    if (keyId === undefined) throw new ConfigMissingError(name("awsAccessKeyId"));
    if (keySecret === undefined) throw new ConfigMissingError(name("awsSecretAccessKey"));
    credentials = { accessKeyId: new Secret(keyId), secretAccessKey: new Secret(keySecret) };
  }

  const sgKey = valid(name("sendgridApiKey"), parseSecretToken(raw("sendgridApiKey")));
  const sendgridApiKey = sgKey === undefined ? undefined : new Secret(sgKey);

  const sources = parseFeedSources(required("feeds"), raw("feedHosts"));
  if (!sources.ok) throw new ConfigInvalidError(name(sources.parameter ?? "feeds"), sources.expected);
  const { feeds, hosts: feedHosts } = sources.value;

  const unsubscribe = valid(name("unsubscribeUrl"), parseUnsubscribeTarget(raw("unsubscribeUrl")));
  const signingKeyRaw = valid(name("unsubscribeSigningKey"), parseUnsubscribeSigningKey(raw("unsubscribeSigningKey")));
  const unsubscribeSigningKey = signingKeyRaw === undefined ? undefined : new Secret(signingKeyRaw);

  const sesRollback = parseRollbackValue(values.get(runtimeParameterName(root, "sesRollback")));

  return {
    root,
    region: regionValue,
    fromAddress,
    fromName,
    recipients,
    useSes,
    sesPercent,
    configurationSet,
    credentials,
    sendgridApiKey,
    feeds,
    ...(feedHosts ? { feedHosts } : {}),
    unsubscribe,
    ...(unsubscribeSigningKey ? { unsubscribeSigningKey } : {}),
    ...(sesRollback ? { sesRollback } : {}),
  };
}
