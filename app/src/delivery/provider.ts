/**
 * The delivery layer's seam. A provider sends one message to one recipient; the
 * dispatcher (dispatch.ts) paces a batch within the provider's limits and keeps the
 * delivery ledger. SES, SendGrid and the migration router (itself a provider that picks
 * one of the two per recipient) all sit behind this interface.
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
  /** The provider that actually accepted it, when a router picked one. @default - the provider called */
  readonly provider?: string;
  /** Set when this provider was a fallback after another certainly rejected the message. */
  readonly fallbackFrom?: string;
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
  /** Releases sockets and finishes background work (e.g. recording a rollback). */
  close?(): Promise<void>;
}

/**
 * Why the dispatcher did not try a recipient: the ledger says it is handled or held, or the
 * run was stopped (SIGTERM) before its send started.
 */
export type SkipReason = "already_sent" | "unknown" | "in_progress" | "interrupted";

export type DeliveryResult =
  | {
      readonly status: "sent";
      readonly recipient: string;
      readonly provider: string;
      readonly messageId: string;
      readonly attempts: number;
      readonly latencyMs: number;
      readonly fallbackFrom?: string;
      /** Set when the ledger could not record the outcome (the item stays in_progress). */
      readonly ledgerError?: string;
    }
  | {
      readonly status: "failed";
      readonly recipient: string;
      readonly provider: string;
      readonly error: DigestError;
      readonly attempts: number;
      readonly latencyMs: number;
      /** True when the provider certainly did not accept it (safe to retry elsewhere); false: outcome unknown. */
      readonly definitelyNotSent: boolean;
      readonly ledgerError?: string;
    }
  | {
      /** Not tried: the ledger says another run sent it, left it unknown, or holds a live claim; or the run was stopped first. */
      readonly status: "skipped";
      readonly recipient: string;
      readonly reason: SkipReason;
      readonly provider?: string;
      readonly messageId?: string;
      readonly attempts: 0;
      readonly latencyMs: number;
    };
