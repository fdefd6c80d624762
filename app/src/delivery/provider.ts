/**
 * The delivery layer's seam. A provider sends one message to one recipient; the
 * dispatcher (dispatch.ts) paces a batch within the provider's limits. Issue #5 plugs a
 * SendGrid provider and a router (itself a provider) in here without touching the digest.
 */
import type { DigestError } from "../errors";

/** One digest addressed to one recipient, provider-neutral (SES sends it as raw MIME, SendGrid as JSON). */
export interface DigestMessage {
  readonly from: string;
  readonly to: string;
  readonly subject: string;
  readonly html: string;
  readonly text: string;
  readonly date: Date;
  /** Extra headers (List-Unsubscribe, List-Unsubscribe-Post). */
  readonly headers: Readonly<Record<string, string>>;
  /** Provider tags: run id, digest date. Names/values limited to [A-Za-z0-9_-]. */
  readonly tags: Readonly<Record<string, string>>;
}

/** What a provider lets this run send. */
export interface SendLimits {
  /** Messages per second. */
  readonly maxPerSecond: number;
  /** Messages left in the rolling 24 hours (Infinity when unlimited). */
  readonly remaining24h: number;
  /** The 24-hour quota and what was used of it before this run, when the provider reports them. */
  readonly quota24h?: { readonly max: number; readonly used: number };
}

export interface SendReceipt {
  readonly messageId: string;
}

/** A way to deliver one message. `send` throws a {@link DigestError} on failure. */
export interface DeliveryProvider {
  /** "ses", "sendgrid", "router" ... (logs, metrics, the ledger). */
  readonly name: string;
  /** Called once per run, before the first send. */
  limits(): Promise<SendLimits>;
  /**
   * Optional local work for `message` (e.g. building MIME) that the dispatcher runs before
   * taking a send slot, so the paced moment is the request itself.
   */
  prepare?(message: DigestMessage): Promise<void>;
  send(message: DigestMessage): Promise<SendReceipt>;
}

export type DeliveryResult =
  | { readonly status: "sent"; readonly recipient: string; readonly provider: string; readonly messageId: string; readonly attempts: number; readonly latencyMs: number }
  | {
      readonly status: "failed";
      readonly recipient: string;
      readonly provider: string;
      readonly error: DigestError;
      readonly attempts: number;
      readonly latencyMs: number;
      /** True when the provider certainly did not accept it (safe to retry elsewhere). */
      readonly definitelyNotSent: boolean;
    };
