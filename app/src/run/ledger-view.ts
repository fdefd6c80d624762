/**
 * Phase 6: the ledger's final word on every configured recipient, after waiting (bounded)
 * for recipients another live run holds. This run's own claims are recognised by its run
 * id, so a claim whose answer was lost never makes it wait; one of them left `in_progress`
 * without a sending mark (the claim landed, its answer and retries did not) carried no
 * request, and is released as `failed` so the next run need not wait out its lease. Read
 * a page at a time.
 */
import type { DigestConfig } from "../config";
import type { LedgerState } from "../contract";
import type { LedgerItem } from "../ledger";
import { DigestError } from "../errors";
import type { DeliveryPlan } from "./plan";
import type { RunScope } from "./scope";
import { SUMMARY_LIST_LIMIT } from "./summary";

export async function readLedgerView(run: RunScope, config: DigestConfig, digestDate: string, plan: DeliveryPlan): Promise<void> {
  const ledger = run.deps.ledger;
  if (!ledger || !plan.session) return;
  const { log } = run;
  const outcomes = run.facts.outcomes!;
  const listed = new Set(outcomes.listed(SUMMARY_LIST_LIMIT).indices);
  // Stopping: read once, do not wait for other runs.
  const settleMs = run.stop.stopped ? 0 : (run.opts.ledgerSettleMs ?? 30_000);
  const pollMs = Math.max(10, run.opts.ledgerPollMs ?? 1000);
  const deadline = Date.now() + settleMs;
  // Bounded: the polls of the settle wait, plus one read after releasing leftovers.
  for (let round = 0; round <= Math.ceil(settleMs / pollMs) + 1; round++) {
    const states: Partial<Record<LedgerState | "absent", number>> = {};
    const listedStates = new Map<number, LedgerState | "absent">();
    const seen = new Uint8Array(config.recipients.length);
    let held = 0;
    const leftovers: LedgerItem[] = [];
    try {
      await ledger.forEachItem(digestDate, (item) => {
        const i = outcomes.index(item.recipient);
        if (i === undefined || seen[i]) return;
        seen[i] = 1;
        states[item.state] = (states[item.state] ?? 0) + 1;
        if (item.state === "in_progress" && item.runId !== run.runId) held++;
        if (round === 0 && item.state === "in_progress" && plan.session!.owns(item) && item.sendingSince === undefined) leftovers.push(item);
        if (listed.has(i)) listedStates.set(i, item.state);
      });
    } catch (err) {
      log.error({ err, table: ledger.tableName }, "could not read the delivery ledger for the summary");
      // The summary falls back to this run's own outcomes.
      run.facts.ledger = { table: ledger.tableName, states: {}, readError: err instanceof DigestError ? err.code : "LEDGER_UNAVAILABLE" };
      return;
    }
    if (leftovers.length > 0) {
      for (const item of leftovers) {
        await plan.session.settle({ digestDate, recipient: item.recipient, claimId: item.claimId! }, { state: "failed", errorCode: "LEDGER_UNAVAILABLE" }).catch((err: unknown) => {
          log.warn({ recipient: item.recipient, err }, "could not release this run's own leftover claim (its lease expires)");
        });
      }
      log.info({ recipients: leftovers.length }, "ledger: released this run's claims that were never sent (their answers had been lost)");
      continue; // read again
    }
    const absent = seen.reduce((n, s) => n + (s ? 0 : 1), 0);
    if (absent) states.absent = absent;
    for (const i of listed) if (!seen[i]) listedStates.set(i, "absent");
    run.facts.ledger = { table: ledger.tableName, states };
    run.facts.listedLedgerStates = listedStates;
    if (held === 0 || Date.now() >= deadline) {
      if (held) log.warn({ recipients: held }, "another run still holds some recipients of this digest");
      return;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
