/**
 * Sends a batch of messages through one provider within its limits: at most
 * min(provider rate, ceiling) sends started per second (consecutive starts are at least
 * 1/rate apart on the injected clock), up to that many in flight, never more than the
 * 24-hour quota left, and exponential backoff with full jitter when the provider throttles.
 */
import { METRICS } from "../contract";
import { AwsServiceError, DeliveryError, DigestError, QuotaExceededError } from "../errors";
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
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
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
  const concurrency = Math.max(1, Math.min(Number.isFinite(rate) ? Math.ceil(rate) : 16, 64, allowed));

  let next = 0;
  const worker = async () => {
    while (next < allowed) {
      const i = next++;
      results[i] = await sendOne(messages[i]);
    }
  };

  const sendOne = async (m: DigestMessage): Promise<DeliveryResult> => {
    const started = now();
    let attempt = 0;
    try {
      await provider.prepare?.(m);
    } catch (err) {
      const error = err instanceof DigestError ? err : new DeliveryError(m.to, "could not prepare the message", true);
      return { status: "failed", recipient: m.to, provider: provider.name, error, attempts: 0, latencyMs: now() - started, definitelyNotSent: true };
    }
    for (;;) {
      attempt++;
      await pacer.acquire();
      const t0 = now();
      try {
        const receipt = await provider.send(m);
        opts.metrics?.observe(METRICS.deliveryLatencyMs, now() - t0);
        return { status: "sent", recipient: m.to, provider: provider.name, messageId: receipt.messageId, attempts: attempt, latencyMs: now() - started };
      } catch (err) {
        const error = err instanceof DigestError ? err : new DeliveryError(m.to, "unexpected provider failure");
        const definitelyNotSent = error instanceof AwsServiceError ? error.definitelyNotSent : "definitelyNotSent" in error && error.definitelyNotSent === true;
        const throttled = error.code === "AWS_THROTTLED";
        if (throttled && attempt < maxAttempts) {
          const backoff = Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1)));
          opts.logger?.warn({ provider: provider.name, recipient: m.to, attempt, backoffMs: backoff }, "throttled; backing off");
          await sleep(backoff);
          continue;
        }
        return { status: "failed", recipient: m.to, provider: provider.name, error, attempts: attempt, latencyMs: now() - started, definitelyNotSent };
      }
    }
  };

  await Promise.all(Array.from({ length: concurrency }, worker));
  for (let i = allowed; i < messages.length; i++) {
    const error = new QuotaExceededError({ operation: `${provider.name}:quota`, resource: messages[i].to });
    results[i] = { status: "failed", recipient: messages[i].to, provider: provider.name, error, attempts: 0, latencyMs: 0, definitelyNotSent: true };
  }
  return { results, limits, rate };
}
