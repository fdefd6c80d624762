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
/** Provider names and skip reasons as small codes (0: none). */
const PROVIDERS = ["", "ses", "sendgrid", "router"] as const;
const SKIP_REASONS: readonly (SkipReason | "")[] = ["", "already_sent", "unknown", "in_progress", "interrupted"];

/** What is kept of a recipient that was not sent (few, in a healthy run). */
interface NotSentDetail {
  readonly error?: Record<string, unknown>;
  /** A provider name outside PROVIDERS. */
  readonly provider?: string;
}

export class Outcomes {
  // Per recipient, by index: a status byte, a provider code, attempts, a fallback flag, a
  // skip reason code and the message id. Details of what went wrong and ledger errors are
  // kept only for the recipients they concern.
  private readonly status: Uint8Array;
  private readonly provider: Uint8Array;
  private readonly attempts: Uint8Array;
  private readonly fallback: Uint8Array;
  private readonly skipReason: Uint8Array;
  private readonly messageIdOf: (string | undefined)[];
  private readonly notSent = new Map<number, NotSentDetail>();
  private readonly ledgerErrors = new Map<number, string>();
  private readonly indexOf = new Map<string, number>();
  /** Sends accepted per provider, and sends SendGrid made after SES rejected them. */
  readonly routes = { ses: 0, sendgrid: 0, fallback: 0 };

  constructor(readonly recipients: readonly string[]) {
    const n = recipients.length;
    this.status = new Uint8Array(n);
    this.provider = new Uint8Array(n);
    this.attempts = new Uint8Array(n);
    this.fallback = new Uint8Array(n);
    this.skipReason = new Uint8Array(n);
    this.messageIdOf = new Array<string | undefined>(n);
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
    this.notSent.delete(i);
    this.ledgerErrors.delete(i);
    this.messageIdOf[i] = undefined;
    this.fallback[i] = 0;
    this.skipReason[i] = 0;
    this.attempts[i] = Math.min(255, r.attempts);
    this.setProvider(i, r.provider);
    if (r.status === "sent") {
      this.status[i] = SENT;
      this.messageIdOf[i] = r.messageId;
      if (r.provider === "ses") this.routes.ses++;
      else if (r.provider === "sendgrid") this.routes.sendgrid++;
      if (r.fallbackFrom) {
        this.fallback[i] = 1;
        this.routes.fallback++;
      }
      if (r.ledgerError) this.ledgerErrors.set(i, r.ledgerError);
    } else if (r.status === "failed") {
      this.status[i] = r.definitelyNotSent ? FAILED : UNKNOWN;
      this.notSent.set(i, { error: r.error.toJSON(), ...(this.provider[i] === 0 && r.provider ? { provider: r.provider } : {}) });
      if (r.ledgerError) this.ledgerErrors.set(i, r.ledgerError);
    } else {
      this.status[i] = r.reason === "interrupted" ? NOT_TRIED : SKIPPED;
      this.skipReason[i] = Math.max(0, SKIP_REASONS.indexOf(r.reason));
      if (r.messageId) this.messageIdOf[i] = r.messageId;
    }
  }

  /** The ledger recorded an outcome it had missed at first. */
  recorded(i: number): void {
    this.ledgerErrors.delete(i);
  }

  private setProvider(i: number, name: string | undefined): void {
    const code = name ? PROVIDERS.indexOf(name as (typeof PROVIDERS)[number]) : 0;
    this.provider[i] = code > 0 ? code : 0;
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
      const reason = SKIP_REASONS[this.skipReason[i]];
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
    const status = STATUS[this.status[i]];
    const skipReason = SKIP_REASONS[this.skipReason[i]];
    const detail = this.notSent.get(i);
    const provider = PROVIDERS[this.provider[i]] || detail?.provider;
    const messageId = this.messageIdOf[i];
    const ledgerError = this.ledgerErrors.get(i);
    const tried = status === "sent" || status === "failed" || status === "unknown";
    return {
      recipient: this.recipients[i],
      status,
      ...(skipReason ? { skipReason } : {}),
      ...(ledgerState ? { ledgerState } : {}),
      ...(provider ? { provider } : {}),
      ...(messageId ? { messageId } : {}),
      ...(this.fallback[i] ? { fallbackFrom: "ses" } : {}),
      ...(tried ? { attempts: this.attempts[i] } : {}),
      ...(detail?.error ? { error: detail.error } : {}),
      ...(ledgerError ? { ledgerError } : {}),
    };
  }

  /** Message ids of this run's sends, in list order, at most `limit` (and how many more there are). */
  messageIds(limit: number): { ids: string[]; omitted: number } {
    const ids: string[] = [];
    let omitted = 0;
    this.status.forEach((s, i) => {
      const id = this.messageIdOf[i];
      if (s !== SENT || !id) return;
      if (ids.length < limit) ids.push(id);
      else omitted++;
    });
    return { ids, omitted };
  }
}
