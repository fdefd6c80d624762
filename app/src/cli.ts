/**
 * The sender's command line (`npm run digest -- <command>`; the image's ENTRYPOINT, whose
 * task definition passes `run`), on the project's one CLI convention (cli-kit.ts), and the
 * only module that reads the environment ({@link readEnv}).
 *
 *   digest run [--dry-run] [--out DIR]    fetch, render and send today's digest (the scheduled task)
 *   digest preview [--out DIR]            write the first recipient's HTML and text parts; sends nothing
 *   digest rollback status|clear          the automatic SES rollback
 *   digest ledger status [--date D]       the delivery ledger of a digest (default: today's)
 *   digest ledger resend --date D --recipient ADDRESS
 *   digest ledger mark-sent --date D --recipient ADDRESS --provider P --message-id ID
 *
 * Bare `digest` prints the help and exits 64: nothing is sent without `run`. In a terminal,
 * progress and errors go to stderr as readable lines and a short summary to stdout; with
 * `--json` or when stdout is not a terminal, every stdout line is JSON (logs, the EMF metric
 * line) and the last one is the command's summary. SIGTERM/SIGINT stop a run (run.ts): no
 * send starts after the signal, sends in flight get VIBE_SHUTDOWN_GRACE_MS to settle, then
 * the metrics are flushed, the summary is printed and the process exits 143.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SSMClient } from "@aws-sdk/client-ssm";
import { Option } from "commander";
import { AWS_ENV_DOCS, Cli, CliError, EXIT, STANDARD_EXIT_DOCS, processIo, usageError, type CliIo, type EnvDoc, type Output } from "./cli-kit";
import { ParameterStoreConfig, type ConfigOverrides, type DigestConfig } from "./config";
import { DEFAULT_PARAMETER_ROOT, ENV, SENDGRID_DEFAULT_BASE_URL, SHUTDOWN_GRACE_DEFAULT_MS, STAGE_UNSET } from "./contract";
import { dispatchProviderFor } from "./delivery/select";
import { SesClientCache } from "./delivery/ses-client";
import { ConfigInvalidError } from "./errors";
import { FeedFetcher } from "./feeds";
import { DeliveryLedger, LEDGER_REQUEST_HANDLER } from "./ledger";
import { createLogger, type LogFormat, type Logger } from "./log";
import { EmfMetrics, type Metrics } from "./metrics";
import { digestDate } from "./render";
import { RollbackStore, rollbackTriggerOf, sendgridKeyConfigured } from "./rollback";
import { runDigest, type RunDeps } from "./run";
import { humanSummary } from "./run/summary";
import { LEDGER_TABLE_NAME_EXPECTED, isLedgerTableName, parseEndpointUrl, parseParameterRoot, parseRecipientList, parseRegion, type Checked } from "./validation";

/** Where the CLI writes, and what tests drive in-process. */
export interface DigestIo extends CliIo {
  /** Install SIGTERM/SIGINT handlers (the real process only). */
  readonly handleSignals?: boolean;
  /** Stops the run as SIGTERM does (tests drive the shutdown in-process with it). */
  readonly stop?: AbortSignal;
  /** What "today" is for the operator commands (tests). @default () => new Date() */
  readonly clock?: () => Date;
}

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
  /** After SIGTERM, how long sends in flight may take to settle. */
  readonly shutdownGraceMs: number;
  /** The metrics' Stage dimension; undefined when VIBE_STAGE is unset. */
  readonly stage?: string;
}

/** Every environment variable the sender reads, with its default (the `--help` table). */
export const DIGEST_ENV_DOCS: readonly EnvDoc[] = [
  { name: ENV.parameterRoot, description: `Parameter Store root of the stage's settings (default ${DEFAULT_PARAMETER_ROOT})` },
  { name: ENV.region, description: "AWS region (else AWS_DEFAULT_REGION, else us-east-1); the aws/region parameter wins for SES" },
  ...AWS_ENV_DOCS.filter((d) => d.name !== ENV.region),
  { name: ENV.useSes, description: "true|false: overrides email/use_ses (default: the parameter)" },
  { name: ENV.emailTo, description: "comma-separated recipients replacing email/to_address (default: the parameter)" },
  { name: ENV.configTtlSeconds, description: "seconds a loaded config is reused before Parameter Store is read again (default 300)" },
  { name: ENV.outDir, description: "folder for the first recipient's message files (default: none for run; .local/out for --dry-run and preview)" },
  { name: ENV.logFormat, description: "json|pretty (default: pretty in a terminal, JSON otherwise; --json forces JSON)" },
  { name: ENV.maxSendRate, description: "ceiling on each provider's sends per second (default: the provider's own: SES MaxSendRate, SendGrid 10/s)" },
  { name: ENV.ledgerTable, description: "DynamoDB delivery ledger table (default: none, and exactly-once is NOT guaranteed)" },
  { name: ENV.sendgridBaseUrl, description: `SendGrid API root (default ${SENDGRID_DEFAULT_BASE_URL}; with AWS_ENDPOINT_URL set and this unset, SendGrid is not used)` },
  { name: ENV.stage, description: `stage name, the metrics' Stage dimension (default: unset, metrics say Stage=${STAGE_UNSET}, which no alarm selects)` },
  { name: ENV.shutdownGraceMs, description: `after SIGTERM, ms sends in flight may settle (default ${SHUTDOWN_GRACE_DEFAULT_MS}, at most 25000)` },
];

/** Every exit code `digest` can end with. */
export const DIGEST_EXIT_DOCS = [
  { code: EXIT.ok, meaning: "done: every recipient is `sent` in the ledger (operator commands: done)" },
  { code: EXIT.failed, meaning: "not done: a recipient is failed, unknown, held by another run or not tried (see `digest ledger status`)" },
  STANDARD_EXIT_DOCS.config,
  { code: EXIT.internal, meaning: "unexpected failure, or a dry run that could not write its files" },
  { code: EXIT.nothingToSend, meaning: "nothing to send: every feed failed or the digest is empty (nobody was sent anything)" },
  STANDARD_EXIT_DOCS.usage,
  { code: EXIT.interrupted, meaning: "stopped by SIGTERM/SIGINT: no send started after it; the summary counts sent, failed, unknown, in flight and not tried" },
] as const;

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
    // At most 25 s: ECS's default stopTimeout is 30 s, and the flush and exit need the rest.
    shutdownGraceMs: num(ENV.shutdownGraceMs, 0, 25_000) ?? SHUTDOWN_GRACE_DEFAULT_MS,
    ...(stage !== undefined ? { stage } : {}),
  };
}

/** The sender's dependencies as the scheduled task wires them, and how to release them. */
export function senderDeps(settings: CliEnv, logger: Logger, metrics: Metrics): { deps: RunDeps; close(): void } {
  const maxAttempts = settings.endpoint ? 2 : 3;
  const endpoint = settings.endpoint ? { endpoint: settings.endpoint } : {};
  const ssm = new SSMClient({ region: settings.region, maxAttempts, ...endpoint });
  // One attempt per SES call: see SesClientCache (a retried send could deliver twice).
  const sesClients = new SesClientCache({ endpoint: settings.endpoint, logger });
  const ddb = settings.ledgerTable ? new DynamoDBClient({ region: settings.region, maxAttempts, requestHandler: LEDGER_REQUEST_HANDLER, ...endpoint }) : undefined;
  const ledger = ddb && settings.ledgerTable
    ? new DeliveryLedger(ddb, settings.ledgerTable, { onRetry: (e) => logger.warn(e, "ledger: retrying after a transient failure") })
    : undefined;
  const rollbackStore = new RollbackStore(ssm, settings.root);
  const config = new ParameterStoreConfig(ssm, { root: settings.root, ttlSeconds: settings.ttlSeconds, overrides: settings.overrides, metrics });
  // With AWS emulated (AWS_ENDPOINT_URL), a SendGrid key must never reach the real API:
  // SendGrid is used only when VIBE_SENDGRID_BASE_URL says where (the loopback emulator).
  const sendgridDisabled = settings.endpoint && !settings.sendgridBaseUrl ? `AWS_ENDPOINT_URL is set and ${ENV.sendgridBaseUrl} is not` : undefined;
  const deps: RunDeps = {
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
        },
        run,
      ),
    credentialMode: (c) => SesClientCache.modeOf(c),
    logger,
    metrics,
    ledger,
    rollbackStore,
    sendgridAvailable: async () => (sendgridDisabled ? false : sendgridKeyConfigured(ssm, settings.root)),
  };
  return {
    deps,
    close: () => {
      config.clear();
      sesClients.destroy();
      ddb?.destroy();
      ssm.destroy();
    },
  };
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

/** The `digest` command line. */
export function digestCli(env: NodeJS.ProcessEnv, io: DigestIo = processIo()): Cli {
  const cli = new Cli(
    "digest",
    {
      invocation: "npm run digest --",
      description:
        "The Daily Vibe Coding Digest sender: fetches the feeds, renders the digest once and sends each recipient its copy through SES (SendGrid during the migration), exactly once per recipient and day with the delivery ledger. Without a command it prints this help and sends nothing.",
      env: DIGEST_ENV_DOCS,
      exitCodes: DIGEST_EXIT_DOCS,
      examples: [
        "npm run digest -- run --dry-run          render today's digest into .local/out, send nothing",
        "npm run digest -- run                    send today's digest (what the scheduled task runs)",
        "npm run digest -- ledger status          today's ledger: sent, failed, unknown, in progress",
        "npm run digest -- rollback status        is the automatic SES rollback in force, and why",
      ],
    },
    io,
  );
  const today = () => digestDate((io.clock ?? (() => new Date()))());
  const dateOption = (required: boolean) => {
    const o = new Option("--date <YYYY-MM-DD>", "digest date, America/New_York" + (required ? "" : " (default: today)")).argParser((v) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) throw usageError("--date must be YYYY-MM-DD");
      return v;
    });
    return required ? o.makeOptionMandatory(true) : o;
  };

  type RunOpts = { json?: boolean; dryRun?: boolean; out?: string };
  cli.action<RunOpts>(
    cli.command("run", "fetch, render and send today's digest (the scheduled task); --dry-run renders and writes files only").option("--dry-run", "render and write the files, send nothing").option("--out <dir>", `write the first recipient's message files here (overrides ${ENV.outDir})`),
    ({ opts }) => sendCommand(env, io, opts.dryRun === true ? "dry-run" : "run", opts),
  );
  cli.action<RunOpts>(
    cli.command("preview", "write the first recipient's HTML and text parts to files; sends nothing").option("--out <dir>", `folder (default ${ENV.outDir}, else .local/out)`),
    ({ opts }) => sendCommand(env, io, "preview", opts),
  );

  const rollback = cli.command("rollback", "the automatic SES rollback (email/ses_rollback)");
  cli.action(cli.command("status", "is a rollback in force, why, and its evidence", {}, rollback), ({ out }) => rollbackCommand(env, io, out, "status"));
  cli.action(cli.command("clear", "clear it: the next run uses SES again (per use_ses and ses_percent)", {}, rollback), ({ out }) => rollbackCommand(env, io, out, "clear"));

  const ledger = cli.command("ledger", "the delivery ledger (VIBE_LEDGER_TABLE)");
  cli.action<{ json?: boolean; date?: string }>(cli.command("status", "a digest's items; exits 1 while one is failed, unknown or in progress", {}, ledger).addOption(dateOption(false)), ({ out, opts }) =>
    ledgerCommand(env, io, out, { action: "status", date: opts.date ?? today() }),
  );
  cli.action<{ json?: boolean; date: string; recipient: string }>(
    cli
      .command("resend", "after checking, let the next run send an `unknown` (or `failed`) recipient again; today's digest only", {}, ledger)
      .addOption(dateOption(true))
      .requiredOption("--recipient <address>", "the recipient"),
    ({ out, opts }) => {
      // A run only ever sends today's digest: marking another date would report success for
      // a resend that nothing will ever make.
      if (opts.date !== today()) throw usageError(`ledger resend only applies to today's digest (${today()}, America/New_York): runs send only today's digest, so nothing would ever resend one for ${opts.date}`);
      return ledgerCommand(env, io, out, { action: "resend", date: opts.date, recipient: opts.recipient });
    },
  );
  cli.action<{ json?: boolean; date: string; recipient: string; provider: string; messageId: string }>(
    cli
      .command("mark-sent", "record a send the ledger missed (the run summary's `unrecorded`), or an `unknown` one the provider shows as accepted", {}, ledger)
      .addOption(dateOption(true))
      .requiredOption("--recipient <address>", "the recipient")
      .addOption(new Option("--provider <provider>", "who accepted it").choices(["ses", "sendgrid"]).makeOptionMandatory(true))
      .requiredOption("--message-id <id>", "the provider's message id"),
    ({ out, opts }) => ledgerCommand(env, io, out, { action: "mark-sent", date: opts.date, recipient: opts.recipient, provider: opts.provider, messageId: opts.messageId }),
  );
  return cli;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, io: DigestIo = processIo()): Promise<number> {
  return digestCli(env, io).run(argv);
}

/** `run`, `run --dry-run` and `preview`: one digest run, its progress, metrics and summary. */
async function sendCommand(env: NodeJS.ProcessEnv, io: DigestIo, mode: "run" | "dry-run" | "preview", opts: { json?: boolean; out?: string }): Promise<number> {
  const settings = readEnv(env, io.isTTY);
  const json = opts.json === true || settings.logFormat === "json";
  // JSON: every line on stdout (the task's log stream). Terminal: progress on stderr.
  const logger = createLogger({ format: json ? "json" : "pretty", destination: { write: (l: string) => (json ? io.stdout(l) : io.stderr(l)) } });
  const metrics = new EmfMetrics((line) => (json ? io.stdout(`${line}\n`) : undefined), { stage: settings.stage ?? STAGE_UNSET });
  if (settings.stage === undefined) {
    logger.warn({ env: ENV.stage, stage: STAGE_UNSET }, "VIBE_STAGE is not set: metrics carry Stage=\"unset\", which no stage's alarms select");
  }
  const dryRun = mode !== "run";
  const outDir = opts.out ?? settings.outDir ?? (dryRun ? ".local/out" : undefined);

  // ECS stops a task with SIGTERM, then SIGKILL after its stop timeout (30 s by default).
  const stop = new AbortController();
  const onSignal = (signal: string) => () => {
    if (stop.signal.aborted) {
      // A second Ctrl-C from a person means now (ECS follows SIGTERM with SIGKILL itself).
      if (signal === "SIGINT" && io.handleSignals) process.exit(EXIT.interrupted);
      return;
    }
    logger.warn({ signal, graceMs: settings.shutdownGraceMs, detail: "no send starts from now on; sends in flight may settle, then the run stops" }, `interrupted by ${signal}`);
    stop.abort();
  };
  const onTerm = onSignal("SIGTERM");
  const onInt = onSignal("SIGINT");
  if (io.handleSignals) {
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
  }
  if (io.stop) {
    if (io.stop.aborted) onTerm();
    else io.stop.addEventListener("abort", onTerm, { once: true });
  }
  const wired = senderDeps(settings, logger, metrics);
  try {
    const summary = await runDigest(wired.deps, {
      dryRun,
      outDir,
      files: mode === "preview" ? "parts" : dryRun ? "all" : "message",
      dispatch: { ceilingPerSecond: settings.maxSendRate },
      signal: stop.signal,
      shutdownGraceMs: settings.shutdownGraceMs,
    });
    metrics.flush();
    if (json) {
      const { msg, ...fields } = summary;
      logger.info(fields, msg);
    } else {
      io.stdout(`${humanSummary(summary).join("\n")}\n`);
    }
    return summary.exitCode;
  } finally {
    if (io.handleSignals) {
      process.removeListener("SIGTERM", onTerm);
      process.removeListener("SIGINT", onInt);
    }
    io.stop?.removeEventListener("abort", onTerm);
    wired.close();
  }
}

/** `digest rollback status|clear`: no secrets, no config load. */
async function rollbackCommand(env: NodeJS.ProcessEnv, io: DigestIo, out: Output, action: "status" | "clear"): Promise<number> {
  const settings = readEnv(env, io.isTTY);
  const ssm = new SSMClient({ region: settings.region, maxAttempts: settings.endpoint ? 2 : 3, ...(settings.endpoint ? { endpoint: settings.endpoint } : {}) });
  const store = new RollbackStore(ssm, settings.root);
  try {
    if (action === "status") {
      const record = await store.read();
      out.result(
        { msg: "rollback status", ok: true, parameter: store.name, inForce: record !== undefined, ...(record ? { rollback: record } : {}), exitCode: EXIT.ok },
        record ? [`SES rollback in force (${store.name}) since ${record.at}: ${record.reason}`, `  ${record.detail}`, "  clear it with: npm run digest -- rollback clear"] : [`no SES rollback in force (${store.name})`],
      );
    } else {
      const previous = await store.clear();
      out.result(
        { msg: "rollback cleared", ok: true, parameter: store.name, wasInForce: previous !== undefined, ...(previous ? { previous } : {}), exitCode: EXIT.ok },
        previous ? `cleared the SES rollback (${previous.reason}, since ${previous.at}): the next run uses SES again` : "no SES rollback was in force; nothing changed",
      );
    }
    return EXIT.ok;
  } finally {
    ssm.destroy();
  }
}

type LedgerAction =
  | { action: "status"; date: string }
  | { action: "resend"; date: string; recipient: string }
  | { action: "mark-sent"; date: string; recipient: string; provider: string; messageId: string };

/** `digest ledger ...`. */
async function ledgerCommand(env: NodeJS.ProcessEnv, io: DigestIo, out: Output, cmd: LedgerAction): Promise<number> {
  const settings = readEnv(env, io.isTTY);
  if (!settings.ledgerTable) throw new CliError("CONFIG_MISSING", `no delivery ledger: set ${ENV.ledgerTable}`, EXIT.config);
  const ddb = new DynamoDBClient({ region: settings.region, maxAttempts: settings.endpoint ? 2 : 3, ...(settings.endpoint ? { endpoint: settings.endpoint } : {}) });
  const ledger = new DeliveryLedger(ddb, settings.ledgerTable);
  try {
    if (cmd.action === "resend" || cmd.action === "mark-sent") {
      const changed = cmd.action === "resend" ? await ledger.markForResend(cmd.date, cmd.recipient) : await ledger.markSent(cmd.date, cmd.recipient, cmd.provider, cmd.messageId);
      const why = cmd.action === "resend" ? "only an unknown or failed recipient can be marked for resending" : "only an unknown recipient, or one left in progress after its send started and its lease ran out, can be marked sent";
      const exitCode = changed ? EXIT.ok : EXIT.failed;
      out.result(
        { msg: `ledger ${cmd.action}`, ok: changed, digestDate: cmd.date, recipient: cmd.recipient, ...(changed ? {} : { reason: why }), exitCode },
        changed ? `${cmd.recipient} (${cmd.date}): ${cmd.action === "resend" ? "marked for resending by the next run" : "recorded as sent"}` : `${cmd.recipient} (${cmd.date}): not changed: ${why}`,
      );
      return exitCode;
    }
    const items = [...(await ledger.items(cmd.date)).values()];
    const states: Record<string, number> = {};
    for (const it of items) states[it.state] = (states[it.state] ?? 0) + 1;
    const notDone = (states.failed ?? 0) + (states.unknown ?? 0) + (states.in_progress ?? 0);
    const exitCode = notDone === 0 ? EXIT.ok : EXIT.failed;
    out.result(
      {
        msg: "ledger status",
        ok: notDone === 0,
        table: settings.ledgerTable,
        digestDate: cmd.date,
        states,
        recipients: items.map((it) => ({ recipient: it.recipient, state: it.state, provider: it.provider, messageId: it.messageId, errorCode: it.errorCode, attempts: it.attempts, latencyMs: it.latencyMs, updatedAt: it.updatedAt })),
        exitCode,
      },
      [
        `ledger ${settings.ledgerTable}, digest ${cmd.date}: ${Object.entries(states).map(([k, v]) => `${k} ${v}`).join(", ") || "no items"}`,
        ...items.filter((it) => it.state !== "sent").map((it) => `  ${it.state.padEnd(11)} ${it.recipient}${it.errorCode ? ` (${it.errorCode})` : ""}`),
      ],
    );
    return exitCode;
  } finally {
    ddb.destroy();
  }
}

if (require.main === module) {
  main(process.argv.slice(2), process.env, { ...processIo(), handleSignals: true }).then(
    (code) => {
      process.exitCode = code;
      // Sockets of the SDK's keep-alive agents (and sends abandoned after the grace) must not hold the task open.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (err: unknown) => {
      process.stdout.write(`${JSON.stringify({ level: "fatal", msg: "run summary", ok: false, sent: 0, failed: 0, messageIds: [], error: { name: (err as Error)?.name ?? "Error" }, exitCode: EXIT.internal })}\n`);
      process.exit(EXIT.internal);
    },
  );
}

