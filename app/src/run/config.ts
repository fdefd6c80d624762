/**
 * Phase 1: the config from Parameter Store. A failure ends the run (exit 2, or 3 for
 * something that is not a known failure); Parameter Store denying access is also a
 * rollback trigger, recorded only when SendGrid is known to be there to take over.
 */
import { EXIT } from "../cli-kit";
import type { DigestConfig } from "../config";
import { METRICS, parameterName, type RollbackRecord } from "../contract";
import { DigestError } from "../errors";
import { countParameterStoreAccessDenied, rollbackTriggerOf } from "../rollback";
import { isOneClickUnsubscribeTarget } from "../validation";
import { Outcomes } from "./outcomes";
import { errorView, type RunScope } from "./scope";
import type { Ending } from "./summary";

export async function loadConfig(run: RunScope): Promise<{ config: DigestConfig } | { ending: Ending }> {
  const { deps, log } = run;
  let config: DigestConfig;
  try {
    log.info("loading config from Parameter Store");
    config = await deps.config.load();
  } catch (err) {
    log.error({ err }, "configuration could not be loaded");
    countParameterStoreAccessDenied(deps.metrics, err);
    run.facts.error = errorView(err);
    // Only a denial persists the rollback; a transient outage just fails this run (exit 2).
    const trigger = rollbackTriggerOf(err);
    if (err instanceof DigestError && trigger) {
      const triggered = await parameterStoreRollback(run, err);
      run.facts.rollback = { inForce: false, triggered: triggered.record, persisted: triggered.persisted };
    }
    return { ending: { kind: "config", exitCode: err instanceof DigestError ? EXIT.config : EXIT.internal } };
  }
  run.facts.config = config;
  run.facts.outcomes = new Outcomes(config.recipients);
  run.facts.credentialMode = deps.credentialMode?.(config);
  const unsubscribe = unsubscribeMode(config);
  log.info(
    { recipients: config.recipients.length, feeds: config.feeds.length, useSes: config.useSes, sesPercent: config.sesPercent, sesRollback: config.sesRollback?.reason ?? null, sendgridConfigured: config.sendgridApiKey !== undefined, credentialMode: run.facts.credentialMode, configurationSet: config.configurationSet ?? null, unsubscribe },
    "config loaded",
  );
  if (unsubscribe === "https-static") {
    log.warn(
      { parameter: parameterName(config.root, "unsubscribeSigningKey") },
      "no unsubscribe signing key: every message carries the same https List-Unsubscribe URL, so a one-click unsubscribe cannot say who is leaving",
    );
  }
  return { config };
}

/** How this run's messages point at the unsubscribe target (for the log; never the key). */
function unsubscribeMode(config: DigestConfig): "none" | "mailto" | "https-static" | "https-signed" {
  if (!config.unsubscribe) return "none";
  if (!isOneClickUnsubscribeTarget(config.unsubscribe)) return "mailto";
  return config.unsubscribeSigningKey ? "https-signed" : "https-static";
}

/**
 * Parameter Store denying access is a rollback trigger (the seed): count and log it, and
 * record it only when SendGrid is known to be there to take over; otherwise a recorded
 * rollback would fail every recipient of every later run until an operator clears it.
 */
async function parameterStoreRollback(run: RunScope, error: DigestError): Promise<{ record: RollbackRecord; persisted: boolean }> {
  const { deps, log } = run;
  const record: RollbackRecord = { state: "rolled_back", at: new Date().toISOString(), reason: "parameter-store", detail: `loading the config from Parameter Store failed (${error.code})`, runId: run.runId, code: error.code };
  deps.metrics?.count(METRICS.sesRollback, 1);
  let sendgrid: boolean | undefined;
  try {
    sendgrid = await deps.sendgridAvailable?.();
  } catch {
    sendgrid = undefined;
  }
  const store = deps.rollbackStore;
  if (sendgrid !== true || !store) {
    log.error(
      { rollback: record, parameter: store?.name, sendgridConfigured: sendgrid ?? "unknown", persisted: false },
      sendgrid === false
        ? "SES rollback triggered by a Parameter Store failure with no SendGrid key to fall back to: NOT recorded, so the next run uses SES again"
        : "SES rollback triggered by a Parameter Store failure; whether SendGrid could take over cannot be told, so it is NOT recorded and the next run uses SES again",
    );
    return { record, persisted: false };
  }
  log.error({ rollback: record, parameter: store.name, sendgridConfigured: true, persisted: true }, "SES rollback triggered by a Parameter Store failure; later runs use SendGrid until an operator clears it (digest rollback clear)");
  try {
    await store.record(record);
    return { record, persisted: true };
  } catch (err) {
    log.error({ err, parameter: store.name }, "could not record the SES rollback");
    return { record, persisted: false };
  }
}
