/**
 * Sends a batch of messages through one provider within its limits: at most
 * min(provider rate, ceiling) sends started per second (consecutive starts are at least
 * 1/rate apart on the injected clock), up to that many in flight, never more than the
 * 24-hour quota left, and exponential backoff with full jitter when the provider throttles
 * (at least as long as SendGrid's X-RateLimit-Reset asks).
 *
 * With a ledger, each recipient is claimed just before its send (so a concurrent run
 * sees the claim), marked `sending` right before the request, and settled after it:
 * sent, failed (certainly not sent: the next run retries) or unknown (ambiguous: never
 * resent automatically).
 *
 * When `signal` aborts (SIGTERM), no new recipient is claimed or started; sends in flight
 * finish and settle, a claim whose send had not started is released (`failed`, so the next
 * run sends it), and the recipients not tried are reported as skipped, reason `interrupted`.
 */
import { METRICS } from "../contract";
import {
  DeliveryError,
  DigestError,
  LedgerClaimLostError,
  LedgerUnavailableError,
  QuotaExceededError,
  SendGridThrottledError,
  isDefinitelyNotSent,
  isThrottled,
  providerOfError,
} from "../errors";
import type { ClaimToken, DeliveryClaims, SettleOutcome } from "../ledger";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import type { DeliveryProvider, DeliveryResult, DigestMessage, SendLimits } from "./provider";

export interface DispatchOptions {
  /** Upper bound on sends per second, below the provider's own. @default - the provider's rate */
  readonly ceilingPerSecond?: number;
  /** Attempts per message when throttled. @default 4 */
  readonly maxAttempts?: number;
  /** @default 250 */
  readonly baseBackoffMs?: number;
  /** @default 8000 */
  readonly maxBackoffMs?: number;
  /** A provider asking to wait longer than this (429 X-RateLimit-Reset) fails the recipient instead. @default 60000 */
  readonly maxRetryAfterMs?: number;
  /** Most sends in flight at once. @default 64 (and at most the rate, rounded up) */
  readonly maxConcurrency?: number;
  /** Exactly-once claims for this digest. @default - none (no ledger) */
  readonly ledger?: DeliveryClaims;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /** Stops the dispatch (SIGTERM): nothing new starts; what is in flight settles. @default - never */
  readonly signal?: AbortSignal;
  /** Called with each recipient's final result as it is known (progress for a bounded shutdown). */
  readonly onResult?: (result: DeliveryResult) => void;
}

export interface DispatchOutcome {
  readonly results: DeliveryResult[];
  readonly limits?: SendLimits;
  /** The rate actually enforced (sends per second). */
  readonly rate: number;
}

/** Spaces starts at least `intervalMs` apart, in call order. */
export class Pacer {
  private next = -Infinity;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {}

  /** Resolves when the caller may start; reserves the following slot. */
  acquire(): Promise<void> {
    const turn = this.chain.then(async () => {
      for (let i = 0; i < 10_000; i++) {
        const t = this.now();
        if (t >= this.next) {
          this.next = t + this.intervalMs;
          return;
        }
        await this.sleep(this.next - t);
      }
    });
    this.chain = turn;
    return turn;
  }
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Delivers `messages` (one per recipient) through `provider`; never throws. */
export async function dispatch(provider: DeliveryProvider, messages: readonly DigestMessage[], opts: DispatchOptions = {}): Promise<DispatchOutcome> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  const random = opts.random ?? Math.random;
  const maxAttempts = Math.min(Math.max(opts.maxAttempts ?? 4, 1), 10);
  const base = opts.baseBackoffMs ?? 250;
  const cap = opts.maxBackoffMs ?? 8000;
  const maxRetryAfter = opts.maxRetryAfterMs ?? 60_000;
  const results: DeliveryResult[] = new Array(messages.length);
  if (messages.length === 0) return { results: [], rate: 0 };

  let limits: SendLimits;
  try {
    limits = await provider.limits();
  } catch (err) {
    const error = err instanceof DigestError ? err : new DeliveryError(provider.name, "could not read the sending limits", true);
    const definitelyNotSent = true;
    opts.logger?.error({ provider: provider.name, err: error }, "could not read the provider's sending limits; nothing sent");
    return {
      results: messages.map((m) => ({ status: "failed", recipient: m.to, provider: provider.name, error, attempts: 0, latencyMs: 0, definitelyNotSent })),
      rate: 0,
    };
  }
  const ceiling = opts.ceilingPerSecond && opts.ceilingPerSecond > 0 ? opts.ceilingPerSecond : Infinity;
  const rate = Math.min(limits.maxPerSecond > 0 ? limits.maxPerSecond : 1, ceiling);
  const allowed = Math.min(messages.length, limits.remaining24h);
  if (allowed < messages.length) {
    opts.logger?.warn({ provider: provider.name, remaining24h: limits.remaining24h, recipients: messages.length }, "daily quota left is smaller than the recipient list; the rest are not sent");
  }
  const pacer = new Pacer(Number.isFinite(rate) ? 1000 / rate : 0, now, sleep);
  const concurrency = Math.max(1, Math.min(Number.isFinite(rate) ? Math.ceil(rate) : 16, opts.maxConcurrency ?? 64, allowed));

  const stopped = () => opts.signal?.aborted === true;
  const interrupted = (m: DigestMessage, started: number): DeliveryResult => ({ status: "skipped", recipient: m.to, reason: "interrupted", attempts: 0, latencyMs: now() - started });
  let next = 0;
  const worker = async () => {
    while (next < allowed && !stopped()) {
      const i = next++;
      results[i] = await sendOne(messages[i]);
      opts.onResult?.(results[i]);
    }
  };

  const failed = (m: DigestMessage, error: DigestError, attempts: number, started: number, definitelyNotSent: boolean, name = provider.name): DeliveryResult => ({
    status: "failed",
    recipient: m.to,
    provider: name,
    error,
    attempts,
    latencyMs: now() - started,
    definitelyNotSent,
  });

  /** Provider attempts for one claimed (or ledger-less) recipient. */
  const attemptSend = async (m: DigestMessage, token: ClaimToken | undefined, started: number): Promise<DeliveryResult> => {
    let attempt = 0;
    try {
      await provider.prepare?.(m);
    } catch (err) {
      const error = err instanceof DigestError ? err : new DeliveryError(m.to, "could not prepare the message", true);
      return failed(m, error, 0, started, true);
    }
    for (;;) {
      attempt++;
      await pacer.acquire();
      if (attempt === 1 && stopped()) return interrupted(m, started);
      if (token && attempt === 1) {
        try {
          await opts.ledger!.sending(token);
        } catch (err) {
          if (err instanceof LedgerClaimLostError) {
            // Another run claimed it meanwhile (ours expired, or a racing claim won): it is theirs.
            opts.logger?.warn({ recipient: m.to }, "ledger claim taken over by another run before sending; not sending");
            return { status: "skipped", recipient: m.to, reason: "in_progress", attempts: 0, latencyMs: now() - started };
          }
          return failed(m, new LedgerUnavailableError(m.to, err instanceof DigestError ? err : new DeliveryError(m.to, "ledger write failed")), 0, started, true);
        }
      }
      const t0 = now();
      try {
        const receipt = await provider.send(m);
        opts.metrics?.observe(METRICS.deliveryLatencyMs, now() - t0);
        return {
          status: "sent",
          recipient: m.to,
          provider: receipt.provider ?? provider.name,
          messageId: receipt.messageId,
          attempts: attempt,
          latencyMs: now() - started,
          ...(receipt.fallbackFrom ? { fallbackFrom: receipt.fallbackFrom } : {}),
        };
      } catch (err) {
        const error = err instanceof DigestError ? err : new DeliveryError(m.to, "unexpected provider failure");
        const definitelyNotSent = isDefinitelyNotSent(error);
        const name = providerOfError(error) ?? provider.name;
        if (isThrottled(error) && attempt < maxAttempts) {
          const asked = error instanceof SendGridThrottledError ? error.retryAfterMs : undefined;
          if (asked !== undefined && asked > maxRetryAfter) {
            opts.logger?.warn({ provider: name, recipient: m.to, retryAfterMs: asked }, "rate limited for longer than we wait; not sent");
            return failed(m, error, attempt, started, true, name);
          }
          if (stopped()) return failed(m, error, attempt, started, true, name); // throttled: not accepted; no more waiting
          const backoff = Math.max(Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1))), asked ?? 0);
          opts.logger?.warn({ provider: name, recipient: m.to, attempt, backoffMs: backoff }, "throttled; backing off");
          await sleep(backoff);
          continue;
        }
        return failed(m, error, attempt, started, definitelyNotSent, name);
      }
    }
  };

  const sendOne = async (m: DigestMessage): Promise<DeliveryResult> => {
    const started = now();
    const ledger = opts.ledger;
    if (stopped()) return interrupted(m, started);
    if (!ledger) return attemptSend(m, undefined, started);
    let token: ClaimToken;
    try {
      const c = await ledger.claim(m.to);
      if (c.kind === "skip") {
        opts.logger?.info({ recipient: m.to, reason: c.reason, provider: c.item.provider, messageId: c.item.messageId }, "ledger: not sending");
        return {
          status: "skipped",
          recipient: m.to,
          reason: c.reason,
          ...(c.item.provider ? { provider: c.item.provider } : {}),
          ...(c.item.messageId ? { messageId: c.item.messageId } : {}),
          attempts: 0,
          latencyMs: now() - started,
        };
      }
      token = c.token;
    } catch (err) {
      const error = new LedgerUnavailableError(m.to, err instanceof DigestError ? err : new DeliveryError(m.to, "ledger claim failed"));
      opts.logger?.error({ recipient: m.to, err: error }, "ledger claim failed; not sending (exactly-once first)");
      return failed(m, error, 0, started, true);
    }
    const result = await attemptSend(m, token, started);
    if (result.status === "skipped" && result.reason === "interrupted") {
      // Claimed, never sent: release it so the next run sends it instead of waiting out the lease.
      await ledger.settle(token, { state: "failed", errorCode: "INTERRUPTED" }).catch((err: unknown) => {
        opts.logger?.warn({ recipient: m.to, err }, "could not release the ledger claim of a recipient not sent (the lease expires)");
      });
      return result;
    }
    if (result.status === "skipped") return result;
    const outcome: SettleOutcome =
      result.status === "sent"
        ? { state: "sent", provider: result.provider, messageId: result.messageId }
        : { state: result.status === "failed" && result.definitelyNotSent ? "failed" : "unknown", provider: result.provider, errorCode: result.status === "failed" ? result.error.code : "UNKNOWN" };
    try {
      await ledger.settle(token, outcome);
    } catch (err) {
      const code = err instanceof DigestError ? err.code : "LEDGER_UNAVAILABLE";
      opts.logger?.error(
        { recipient: m.to, state: outcome.state, err },
        code === "LEDGER_CLAIM_LOST" ? "ledger claim was taken over during the send; the recipient may get the digest twice" : "could not record the outcome in the ledger",
      );
      return { ...result, ledgerError: code } as DeliveryResult;
    }
    return result;
  };

  await Promise.all(Array.from({ length: concurrency }, worker));
  for (let i = 0; i < allowed; i++) {
    if (results[i] === undefined) results[i] = interrupted(messages[i], now());
  }
  for (let i = allowed; i < messages.length; i++) {
    const error = new QuotaExceededError({ operation: `${provider.name}:quota`, resource: messages[i].to });
    results[i] = { status: "failed", recipient: messages[i].to, provider: provider.name, error, attempts: 0, latencyMs: 0, definitelyNotSent: true };
  }
  return { results, limits, rate };
}
