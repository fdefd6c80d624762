/**
 * Phase 4: what the ledger already knows. Recipients it has as `sent` or `unknown` for
 * this digest are not tried again (exactly once); the rest are claimed one by one just
 * before their send. The ledger is read a page at a time, keeping only the counts.
 */
import type { DigestConfig } from "../config";
import type { LedgerSession } from "../ledger";
import type { ComposedDigest } from "./compose";
import type { RunScope } from "./scope";

export interface DeliveryPlan {
  /** Indices (into config.recipients) of the recipients to try. */
  readonly toSend: readonly number[];
  /** This run's claims; undefined without a ledger. */
  readonly session?: LedgerSession;
}

export async function planDelivery(run: RunScope, config: DigestConfig, digest: ComposedDigest): Promise<DeliveryPlan> {
  const { log } = run;
  const ledger = run.deps.ledger;
  const outcomes = run.facts.outcomes!;
  const all = config.recipients.map((_, i) => i);
  if (!ledger) {
    run.facts.ledger = null;
    log.warn({ env: "VIBE_LEDGER_TABLE" }, "no delivery ledger configured: exactly-once delivery is NOT guaranteed (a rerun or a duplicate task sends again)");
    return { toSend: all };
  }
  const session = ledger.session(digest.date, run.runId);
  const handled = new Uint8Array(config.recipients.length);
  let alreadySent = 0;
  let unknown = 0;
  try {
    await ledger.forEachItem(digest.date, (item) => {
      const i = outcomes.index(item.recipient);
      if (i === undefined || (item.state !== "sent" && item.state !== "unknown")) return;
      handled[i] = 1;
      if (item.state === "sent") alreadySent++;
      else unknown++;
      outcomes.record(i, { status: "skipped", recipient: config.recipients[i], reason: item.state === "sent" ? "already_sent" : "unknown", provider: item.provider, messageId: item.messageId, attempts: 0, latencyMs: 0 });
    });
  } catch (err) {
    log.error({ err, table: ledger.tableName }, "could not read the delivery ledger; each recipient's claim decides");
    return { toSend: all, session };
  }
  if (alreadySent + unknown > 0) log.info({ alreadySent, unknown }, "ledger: recipients already handled for this digest are not sent again");
  return { toSend: all.filter((i) => !handled[i]), session };
}
