/**
 * Picks the provider for a run from the config. Until the migration router (#5) exists,
 * SES is the only provider: with `use_ses` false (the seed's manual rollback) nothing is
 * sent through SES and every recipient fails with a clear code, rather than silently
 * ignoring the flag. #5 replaces this with the SendGrid provider and the sticky router.
 */
import type { SESClient } from "@aws-sdk/client-ses";
import type { DigestConfig } from "../config";
import { DeliveryError } from "../errors";
import type { Logger } from "../log";
import type { DeliveryProvider } from "./provider";
import { SesProvider } from "./ses";

export interface ProviderFactories {
  /** The current SES client (refreshed by SesClientCache). */
  readonly ses: () => SESClient | Promise<SESClient>;
  readonly logger?: Logger;
}

/** A provider that refuses every message (no usable provider for this config). */
export class UnavailableProvider implements DeliveryProvider {
  constructor(
    readonly name: string,
    private readonly reason: string,
  ) {}
  async limits() {
    return { maxPerSecond: 100, remaining24h: Infinity };
  }
  async send(m: { to: string }): Promise<never> {
    throw new DeliveryError(m.to, this.reason, true);
  }
}

export function dispatchProviderFor(config: DigestConfig, f: ProviderFactories): DeliveryProvider {
  if (!config.useSes) {
    f.logger?.warn("use_ses is false and no SendGrid provider exists yet (#5); nothing will be sent");
    return new UnavailableProvider("sendgrid", "use_ses is false and the SendGrid fallback is not available");
  }
  if (config.sesPercent < 100) f.logger?.warn({ sesPercent: config.sesPercent }, "ses_percent below 100 is honoured by the router (#5); sending all through SES");
  return new SesProvider(f.ses, { configurationSet: config.configurationSet, logger: f.logger });
}
