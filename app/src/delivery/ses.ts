/**
 * Amazon SES (API v1) provider: the message goes as raw MIME through SendRawEmail, with
 * the configuration set (only when configured) and message tags; limits come from
 * GetSendQuota. SES errors are mapped to coded, payload-free errors.
 */
import { GetSendQuotaCommand, SendRawEmailCommand, type SESClient } from "@aws-sdk/client-ses";
import { DigestError, ProviderSetupError, SendInterruptedError, mapAwsError } from "../errors";
import type { Logger } from "../log";
import { buildMime } from "../mime";
import type { DeliveryProvider, DigestMessage, SendLimits, SendReceipt } from "./provider";

export interface SesProviderOptions {
  /** SES configuration set for event publishing. @default - none sent */
  readonly configurationSet?: string;
  readonly logger?: Logger;
  /**
   * The run's stop. Building the MIME and getting the client take a moment after the
   * dispatcher's gate let the request through; a stop in that moment is honoured here, so no
   * request leaves after it. @default - none
   */
  readonly signal?: AbortSignal;
}

/** SES tag names and values allow only ASCII letters, digits, '_' and '-' (at most 255). */
export function sesTagValue(value: string): string {
  return value.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 255) || "_";
}

export class SesProvider implements DeliveryProvider {
  readonly name = "ses";
  private readonly client: () => SESClient | Promise<SESClient>;

  /**
   * `client` is a client, or a function returning the current one: called before every
   * call, so a client rebuilt after a credential rotation or its TTL is picked up mid-run.
   */
  constructor(
    client: SESClient | (() => SESClient | Promise<SESClient>),
    private readonly opts: SesProviderOptions = {},
  ) {
    this.client = typeof client === "function" ? client : () => client;
  }

  async limits(): Promise<SendLimits> {
    // The client makes one attempt per call (see SesClientCache); a read is safe to retry.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.readQuota();
      } catch (err) {
        if (!(err instanceof DigestError) || !err.retryable || attempt >= 3) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
      }
    }
  }

  private async readQuota(): Promise<SendLimits> {
    try {
      const q = await (await this.client()).send(new GetSendQuotaCommand({}));
      const max24 = q.Max24HourSend ?? -1;
      const sent = q.SentLast24Hours ?? 0;
      const limits = {
        maxPerSecond: q.MaxSendRate && q.MaxSendRate > 0 ? q.MaxSendRate : 1,
        remaining24h: max24 < 0 ? Infinity : Math.max(0, Math.floor(max24 - sent)),
        ...(max24 > 0 ? { quota24h: { max: max24, used: sent } } : {}),
      };
      this.opts.logger?.info({ maxSendRate: limits.maxPerSecond, max24HourSend: max24, sentLast24Hours: sent }, "SES send quota");
      return limits;
    } catch (err) {
      throw mapAwsError(err, "ses:GetSendQuota", "account");
    }
  }

  async send(m: DigestMessage): Promise<SendReceipt> {
    // Built here, after the send slot: the MIME of a recipient lives only while its request does.
    const raw = await buildMime(m);
    // Getting the client may reload the config (Parameter Store): a failure there made no
    // SES request, and the router must tell it from an SES answer.
    let client: SESClient;
    try {
      client = await this.client();
    } catch (err) {
      throw new ProviderSetupError(this.name, m.to, err instanceof DigestError ? err : mapAwsError(err, "ses:client", m.to));
    }
    // Nothing awaits between this check and the request leaving (client.send runs its
    // middleware synchronously up to the network).
    if (this.opts.signal?.aborted) throw new SendInterruptedError(m.to);
    try {
      const out = await client.send(
        new SendRawEmailCommand({
          Source: m.from,
          Destinations: [m.to],
          RawMessage: { Data: raw },
          ...(this.opts.configurationSet ? { ConfigurationSetName: this.opts.configurationSet } : {}),
          Tags: Object.entries(m.tags).map(([Name, Value]) => ({ Name: sesTagValue(Name), Value: sesTagValue(Value) })),
        }),
      );
      if (!out.MessageId) throw mapAwsError({ name: "MissingMessageId", $metadata: out.$metadata }, "ses:SendRawEmail", m.to);
      this.opts.logger?.info({ provider: this.name, recipient: m.to, messageId: out.MessageId }, "SES accepted the message");
      return { messageId: out.MessageId };
    } catch (err) {
      throw mapAwsError(err, "ses:SendRawEmail", m.to);
    }
  }
}
