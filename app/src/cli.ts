/**
 * The sender's entry point, and the only module that reads the environment.
 *
 *   digest run                      fetch, render and send the digest (the scheduled task)
 *   digest run --dry-run            render and write files, send nothing
 *   digest preview                  write the HTML and text parts to files
 *   digest rollback status          is the automatic SES rollback in force, and why
 *   digest rollback clear           clear it: the next run uses SES again (per use_ses/ses_percent)
 *   digest ledger status [--date D] the delivery ledger of a digest (default: today's)
 *   digest ledger resend --date D --recipient ADDRESS
 *                                   after checking, let the next run send an `unknown` recipient again
 *                                   (today's digest only: D must be today in America/New_York)
 *
 * Environment: VIBE_PARAMETER_ROOT (default /vibecoding), AWS_REGION, AWS_ENDPOINT_URL,
 * USE_SES_EMAIL, EMAIL_TO, VIBE_CONFIG_TTL_SECONDS, VIBE_OUT_DIR, VIBE_LOG_FORMAT,
 * VIBE_MAX_SEND_RATE, VIBE_LEDGER_TABLE, VIBE_SENDGRID_BASE_URL, VIBE_ROLLBACK_MIN_ATTEMPTS,
 * VIBE_SHUTDOWN_GRACE_MS, VIBE_STAGE (the metrics' Stage dimension).
 * With JSON logs the last stdout line is the command's summary. Exit codes: EXIT in run.ts.
 *
 * SIGTERM (ECS stopping the task): no new recipient is claimed, sends in flight get up to
 * VIBE_SHUTDOWN_GRACE_MS (default 10 s) to settle, then the metrics are flushed and the
 * summary (reason `interrupted`, the real counts) is printed, and the process exits 143.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SSMClient } from "@aws-sdk/client-ssm";
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { ParameterStoreConfig, type ConfigOverrides, type DigestConfig } from "./config";
import { DEFAULT_PARAMETER_ROOT, ENV, METRICS, ROLLBACK_DEFAULTS, SHUTDOWN_GRACE_DEFAULT_MS, STAGE_UNSET } from "./contract";
import type { DeliveryResult } from "./delivery/provider";
import { dispatchProviderFor } from "./delivery/select";
import { SesClientCache } from "./delivery/ses-client";
import { ConfigInvalidError, DigestError, UsageError } from "./errors";
import { FeedFetcher } from "./feeds";
import { DeliveryLedger } from "./ledger";
import { createLogger, type LogFormat, type Logger } from "./log";
import { EmfMetrics, type Metrics } from "./metrics";
import { digestDate } from "./render";
import { RollbackStore, rollbackTriggerOf, sendgridKeyConfigured } from "./rollback";
import { EXIT, runDigest, type RunSummary } from "./run";
import { LEDGER_TABLE_NAME_EXPECTED, isLedgerTableName, parseEndpointUrl, parseParameterRoot, parseRecipientList, parseRegion, type Checked } from "./validation";

export interface CliIo {
  /** Writes one line (without newline) to stdout synchronously. */
  readonly writeLine: (line: string) => void;
  readonly isTTY: boolean;
  /** Install a SIGTERM handler (the real process only). */
  readonly handleSignals?: boolean;
  /** Stops the run as SIGTERM does (tests drive the shutdown in-process with it). */
  readonly stop?: AbortSignal;
  /** Logger destination override (tests). */
  readonly logDestination?: { write(line: string): void };
  /** What "today" is for the operator commands (tests). @default () => new Date() */
  readonly clock?: () => Date;
}

const USAGE = `usage: digest run [--dry-run] [--out DIR]
       digest preview [--out DIR]
       digest rollback status|clear
       digest ledger status [--date YYYY-MM-DD]
       digest ledger resend --date YYYY-MM-DD --recipient ADDRESS`;

/** Settings read from the environment (pure: tests pass an object). */
export interface CliEnv {
  readonly root: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly overrides: ConfigOverrides;
  readonly ttlSeconds: number;
  readonly outDir?: string;
  readonly logFormat: LogFormat;
  readonly maxSendRate?: number;
  readonly ledgerTable?: string;
  readonly sendgridBaseUrl?: string;
  readonly rollbackMinAttempts: number;
  /** After SIGTERM, how long sends in flight may take to settle. */
  readonly shutdownGraceMs: number;
  /** The metrics' Stage dimension; undefined when VIBE_STAGE is unset. */
  readonly stage?: string;
}

/** Reads and checks the environment; invalid values throw ConfigInvalidError naming the variable. */
export function readEnv(env: NodeJS.ProcessEnv, isTTY: boolean): CliEnv {
  const get = (k: string) => {
    const v = env[k];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };
  const num = (k: string, min: number, max: number): number | undefined => {
    const v = get(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max) throw new ConfigInvalidError(k, `a number from ${min} to ${max}`);
    return n;
  };
  /** A variable checked by its rule in validation.ts; a bad value is CONFIG_INVALID naming the variable. */
  const checked = <T>(k: string, parse: (v: string) => Checked<T>): T | undefined => {
    const v = get(k);
    if (v === undefined) return undefined;
    const r = parse(v);
    if (!r.ok) throw new ConfigInvalidError(k, r.expected);
    return r.value;
  };
  const useSesRaw = get(ENV.useSes)?.toLowerCase();
  if (useSesRaw !== undefined && useSesRaw !== "true" && useSesRaw !== "false") throw new ConfigInvalidError(ENV.useSes, '"true" or "false"');
  const emailTo = checked(ENV.emailTo, parseRecipientList);
  const region = checked(ENV.region, parseRegion) ?? checked("AWS_DEFAULT_REGION", parseRegion);
  const endpoint = checked(ENV.endpointUrl, parseEndpointUrl);
  const root = checked(ENV.parameterRoot, parseParameterRoot);
  const logFormatRaw = get(ENV.logFormat)?.toLowerCase();
  if (logFormatRaw !== undefined && logFormatRaw !== "json" && logFormatRaw !== "pretty") throw new ConfigInvalidError(ENV.logFormat, '"json" or "pretty"');
  const ledgerTable = get(ENV.ledgerTable);
  if (ledgerTable !== undefined && !isLedgerTableName(ledgerTable)) throw new ConfigInvalidError(ENV.ledgerTable, LEDGER_TABLE_NAME_EXPECTED);
  const stage = get(ENV.stage);
  if (stage !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(stage)) throw new ConfigInvalidError(ENV.stage, "a stage name (letters, digits, _ . -; at most 64)");
  const sendgridBaseUrl = get(ENV.sendgridBaseUrl);
  if (sendgridBaseUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(sendgridBaseUrl);
    } catch {
      /* below */
    }
    if (!u || !/^https?:$/.test(u.protocol) || u.username || u.password) throw new ConfigInvalidError(ENV.sendgridBaseUrl, "an http(s) URL without credentials");
  }
  return {
    root: root ?? DEFAULT_PARAMETER_ROOT,
    region: region ?? "us-east-1",
    endpoint,
    overrides: {
      recipients: emailTo && emailTo.length > 0 ? emailTo : undefined,
      useSes: useSesRaw === undefined ? undefined : useSesRaw === "true",
      fallbackRegion: region,
    },
    ttlSeconds: num(ENV.configTtlSeconds, 0, 86_400) ?? 300,
    outDir: get(ENV.outDir),
    logFormat: (logFormatRaw as LogFormat | undefined) ?? (isTTY ? "pretty" : "json"),
    maxSendRate: num(ENV.maxSendRate, 0.01, 10_000),
    ...(ledgerTable !== undefined ? { ledgerTable } : {}),
    ...(sendgridBaseUrl !== undefined ? { sendgridBaseUrl } : {}),
    rollbackMinAttempts: num(ENV.rollbackMinAttempts, 1, 100_000) ?? ROLLBACK_DEFAULTS.minAttempts,
    // At most 25 s: ECS's default stopTimeout is 30 s, and the flush and exit need the rest.
    shutdownGraceMs: num(ENV.shutdownGraceMs, 0, 25_000) ?? SHUTDOWN_GRACE_DEFAULT_MS,
    ...(stage !== undefined ? { stage } : {}),
  };
}

type Command =
  | { kind: "run" | "preview"; dryRun: boolean; out?: string }
  | { kind: "rollback"; action: "status" | "clear" }
  | { kind: "ledger"; action: "status"; date?: string }
  | { kind: "ledger"; action: "resend"; date: string; recipient: string };

/** Parses argv into a command; throws UsageError. `now` decides today's digest date (America/New_York). */
export function parseCommand(argv: readonly string[], now: Date = new Date()): Command | "help" {
  const parsed = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      "dry-run": { type: "boolean" },
      out: { type: "string" },
      date: { type: "string" },
      recipient: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const v = parsed.values;
  if (v.help) return "help";
  const [command = "run", action, ...rest] = parsed.positionals;
  if (rest.length) throw new UsageError(`unexpected arguments; ${USAGE}`);
  const only = (allowed: string[]) => {
    for (const k of Object.keys(v)) if (!allowed.includes(k)) throw new UsageError(`--${k} does not apply to \`${command}${action ? ` ${action}` : ""}\`; ${USAGE}`);
  };
  if (command === "run" || command === "preview") {
    if (action !== undefined) throw new UsageError(`unknown command; ${USAGE}`);
    only(["dry-run", "out"]);
    if (command === "preview" && v["dry-run"]) throw new UsageError("preview never sends; drop --dry-run");
    return { kind: command, dryRun: v["dry-run"] === true || command === "preview", out: v.out };
  }
  if (command === "rollback" && (action === "status" || action === "clear")) {
    only([]);
    return { kind: "rollback", action };
  }
  if (command === "ledger" && (action === "status" || action === "resend")) {
    if (v.date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(v.date)) throw new UsageError("--date must be YYYY-MM-DD");
    if (action === "status") {
      only(["date"]);
      return { kind: "ledger", action, date: v.date };
    }
    only(["date", "recipient"]);
    if (!v.date || !v.recipient) throw new UsageError(`ledger resend needs --date and --recipient; ${USAGE}`);
    // A run only ever sends today's digest: marking another date would report success for
    // a resend that nothing will ever make.
    const today = digestDate(now);
    if (v.date !== today) throw new UsageError(`ledger resend only applies to today's digest (${today}, America/New_York): runs send only today's digest, so nothing would ever resend one for ${v.date}`);
    return { kind: "ledger", action, date: v.date, recipient: v.recipient };
  }
  throw new UsageError(`unknown command; ${USAGE}`);
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  let cmd: Command;
  try {
    const c = parseCommand(argv, (io.clock ?? (() => new Date()))());
    if (c === "help") {
      io.writeLine(USAGE);
      return EXIT.ok;
    }
    cmd = c;
  } catch (err) {
    io.writeLine(JSON.stringify({ level: "error", msg: err instanceof UsageError ? err.message : `${String((err as Error).message)}\n${USAGE}` }));
    return EXIT.usage;
  }

  let settings: CliEnv;
  try {
    settings = readEnv(env, io.isTTY);
  } catch (err) {
    const e = err as ConfigInvalidError;
    io.writeLine(JSON.stringify({ msg: "run summary", ok: false, sent: 0, failed: 0, messageIds: [], reason: "config", error: e.toJSON(), exitCode: EXIT.configError }));
    return EXIT.configError;
  }
  if (cmd.kind === "rollback" || cmd.kind === "ledger") return operatorCommand(cmd, settings, io);
  const command = cmd.kind;
  const dryRun = cmd.dryRun;
  const out = cmd.out;

  const logger: Logger = createLogger({ format: settings.logFormat, destination: io.logDestination ?? { write: (l: string) => io.writeLine(l.replace(/\n$/, "")) } });
  const json = settings.logFormat === "json";
  const metrics: Metrics = new EmfMetrics(
    (line) => {
      if (json) io.writeLine(line);
    },
    { stage: settings.stage ?? STAGE_UNSET },
  );
  if (settings.stage === undefined) {
    logger.warn({ env: ENV.stage, stage: STAGE_UNSET }, "VIBE_STAGE is not set: metrics carry Stage=\"unset\", which no stage's alarms select");
  }
  const maxAttempts = settings.endpoint ? 2 : 3;
  const ssm = new SSMClient({ region: settings.region, maxAttempts, ...(settings.endpoint ? { endpoint: settings.endpoint } : {}) });
  // One attempt per SES call: see SesClientCache (a retried send could deliver twice).
  const sesClients = new SesClientCache({ endpoint: settings.endpoint, logger });
  const ddb = settings.ledgerTable ? new DynamoDBClient({ region: settings.region, maxAttempts, ...(settings.endpoint ? { endpoint: settings.endpoint } : {}) }) : undefined;
  const ledger = ddb && settings.ledgerTable ? new DeliveryLedger(ddb, settings.ledgerTable) : undefined;
  const rollbackStore = new RollbackStore(ssm, settings.root);
  const config = new ParameterStoreConfig(ssm, { root: settings.root, ttlSeconds: settings.ttlSeconds, overrides: settings.overrides, metrics });
  // With AWS emulated (AWS_ENDPOINT_URL), a SendGrid key must never reach the real API:
  // SendGrid is used only when VIBE_SENDGRID_BASE_URL says where (the loopback emulator).
  const sendgridDisabled = settings.endpoint && !settings.sendgridBaseUrl ? `AWS_ENDPOINT_URL is set and ${ENV.sendgridBaseUrl} is not` : undefined;
  const outDir = out ?? settings.outDir ?? (command === "preview" || dryRun ? ".local/out" : undefined);

  // ECS stops a task with SIGTERM, then SIGKILL after its stop timeout (30 s by default):
  // stop claiming recipients, let the sends in flight settle for a bounded grace, then
  // report the real counts and exit 143 (run.ts turns the summary into "interrupted").
  const runId = randomUUID();
  const startedAt = Date.now();
  const stop = new AbortController();
  const onSigterm = () => {
    if (stop.signal.aborted) return;
    logger.warn({ graceMs: settings.shutdownGraceMs, detail: "no new recipients are claimed; sends in flight may settle, then the run stops" }, "interrupted by SIGTERM");
    stop.abort();
  };
  // This run's results as they settle, for a summary when the grace runs out first.
  const progress = { sent: 0, failed: 0, unknown: 0, skipped: 0, messageIds: [] as string[] };
  const tally = (r: DeliveryResult) => {
    if (r.status === "sent") {
      progress.sent++;
      progress.messageIds.push(r.messageId);
    } else if (r.status === "skipped") progress.skipped++;
    else if (r.definitelyNotSent) progress.failed++;
    else progress.unknown++;
  };
  let graceTimer: NodeJS.Timeout | undefined;
  const graceExpired = new Promise<RunSummary>((resolve) => {
    const start = () => {
      graceTimer = setTimeout(() => {
        logger.error({ graceMs: settings.shutdownGraceMs }, "sends in flight did not settle within the shutdown grace; their outcome is unknown (see `digest ledger status`)");
        metrics.count(METRICS.sent, progress.sent);
        metrics.count(METRICS.failed, progress.failed);
        metrics.count(METRICS.emailsUnknown, progress.unknown);
        metrics.count(METRICS.digestSucceeded, 0);
        resolve({
          msg: "run summary", ok: false, runId, dryRun, ...progress, recipients: [], states: {}, feeds: { total: 0, ok: 0, failed: [] }, items: 0,
          durationMs: Date.now() - startedAt, reason: "interrupted", graceExceeded: true, exitCode: EXIT.interrupted,
        });
      }, settings.shutdownGraceMs);
    };
    stop.signal.addEventListener("abort", start, { once: true });
  });
  if (io.handleSignals) process.on("SIGTERM", onSigterm);
  if (io.stop) {
    if (io.stop.aborted) onSigterm();
    else io.stop.addEventListener("abort", onSigterm, { once: true });
  }

  let summary: RunSummary;
  try {
    const run = runDigest(
      {
        config,
        feeds: new FeedFetcher({ logger }),
        // The client follows the cached config: after its TTL a reload notices rotated keys
        // and SesClientCache rebuilds the client (or after the client's own 1 h TTL). A
        // Parameter Store access failure on reload is a rollback trigger (the router sees
        // it); any other reload failure keeps the config this run started with.
        provider: (c, run) =>
          dispatchProviderFor(
            c,
            {
              ses: async () => sesClients.get(await config.load().catch((err: unknown) => reloadFallback(err, c))).client,
              logger,
              metrics,
              sendgridBaseUrl: settings.sendgridBaseUrl,
              sendgridDisabled,
              rollbackStore,
              rollbackWindow: { minAttempts: settings.rollbackMinAttempts },
            },
            run,
          ),
        credentialMode: (c) => SesClientCache.modeOf(c),
        logger,
        metrics,
        ledger,
        rollbackStore,
        sendgridAvailable: async () => (sendgridDisabled ? false : sendgridKeyConfigured(ssm, settings.root)),
      },
      { runId, dryRun, outDir, files: command === "preview" ? "parts" : dryRun ? "all" : "message", dispatch: { ceilingPerSecond: settings.maxSendRate, onResult: tally }, signal: stop.signal },
    );
    summary = await Promise.race([run, graceExpired]);
  } finally {
    clearTimeout(graceTimer);
    if (io.handleSignals) process.removeListener("SIGTERM", onSigterm);
    io.stop?.removeEventListener("abort", onSigterm);
    config.clear();
    sesClients.destroy();
    ddb?.destroy();
    ssm.destroy();
  }
  metrics.flush();
  const { msg, ...fields } = summary;
  logger.info(fields, msg);
  return summary.exitCode;
}

/**
 * Keeps the run's config when a mid-run reload fails (a transient outage, a value changed to
 * something invalid), unless the failure is a rollback trigger (Parameter Store denied
 * access): that one reaches the router, which rolls SES back.
 */
export function reloadFallback(err: unknown, current: DigestConfig): DigestConfig {
  if (rollbackTriggerOf(err)) throw err;
  return current;
}

/** `digest rollback ...` and `digest ledger ...`: one JSON line, no secrets, no config load. */
async function operatorCommand(cmd: Extract<Command, { kind: "rollback" | "ledger" }>, settings: CliEnv, io: CliIo): Promise<number> {
  const maxAttempts = settings.endpoint ? 2 : 3;
  const endpoint = settings.endpoint ? { endpoint: settings.endpoint } : {};
  const print = (o: Record<string, unknown>) => io.writeLine(JSON.stringify(o));
  const fail = (msg: string, err: unknown, code: number = EXIT.configError) => {
    print({ level: "error", msg, ok: false, error: err instanceof DigestError ? err.toJSON() : { name: (err as Error)?.name ?? "Error" }, exitCode: code });
    return code;
  };
  if (cmd.kind === "rollback") {
    const ssm = new SSMClient({ region: settings.region, maxAttempts, ...endpoint });
    const store = new RollbackStore(ssm, settings.root);
    try {
      if (cmd.action === "status") {
        const record = await store.read();
        print({ msg: "rollback status", ok: true, parameter: store.name, inForce: record !== undefined, ...(record ? { rollback: record } : {}), exitCode: EXIT.ok });
      } else {
        const previous = await store.clear();
        print({ msg: "rollback cleared", ok: true, parameter: store.name, wasInForce: previous !== undefined, ...(previous ? { previous } : {}), exitCode: EXIT.ok });
      }
      return EXIT.ok;
    } catch (err) {
      return fail(`rollback ${cmd.action} failed`, err);
    } finally {
      ssm.destroy();
    }
  }
  if (!settings.ledgerTable) return fail("no delivery ledger: set VIBE_LEDGER_TABLE", new ConfigInvalidError(ENV.ledgerTable, "the ledger table name"));
  const ddb = new DynamoDBClient({ region: settings.region, maxAttempts, ...endpoint });
  const ledger = new DeliveryLedger(ddb, settings.ledgerTable);
  try {
    const date = cmd.date ?? digestDate((io.clock ?? (() => new Date()))());
    if (cmd.action === "resend") {
      const changed = await ledger.markForResend(date, cmd.recipient);
      print({ msg: "ledger resend", ok: changed, digestDate: date, recipient: cmd.recipient, ...(changed ? {} : { reason: "only an unknown or failed recipient can be marked for resending" }), exitCode: changed ? EXIT.ok : EXIT.deliveryFailed });
      return changed ? EXIT.ok : EXIT.deliveryFailed;
    }
    const items = [...(await ledger.items(date)).values()];
    const states: Record<string, number> = {};
    for (const it of items) states[it.state] = (states[it.state] ?? 0) + 1;
    const notDone = (states.failed ?? 0) + (states.unknown ?? 0) + (states.in_progress ?? 0);
    print({
      msg: "ledger status",
      ok: notDone === 0,
      table: settings.ledgerTable,
      digestDate: date,
      states,
      recipients: items.map((it) => ({ recipient: it.recipient, state: it.state, provider: it.provider, messageId: it.messageId, errorCode: it.errorCode, attempts: it.attempts, updatedAt: it.updatedAt })),
      exitCode: notDone === 0 ? EXIT.ok : EXIT.deliveryFailed,
    });
    return notDone === 0 ? EXIT.ok : EXIT.deliveryFailed;
  } catch (err) {
    return fail(`ledger ${cmd.action} failed`, err);
  } finally {
    ddb.destroy();
  }
}

if (require.main === module) {
  const writeLine = (line: string) => process.stdout.write(`${line}\n`);
  main(process.argv.slice(2), process.env, { writeLine, isTTY: process.stdout.isTTY === true, handleSignals: true }).then(
    (code) => {
      process.exitCode = code;
      // Sockets of the SDK's keep-alive agents must not hold the task open.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (err: unknown) => {
      process.stdout.write(`${JSON.stringify({ level: "fatal", msg: "run summary", ok: false, sent: 0, failed: 0, messageIds: [], error: { name: (err as Error)?.name ?? "Error" }, exitCode: EXIT.internal })}\n`);
      process.exit(EXIT.internal);
    },
  );
}
