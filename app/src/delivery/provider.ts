/**
 * The delivery layer's seam. A provider sends one message to one recipient; the
 * dispatcher (dispatch.ts) paces the sends of each provider within that provider's limits
 * and keeps the delivery ledger. SES, SendGrid and the migration router (itself a provider
 * that picks one of the two per recipient, see {@link RoutingProvider}) all sit behind
 * this interface.
 *
 * Every provider request passes the dispatcher's {@link SendGate} first, named by the
 * provider that makes it: the gate waits for that provider's next send slot, checks its
 * daily quota, writes the ledger's `sending` mark (once per recipient) and checks the stop
 * signal, so no request starts after SIGTERM and each provider is paced at its own rate
 * whatever the mix. A plain provider is gated by the dispatcher itself; a router calls the
 * gate before each request it makes (a fallback through SendGrid passes SendGrid's gate).
 */
import type { DigestError } from "../errors";

/**
 * One digest addressed to one recipient, provider-neutral (SES sends it as raw MIME,
 * SendGrid as JSON). The run's messages compute `html` and `text` on first read (run/compose.ts),
 * which a provider does after its request passed the gate: the bodies of a recipient exist
 * only from its send slot until its request is answered.
 */
export interface DigestMessage {
  readonly from: string;
  /** The From display name (SES: in the MIME From header; SendGrid: `from.name`). @default - the address alone */
  readonly fromName?: string;
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

/**
 * Passed before every provider request (see the module comment). Throws, and the request
 * must not be made, when: the run was stopped (SendInterruptedError), the provider's daily
 * quota is used up (QuotaExceededError), the ledger could not record the `sending` mark
 * (LedgerUnavailableError) or another run took the claim over (LedgerClaimLostError).
 */
export interface SendGate {
  pass(provider: string): Promise<void>;
}

/** A way to deliver one message. `send` throws a {@link DigestError} on failure. */
export interface DeliveryProvider {
  /** "ses", "sendgrid", "router" ... (logs, metrics, the ledger). */
  readonly name: string;
  /** Called once per run, before the first send. */
  limits(): Promise<SendLimits>;
  /** A plain provider ignores `gate` (the dispatcher passed it already); a router passes it before each request. */
  send(message: DigestMessage, gate?: SendGate): Promise<SendReceipt>;
  /** Releases sockets and finishes background work (e.g. recording a rollback). */
  close?(): Promise<void>;
}

/** A provider over several providers (the migration router): each gets its own pacer. */
export interface RoutingProvider extends DeliveryProvider {
  /** The limits of each provider this run may use, by name. Called once per run instead of limits(). */
  lanes(): Promise<ReadonlyMap<string, SendLimits>>;
  /** The provider `address` goes to first, as things stand now. */
  routeOf(address: string): string;
  /** `send` calls `gate.pass(provider)` before each request it makes. */
  send(message: DigestMessage, gate: SendGate): Promise<SendReceipt>;
}

export function isRoutingProvider(p: DeliveryProvider): p is RoutingProvider {
  return typeof (p as Partial<RoutingProvider>).lanes === "function" && typeof (p as Partial<RoutingProvider>).routeOf === "function";
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
      /** From the claim to the outcome (pacing and retries included). */
      readonly latencyMs: number;
      /** The accepted provider request alone. */
      readonly requestMs?: number;
      readonly fallbackFrom?: string;
      /**
       * Set when the ledger could not record the outcome after its retries (the item stays
       * in_progress with the sending mark; the summary lists it under `unrecorded`).
       */
      readonly ledgerError?: string;
    }
  | {
      readonly status: "failed";
      readonly recipient: string;
      readonly provider: string;
      readonly error: DigestError;
      readonly attempts: number;
      readonly latencyMs: number;
      /** The last provider request, when one was made. */
      readonly requestMs?: number;
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
