/**
 * Every configured recipient's outcome in this run, kept small (a status byte each, and a
 * few short strings once a recipient is done): the one source the summary counts from,
 * whenever it is asked, so a summary made when the shutdown grace runs out still accounts
 * for everyone (sent, failed, unknown, skipped, in flight, not tried).
 */
import type { LedgerState } from "../contract";
import type { DeliveryResult, SkipReason } from "../delivery/provider";
import { normalizeAddress } from "../delivery/rollout";

/** What this run did for one recipient, as the summary lists it. */
export interface RecipientOutcome {
  readonly recipient: string;
  /**
   * sent; failed (certainly not sent: the next run retries it); unknown (ambiguous: the
   * provider may have it; never resent automatically); skipped (the ledger says another run
   * sent it, left it unknown or holds it: see `skipReason`); in_flight (its provider request
   * started and had not answered when the summary was made); not_tried (never started:
   * stopped first, a dry run, or nothing to send).
   */
  readonly status: "sent" | "failed" | "unknown" | "skipped" | "in_flight" | "not_tried";
  readonly skipReason?: SkipReason;
  /** The recipient's ledger state after the run ("absent": no item). */
  readonly ledgerState?: LedgerState | "absent";
  readonly provider?: string;
  readonly messageId?: string;
  /** "ses" when SES rejected it and SendGrid sent it. */
  readonly fallbackFrom?: string;
  readonly attempts?: number;
  readonly error?: Record<string, unknown>;
  /** Set when the ledger could not record this outcome. */
  readonly ledgerError?: string;
}

export type OutcomeCounts = Record<"sent" | "failed" | "unknown" | "skipped" | "inFlight" | "notTried", number>;

const NOT_TRIED = 0;
const CLAIMED = 1;
const IN_FLIGHT = 2;
const SENT = 3;
const FAILED = 4;
const UNKNOWN = 5;
const SKIPPED = 6;
const STATUS = ["not_tried", "not_tried", "in_flight", "sent", "failed", "unknown", "skipped"] as const;

/** What is kept of a finished recipient. */
interface Detail {
  readonly provider?: string;
  readonly messageId?: string;
  readonly fallbackFrom?: string;
  readonly attempts?: number;
  readonly skipReason?: SkipReason;
  readonly error?: Record<string, unknown>;
  ledgerError?: string;
}

export class Outcomes {
  private readonly status: Uint8Array;
  private readonly detail: (Detail | undefined)[];
  private readonly indexOf = new Map<string, number>();
  /** Sends accepted per provider, and sends SendGrid made after SES rejected them. */
  readonly routes = { ses: 0, sendgrid: 0, fallback: 0 };

  constructor(readonly recipients: readonly string[]) {
    this.status = new Uint8Array(recipients.length);
    this.detail = new Array<Detail | undefined>(recipients.length);
    recipients.forEach((r, i) => this.indexOf.set(normalizeAddress(r), i));
  }

  get total(): number {
    return this.recipients.length;
  }

  /** The index of a configured recipient (any case), or undefined. */
  index(address: string): number | undefined {
    return this.indexOf.get(normalizeAddress(address));
  }

  claimed(i: number): void {
    if (this.status[i] === NOT_TRIED) this.status[i] = CLAIMED;
  }

  inFlight(i: number): void {
    if (this.status[i] < IN_FLIGHT) this.status[i] = IN_FLIGHT;
  }

  /** A recipient's final result in this run. */
  record(i: number, r: DeliveryResult): void {
    if (r.status === "sent") {
      this.status[i] = SENT;
      this.detail[i] = { provider: r.provider, messageId: r.messageId, attempts: r.attempts, ...(r.fallbackFrom ? { fallbackFrom: r.fallbackFrom } : {}), ...(r.ledgerError ? { ledgerError: r.ledgerError } : {}) };
      if (r.provider === "ses") this.routes.ses++;
      else if (r.provider === "sendgrid") this.routes.sendgrid++;
      if (r.fallbackFrom) this.routes.fallback++;
    } else if (r.status === "failed") {
      this.status[i] = r.definitelyNotSent ? FAILED : UNKNOWN;
      this.detail[i] = { provider: r.provider, attempts: r.attempts, error: r.error.toJSON(), ...(r.ledgerError ? { ledgerError: r.ledgerError } : {}) };
    } else if (r.reason === "interrupted") {
      this.status[i] = NOT_TRIED;
      this.detail[i] = { skipReason: "interrupted" };
    } else {
      this.status[i] = SKIPPED;
      this.detail[i] = { skipReason: r.reason, ...(r.provider ? { provider: r.provider } : {}), ...(r.messageId ? { messageId: r.messageId } : {}) };
    }
  }

  /** The ledger recorded an outcome it had missed at first. */
  recorded(i: number): void {
    const d = this.detail[i];
    if (d) delete d.ledgerError;
  }

  counts(): OutcomeCounts {
    const c: OutcomeCounts = { sent: 0, failed: 0, unknown: 0, skipped: 0, inFlight: 0, notTried: 0 };
    for (const s of this.status) {
      if (s === SENT) c.sent++;
      else if (s === FAILED) c.failed++;
      else if (s === UNKNOWN) c.unknown++;
      else if (s === SKIPPED) c.skipped++;
      else if (s === IN_FLIGHT) c.inFlight++;
      else c.notTried++; // never claimed, or claimed and still waiting for its slot
    }
    return c;
  }

  /** Skipped recipients another run holds or left unknown (not delivered as far as this run knows). */
  heldOrUnknownElsewhere(): number {
    let n = 0;
    this.status.forEach((s, i) => {
      const reason = this.detail[i]?.skipReason;
      if (s === SKIPPED && (reason === "in_progress" || reason === "unknown")) n++;
    });
    return n;
  }

  isSent(i: number): boolean {
    return this.status[i] === SENT;
  }

  /**
   * The recipients a summary lists: everyone when there are at most `limit`, otherwise
   * those not sent (the ones that need a look), at most `limit`. Indices in list order.
   */
  listed(limit: number): { indices: number[]; omitted: number } {
    if (this.total <= limit) return { indices: this.recipients.map((_, i) => i), omitted: 0 };
    const indices: number[] = [];
    for (let i = 0; i < this.total && indices.length < limit; i++) if (this.status[i] !== SENT) indices.push(i);
    return { indices, omitted: this.total - indices.length };
  }

  outcome(i: number, ledgerState?: LedgerState | "absent"): RecipientOutcome {
    const d = this.detail[i] ?? {};
    const status = STATUS[this.status[i]];
    return {
      recipient: this.recipients[i],
      status,
      ...(d.skipReason ? { skipReason: d.skipReason } : {}),
      ...(ledgerState ? { ledgerState } : {}),
      ...(d.provider ? { provider: d.provider } : {}),
      ...(d.messageId ? { messageId: d.messageId } : {}),
      ...(d.fallbackFrom ? { fallbackFrom: d.fallbackFrom } : {}),
      ...(d.attempts !== undefined ? { attempts: d.attempts } : {}),
      ...(d.error ? { error: d.error } : {}),
      ...(d.ledgerError ? { ledgerError: d.ledgerError } : {}),
    };
  }

  /** Message ids of this run's sends, in list order, at most `limit` (and how many more there are). */
  messageIds(limit: number): { ids: string[]; omitted: number } {
    const ids: string[] = [];
    let omitted = 0;
    this.status.forEach((s, i) => {
      const id = this.detail[i]?.messageId;
      if (s !== SENT || !id) return;
      if (ids.length < limit) ids.push(id);
      else omitted++;
    });
    return { ids, omitted };
  }
}
