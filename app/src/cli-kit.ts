/**
 * One command-line convention for every command of the project: the sender (`digest`) and
 * the operator and pipeline commands in scripts/ (secrets, infra, plan summary, image, local,
 * doctor, rotate, rollout, bench). Built on commander, so each command gets the same:
 *
 * - `--help`: what the command does, its subcommands and options, the environment variables
 *   it reads and its exit codes ({@link CommandDoc});
 * - unknown options, missing or extra arguments refused with exit code 64 (a typo such as
 *   `--ofline` gets a "did you mean --offline?"), and a command without a subcommand prints
 *   its help and exits 64: nothing sends or changes anything unless a subcommand says so;
 * - output ({@link Output}): in a terminal, results as readable text on stdout and progress,
 *   warnings and errors on stderr; when stdout is not a terminal, or with `--json`, every
 *   stdout line is one JSON object and the last one is the result (`ok`, `exitCode`);
 * - one set of exit codes ({@link EXIT});
 * - failures told apart for the person at the keyboard ({@link describeFailure}): no AWS
 *   credentials at all is not "credentials rejected", a missing region names the variable.
 */
import { Command, CommanderError, Option } from "commander";
import { DigestError } from "./errors";

/** Exit codes every command uses (sysexits' 64 for usage, 128 + 15 for SIGTERM). */
export const EXIT = {
  ok: 0,
  /** The command ran and what it checks or does is not done: a recipient not sent, a check or gate failed. */
  failed: 1,
  /** Configuration, environment or credentials missing or invalid; the message names which. */
  config: 2,
  /** Anything unexpected (a bug, or a failure with no better code). */
  internal: 3,
  /** Bad command line: unknown command or option, missing or extra argument. */
  usage: 64,
  /** Stopped by SIGTERM or SIGINT. */
  interrupted: 143,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An environment variable a command reads, for its `--help`. */
export interface EnvDoc {
  readonly name: string;
  readonly description: string;
}

/** What `--help` says of a command beyond its options. */
export interface CommandDoc {
  /** How a person runs it, e.g. "npm run digest --". */
  readonly invocation: string;
  /** One or two sentences: what the command is for. */
  readonly description: string;
  readonly env?: readonly EnvDoc[];
  /** Each exit code the command can end with and what it means for this command. */
  readonly exitCodes: readonly { readonly code: number; readonly meaning: string }[];
  /** Examples, one per line, shown last. */
  readonly examples?: readonly string[];
}

/** Environment variables of the AWS SDK that every AWS-calling command reads. */
export const AWS_ENV_DOCS: readonly EnvDoc[] = [
  { name: "AWS_REGION", description: "region of the stage's resources (else AWS_DEFAULT_REGION)" },
  { name: "AWS_PROFILE", description: "named profile of the shared AWS config (else the default credential chain)" },
  { name: "AWS_ENDPOINT_URL", description: "one endpoint for every AWS service, e.g. the local moto server" },
];

/** Standard meanings, for commands that use the codes as documented above. */
export const STANDARD_EXIT_DOCS = {
  ok: { code: EXIT.ok, meaning: "done" },
  config: { code: EXIT.config, meaning: "configuration, environment or AWS credentials missing or invalid (the message names which)" },
  internal: { code: EXIT.internal, meaning: "unexpected failure" },
  usage: { code: EXIT.usage, meaning: "bad command line (see --help)" },
} as const;

/** A failure to report to the person or pipeline that ran the command. */
export class CliError extends Error {
  constructor(
    /** Stable code, e.g. "AWS_CREDENTIALS_MISSING" (docs/troubleshooting.md explains each). */
    readonly code: string,
    message: string,
    readonly exitCode: number = EXIT.failed,
    /** What to do about it, one line. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** A bad command line (exit 64). */
export function usageError(message: string): CliError {
  return new CliError("USAGE", message, EXIT.usage, "run with --help for usage");
}

/** Where a command writes; tests pass collecting functions. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stdout is a terminal (decides human or JSON output when --json is not given). */
  readonly isTTY: boolean;
}

/** The process's own streams. */
export function processIo(): CliIo {
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    isTTY: process.stdout.isTTY === true,
  };
}

type Fields = Record<string, unknown>;

/**
 * A command's output, human or JSON (see the module comment). Nothing here prints a value
 * the caller did not pass: commands never hand it a secret.
 */
export class Output {
  constructor(
    private readonly io: CliIo,
    readonly json: boolean,
    /** Prefix of human error lines, e.g. "secrets". */
    private readonly name: string,
  ) {}

  /** The command's result: one JSON line on stdout, or the human text on stdout. */
  result(data: Fields & { ok: boolean; exitCode: number }, human: string | readonly string[]): void {
    if (this.json) this.line(this.io.stdout, data);
    else this.text(this.io.stdout, human);
  }

  /** Progress (a step started or finished, a heartbeat). */
  info(msg: string, fields: Fields = {}): void {
    this.log("info", msg, fields);
  }

  warn(msg: string, fields: Fields = {}): void {
    this.log("warn", msg, fields);
  }

  /**
   * Reports a failure and returns its exit code. JSON: one result line (`ok: false`, `code`,
   * `message`, `hint`, `exitCode`); terminal: "<name>: <message>" and the hint on stderr.
   */
  fail(err: unknown, fields: Fields = {}): number {
    const e = describeFailure(err);
    if (this.json) {
      this.line(this.io.stdout, { level: "error", ok: false, code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}), ...fields, exitCode: e.exitCode });
    } else {
      this.io.stderr(`${this.name}: ${e.message}\n${e.hint ? `  ${e.hint}\n` : ""}`);
    }
    return e.exitCode;
  }

  private log(level: "info" | "warn", msg: string, fields: Fields): void {
    if (this.json) this.line(this.io.stdout, { level, msg, ...fields });
    else this.io.stderr(`${level === "warn" ? "warning: " : ""}${msg}${humanFields(fields)}\n`);
  }

  private line(write: (t: string) => void, data: Fields): void {
    write(`${JSON.stringify(data)}\n`);
  }

  private text(write: (t: string) => void, human: string | readonly string[]): void {
    const lines = typeof human === "string" ? [human] : human;
    if (lines.length) write(`${lines.join("\n")}\n`);
  }
}

function humanFields(fields: Fields): string {
  const parts = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

/** The SDK's error names for "no credentials found" (not "credentials rejected"). */
const NO_CREDENTIALS = new Set(["CredentialsProviderError", "ProviderError", "TokenProviderError"]);

/**
 * Turns anything thrown into a {@link CliError} a person can act on. Keeps an AWS error's
 * code and request id, never its message (it may echo input). Distinguishes no credentials
 * (nothing in the chain), credentials rejected (AWS said so), no region, access denied.
 */
export function describeFailure(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof CommanderError) return usageError(err.message.replace(/^error: /, ""));
  const e = (err ?? {}) as { name?: unknown; message?: unknown; Code?: unknown; code?: unknown; $metadata?: { requestId?: string; httpStatusCode?: number } };
  const name = typeof e.name === "string" ? e.name : "Error";
  const message = typeof e.message === "string" ? e.message : "";
  if (err instanceof DigestError) {
    const j = err.toJSON();
    if (err.code === "AWS_CREDENTIALS_MISSING") return credentialsMissing();
    if (err.code === "CONFIG_MISSING" || err.code === "CONFIG_INVALID") return new CliError(err.code, String(j.message ?? err.message), EXIT.config);
    if (err.code === "AWS_CREDENTIALS_INVALID") return credentialsRejected(err.resource);
    if (err.code === "AWS_ACCESS_DENIED") return new CliError(err.code, `access denied: ${err.resource}`, EXIT.config, "the role you run as lacks this permission; docs/operations.md lists which role runs which command");
    if (err.code === "USAGE") return usageError(err.message);
    return new CliError(err.code, String(j.message ?? err.message), EXIT.failed);
  }
  if (NO_CREDENTIALS.has(name)) return credentialsMissing();
  if (name === "Error" && /^Region is missing$/i.test(message)) {
    return new CliError("AWS_REGION_MISSING", "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or a region in the profile)", EXIT.config);
  }
  const awsCode = typeof e.Code === "string" ? e.Code : name;
  const requestId = e.$metadata?.requestId;
  const where = requestId ? ` (request ${requestId})` : "";
  if (["UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId"].includes(awsCode)) {
    return credentialsRejected(`${awsCode}${where}`);
  }
  if (["AccessDenied", "AccessDeniedException", "UnauthorizedOperation"].includes(awsCode)) {
    return new CliError("AWS_ACCESS_DENIED", `access denied (${awsCode}${where})`, EXIT.config, "the role you run as lacks this permission; docs/operations.md lists which role runs which command");
  }
  if (e.$metadata) return new CliError("AWS_ERROR", `AWS answered ${awsCode}${e.$metadata.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ""}${where}`, EXIT.failed);
  const sys = typeof e.code === "string" ? e.code : undefined;
  if (sys && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT)$/.test(sys)) {
    return new CliError("NETWORK", `network error (${sys})`, EXIT.failed, "check AWS_ENDPOINT_URL and the network; for the local stage, is `npm run local -- --keep` still running?");
  }
  return new CliError("INTERNAL", `unexpected ${name}${message && !(err instanceof Error && "$metadata" in err) ? `: ${message.split("\n")[0]}` : ""}`, EXIT.internal);
}

function credentialsMissing(): CliError {
  return new CliError(
    "AWS_CREDENTIALS_MISSING",
    "no AWS credentials found (environment, profile, SSO, container or instance role)",
    EXIT.config,
    "set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run where a role provides them; for the local stage use the exports `npm run local -- --keep` prints",
  );
}

function credentialsRejected(detail: string): CliError {
  return new CliError("AWS_CREDENTIALS_INVALID", `AWS rejected the credentials (${detail})`, EXIT.config, "they are wrong, expired or for another partition: refresh the session or check AWS_PROFILE");
}

/** Renders the Environment / Exit codes / Examples part of `--help`. */
export function helpFooter(doc: CommandDoc): string {
  const pad = (rows: [string, string][]) => {
    const w = Math.min(28, Math.max(...rows.map(([a]) => a.length)));
    return rows.map(([a, b]) => `  ${a.padEnd(w)}  ${b}`).join("\n");
  };
  const parts: string[] = [];
  if (doc.env?.length) parts.push(`Environment:\n${pad(doc.env.map((e) => [e.name, e.description]))}`);
  parts.push(`Exit codes:\n${pad(doc.exitCodes.map((c) => [String(c.code), c.meaning]))}`);
  parts.push("Output: readable text in a terminal; JSON lines on stdout (the last is the result) when piped or with --json.");
  if (doc.examples?.length) parts.push(`Examples:\n${doc.examples.map((e) => `  ${e}`).join("\n")}`);
  return `\n${parts.join("\n\n")}\n`;
}

/** A command's doc, kept on its commander object so subcommands can extend it. */
const DOCS = new WeakMap<Command, CommandDoc>();

/**
 * One command line: a commander program with the convention applied (name, description,
 * `--json`, help with {@link helpFooter}, usage errors as exit 64, no excess arguments, help
 * on stderr and exit 64 when a group is run without its subcommand), and {@link run}, which
 * parses, runs the chosen action and resolves with the exit code.
 */
export class Cli {
  readonly program: Command;
  private exitCode: number | undefined;

  constructor(
    readonly name: string,
    doc: CommandDoc,
    readonly io: CliIo = processIo(),
  ) {
    // The program's "name" is how a person runs it, so every Usage line is copy-pasteable.
    this.program = this.configure(new Command(doc.invocation), doc).usage("<command> [options]");
    this.program.option("--json", "JSON lines on stdout (the default when stdout is not a terminal)");
  }

  /**
   * A subcommand of `parent` (default: the program), e.g. `command("put <name>", "...")`.
   * `doc` overrides parts of the parent's help footer (its own exit codes, say).
   */
  command(nameAndArgs: string, description: string, doc: Partial<CommandDoc> = {}, parent: Command = this.program): Command {
    const base = DOCS.get(parent)!;
    return this.configure(parent.command(nameAndArgs), { ...base, ...doc, description });
  }

  /**
   * Registers `fn` as what `cmd` does: it gets the positional arguments, the options (the
   * parent's `--json` included) and an {@link Output}, and returns the exit code. A thrown
   * error is reported by {@link Output.fail}.
   */
  action<O extends { json?: boolean }>(cmd: Command, fn: (ctx: { out: Output; opts: O; args: string[] }) => Promise<number> | number): Command {
    return cmd.action(async (...raw: unknown[]) => {
      const self = raw[raw.length - 1] as Command;
      const opts = self.optsWithGlobals() as O;
      const out = this.output(opts);
      try {
        this.exitCode = await fn({ out, opts, args: self.args });
      } catch (err) {
        this.exitCode = out.fail(err);
      }
    });
  }

  /** The {@link Output} for parsed options. */
  output(opts: { json?: boolean }): Output {
    return new Output(this.io, wantsJson(opts, this.io), this.name);
  }

  /** Parses `argv`, runs the chosen action; resolves with the exit code and never throws. */
  async run(argv: readonly string[]): Promise<number> {
    this.exitCode = undefined;
    try {
      await this.program.parseAsync([...argv], { from: "user" });
    } catch (err) {
      if (err instanceof CommanderError && (err.code === "commander.helpDisplayed" || err.code === "commander.version")) return EXIT.ok;
      // A group run without its subcommand: commander has printed the help on stderr.
      if (err instanceof CommanderError && err.code === "commander.help") return EXIT.usage;
      return this.output({ json: argv.includes("--json") }).fail(err);
    }
    return this.exitCode ?? EXIT.ok;
  }

  private configure(cmd: Command, doc: CommandDoc): Command {
    cmd
      .description(doc.description)
      .helpOption("-h, --help", "show this help")
      .showSuggestionAfterError(true)
      .allowExcessArguments(false)
      .exitOverride()
      // Errors are reported by Output.fail (human or JSON); help goes where it is asked for.
      .configureOutput({ writeOut: this.io.stdout, writeErr: this.io.stderr, outputError: () => undefined })
      .addHelpText("after", helpFooter(doc));
    DOCS.set(cmd, doc);
    return cmd;
  }
}

/** `--stage <stage>` with the stages as choices. Without a default it is required, so touching prod means typing `--stage prod`. */
export function stageOption(stages: readonly string[], defaultStage?: string): Option {
  const o = new Option("--stage <stage>", defaultStage ? "the stage to act on" : "the stage to act on (required: no default)").choices([...stages]);
  if (defaultStage) o.default(defaultStage);
  else o.makeOptionMandatory(true);
  return o;
}

/** Whether the JSON convention applies: `--json`, or stdout is not a terminal. */
export function wantsJson(opts: { json?: boolean }, io: CliIo): boolean {
  return opts.json === true || !io.isTTY;
}
