/**
 * `npm run local`: the whole job on the local default, with no AWS account and no
 * internet. Starts moto on loopback, synthesizes and applies the `local` stage with
 * terraform, puts demo secrets through the operator path (not Terraform), serves the
 * bundled sample feeds and a SendGrid v3 emulator (the migration fallback) on loopback,
 * runs the sender once, prints the SES message id and the rendered files, and stops
 * everything it started (by PID / handle).
 *
 *   npm run local                  one run, then everything stops
 *   npm run local -- --keep        the same, then moto, the feeds, the emulator and the applied
 *                                  stack stay up until Ctrl-C / SIGTERM; it prints (and writes
 *                                  to .local/env.sh) the exports that point every documented
 *                                  command (digest, secrets, infra --stage local, ...) at them
 *
 * One run per work folder at a time (a lock file names the holder); SIGINT/SIGTERM stop
 * the step in progress and everything it started, and the process exits 143.
 */
import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { SSMClient } from "@aws-sdk/client-ssm";
import { DEFAULT_PARAMETER_ROOT } from "../app/src/contract";
import { STACK_OUTPUTS, senderUserName } from "../modules/digest-stack";
import { startFeedServer, type FeedServer } from "./lib/feed-server";
import { freePort, motoSentMessages, startMoto, type MotoServer } from "./lib/moto";
import { putSecret } from "./lib/secrets";
import { startSendGridServer, type SendGridServer } from "./lib/sendgrid-server";
import { LOCAL_STACK, applyLocalStage, runChild as run, synthLocalStage } from "./lib/local-stage";
import { PROJECT_ROOT, TERRAFORM_CLI_CONFIG } from "./lib/terraform";
import { Cli, CliError, EXIT, STANDARD_EXIT_DOCS, processIo, type CliIo } from "../app/src/cli-kit";

export { LOCAL_STACK };
const REGION = "us-east-1";
/** The "task role" of the local run: moto accepts any key; these are not secrets. */
const EMULATOR_CREDENTIALS = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" };
const MIRROR = "/opt/tf-plugins/registry.terraform.io/hashicorp/aws";

export interface LocalRunSummary {
  readonly sent: number;
  readonly failed: number;
  readonly messageIds: string[];
  readonly files?: { eml?: string; html?: string };
  [extra: string]: unknown;
}

export interface LocalRunResult {
  readonly summary: LocalRunSummary;
  readonly workDir: string;
  readonly stackDir: string;
  readonly senderOutput: string;
  readonly stepMs: Record<string, number>;
  readonly totalMs: number;
}

export interface LocalRunOptions {
  /** Everything the run writes (cdktf.out, state, rendered mail, env.sh, the lock). @default .local */
  readonly workDir?: string;
  /** After the run, keep everything up (until `signal` aborts) and print the exports. @default false */
  readonly keep?: boolean;
  /** Aborts the run (or ends a kept one): what was started is stopped. */
  readonly signal?: AbortSignal;
  /** Called once the stack is kept up, with the exports (tests use the running stack here). */
  readonly onKept?: (env: Record<string, string>) => Promise<void> | void;
  /** Progress lines go here. @default console.log */
  readonly log?: (line: string) => void;
  /** Called while moto is still up, e.g. for a test to read what moto recorded. */
  readonly inspect?: (ctx: { motoUrl: string; sendgridUrl: string; demoSecrets: string[]; ledgerTable: string }) => Promise<void>;
}

type Step = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

function stepper(log: (line: string) => void, total: number, stepMs: Record<string, number>): Step {
  let count = 0;
  return async (name, fn) => {
    // Numbered when started: steps may run side by side (moto starts while the synth runs).
    const n = ++count;
    const started = performance.now();
    log(`[${n}/${total}] ${name} ...`);
    const value = await fn();
    const ms = performance.now() - started;
    stepMs[name] = Math.round(ms);
    log(`[${n}/${total}] ${name}: done in ${(ms / 1000).toFixed(1)} s`);
    return value;
  };
}

/** Fails early, with what to do, when a tool the run needs is not on this machine. */
function checkPrerequisites(): void {
  if (!fs.existsSync(MIRROR)) {
    throw new Error(`the AWS provider mirror ${MIRROR} is missing: terraform cannot init offline (see ${TERRAFORM_CLI_CONFIG})`);
  }
}

/** The last JSON line a process printed: the sender's run summary. */
export function lastJsonLine(output: string): LocalRunSummary {
  const lines = output.trim().split("\n").reverse();
  for (const line of lines) {
    try {
      const parsed = JSON.parse(line) as LocalRunSummary;
      if (parsed && typeof parsed === "object") return parsed;
    } catch {
      // not JSON: keep looking
    }
  }
  throw new Error("the sender printed no JSON run summary");
}

/** Another local run holds the work folder. */
export class LocalBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LocalBusyError";
  }
}

/** The run was stopped by a signal. */
export class LocalInterruptedError extends Error {
  constructor() {
    super("stopped by a signal; everything this run started was stopped");
    this.name = "LocalInterruptedError";
  }
}

/** Name of the lock file inside the work folder. */
export const LOCK_FILE = ".lock";

/**
 * Takes the work folder's lock (one file created exclusively, holding our PID). A lock
 * whose PID is no longer alive is stale and taken over; a live one refuses with who holds
 * it. Returns the release function.
 */
export function acquireLock(workDir: string): () => void {
  fs.mkdirSync(workDir, { recursive: true });
  const file = path.join(workDir, LOCK_FILE);
  const mine = JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, mine, { flag: "wx" });
      return () => {
        try {
          if (fs.readFileSync(file, "utf8") === mine) fs.rmSync(file);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let holder: { pid?: number; startedAt?: string } = {};
    try {
      holder = JSON.parse(fs.readFileSync(file, "utf8")) as typeof holder;
    } catch {
      // unreadable: treat as stale
    }
    if (holder.pid && holder.pid !== process.pid && isAlive(holder.pid)) {
      throw new LocalBusyError(
        `another local run (pid ${holder.pid}, started ${holder.startedAt ?? "?"}) is using ${workDir}: stop it (Ctrl-C in its terminal, or kill ${holder.pid}) or give this one another folder with --work-dir`,
      );
    }
    fs.rmSync(file, { force: true });
  }
  throw new LocalBusyError(`could not take the lock ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The environment that points the project's commands at a kept local stack. */
export function localExports(ctx: { motoUrl: string; feedsUrl: string; sendgridUrl: string; ledgerTable: string; stateFile: string }): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: ctx.motoUrl,
    AWS_REGION: REGION,
    ...EMULATOR_CREDENTIALS,
    VIBE_PARAMETER_ROOT: DEFAULT_PARAMETER_ROOT,
    VIBE_LEDGER_TABLE: ctx.ledgerTable,
    VIBE_SENDGRID_BASE_URL: ctx.sendgridUrl,
    VIBE_STAGE: "local",
    // For `npm run infra -- plan --stage local`: the same moto, feeds and state file.
    VIBE_LOCAL_AWS_ENDPOINT: ctx.motoUrl,
    VIBE_LOCAL_FEED_BASE_URL: ctx.feedsUrl,
    VIBE_LOCAL_STATE_FILE: ctx.stateFile,
  };
}

/** `export NAME='value'` lines (values are URLs, names and the emulator's public test keys). */
export function exportLines(env: Record<string, string>): string[] {
  return Object.entries(env).map(([k, v]) => `export ${k}='${v.replace(/'/g, "'\\''")}'`);
}

/**
 * Summarizes `terraform apply` output into a heartbeat: at most one line every `everyMs`,
 * "N/M resources created, waiting on <address> (Xs)". terraform prints ~2 lines per
 * resource; 160 lines would bury the run's own.
 */
export function applyHeartbeat(log: (line: string) => void, now: () => number = Date.now, everyMs = 5000): (line: string) => void {
  let total: number | undefined;
  let done = 0;
  const pending = new Map<string, number>();
  let last = now();
  return (line) => {
    const t = line.trim();
    const plan = /^Plan: (\d+) to add/.exec(t);
    if (plan) total = Number(plan[1]);
    const creating = /^(\S+): Creating\.\.\./.exec(t);
    if (creating) pending.set(creating[1]!, now());
    const complete = /^(\S+): Creation complete/.exec(t);
    if (complete) {
      done++;
      pending.delete(complete[1]!);
    }
    if (now() - last < everyMs) return;
    last = now();
    const oldest = [...pending].sort((a, b) => a[1] - b[1])[0];
    const waiting = oldest ? `, waiting on ${oldest[0]} (${Math.round((now() - oldest[1]) / 1000)} s)` : "";
    log(`      ${done}${total ? `/${total}` : ""} resources created${waiting}`);
  };
}

export async function runLocal(opts: LocalRunOptions = {}): Promise<LocalRunResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const workDir = path.resolve(opts.workDir ?? path.join(PROJECT_ROOT, ".local"));
  const outdir = path.join(workDir, "cdktf.out");
  const mailDir = path.join(workDir, "mail");
  const stackDir = path.join(outdir, "stacks", LOCAL_STACK);
  // Outside cdktf.out, so a re-synth never touches it; absolute, so `infra --stage local` finds it.
  const stateFile = path.join(workDir, "terraform.tfstate");
  const stepMs: Record<string, number> = {};
  const step = stepper(log, 7, stepMs);
  const started = performance.now();
  checkPrerequisites();
  const signal = opts.signal;
  const checkStop = () => {
    if (signal?.aborted) throw new LocalInterruptedError();
  };
  const release = acquireLock(workDir);

  let motoStarting: Promise<MotoServer> | undefined;
  let moto: MotoServer | undefined;
  let feeds: FeedServer | undefined;
  let sendgrid: SendGridServer | undefined;
  try {
    // Steps 1-3 run at once: the synth needs only moto's and the feeds' URLs, so moto's port
    // is picked first and the stage is synthesized while moto starts.
    const motoPort = await freePort();
    const motoUrl = `http://127.0.0.1:${motoPort}`;
    motoStarting = step("start moto on loopback", () => startMoto({ port: motoPort }));
    motoStarting.then((m) => log(`      moto ${m.url} (pid ${m.pid})`), () => undefined);
    feeds = await step("serve the sample feeds on loopback", () => startFeedServer());
    log(`      feeds ${feeds.url}`);
    checkStop();

    const awsEnv = {
      ...process.env,
      ...EMULATOR_CREDENTIALS,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL: motoUrl,
      AWS_EC2_METADATA_DISABLED: "true",
    };
    await step("synthesize the local stage", async () => {
      // moto starts empty, so any earlier state and output is stale: start from clean ones
      // (the folder itself stays: it holds our lock).
      for (const stale of [outdir, mailDir, stateFile, `${stateFile}.backup`, path.join(workDir, "env.sh")]) fs.rmSync(stale, { recursive: true, force: true });
      fs.mkdirSync(mailDir, { recursive: true });
      await synthLocalStage({ outdir, awsEndpoint: motoUrl, feedBaseUrl: feeds!.url, stateFile, ...(signal ? { signal } : {}) });
    });
    moto = await motoStarting;
    checkStop();

    const outputs = await step("terraform init + apply (local stage -> moto)", async () => {
      return applyLocalStage(stackDir, { onLine: applyHeartbeat(log), ...(signal ? { signal } : {}) });
    });
    const ledgerTable = String(outputs[STACK_OUTPUTS.ledgerTable]?.value ?? "");
    if (!ledgerTable) throw new Error(`the local stage has no ${STACK_OUTPUTS.ledgerTable} output`);
    checkStop();

    const demoSecrets: string[] = [];
    await step("put demo secrets (operator command, not Terraform)", async () => {
      const ssm = new SSMClient({ region: REGION, endpoint: motoUrl, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
      const iam = new IAMClient({ region: REGION, endpoint: motoUrl, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
      // The seed's credential mode: a dedicated IAM user's key pair in Parameter Store.
      const user = senderUserName({ stackName: LOCAL_STACK }); // the user `rotate access-key` rotates
      await iam.send(new CreateUserCommand({ UserName: user }));
      const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: user }));
      const sendgridDemo = `demo-sendgrid-${randomUUID()}`;
      // Signs each recipient's one-click List-Unsubscribe URL (256 random bits, 43 characters).
      const unsubscribeSigningDemo = randomBytes(32).toString("base64url");
      await putSecret(ssm, DEFAULT_PARAMETER_ROOT, "awsAccessKeyId", AccessKey!.AccessKeyId!);
      await putSecret(ssm, DEFAULT_PARAMETER_ROOT, "awsSecretAccessKey", AccessKey!.SecretAccessKey!);
      await putSecret(ssm, DEFAULT_PARAMETER_ROOT, "sendgridApiKey", sendgridDemo);
      await putSecret(ssm, DEFAULT_PARAMETER_ROOT, "unsubscribeSigningKey", unsubscribeSigningDemo);
      demoSecrets.push(AccessKey!.SecretAccessKey!, sendgridDemo, unsubscribeSigningDemo);
      ssm.destroy();
      iam.destroy();
      // The fallback provider, emulated on loopback: it accepts only the demo key.
      sendgrid = await startSendGridServer({ apiKeys: [sendgridDemo] });
      log(`      sendgrid emulator ${sendgrid.url}`);
    });
    checkStop();
    const env = localExports({ motoUrl, feedsUrl: feeds.url, sendgridUrl: sendgrid!.url, ledgerTable, stateFile });

    const senderOutput = await step("run the sender once", () =>
      run(path.join(PROJECT_ROOT, "node_modules", ".bin", "tsx"), [path.join("app", "src", "cli.ts"), "run"], {
        ...awsEnv,
        ...env,
        VIBE_OUT_DIR: mailDir,
        VIBE_LOG_FORMAT: "json",
      }, 120_000, signal),
    );
    const summary = lastJsonLine(senderOutput);
    checkStop();

    await step("read back what moto recorded", async () => {
      // moto's own record (data.json, ~2 s: it serializes every model moto holds). SES's
      // counter (GetSendQuota) would be cheaper, but moto counts a raw message's envelope
      // destinations and its To header both, so one recipient reads as two.
      const recorded = await motoSentMessages(motoUrl);
      log(`      moto's SES holds ${recorded.length} raw message(s)`);
      if (opts.inspect) await opts.inspect({ motoUrl, sendgridUrl: sendgrid!.url, demoSecrets, ledgerTable });
    });

    const totalMs = Math.round(performance.now() - started);
    log("");
    log(`sent ${summary.sent}, failed ${summary.failed}`);
    const ledger = summary.ledger as { table: string; states: Record<string, number> } | null | undefined;
    if (ledger) log(`ledger ${ledger.table}: ${Object.entries(ledger.states).map(([k, v]) => `${k}=${v}`).join(" ")}`);
    for (const id of summary.messageIds ?? []) log(`SES message id: ${id}`);
    if (summary.files?.eml) log(`rendered email: ${summary.files.eml}`);
    if (summary.files?.html) log(`rendered html:  ${summary.files.html}`);
    log(`total ${(totalMs / 1000).toFixed(1)} s`);

    if (opts.keep) {
      const envFile = path.join(workDir, "env.sh");
      fs.writeFileSync(envFile, `# written by npm run local -- --keep (pid ${process.pid}); valid while it runs\n${exportLines(env).join("\n")}\n`);
      log("");
      log(`kept running: moto (pid ${moto.pid}), the feeds, the SendGrid emulator and the applied local stack.`);
      log(`in another terminal: source ${path.relative(process.cwd(), envFile) || envFile}   (or paste these)`);
      for (const line of exportLines(env)) log(`  ${line}`);
      log("then e.g.: npm run digest -- ledger status | npm run secrets -- status | npm run infra -- plan --stage local");
      log("Ctrl-C (or SIGTERM) stops everything.");
      await opts.onKept?.(env);
      await new Promise<void>((resolve) => {
        if (!signal || signal.aborted) return resolve();
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
      fs.rmSync(envFile, { force: true });
    }
    return { summary, workDir, stackDir, senderOutput, stepMs, totalMs };
  } catch (err) {
    // A step that failed because the stop killed its child (terraform, the sender) was stopped.
    throw signal?.aborted ? new LocalInterruptedError() : err;
  } finally {
    await sendgrid?.close();
    await feeds?.close();
    // moto may still be starting (a step beside it failed or the run was stopped).
    await (moto ?? (await motoStarting?.catch(() => undefined)))?.stop();
    release();
  }
}

/** The `local` command line (one convention: app/src/cli-kit.ts). */
export function localCli(io: CliIo = processIo(), signal?: AbortSignal): Cli {
  const cli = new Cli("local", {
    invocation: "npm run local --",
    description: "Run the whole digest job once on the local default: moto on loopback, the local stage applied with terraform, demo secrets, sample feeds, one sender run. No AWS account, no internet.",
    env: [
      { name: "MOTO_SERVER_BIN", description: "the moto_server to start (default: moto_server on PATH)" },
      { name: "TERRAFORM_BIN", description: "the terraform to run (default: terraform on PATH)" },
    ],
    exitCodes: [
      { code: EXIT.ok, meaning: "the digest was sent (and, with --keep, the stack was stopped by Ctrl-C/SIGTERM)" },
      { code: EXIT.failed, meaning: "a step failed, the sender did not send, or another local run holds the folder" },
      STANDARD_EXIT_DOCS.usage,
      { code: EXIT.interrupted, meaning: "stopped by Ctrl-C/SIGTERM before the run finished (everything it started is stopped)" },
    ],
    examples: ["npm run local", "npm run local -- --keep", "source .local/env.sh && npm run digest -- ledger status"],
  }, io);
  cli.program
    .option("--keep", "keep moto, the feeds, the emulator and the stack up after the run, and print the exports to use them")
    .option("--work-dir <dir>", "where the run writes (default .local)");
  cli.program.usage("[options]");
  cli.action<{ json?: boolean; keep?: boolean; workDir?: string }>(cli.program, async ({ out, opts }) => {
    try {
      const r = await runLocal({
        keep: opts.keep === true,
        signal,
        ...(opts.workDir ? { workDir: path.resolve(process.env.INIT_CWD ?? process.cwd(), opts.workDir) } : {}),
        log: (line) => out.info(line),
      });
      const ok = r.summary.failed === 0 && r.summary.sent > 0;
      const code = ok ? EXIT.ok : EXIT.failed;
      out.result({ ok, sent: r.summary.sent, failed: r.summary.failed, messageIds: r.summary.messageIds, files: r.summary.files, totalMs: r.totalMs, exitCode: code }, ok ? [] : [`the sender did not send (sent ${r.summary.sent}, failed ${r.summary.failed})`]);
      return code;
    } catch (err) {
      if (err instanceof LocalInterruptedError) return out.fail(new CliError("INTERRUPTED", err.message, EXIT.interrupted));
      if (err instanceof LocalBusyError) return out.fail(new CliError("LOCAL_BUSY", err.message, EXIT.failed));
      throw err;
    }
  });
  return cli;
}

if (require.main === module) {
  const stop = new AbortController();
  // Ctrl-C and SIGTERM stop the step in progress and everything started; a second one forces.
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(EXIT.interrupted);
    process.stderr.write(`\nlocal: ${sig}: stopping what this run started ...\n`);
    stop.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  localCli(processIo(), stop.signal)
    .run(process.argv.slice(2))
    .then((code) => process.exit(code));
}
