/**
 * Phase 5: delivery through the run's provider (the migration router), every result
 * counted into the run's outcomes and logged as it comes.
 */
import type { DigestConfig } from "../config";
import { dispatch } from "../delivery/dispatch";
import type { DeliveryResult } from "../delivery/provider";
import type { Logger } from "../log";
import type { ComposedDigest } from "./compose";
import type { DeliveryPlan } from "./plan";
import type { RunScope } from "./scope";

export async function deliver(run: RunScope, config: DigestConfig, digest: ComposedDigest, plan: DeliveryPlan): Promise<void> {
  const { log, facts } = run;
  const outcomes = facts.outcomes!;
  facts.delivering = true;
  facts.rollback = { inForce: config.sesRollback !== undefined };
  if (plan.toSend.length === 0) return;
  const provider = run.deps.provider(config, { runId: run.runId, digestDate: digest.date, signal: run.opts.signal });
  log.info({ provider: provider.name, recipients: plan.toSend.length, ledger: run.deps.ledger?.tableName ?? null }, "delivering");
  const index = plan.toSend;
  const list = index.map((i) => config.recipients[i]);
  const extra = run.opts.dispatch;
  try {
    const out = await dispatch(
      provider,
      { list, messageFor: digest.messageFor },
      {
        ...extra,
        logger: log,
        metrics: run.deps.metrics,
        ledger: plan.session,
        signal: run.opts.signal,
        keepResults: false,
        onProgress: (k, stage) => (stage === "claimed" ? outcomes.claimed(index[k]) : outcomes.inFlight(index[k])),
        onResult: (r, k) => {
          outcomes.record(index[k], r);
          logResult(log, r);
          extra?.onResult?.(r, k);
        },
        onRecorded: (k) => outcomes.recorded(index[k]),
      },
    );
    facts.sendRates = Object.fromEntries(out.lanes.map((l) => [l.name, l.rate]));
    facts.sesLimits = out.limits;
    facts.unrecorded = out.unrecorded;
  } finally {
    await provider.close?.();
  }
  const router = provider as { triggered?: NonNullable<typeof facts.rollback>["triggered"]; persisted?: boolean };
  if (router.triggered) facts.rollback = { ...facts.rollback, triggered: router.triggered, persisted: router.persisted === true };
}

function logResult(log: Logger, r: DeliveryResult): void {
  if (r.status === "sent") log.info({ recipient: r.recipient, provider: r.provider, messageId: r.messageId, fallbackFrom: r.fallbackFrom, latencyMs: r.requestMs }, "sent");
  else if (r.status === "skipped") log.info({ recipient: r.recipient, reason: r.reason, provider: r.provider, messageId: r.messageId }, r.reason === "interrupted" ? "not sent: the run was stopped first" : "not sent again (ledger)");
  else if (r.definitelyNotSent) log.error({ recipient: r.recipient, provider: r.provider, err: r.error }, "not sent");
  else log.error({ recipient: r.recipient, provider: r.provider, err: r.error }, "outcome unknown: the provider may have accepted it; it will not be resent automatically (see `digest ledger`)");
}
