/**
 * `npm run local`: the whole job on the local default, with no AWS account and no
 * internet. Starts moto on loopback, synthesizes and applies the `local` stage with
 * terraform, puts demo secrets through the operator path (not Terraform), serves the
 * bundled sample feeds and a SendGrid v3 emulator (the migration fallback) on loopback,
 * runs the sender once, prints the SES message id and the rendered files, and stops
 * everything it started (by PID / handle).
 */
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { SSMClient } from "@aws-sdk/client-ssm";
import { DEFAULT_PARAMETER_ROOT } from "../app/src/contract";
import { STACK_OUTPUTS } from "../modules/digest-stack";
import { startFeedServer, type FeedServer } from "./lib/feed-server";
import { motoSentMessages, startMoto, type MotoServer } from "./lib/moto";
import { putSecret } from "./lib/secrets";
import { startSendGridServer, type SendGridServer } from "./lib/sendgrid-server";
import { PROJECT_ROOT, TERRAFORM_CLI_CONFIG, terraform } from "./lib/terraform";

export const LOCAL_STACK = "vibe-digest-local";
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
  /** Everything the run writes (cdktf.out, state, rendered mail). @default .local */
  readonly workDir?: string;
  /** Progress lines go here. @default console.log */
  readonly log?: (line: string) => void;
  /** Called while moto is still up, e.g. for a test to read what moto recorded. */
  readonly inspect?: (ctx: { motoUrl: string; sendgridUrl: string; demoSecrets: string[]; ledgerTable: string }) => Promise<void>;
}

type Step = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

function stepper(log: (line: string) => void, total: number, stepMs: Record<string, number>): Step {
  let n = 0;
  return async (name, fn) => {
    n += 1;
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

/** Runs a child to completion, collecting stdout; rejects on a non-zero exit. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${path.basename(cmd)} ${args.join(" ")} failed (${code ?? signal}):\n${(err || out).slice(-4000)}`));
    });
  });
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

export async function runLocal(opts: LocalRunOptions = {}): Promise<LocalRunResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const workDir = path.resolve(opts.workDir ?? path.join(PROJECT_ROOT, ".local"));
  const outdir = path.join(workDir, "cdktf.out");
  const mailDir = path.join(workDir, "mail");
  const stackDir = path.join(outdir, "stacks", LOCAL_STACK);
  const stepMs: Record<string, number> = {};
  const step = stepper(log, 7, stepMs);
  const started = performance.now();
  checkPrerequisites();

  let moto: MotoServer | undefined;
  let feeds: FeedServer | undefined;
  let sendgrid: SendGridServer | undefined;
  try {
    moto = await step("start moto on loopback", () => startMoto());
    const motoUrl = moto.url;
    log(`      moto ${motoUrl} (pid ${moto.pid})`);
    feeds = await step("serve the sample feeds on loopback", () => startFeedServer());
    log(`      feeds ${feeds.url}`);

    const awsEnv = {
      ...process.env,
      ...EMULATOR_CREDENTIALS,
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL: motoUrl,
      AWS_EC2_METADATA_DISABLED: "true",
    };
    await step("synthesize the local stage", async () => {
      // moto starts empty, so any earlier state is stale: begin from a clean folder.
      fs.rmSync(workDir, { recursive: true, force: true });
      fs.mkdirSync(mailDir, { recursive: true });
      await run(process.execPath, [path.join(PROJECT_ROOT, "scripts", "synth.mjs")], {
        ...process.env,
        CDKTF_OUTDIR: outdir,
        VIBE_LOCAL_AWS_ENDPOINT: motoUrl,
        VIBE_LOCAL_FEED_BASE_URL: feeds!.url,
      });
    });

    const outputs = await step("terraform init + apply (local stage -> moto)", async () => {
      await terraform(["init", "-input=false", "-no-color"], { cwd: stackDir });
      await terraform(["apply", "-auto-approve", "-input=false", "-no-color"], { cwd: stackDir, timeoutMs: 300_000 });
      const out = await terraform(["output", "-json"], { cwd: stackDir });
      return JSON.parse(out.stdout) as Record<string, { value: unknown }>;
    });
    const ledgerTable = String(outputs[STACK_OUTPUTS.ledgerTable]?.value ?? "");
    if (!ledgerTable) throw new Error(`the local stage has no ${STACK_OUTPUTS.ledgerTable} output`);

    const demoSecrets: string[] = [];
    await step("put demo secrets (operator command, not Terraform)", async () => {
      const ssm = new SSMClient({ region: REGION, endpoint: motoUrl, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
      const iam = new IAMClient({ region: REGION, endpoint: motoUrl, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
      // The seed's credential mode: a dedicated IAM user's key pair in Parameter Store.
      const user = "vibe-digest-local-sender";
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

    const senderOutput = await step("run the sender once", () =>
      run(path.join(PROJECT_ROOT, "node_modules", ".bin", "tsx"), [path.join("app", "src", "cli.ts"), "run"], {
        ...awsEnv,
        VIBE_PARAMETER_ROOT: DEFAULT_PARAMETER_ROOT,
        VIBE_OUT_DIR: mailDir,
        VIBE_LOG_FORMAT: "json",
        VIBE_LEDGER_TABLE: ledgerTable,
        VIBE_SENDGRID_BASE_URL: sendgrid!.url,
        VIBE_STAGE: "local",
      }),
    );
    const summary = lastJsonLine(senderOutput);

    await step("read back what moto recorded", async () => {
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
    return { summary, workDir, stackDir, senderOutput, stepMs, totalMs };
  } finally {
    await sendgrid?.close();
    await feeds?.close();
    await moto?.stop();
  }
}

if (require.main === module) {
  runLocal().then(
    (r) => process.exit(r.summary.failed === 0 && r.summary.sent > 0 ? 0 : 1),
    (err: Error) => {
      console.error(`local run failed: ${err.message}`);
      process.exit(1);
    },
  );
}

