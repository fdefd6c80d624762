/**
 * One recipient, start to end: claim it in the ledger, build its message, send it (each
 * provider request through the recipient's gate, throttling answered with backoff), and
 * record the outcome in the ledger:
 *
 *   sent                 -> `sent` (provider, message id, request latency)
 *   certainly not sent   -> `failed` (the next run retries it)
 *   maybe sent           -> `unknown` (never resent automatically)
 *   stopped before sending, or throttled when the stop came
 *                        -> the claim is released (`failed`, INTERRUPTED): the next run sends it
 *
 * An outcome the ledger cannot record within its retry budget is kept for the dispatcher's
 * reconcile step (and, failing that, the summary's `unrecorded` list): a send with a
 * message id is never turned into a failure by a ledger outage.
 */
import { METRICS } from "../contract";
import {
  DeliveryError,
  DigestError,
  LedgerClaimLostError,
  LedgerUnavailableError,
  SendGridThrottledError,
  SendInterruptedError,
  isDefinitelyNotSent,
  isThrottled,
  providerOfError,
} from "../errors";
import type { ClaimToken, DeliveryClaims, SettleOutcome } from "../ledger";
import type { Logger } from "../log";
import type { Metrics } from "../metrics";
import { RecipientGate, type Lanes } from "./lanes";
import { sleepUnlessStopped } from "./pacer";
import { isRoutingProvider, type DeliveryProvider, type DeliveryResult, type DigestMessage } from "./provider";

/** A sent (or settled) outcome the ledger has not recorded yet. */
export interface Unrecorded {
  readonly index: number;
  readonly recipient: string;
  readonly token: ClaimToken;
  readonly outcome: SettleOutcome;
}

export interface DeliverContext {
  readonly provider: DeliveryProvider;
  readonly lanes: Lanes;
  readonly ledger?: DeliveryClaims;
  readonly messageFor: (to: string) => DigestMessage;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  readonly maxAttempts: number;
  readonly baseBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly maxRetryAfterMs: number;
  readonly signal?: AbortSignal;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly onProgress?: (index: number, stage: "claimed" | "sending") => void;
  /** Where outcomes the ledger could not record go. */
  readonly unrecorded: Unrecorded[];
}

export async function deliverOne(ctx: DeliverContext, index: number, to: string): Promise<DeliveryResult> {
  const started = ctx.now();
  const interrupted = (): DeliveryResult => ({ status: "skipped", recipient: to, reason: "interrupted", attempts: 0, latencyMs: ctx.now() - started });
  if (ctx.signal?.aborted) return interrupted();

  const claim = await claimRecipient(ctx, to, started);
  if (claim.kind === "result") return claim.result;
  const token = claim.token;
  ctx.onProgress?.(index, "claimed");

  const gate = new RecipientGate(to, ctx.lanes, { now: ctx.now, signal: ctx.signal, ledger: ctx.ledger, token, onSending: () => ctx.onProgress?.(index, "sending") });
  // The message's bodies are computed by the provider after its request passed the gate.
  const result = await attemptSend(ctx, ctx.messageFor(to), gate, started);
  if (!token) return result;

  if (result.status === "skipped") {
    if (result.reason === "interrupted") await release(ctx, token, "INTERRUPTED");
    return result; // in_progress: another run took the claim over; nothing of ours to record
  }
  if (result.status === "failed" && result.error instanceof LedgerUnavailableError) {
    // The sending mark could not be written: nothing was sent; give the claim back if we can.
    await release(ctx, token, "LEDGER_UNAVAILABLE");
    return result;
  }
  const outcome: SettleOutcome =
    result.status === "sent"
      ? { state: "sent", provider: result.provider, messageId: result.messageId, latencyMs: result.requestMs }
      : { state: result.definitelyNotSent ? "failed" : "unknown", provider: result.provider, errorCode: result.error.code, latencyMs: result.requestMs };
  try {
    await ctx.ledger!.settle(token, outcome);
    return result;
  } catch (err) {
    const code = err instanceof DigestError ? err.code : "LEDGER_UNAVAILABLE";
    if (code === "LEDGER_CLAIM_LOST") {
      ctx.logger?.error({ recipient: to, state: outcome.state }, "ledger claim was taken over during the send; the recipient may get the digest twice");
    } else {
      ctx.logger?.warn({ recipient: to, state: outcome.state, err }, "could not record the outcome in the ledger; trying again after the other sends");
      ctx.unrecorded.push({ index, recipient: to, token, outcome });
    }
    return { ...result, ledgerError: code } as DeliveryResult;
  }
}

/** The claim, or the result that ends this recipient's turn (skip, or a ledger failure). */
async function claimRecipient(ctx: DeliverContext, to: string, started: number): Promise<{ kind: "claimed"; token?: ClaimToken } | { kind: "result"; result: DeliveryResult }> {
  if (!ctx.ledger) return { kind: "claimed" };
  try {
    const c = await ctx.ledger.claim(to, ctx.signal);
    if (c.kind === "claimed") return { kind: "claimed", token: c.token };
    ctx.logger?.info({ recipient: to, reason: c.reason, provider: c.item.provider, messageId: c.item.messageId }, "ledger: not sending");
    return {
      kind: "result",
      result: { status: "skipped", recipient: to, reason: c.reason, ...(c.item.provider ? { provider: c.item.provider } : {}), ...(c.item.messageId ? { messageId: c.item.messageId } : {}), attempts: 0, latencyMs: ctx.now() - started },
    };
  } catch (err) {
    if (err instanceof SendInterruptedError) return { kind: "result", result: { status: "skipped", recipient: to, reason: "interrupted", attempts: 0, latencyMs: ctx.now() - started } };
    const error = new LedgerUnavailableError(to, err instanceof DigestError ? err : new DeliveryError(to, "ledger claim failed"));
    ctx.logger?.error({ recipient: to, err: error }, "ledger claim failed after its retries; not sending (exactly-once first)");
    return { kind: "result", result: { status: "failed", recipient: to, provider: ctx.provider.name, error, attempts: 0, latencyMs: ctx.now() - started, definitelyNotSent: true } };
  }
}

/** Provider attempts for one claimed (or ledger-less) recipient. */
async function attemptSend(ctx: DeliverContext, m: DigestMessage, gate: RecipientGate, started: number): Promise<DeliveryResult> {
  const { provider } = ctx;
  const routing = isRoutingProvider(provider);
  const failed = (error: DigestError, attempts: number, definitelyNotSent: boolean, name = provider.name): DeliveryResult => ({
    status: "failed",
    recipient: m.to,
    provider: name,
    error,
    attempts,
    latencyMs: ctx.now() - started,
    ...(gate.requestStartedAt !== undefined && attempts > 0 ? { requestMs: ctx.now() - gate.requestStartedAt } : {}),
    definitelyNotSent,
  });
  for (let attempt = 1; ; attempt++) {
    try {
      let receipt;
      if (routing) receipt = await provider.send(m, gate);
      else {
        await gate.pass(provider.name);
        receipt = await provider.send(m);
      }
      const requestMs = ctx.now() - (gate.requestStartedAt ?? started);
      ctx.metrics?.observe(METRICS.deliveryLatencyMs, requestMs);
      return {
        status: "sent",
        recipient: m.to,
        provider: receipt.provider ?? provider.name,
        messageId: receipt.messageId,
        attempts: gate.passes,
        latencyMs: ctx.now() - started,
        requestMs,
        ...(receipt.fallbackFrom ? { fallbackFrom: receipt.fallbackFrom } : {}),
      };
    } catch (err) {
      if (err instanceof SendInterruptedError) return { status: "skipped", recipient: m.to, reason: "interrupted", attempts: 0, latencyMs: ctx.now() - started };
      if (err instanceof LedgerClaimLostError) {
        // Another run claimed it meanwhile (ours expired, or a racing claim won): it is theirs.
        ctx.logger?.warn({ recipient: m.to }, "ledger claim taken over by another run before sending; not sending");
        return { status: "skipped", recipient: m.to, reason: "in_progress", attempts: 0, latencyMs: ctx.now() - started };
      }
      const error = err instanceof DigestError ? err : new DeliveryError(m.to, "unexpected provider failure");
      const name = providerOfError(error) ?? gate.requestProvider ?? provider.name;
      if (isThrottled(error) && attempt < ctx.maxAttempts) {
        const asked = error instanceof SendGridThrottledError ? error.retryAfterMs : undefined;
        if (asked !== undefined && asked > ctx.maxRetryAfterMs) {
          ctx.logger?.warn({ provider: name, recipient: m.to, retryAfterMs: asked }, "rate limited for longer than we wait; not sent");
          return failed(error, gate.passes, true, name);
        }
        const backoff = Math.max(Math.floor(ctx.random() * Math.min(ctx.maxBackoffMs, ctx.baseBackoffMs * 2 ** (attempt - 1))), asked ?? 0);
        ctx.logger?.warn({ provider: name, recipient: m.to, attempt, backoffMs: backoff }, "throttled; backing off");
        await sleepUnlessStopped(ctx.sleep, backoff, ctx.signal);
        // Throttled means not accepted: after a stop, no further try starts.
        if (ctx.signal?.aborted) return { status: "skipped", recipient: m.to, reason: "interrupted", attempts: 0, latencyMs: ctx.now() - started };
        continue;
      }
      return failed(error, gate.passes, isDefinitelyNotSent(error), name);
    }
  }
}

/** Gives a claim back as `failed` (the next run sends it); a failure only lets the lease expire. */
async function release(ctx: DeliverContext, token: ClaimToken, errorCode: string): Promise<void> {
  try {
    await ctx.ledger!.settle(token, { state: "failed", errorCode });
  } catch (err) {
    ctx.logger?.warn({ recipient: token.recipient, err }, "could not release the ledger claim of a recipient not sent (the lease expires)");
  }
}
