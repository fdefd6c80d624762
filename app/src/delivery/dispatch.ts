/**
 * Sends one digest to a list of recipients through one provider (usually the migration
 * router), in this order:
 *
 *   1. open the lanes: each provider's limits, one pacer per provider (lanes.ts);
 *   2. deliver: per lane, workers take that lane's recipients one by one (deliver-one.ts:
 *      claim, build the message, send through the gate, settle in the ledger);
 *   3. reconcile: outcomes the ledger could not record within their retry budget are
 *      written once more;
 *   4. account: every recipient has a result (never tried: `interrupted`).
 *
 * A stop (SIGTERM) ends step 2 early: no new recipient is claimed and no provider request
 * starts after it (the gate checks it last, after the ledger's `sending` mark); claims not
 * sent are released. Never throws: failures are results.
 */
import { DeliveryError, DigestError } from "../errors";
import type { DeliveryClaims } from "../ledger";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { deliverOne, type Unrecorded } from "./deliver-one";
import { Lanes } from "./lanes";
import { isRoutingProvider, type DeliveryProvider, type DeliveryResult, type DigestMessage, type SendLimits } from "./provider";

export interface DispatchOptions {
  /** Upper bound on each provider's sends per second, below its own rate. @default - each provider's rate */
  readonly ceilingPerSecond?: number;
  /** Attempts per message when throttled. @default 4 */
  readonly maxAttempts?: number;
  /** @default 250 */
  readonly baseBackoffMs?: number;
  /** @default 8000 */
  readonly maxBackoffMs?: number;
  /** A provider asking to wait longer than this (429 X-RateLimit-Reset) fails the recipient instead. @default 60000 */
  readonly maxRetryAfterMs?: number;
  /**
   * Most recipients in progress at once per provider. @default half a second of the
   * provider's rate (rounded up), at most 32: enough to keep the pacer busy through a claim,
   * a sending mark, the request and the outcome at ~80 ms each, and no more requests in
   * flight (each holding its message's bodies) than that needs. A value given here is
   * capped at one second of the provider's rate.
   */
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
  /** Called with each recipient's final result as it is known. */
  readonly onResult?: (result: DeliveryResult, index: number) => void;
  /** Called when a recipient is claimed (0) and when its first provider request starts (1). */
  readonly onProgress?: (index: number, stage: "claimed" | "sending") => void;
  /** Called when an outcome the ledger could not record at first is recorded in the reconcile step. */
  readonly onRecorded?: (index: number) => void;
  /** Keep every result in the outcome (callers that count them through onResult pass false). @default true */
  readonly keepResults?: boolean;
}

/** The recipients of a dispatch: addresses, and the one function that builds each one's message when its turn comes. */
export interface Recipients {
  readonly list: readonly string[];
  messageFor(to: string): DigestMessage;
}

export interface DispatchOutcome {
  /** Per recipient, in list order (empty when keepResults is false). */
  readonly results: DeliveryResult[];
  /** The lane of each provider: its limits and the rate enforced. */
  readonly lanes: readonly { readonly name: string; readonly rate: number; readonly limits: SendLimits }[];
  /** The first lane's rate (the only one for a plain provider). */
  readonly rate: number;
  /** SES's (or the only provider's) limits, for the quota metric. */
  readonly limits?: SendLimits;
  /** Sends the ledger could not record even after the reconcile step. */
  readonly unrecorded: readonly Unrecorded[];
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Delivers to every recipient through `provider`; never throws. */
export async function dispatch(provider: DeliveryProvider, recipients: readonly DigestMessage[] | Recipients, opts: DispatchOptions = {}): Promise<DispatchOutcome> {
  const list = isRecipients(recipients) ? recipients : fromMessages(recipients);
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? realSleep;
  const keep = opts.keepResults !== false;
  const results: DeliveryResult[] = keep ? new Array<DeliveryResult>(list.list.length) : [];
  const done = new Uint8Array(list.list.length);
  const report = (i: number, r: DeliveryResult) => {
    done[i] = 1;
    if (keep) results[i] = r;
    opts.onResult?.(r, i);
  };
  if (list.list.length === 0) return { results: [], lanes: [], rate: 0, unrecorded: [] };

  // 1. Lanes.
  let lanes: Lanes;
  try {
    lanes = await Lanes.open(provider, { ceilingPerSecond: opts.ceilingPerSecond, now, sleep, logger: opts.logger });
  } catch (err) {
    const error = err instanceof DigestError ? err : new DeliveryError(provider.name, "could not read the sending limits", true);
    opts.logger?.error({ provider: provider.name, err: error }, "could not read the provider's sending limits; nothing sent");
    list.list.forEach((to, i) => report(i, { status: "failed", recipient: to, provider: provider.name, error, attempts: 0, latencyMs: 0, definitelyNotSent: true }));
    return { results, lanes: [], rate: 0, unrecorded: [] };
  }
  const laneInfo = lanes.all.map((l) => ({ name: l.name, rate: l.rate, limits: l.limits }));
  opts.logger?.info({ lanes: laneInfo.map((l) => ({ provider: l.name, rate: l.rate, remaining24h: l.limits.remaining24h })) }, "sending limits");

  // 2. Deliver, each lane's recipients by that lane's workers.
  const queues = new Map<string, number[]>();
  const routeOf = isRoutingProvider(provider) ? (to: string) => provider.routeOf(to) : () => provider.name;
  list.list.forEach((to, i) => {
    const lane = routeOf(to);
    let q = queues.get(lane);
    if (!q) queues.set(lane, (q = []));
    q.push(i);
  });
  const unrecorded: Unrecorded[] = [];
  const ctx = {
    provider,
    lanes,
    ledger: opts.ledger,
    messageFor: list.messageFor,
    now,
    sleep,
    random: opts.random ?? Math.random,
    maxAttempts: Math.min(Math.max(opts.maxAttempts ?? 4, 1), 10),
    baseBackoffMs: opts.baseBackoffMs ?? 250,
    maxBackoffMs: opts.maxBackoffMs ?? 8000,
    maxRetryAfterMs: opts.maxRetryAfterMs ?? 60_000,
    signal: opts.signal,
    logger: opts.logger,
    metrics: opts.metrics,
    onProgress: opts.onProgress,
    unrecorded,
  };
  const stopped = () => opts.signal?.aborted === true;
  const workers: Promise<void>[] = [];
  for (const [laneName, queue] of queues) {
    const lane = lanes.get(laneName);
    let next = 0;
    const worker = async () => {
      while (next < queue.length && !stopped()) {
        const i = queue[next++];
        report(i, await deliverOne(ctx, i, list.list[i]));
      }
    };
    const cap = opts.maxConcurrency !== undefined ? Math.min(opts.maxConcurrency, Math.ceil(lane.rate)) : Math.min(32, Math.ceil(lane.rate / 2));
    const n = Math.max(1, Math.min(cap, queue.length));
    for (let w = 0; w < n; w++) workers.push(worker());
  }
  await Promise.all(workers);

  // 3. Reconcile: one more try for outcomes the ledger did not take.
  const stillUnrecorded: Unrecorded[] = [];
  for (const u of unrecorded) {
    try {
      await opts.ledger!.settle(u.token, u.outcome);
      opts.logger?.info({ recipient: u.recipient, state: u.outcome.state }, "ledger: outcome recorded on the second try");
      opts.onRecorded?.(u.index);
      if (keep && results[u.index]) results[u.index] = withoutLedgerError(results[u.index]);
    } catch (err) {
      opts.logger?.error(
        { recipient: u.recipient, state: u.outcome.state, provider: u.outcome.provider, messageId: u.outcome.state === "sent" ? u.outcome.messageId : undefined, err },
        "ledger: could not record this outcome; the item stays in_progress (see `unrecorded` in the summary to reconcile it)",
      );
      stillUnrecorded.push(u);
    }
  }

  // 4. Every recipient has a result: those never started were interrupted.
  list.list.forEach((to, i) => {
    if (!done[i]) report(i, { status: "skipped", recipient: to, reason: "interrupted", attempts: 0, latencyMs: 0 });
  });
  const ses = laneInfo.find((l) => l.name === "ses") ?? (laneInfo.length === 1 ? laneInfo[0] : undefined);
  return { results, lanes: laneInfo, rate: laneInfo[0]?.rate ?? 0, ...(ses ? { limits: ses.limits } : {}), unrecorded: stillUnrecorded };
}

function isRecipients(r: readonly DigestMessage[] | Recipients): r is Recipients {
  return !Array.isArray(r);
}

/** A prepared list of messages as {@link Recipients} (tests, the benchmark). */
function fromMessages(messages: readonly DigestMessage[]): Recipients {
  const byTo = new Map(messages.map((m) => [m.to, m]));
  return { list: messages.map((m) => m.to), messageFor: (to) => byTo.get(to)! };
}

function withoutLedgerError(r: DeliveryResult): DeliveryResult {
  if (r.status === "skipped" || !r.ledgerError) return r;
  const { ledgerError: _dropped, ...rest } = r;
  return rest as DeliveryResult;
}
