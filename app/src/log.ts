/**
 * Structured logs with pino. JSON lines in the container (what CloudWatch Logs and the
 * local runner read); a short human line per event on a terminal. Redaction of secret-ish
 * keys is defence in depth: secrets are held in {@link Secret} and never logged anyway.
 */
import pino, { type DestinationStream, type Logger } from "pino";
import { DigestError } from "./errors";

export type { Logger } from "pino";
export type LogFormat = "json" | "pretty";

/** Keys whose values are replaced with "[redacted]" wherever they appear (two levels deep). */
export const REDACT_PATHS = [
  "accessKeyId",
  "secretAccessKey",
  "sessionToken",
  "apiKey",
  "password",
  "authorization",
  "credentials",
  "secret",
  "token",
  "*.accessKeyId",
  "*.secretAccessKey",
  "*.sessionToken",
  "*.apiKey",
  "*.password",
  "*.authorization",
  "*.credentials",
  "*.secret",
  "*.token",
  "*.*.accessKeyId",
  "*.*.secretAccessKey",
  "*.*.apiKey",
];

/** Serializes any thrown value without its payload: our errors by their safe view. */
export function serializeError(err: unknown): Record<string, unknown> {
  if (err instanceof DigestError) return err.toJSON();
  if (err instanceof Error) return { name: err.name, message: err.message.slice(0, 300) };
  return { name: typeof err };
}

export interface LoggerOptions {
  readonly format?: LogFormat;
  readonly level?: string;
  /** Where lines go (tests pass a collector). @default stdout, synchronously */
  readonly destination?: DestinationStream;
}

/** Creates the run's logger. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const format = opts.format ?? "json";
  const base = opts.destination ?? pino.destination({ fd: 1, sync: true });
  const dest = format === "pretty" ? prettyStream(base) : base;
  return pino(
    {
      level: opts.level ?? "info",
      base: { service: "vibe-digest" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      serializers: { err: serializeError },
    },
    dest,
  );
}

const ICONS: Record<string, string> = { info: "•", warn: "!", error: "✗", debug: "·", fatal: "✗", trace: "·" };
const SKIP = new Set(["level", "time", "service", "msg", "pid", "hostname"]);

/** Turns each JSON line into `HH:MM:SS • message key=value ...` for a person at a terminal. */
function prettyStream(out: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line) as Record<string, unknown>;
      } catch {
        out.write(line);
        return;
      }
      const time = typeof o.time === "string" ? o.time.slice(11, 19) : "";
      const fields = Object.entries(o)
        .filter(([k]) => !SKIP.has(k))
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
      out.write(`${time} ${ICONS[String(o.level)] ?? "•"} ${String(o.msg ?? "")}${fields ? `  ${fields}` : ""}\n`);
    },
  };
}
