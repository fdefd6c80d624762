/**
 * The delivery ledger: one DynamoDB item per digest date (America/New_York) and recipient,
 * moved through `in_progress` -> `sent` | `failed` | `unknown` with conditional updates, so
 * a digest reaches each recipient once even when the scheduler starts the task twice or a
 * task dies mid-run.
 *
 *   claim     absent | failed | (in_progress, lease expired, request never started) -> in_progress (ours)
 *   sending   ours -> ours + sending_since (set just before the provider request)
 *   settle    ours -> sent (provider, message id) | failed (definitely not sent) | unknown (ambiguous)
 *
 * A stale claim whose request had started (sending_since set) is not resent: it becomes
 * `unknown` and is reported, like any ambiguous outcome. `failed` is retried by the next run.
 *
 * The DynamoDB client retries a request whose answer was lost (a reset connection, a
 * timeout); if the first attempt had landed, the retry fails its condition. A failed
 * condition therefore reads the item back (ReturnValuesOnConditionCheckFailure ALL_OLD, else
 * GetItem) and treats our own claim id, with the state we wrote, as success. A run's claim
 * id for a recipient is the same on every try (run id + a digest of the address), so a
 * claim that landed while its answer was lost is recognised as this run's own, never as
 * "another run" to wait for.
 *
 * Outages: every read and write is retried on a retryable failure (5xx, throttling, a
 * network error) with exponential backoff and full jitter, within a bounded budget of
 * attempts and time ({@link LedgerRetryOptions}); only then does it throw. Claims stop
 * retrying when the run is stopped; outcomes (settle) keep retrying within their budget.
 */
import { createHash } from "node:crypto";
import {
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";
import { LEDGER, type LedgerState } from "./contract";
import { DigestError, LedgerClaimLostError, SendInterruptedError, mapAwsError } from "./errors";
import { normalizeAddress } from "./delivery/rollout";
import type { SkipReason } from "./delivery/provider";

const A = LEDGER.attributes;

/** One recipient's ledger item, read back. */
export interface LedgerItem {
  readonly digestDate: string;
  /** Normalized (trimmed, lower-cased) address. */
  readonly recipient: string;
  readonly state: LedgerState;
  readonly claimId?: string;
  readonly runId?: string;
  /** Epoch ms until which an in_progress claim is live. */
  readonly leaseUntil?: number;
  /** Epoch ms when the provider request was about to be written. */
  readonly sendingSince?: number;
  readonly provider?: string;
  readonly messageId?: string;
  readonly errorCode?: string;
  readonly attempts?: number;
  readonly updatedAt?: string;
  /** The provider request's duration (ms), when one was made. */
  readonly latencyMs?: number;
}

/** A claim this run holds. */
export interface ClaimToken {
  readonly digestDate: string;
  readonly recipient: string;
  readonly claimId: string;
}

export type ClaimResult =
  | { readonly kind: "claimed"; readonly token: ClaimToken; readonly previous?: "failed" | "stale" }
  | { readonly kind: "skip"; readonly reason: SkipReason; readonly item: LedgerItem };

export type SettleOutcome =
  | { readonly state: "sent"; readonly provider: string; readonly messageId: string; readonly latencyMs?: number }
  | { readonly state: "failed" | "unknown"; readonly provider?: string; readonly errorCode: string; readonly latencyMs?: number };

/** What the dispatcher needs from the ledger for one digest. */
export interface DeliveryClaims {
  /** Claims `recipient` for this run; stops retrying (SendInterruptedError) when `signal` aborts. */
  claim(recipient: string, signal?: AbortSignal): Promise<ClaimResult>;
  /** Marks the claim as about to send; throws LedgerClaimLostError when it is no longer ours. */
  sending(token: ClaimToken, signal?: AbortSignal): Promise<void>;
  /** Records the outcome; throws LedgerClaimLostError when the claim is no longer ours. */
  settle(token: ClaimToken, outcome: SettleOutcome): Promise<void>;
}

/**
 * How the ledger rides out an outage: a retryable failure is retried with exponential
 * backoff and full jitter until either bound is reached, then thrown.
 */
export interface LedgerRetryOptions {
  /** Tries per operation (the first included). @default 20 */
  readonly maxAttempts?: number;
  /** No retry starts later than this after the first try (rides out an outage of about 40 s). @default 45000 */
  readonly budgetMs?: number;
  /** @default 250 */
  readonly baseDelayMs?: number;
  /** @default 5000 */
  readonly maxDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

export interface DeliveryLedgerOptions {
  /** How long a claim stays live without an outcome before another run may take it over. @default 600000 (10 min) */
  readonly leaseMs?: number;
  /** @default LEDGER.ttlDays */
  readonly ttlDays?: number;
  readonly now?: () => number;
  readonly retry?: LedgerRetryOptions;
  /** Told about each retry (logs). */
  readonly onRetry?: (e: { operation: string; attempt: number; delayMs: number; code: string }) => void;
}

/**
 * The DynamoDB client's request handler for the ledger: a call normally answers in tens of
 * ms, so one that has not answered in 10 s is treated as lost (and retried, see
 * {@link LedgerRetryOptions}) instead of holding a send's outcome forever.
 */
export const LEDGER_REQUEST_HANDLER = { connectionTimeout: 3000, requestTimeout: 10_000, throwOnRequestTimeout: true } as const;

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export class DeliveryLedger {
  readonly leaseMs: number;
  private readonly ttlSeconds: number;
  private readonly now: () => number;
  private readonly retry: Required<LedgerRetryOptions>;

  constructor(
    private readonly ddb: DynamoDBClient,
    readonly tableName: string,
    private readonly opts: DeliveryLedgerOptions = {},
  ) {
    this.leaseMs = opts.leaseMs ?? 600_000;
    this.ttlSeconds = Math.round((opts.ttlDays ?? LEDGER.ttlDays) * 86_400);
    this.now = opts.now ?? Date.now;
    const r = opts.retry ?? {};
    this.retry = {
      maxAttempts: Math.max(1, Math.min(r.maxAttempts ?? 20, 50)),
      budgetMs: r.budgetMs ?? 45_000,
      baseDelayMs: r.baseDelayMs ?? 250,
      maxDelayMs: r.maxDelayMs ?? 5000,
      sleep: r.sleep ?? realSleep,
      random: r.random ?? Math.random,
    };
  }

  /** Claims for one digest, owned by `runId`. */
  session(digestDate: string, runId: string): LedgerSession {
    return new LedgerSession(this, digestDate, runId);
  }

  /**
   * Runs `fn`, retrying a retryable failure within the budget (see {@link LedgerRetryOptions});
   * a non-retryable one (access denied, no such table) is thrown at once. When `signal`
   * aborts, no further try starts: SendInterruptedError is thrown for `recipient`.
   */
  async retrying<T>(operation: string, fn: () => Promise<T>, stop?: { signal?: AbortSignal; recipient: string }): Promise<T> {
    const r = this.retry;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const retryable = err instanceof DigestError && err.retryable;
        if (!retryable || attempt >= r.maxAttempts || Date.now() - started >= r.budgetMs) throw err;
        const delayMs = Math.floor(r.random() * Math.min(r.maxDelayMs, r.baseDelayMs * 2 ** (attempt - 1)));
        this.opts.onRetry?.({ operation, attempt, delayMs, code: (err as DigestError).code });
        if (stop?.signal?.aborted) throw new SendInterruptedError(stop.recipient);
        await r.sleep(delayMs);
        if (stop?.signal?.aborted) throw new SendInterruptedError(stop.recipient);
      }
    }
  }

  /** Every item of a digest date (consistent read), by normalized recipient. */
  async items(digestDate: string): Promise<Map<string, LedgerItem>> {
    const out = new Map<string, LedgerItem>();
    await this.forEachItem(digestDate, (item) => void out.set(item.recipient, item));
    return out;
  }

  /**
   * Calls `fn` with every item of a digest date (consistent read), a page at a time, so a
   * caller that only counts never holds the whole digest's items. Each page is retried.
   */
  async forEachItem(digestDate: string, fn: (item: LedgerItem) => void): Promise<void> {
    let start: Record<string, AttributeValue> | undefined;
    // Bounded: 10,000 recipients of small items fit in a few 1 MB pages.
    for (let page = 0; page < 200; page++) {
      const res = await this.retrying("dynamodb:Query", async () => {
        try {
          return await this.ddb.send(
            new QueryCommand({
              TableName: this.tableName,
              KeyConditionExpression: "#pk = :d",
              ExpressionAttributeNames: { "#pk": LEDGER.partitionKey },
              ExpressionAttributeValues: { ":d": { S: digestDate } },
              ConsistentRead: true,
              ExclusiveStartKey: start,
            }),
          );
        } catch (err) {
          throw mapAwsError(err, "dynamodb:Query", this.tableName);
        }
      });
      for (const raw of res.Items ?? []) {
        const item = fromAttributes(raw);
        if (item) fn(item);
      }
      start = res.LastEvaluatedKey;
      if (!start) break;
    }
  }

  /** One item (consistent read). */
  async item(digestDate: string, recipient: string): Promise<LedgerItem | undefined> {
    try {
      const res = await this.ddb.send(new GetItemCommand({ TableName: this.tableName, Key: key(digestDate, recipient), ConsistentRead: true }));
      return res.Item ? fromAttributes(res.Item) : undefined;
    } catch (err) {
      throw mapAwsError(err, "dynamodb:GetItem", this.tableName);
    }
  }

  /**
   * Operator decision after checking the mailbox/provider logs: an `unknown` (or `failed`)
   * recipient becomes `failed`, so the next run sends it again. Resolves false when the
   * item is in another state (nothing changed).
   */
  async markForResend(digestDate: string, recipient: string): Promise<boolean> {
    const r = await this.update(digestDate, recipient, {
      condition: "#st IN (:unknown, :failed)",
      set: { [A.state]: { S: "failed" }, [A.errorCode]: { S: "OPERATOR_RESEND" } },
      values: { ":unknown": { S: "unknown" }, ":failed": { S: "failed" } },
    });
    return r.ok;
  }

  /**
   * Operator reconcile of a send the ledger could not record (the run summary's
   * `unrecorded` list, or an `unknown` recipient whose provider shows the message): the item
   * becomes `sent` with that provider and message id. Only an `unknown` item, or an
   * `in_progress` one whose lease has expired after its request started, can be marked;
   * resolves false otherwise (nothing changed).
   */
  async markSent(digestDate: string, recipient: string, provider: string, messageId: string): Promise<boolean> {
    const r = await this.update(digestDate, recipient, {
      condition: "#st = :unknown OR (#st = :ip AND #lease < :now AND attribute_exists(#sending))",
      set: { [A.state]: { S: "sent" }, [A.provider]: { S: provider }, [A.messageId]: { S: messageId } },
      remove: [A.leaseUntil, A.errorCode],
      values: { ":unknown": { S: "unknown" }, ":ip": { S: "in_progress" }, ":now": { N: String(this.now()) } },
    });
    return r.ok;
  }

  /** @internal conditional UpdateItem; `ok: false` with the old item when the condition failed. */
  async update(
    digestDate: string,
    recipient: string,
    u: {
      condition: string;
      set: Record<string, AttributeValue>;
      remove?: string[];
      add?: Record<string, AttributeValue>;
      values?: Record<string, AttributeValue>;
    },
  ): Promise<{ ok: true } | { ok: false; old?: LedgerItem }> {
    const names: Record<string, string> = { "#st": A.state, "#claim": A.claimId, "#lease": A.leaseUntil, "#sending": A.sendingSince };
    const values: Record<string, AttributeValue> = { ...u.values };
    const nowMs = this.now();
    const set = { ...u.set, [A.updatedAt]: { S: new Date(nowMs).toISOString() }, [LEDGER.ttlAttribute]: { N: String(Math.floor(nowMs / 1000) + this.ttlSeconds) } };
    const sets: string[] = [];
    let i = 0;
    for (const [attr, value] of Object.entries(set)) {
      const n = `#a${i}`;
      const v = `:v${i++}`;
      names[n] = attr;
      values[v] = value;
      sets.push(`${n} = ${v}`);
    }
    for (const [attr, value] of Object.entries(u.add ?? {})) {
      const n = `#a${i}`;
      const v = `:v${i++}`;
      names[n] = attr;
      values[v] = value;
      values[":zero"] = { N: "0" };
      sets.push(`${n} = if_not_exists(${n}, :zero) + ${v}`);
    }
    const removes = (u.remove ?? []).map((attr) => {
      const n = `#a${i++}`;
      names[n] = attr;
      return n;
    });
    const expr = `SET ${sets.join(", ")}${removes.length ? ` REMOVE ${removes.join(", ")}` : ""}`;
    // Only names the expressions use may be sent.
    const used = `${expr} ${u.condition}`;
    for (const n of Object.keys(names)) if (!used.includes(n)) delete names[n];
    try {
      await this.ddb.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(digestDate, recipient),
          ConditionExpression: u.condition,
          UpdateExpression: expr,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { ok: true };
    } catch (err) {
      if ((err as { name?: unknown })?.name === "ConditionalCheckFailedException") {
        const old = (err as { Item?: Record<string, AttributeValue> }).Item;
        return { ok: false, old: old ? fromAttributes(old) : await this.item(digestDate, recipient) };
      }
      throw mapAwsError(err, "dynamodb:UpdateItem", this.tableName);
    }
  }

  /** @internal */
  get clock(): () => number {
    return this.now;
  }
}

/** The claims of one run for one digest date. */
export class LedgerSession implements DeliveryClaims {
  constructor(
    readonly ledger: DeliveryLedger,
    readonly digestDate: string,
    readonly runId: string,
  ) {}

  /** This run's claim id for `recipient`: the same on every try, so a claim whose answer was lost is recognised. */
  claimIdFor(recipient: string): string {
    return `${this.runId}/${createHash("sha256").update(normalizeAddress(recipient)).digest("base64url").slice(0, 12)}`;
  }

  /** Whether a ledger item is held by this run (its claim, whatever answer this run saw). */
  owns(item: Pick<LedgerItem, "runId" | "claimId" | "recipient">): boolean {
    return item.runId === this.runId && item.claimId === this.claimIdFor(item.recipient);
  }

  async claim(address: string, signal?: AbortSignal): Promise<ClaimResult> {
    const recipient = normalizeAddress(address);
    const now = () => this.ledger.clock();
    const claimId = this.claimIdFor(recipient);
    const stop = { signal, recipient };
    // Bounded: each round follows a concurrent change of the same item.
    for (let round = 0; round < 5; round++) {
      if (signal?.aborted) throw new SendInterruptedError(recipient);
      const t = now();
      const r = await this.ledger.retrying(
        "dynamodb:UpdateItem(claim)",
        () =>
          this.ledger.update(this.digestDate, recipient, {
            condition: "attribute_not_exists(#st) OR #st = :failed OR (#st = :ip AND #lease < :now AND attribute_not_exists(#sending))",
            set: {
              [A.state]: { S: "in_progress" },
              [A.claimId]: { S: claimId },
              [A.runId]: { S: this.runId },
              [A.leaseUntil]: { N: String(t + this.ledger.leaseMs) },
            },
            add: { [A.attempts]: { N: "1" } },
            remove: [A.sendingSince, A.messageId, A.provider, A.errorCode, A.latencyMs],
            values: { ":failed": { S: "failed" }, ":ip": { S: "in_progress" }, ":now": { N: String(t) } },
          }),
        stop,
      );
      // Ours when the write succeeded, or when it had landed before (an answer lost, then a
      // retry by the SDK or by us) and the item holds this run's own claim.
      if (r.ok || (r.old?.state === "in_progress" && r.old.claimId === claimId && r.old.sendingSince === undefined)) {
        return { kind: "claimed", token: { digestDate: this.digestDate, recipient, claimId } };
      }
      const old = r.old;
      if (!old) continue; // deleted meanwhile (TTL): try again
      if (old.state === "sent") return { kind: "skip", reason: "already_sent", item: old };
      if (old.state === "unknown") return { kind: "skip", reason: "unknown", item: old };
      if (old.state === "in_progress") {
        if ((old.leaseUntil ?? 0) >= now()) return { kind: "skip", reason: "in_progress", item: old };
        if (old.sendingSince !== undefined) {
          // The claimant died (or stalled) after starting its request: ambiguous, not resent.
          const c = await this.ledger.retrying(
            "dynamodb:UpdateItem(stale)",
            () =>
              this.ledger.update(this.digestDate, recipient, {
                condition: "#st = :ip AND #claim = :theirs AND #lease < :now",
                set: { [A.state]: { S: "unknown" }, [A.errorCode]: { S: "LEDGER_STALE_SENDING" } },
                remove: [A.leaseUntil],
                values: { ":ip": { S: "in_progress" }, ":theirs": { S: old.claimId ?? "" }, ":now": { N: String(now()) } },
              }),
            stop,
          );
          if (c.ok || (c.old?.state === "unknown" && c.old.claimId === old.claimId)) {
            return { kind: "skip", reason: "unknown", item: { ...old, state: "unknown", errorCode: "LEDGER_STALE_SENDING" } };
          }
        }
      }
      // failed/stale changed under us: look again.
    }
    const item = await this.ledger.retrying("dynamodb:GetItem", () => this.ledger.item(this.digestDate, recipient), stop);
    return { kind: "skip", reason: "in_progress", item: item ?? { digestDate: this.digestDate, recipient, state: "in_progress" } };
  }

  async sending(token: ClaimToken, signal?: AbortSignal): Promise<void> {
    const t = this.ledger.clock();
    const r = await this.ledger.retrying(
      "dynamodb:UpdateItem(sending)",
      () =>
        this.ledger.update(token.digestDate, token.recipient, {
          condition: "#st = :ip AND #claim = :me",
          set: { [A.sendingSince]: { N: String(t) }, [A.leaseUntil]: { N: String(t + this.ledger.leaseMs) } },
          values: { ":ip": { S: "in_progress" }, ":me": { S: token.claimId } },
        }),
      { signal, recipient: token.recipient },
    );
    if (!r.ok) throw new LedgerClaimLostError(token.recipient);
  }

  async settle(token: ClaimToken, outcome: SettleOutcome): Promise<void> {
    const set: Record<string, AttributeValue> = { [A.state]: { S: outcome.state } };
    if (outcome.provider) set[A.provider] = { S: outcome.provider };
    if (outcome.state === "sent") set[A.messageId] = { S: outcome.messageId };
    else set[A.errorCode] = { S: outcome.errorCode };
    if (outcome.latencyMs !== undefined && Number.isFinite(outcome.latencyMs)) set[A.latencyMs] = { N: String(Math.max(0, Math.round(outcome.latencyMs))) };
    const r = await this.ledger.retrying("dynamodb:UpdateItem(settle)", () =>
      this.ledger.update(token.digestDate, token.recipient, {
        condition: "#st = :ip AND #claim = :me",
        set,
        remove: outcome.state === "failed" ? [A.leaseUntil, A.sendingSince] : [A.leaseUntil],
        values: { ":ip": { S: "in_progress" }, ":me": { S: token.claimId } },
      }),
    );
    // A retried write whose first attempt landed finds our own outcome in place: settled.
    if (!r.ok && !(r.old && settledBy(r.old, token, outcome))) throw new LedgerClaimLostError(token.recipient);
  }
}

/** Whether `item` holds exactly the outcome `token`'s claim recorded (what a lost-response retry finds). */
function settledBy(item: LedgerItem, token: ClaimToken, outcome: SettleOutcome): boolean {
  if (item.claimId !== token.claimId || item.state !== outcome.state) return false;
  return outcome.state === "sent" ? item.messageId === outcome.messageId : item.errorCode === outcome.errorCode;
}

function key(digestDate: string, recipient: string): Record<string, AttributeValue> {
  return { [LEDGER.partitionKey]: { S: digestDate }, [LEDGER.sortKey]: { S: normalizeAddress(recipient) } };
}

function fromAttributes(raw: Record<string, AttributeValue>): LedgerItem | undefined {
  const s = (k: string) => raw[k]?.S;
  const n = (k: string) => (raw[k]?.N !== undefined ? Number(raw[k].N) : undefined);
  const state = s(A.state);
  const digestDate = s(LEDGER.partitionKey);
  const recipient = s(LEDGER.sortKey);
  if (!digestDate || !recipient || !(LEDGER.states as readonly string[]).includes(state ?? "")) return undefined;
  return {
    digestDate,
    recipient,
    state: state as LedgerState,
    claimId: s(A.claimId),
    runId: s(A.runId),
    leaseUntil: n(A.leaseUntil),
    sendingSince: n(A.sendingSince),
    provider: s(A.provider),
    messageId: s(A.messageId),
    errorCode: s(A.errorCode),
    attempts: n(A.attempts),
    updatedAt: s(A.updatedAt),
    latencyMs: n(A.latencyMs),
  };
}
