/**
 * Chooses the SES client's credentials and keeps the client fresh. When both access-key
 * parameters hold real values the client uses them (the seed's mode); otherwise the SDK's
 * default provider chain (the ECS task role). A new client is built when the region or the
 * credentials change, or after `ttlMs` (default 1 h). Only the mode is ever logged.
 */
import { createHash } from "node:crypto";
import { SESClient, type SESClientConfig } from "@aws-sdk/client-ses";
import type { DigestConfig } from "../config";
import type { Logger } from "../log";

export type CredentialMode = "parameter-store" | "default-chain";

export interface SesClientCacheOptions {
  /** Custom endpoint (moto). @default - the regional SES endpoint */
  readonly endpoint?: string;
  /**
   * SDK attempts per call. @default 1: the SDK would retry a SendRawEmail after a 5xx or a
   * timeout, which may send the message twice; throttling is retried by the dispatcher and
   * GetSendQuota by the provider instead.
   */
  readonly maxAttempts?: number;
  /** Connecting must finish within this. @default 5000 */
  readonly connectionTimeoutMs?: number;
  /** A request must be answered within this (an unanswered send becomes `unknown`). @default 30000 */
  readonly requestTimeoutMs?: number;
  /** @default 3600000 */
  readonly ttlMs?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
  /** Credentials of the default-chain mode. @default - the SDK's default provider chain (task role) */
  readonly defaultCredentials?: SESClientConfig["credentials"];
  /** Builds a client (tests count constructions). @default new SESClient(cfg) */
  readonly create?: (cfg: SESClientConfig) => SESClient;
}

export class SesClientCache {
  private current?: { client: SESClient; key: string; mode: CredentialMode; createdAt: number };
  private readonly now: () => number;
  private readonly ttlMs: number;

  constructor(private readonly opts: SesClientCacheOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.ttlMs = opts.ttlMs ?? 3_600_000;
  }

  /** The credential mode `config` selects. */
  static modeOf(config: Pick<DigestConfig, "credentials">): CredentialMode {
    return config.credentials ? "parameter-store" : "default-chain";
  }

  /** The client for `config`, rebuilt when its region/credentials changed or it is older than the TTL. */
  get(config: Pick<DigestConfig, "credentials" | "region">): { client: SESClient; mode: CredentialMode } {
    const mode = SesClientCache.modeOf(config);
    // A digest of the credentials, so a rotation is noticed without keeping a second copy.
    const key = createHash("sha256")
      .update(`${config.region}\0${mode}\0${config.credentials?.accessKeyId.reveal() ?? ""}\0${config.credentials?.secretAccessKey.reveal() ?? ""}`)
      .digest("hex");
    const c = this.current;
    if (c && c.key === key && this.now() - c.createdAt < this.ttlMs) return c;
    const reason = !c ? "first use" : c.key !== key ? "region or credentials changed" : "client TTL expired";
    c?.client.destroy();
    const cfg: SESClientConfig = {
      region: config.region,
      maxAttempts: this.opts.maxAttempts ?? 1,
      requestHandler: { connectionTimeout: this.opts.connectionTimeoutMs ?? 5000, requestTimeout: this.opts.requestTimeoutMs ?? 30_000, throwOnRequestTimeout: true },
      ...(this.opts.endpoint ? { endpoint: this.opts.endpoint } : {}),
      ...(config.credentials
        ? {
            credentials: {
              accessKeyId: config.credentials.accessKeyId.reveal(),
              secretAccessKey: config.credentials.secretAccessKey.reveal(),
            },
          }
        : this.opts.defaultCredentials
          ? { credentials: this.opts.defaultCredentials }
          : {}),
    };
    const client = (this.opts.create ?? ((x) => new SESClient(x)))(cfg);
    this.current = { client, key, mode, createdAt: this.now() };
    this.opts.logger?.info({ credentialMode: mode, region: config.region, reason }, "SES client ready");
    return this.current;
  }

  destroy(): void {
    this.current?.client.destroy();
    this.current = undefined;
  }
}
