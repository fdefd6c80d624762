/**
 * The lanes of one dispatch: one per provider the run may use, each with that provider's
 * rate (capped by the run's ceiling), its own {@link Pacer} and its daily quota; and the
 * {@link SendGate} each recipient's provider requests pass (see provider.ts).
 */
import { LedgerClaimLostError, LedgerUnavailableError, DeliveryError, DigestError, QuotaExceededError, SendInterruptedError } from "../errors";
import type { ClaimToken, DeliveryClaims } from "../ledger";
import type { Logger } from "../log";
import { Pacer } from "./pacer";
import { isRoutingProvider, type DeliveryProvider, type SendGate, type SendLimits } from "./provider";

export interface Lane {
  readonly name: string;
  /** Sends per second enforced on this lane. */
  readonly rate: number;
  readonly limits: SendLimits;
  readonly pacer: Pacer;
  /** Sends this run may still make through this provider today. */
  remaining: number;
}

export interface LaneOptions {
  /** Upper bound on every lane's sends per second. @default - each provider's own rate */
  readonly ceilingPerSecond?: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly logger?: Logger;
}

export class Lanes {
  private constructor(
    private readonly byName: Map<string, Lane>,
    private readonly opts: LaneOptions,
  ) {}

  /** Reads the provider's limits (a router's per provider) and opens a lane for each; throws when they cannot be read. */
  static async open(provider: DeliveryProvider, opts: LaneOptions): Promise<Lanes> {
    const limits = isRoutingProvider(provider) ? await provider.lanes() : new Map([[provider.name, await provider.limits()]]);
    const lanes = new Lanes(new Map(), opts);
    for (const [name, l] of limits) lanes.add(name, l);
    return lanes;
  }

  /** The lane of `provider`. A provider with no limits read gets a cautious 1/s lane. */
  get(provider: string): Lane {
    const lane = this.byName.get(provider);
    if (lane) return lane;
    this.opts.logger?.warn({ provider }, "no sending limits were read for this provider; pacing it at 1/s");
    return this.add(provider, { maxPerSecond: 1, remaining24h: Infinity });
  }

  get all(): readonly Lane[] {
    return [...this.byName.values()];
  }

  private add(name: string, limits: SendLimits): Lane {
    const ceiling = this.opts.ceilingPerSecond && this.opts.ceilingPerSecond > 0 ? this.opts.ceilingPerSecond : Infinity;
    const rate = Math.min(limits.maxPerSecond > 0 ? limits.maxPerSecond : 1, ceiling);
    const lane: Lane = { name, rate, limits, pacer: new Pacer(1000 / rate, this.opts.now, this.opts.sleep), remaining: limits.remaining24h };
    this.byName.set(name, lane);
    return lane;
  }
}

/**
 * One recipient's gate: every provider request for it passes here first, in this order:
 * the provider's next send slot, its quota, the ledger's `sending` mark (the first pass
 * only), the stop check. Records when the last request started, for its latency.
 */
export class RecipientGate implements SendGate {
  /** When the last request that passed started (the injected clock). */
  requestStartedAt?: number;
  /** The provider of that request. */
  requestProvider?: string;
  /** Provider requests made (passes). */
  passes = 0;
  private marked = false;

  constructor(
    private readonly recipient: string,
    private readonly lanes: Lanes,
    private readonly o: {
      readonly now: () => number;
      readonly signal?: AbortSignal;
      readonly ledger?: DeliveryClaims;
      readonly token?: ClaimToken;
      /** Told once, when the recipient's first request is about to start (it is in flight from then on). */
      readonly onSending?: () => void;
    },
  ) {}

  async pass(provider: string): Promise<void> {
    const lane = this.lanes.get(provider);
    if (!(await lane.pacer.acquire(this.o.signal))) throw new SendInterruptedError(this.recipient);
    if (lane.remaining <= 0) throw new QuotaExceededError({ operation: `${provider}:quota`, resource: this.recipient });
    if (!this.marked && this.o.ledger && this.o.token) {
      try {
        await this.o.ledger.sending(this.o.token, this.o.signal);
      } catch (err) {
        if (err instanceof LedgerClaimLostError || err instanceof SendInterruptedError) throw err;
        throw new LedgerUnavailableError(this.recipient, err instanceof DigestError ? err : new DeliveryError(this.recipient, "ledger write failed"));
      }
      this.marked = true;
    }
    // The last moment before the request: a stop that came during the mark is honoured.
    if (this.o.signal?.aborted) throw new SendInterruptedError(this.recipient);
    lane.remaining--;
    this.passes++;
    if (this.passes === 1) this.o.onSending?.();
    this.requestProvider = provider;
    this.requestStartedAt = this.o.now();
  }
}
