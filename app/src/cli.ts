/**
 * The sender's entry point, and the only module that reads the environment.
 *
 *   digest run              fetch, render and send the digest (the scheduled task)
 *   digest run --dry-run    render and write files, send nothing
 *   digest preview          write the HTML and text parts to files
 *
 * Environment: VIBE_PARAMETER_ROOT (default /vibecoding), AWS_REGION, AWS_ENDPOINT_URL,
 * USE_SES_EMAIL, EMAIL_TO, VIBE_CONFIG_TTL_SECONDS, VIBE_OUT_DIR, VIBE_LOG_FORMAT,
 * VIBE_MAX_SEND_RATE. With JSON logs the last stdout line is the run summary.
 * Exit codes: see EXIT in run.ts.
 */
import { SSMClient } from "@aws-sdk/client-ssm";
import { parseArgs } from "node:util";
import { ParameterStoreConfig, type ConfigOverrides } from "./config";
import { DEFAULT_PARAMETER_ROOT, ENV } from "./contract";
import { dispatchProviderFor } from "./delivery/select";
import { SesClientCache } from "./delivery/ses-client";
import { ConfigInvalidError, UsageError } from "./errors";
import { FeedFetcher } from "./feeds";
import { createLogger, type LogFormat, type Logger } from "./log";
import { EmfMetrics, type Metrics } from "./metrics";
import { EXIT, runDigest, type RunSummary } from "./run";

export interface CliIo {
  /** Writes one line (without newline) to stdout synchronously. */
  readonly writeLine: (line: string) => void;
  readonly isTTY: boolean;
  /** Install a SIGTERM handler (the real process only). */
  readonly handleSignals?: boolean;
  /** Logger destination override (tests). */
  readonly logDestination?: { write(line: string): void };
}

const USAGE = `usage: digest run [--dry-run] [--out DIR]
       digest preview [--out DIR]`;

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
  const useSesRaw = get(ENV.useSes)?.toLowerCase();
  if (useSesRaw !== undefined && useSesRaw !== "true" && useSesRaw !== "false") throw new ConfigInvalidError(ENV.useSes, '"true" or "false"');
  const emailTo = get(ENV.emailTo)
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const region = get(ENV.region) ?? get("AWS_DEFAULT_REGION");
  const logFormatRaw = get(ENV.logFormat)?.toLowerCase();
  if (logFormatRaw !== undefined && logFormatRaw !== "json" && logFormatRaw !== "pretty") throw new ConfigInvalidError(ENV.logFormat, '"json" or "pretty"');
  return {
    root: get(ENV.parameterRoot) ?? DEFAULT_PARAMETER_ROOT,
    region: region ?? "us-east-1",
    endpoint: get(ENV.endpointUrl),
    overrides: {
      recipients: emailTo && emailTo.length > 0 ? emailTo : undefined,
      useSes: useSesRaw === undefined ? undefined : useSesRaw === "true",
      fallbackRegion: region,
    },
    ttlSeconds: num(ENV.configTtlSeconds, 0, 86_400) ?? 300,
    outDir: get(ENV.outDir),
    logFormat: (logFormatRaw as LogFormat | undefined) ?? (isTTY ? "pretty" : "json"),
    maxSendRate: num(ENV.maxSendRate, 0.01, 10_000),
  };
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  let command: string;
  let dryRun = false;
  let out: string | undefined;
  try {
    const parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { "dry-run": { type: "boolean" }, out: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
    if (parsed.values.help) {
      io.writeLine(USAGE);
      return EXIT.ok;
    }
    command = parsed.positionals[0] ?? "run";
    if (parsed.positionals.length > 1 || (command !== "run" && command !== "preview")) throw new UsageError(`unknown command; ${USAGE}`);
    if (command === "preview" && parsed.values["dry-run"]) throw new UsageError("preview never sends; drop --dry-run");
    dryRun = parsed.values["dry-run"] === true || command === "preview";
    out = parsed.values.out;
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

  const logger: Logger = createLogger({ format: settings.logFormat, destination: io.logDestination ?? { write: (l: string) => io.writeLine(l.replace(/\n$/, "")) } });
  const json = settings.logFormat === "json";
  const metrics: Metrics = new EmfMetrics((line) => {
    if (json) io.writeLine(line);
  });
  const maxAttempts = settings.endpoint ? 2 : 3;
  const ssm = new SSMClient({ region: settings.region, maxAttempts, ...(settings.endpoint ? { endpoint: settings.endpoint } : {}) });
  const sesClients = new SesClientCache({ endpoint: settings.endpoint, maxAttempts, logger });
  const config = new ParameterStoreConfig(ssm, { root: settings.root, ttlSeconds: settings.ttlSeconds, overrides: settings.overrides, metrics });
  const outDir = out ?? settings.outDir ?? (command === "preview" || dryRun ? ".local/out" : undefined);

  // ECS stops a task with SIGTERM (then SIGKILL after the stop timeout): keep the metrics
  // recorded so far and say so in the last line, instead of vanishing mid-run.
  const onSigterm = () => {
    metrics.flush();
    logger.warn({ sent: "unknown", exitCode: EXIT.interrupted }, "interrupted by SIGTERM");
    io.writeLine(JSON.stringify({ msg: "run summary", ok: false, reason: "interrupted", sent: 0, failed: 0, messageIds: [], exitCode: EXIT.interrupted }));
    process.exit(EXIT.interrupted);
  };
  if (io.handleSignals) process.once("SIGTERM", onSigterm);

  let summary: RunSummary;
  try {
    summary = await runDigest(
      {
        config,
        feeds: new FeedFetcher({ logger }),
        // The client follows the cached config: after its TTL a reload notices rotated keys
        // and SesClientCache rebuilds the client (or after the client's own 1 h TTL).
        provider: (c) => dispatchProviderFor(c, { ses: async () => sesClients.get(await config.load().catch(() => c)).client, logger }),
        credentialMode: (c) => SesClientCache.modeOf(c),
        logger,
        metrics,
      },
      { dryRun, outDir, files: command === "preview" ? "parts" : dryRun ? "all" : "message", dispatch: { ceilingPerSecond: settings.maxSendRate } },
    );
  } finally {
    if (io.handleSignals) process.removeListener("SIGTERM", onSigterm);
    config.clear();
    sesClients.destroy();
    ssm.destroy();
  }
  metrics.flush();
  const { msg, ...fields } = summary;
  logger.info(fields, msg);
  return summary.exitCode;
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
