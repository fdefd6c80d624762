/**
 * `npm run rotate -- <what> --stage <stage>`: rotates one credential of a stage without a
 * code change or a deploy (docs/rotation.md). Each rotation checks the new credential
 * before the sender can use it, and any failure leaves the old one working and says what
 * happened and what to run next.
 *
 *   npm run rotate -- access-key --stage local                     new IAM key for the sender user
 *   printf %s "$NEW_KEY" | npm run rotate -- sendgrid-key --stage prod   (the value on stdin, never argv)
 *   npm run rotate -- unsubscribe-signing-key --stage local [--grace-days 30]
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { IAMClient } from "@aws-sdk/client-iam";
import { SESClient } from "@aws-sdk/client-ses";
import { SSMClient } from "@aws-sdk/client-ssm";
import { Option } from "commander";
import { Cli, CliError, EXIT, STANDARD_EXIT_DOCS, processIo, stageOption, type CliIo, type Output } from "../app/src/cli-kit";
import {
  SIGNING_KEY_DEFAULT_GRACE_DAYS,
  rotateAccessKey,
  rotateSendGridKey,
  rotateSigningKey,
  type AccessKeyCredentials,
  type AccessKeyStep,
} from "./lib/rotation";
import { STAGE_ENV_DOCS, STAGE_NAMES, awsClientConfig, describeStage, resolveStage, type StageEnv } from "./lib/stage-env";
import type { StageName } from "../modules/stages";

/** Largest value read from standard input (SSM's standard tier holds 4 KB). */
const MAX_STDIN_BYTES = 4096;

/** The AWS clients a rotation uses for a stage (tests pass moto-backed ones with injected faults). */
export interface RotateClients {
  readonly ssm: SSMClient;
  readonly iam: IAMClient;
  readonly ddb: DynamoDBClient;
  readonly sesWith: (c: AccessKeyCredentials) => SESClient;
  readonly destroy?: () => void;
}

/** What the command needs from its surroundings (the process, unless a test says otherwise). */
export interface RotateDeps {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clients: (s: StageEnv) => RotateClients;
  readonly readStdin: () => Promise<string>;
  readonly now?: () => Date;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly fetch?: typeof fetch;
  readonly afterStep?: (step: AccessKeyStep) => Promise<void>;
}

/** Clients for `s`: its region, moto's endpoint on `local`, the default credential chain. */
export function stageClients(s: StageEnv): RotateClients {
  const cfg = awsClientConfig(s);
  const ssm = new SSMClient(cfg);
  const iam = new IAMClient(cfg);
  const ddb = new DynamoDBClient(cfg);
  return {
    ssm,
    iam,
    ddb,
    sesWith: (c) => new SESClient({ ...awsClientConfig(s, 1), credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } }),
    destroy: () => [ssm, iam, ddb].forEach((c) => c.destroy()),
  };
}

/** Reads the whole of standard input (a pipe, never a terminal), at most MAX_STDIN_BYTES, one trailing newline dropped. */
export async function readStdinValue(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
  if (stdin.isTTY) throw new CliError("USAGE", "pipe the new value on standard input (it is never taken from the command line)", EXIT.usage, "e.g. printf %s \"$NEW_KEY\" | npm run rotate -- sendgrid-key --stage <stage>");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_STDIN_BYTES) throw new CliError("ROTATE_VALUE_INVALID", `the value on standard input is over ${MAX_STDIN_BYTES} bytes`, EXIT.config);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

function defaultDeps(): RotateDeps {
  return { env: process.env, clients: stageClients, readStdin: () => readStdinValue() };
}


const STAGE_FLAG = () => stageOption(STAGE_NAMES);

/** The `rotate` command line (one convention: app/src/cli-kit.ts). */
export function rotateCli(io: CliIo = processIo(), given: Partial<RotateDeps> = {}): Cli {
  const deps: RotateDeps = { ...defaultDeps(), ...given };
  const cli = new Cli("rotate", {
    invocation: "npm run rotate --",
    description:
      "Rotate a credential of a stage without a code change: the sender's access key pair (access-key stages), the SendGrid API key (from stdin), or the unsubscribe signing key. The new credential is checked before the sender can use it; a failure leaves the old one working. See docs/rotation.md.",
    env: STAGE_ENV_DOCS,
    exitCodes: [
      { code: EXIT.ok, meaning: "rotated (the result says what changed; warnings name leftovers)" },
      { code: EXIT.failed, meaning: "not rotated or not finished: a step or check failed, or a guard refused; the message says what the sender uses now and what to run" },
      { code: EXIT.config, meaning: "the stage cannot be rotated so (task-role stage, parameter not deployed, an environment for another stage) or your AWS credentials/permissions are missing" },
      STANDARD_EXIT_DOCS.internal,
      STANDARD_EXIT_DOCS.usage,
    ],
    examples: [
      "npm run rotate -- access-key --stage local",
      'printf %s "$NEW_SENDGRID_KEY" | npm run rotate -- sendgrid-key --stage prod',
      "npm run rotate -- unsubscribe-signing-key --stage local --grace-days 60",
    ],
  }, io);

  const withStage = async <T>(out: Output, stage: StageName, fn: (s: StageEnv, c: RotateClients) => Promise<T>): Promise<T> => {
    const s = resolveStage(stage, deps.env);
    out.info(`rotating on ${describeStage(s)}`);
    const c = deps.clients(s);
    try {
      return await fn(s, c);
    } finally {
      c.destroy?.();
    }
  };
  const progress = (out: Output) => (msg: string, fields?: Record<string, unknown>) => out.info(msg, fields ?? {});

  cli.action<{ json?: boolean; stage: StageName; force?: boolean }>(
    cli
      .command("access-key", "Create a new IAM access key for the sender user, verify it with SES, store the pair as one change, deactivate the old key (the next rotation deletes it). Stages in the access-key credential mode only (local); dev and prod use the task role.")
      .addOption(STAGE_FLAG())
      .option("--force", "skip the check that no run is sending right now"),
    ({ out, opts }) =>
      withStage(out, opts.stage, async (s, c) => {
        const r = await rotateAccessKey(s, { ssm: c.ssm, iam: c.iam, ddb: c.ddb, sesWith: c.sesWith, progress: progress(out), now: deps.now, sleep: deps.sleep, afterStep: deps.afterStep }, { force: opts.force === true });
        for (const w of r.warnings) out.warn(w);
        out.result(
          { ok: true, what: "access-key", stage: s.name, user: r.user, newKey: r.newKey, oldKey: r.oldKey ?? null, deleted: r.deleted, warnings: r.warnings, steps: r.steps, exitCode: EXIT.ok },
          [
            `rotated the access key of IAM user ${r.user} (stage ${s.name})`,
            `  in use now: key ${r.newKey} (verified with SES GetSendQuota, as the sender reads it)`,
            r.oldKey ? `  old key ${r.oldKey}: deactivated; the next rotation deletes it` : "  there was no stored key before",
            ...(r.deleted.length ? [`  deleted: ${r.deleted.join(", ")} (deactivated by the previous rotation)`] : []),
          ],
        );
        return EXIT.ok;
      }),
  );

  cli.action<{ json?: boolean; stage: StageName }>(
    cli
      .command("sendgrid-key", "Replace the SendGrid API key with the one piped on standard input, after SendGrid confirms it (GET /v3/scopes lists mail.send). Revoke the old key in SendGrid afterwards.")
      .addOption(STAGE_FLAG()),
    ({ out, opts }) =>
      withStage(out, opts.stage, async (s, c) => {
        const r = await rotateSendGridKey(s, { ssm: c.ssm, readNewKey: deps.readStdin, fetch: deps.fetch, progress: progress(out) });
        out.result(
          { ok: true, what: "sendgrid-key", stage: s.name, parameter: r.parameter, version: r.version, scopes: r.scopes, steps: r.steps, exitCode: EXIT.ok },
          [
            `rotated ${r.parameter} (version ${r.version}); SendGrid confirmed the new key has mail.send`,
            "  runs read it at their next config load (within 5 minutes for a run in progress)",
            "  next: revoke the old key in SendGrid (Settings > API Keys) once the next run has sent with the new one",
          ],
        );
        return EXIT.ok;
      }),
  );

  cli.action<{ json?: boolean; stage: StageName; graceDays?: number; force?: boolean }>(
    cli
      .command("unsubscribe-signing-key", "Replace the unsubscribe signing key with a new random one; the old key keeps verifying links already sent until the grace period ends (email/unsubscribe_signing_key_previous).")
      .addOption(STAGE_FLAG())
      .addOption(new Option("--grace-days <days>", `how long links signed with the old key keep working (1-365, default ${SIGNING_KEY_DEFAULT_GRACE_DAYS})`).argParser((v) => {
        if (!/^\d{1,3}$/.test(v)) throw new CliError("USAGE", "--grace-days must be a whole number of days", EXIT.usage);
        return Number(v);
      }))
      .option("--force", "rotate even while the key before the current one is still in its grace period (its links stop working)"),
    ({ out, opts }) =>
      withStage(out, opts.stage, async (s, c) => {
        const r = await rotateSigningKey(s, { ssm: c.ssm, progress: progress(out), now: deps.now }, { graceDays: opts.graceDays, force: opts.force === true });
        out.result(
          { ok: true, what: "unsubscribe-signing-key", stage: s.name, parameter: r.parameter, previousParameter: r.previousParameter, previousValidUntil: r.previousValidUntil ?? null, steps: r.steps, exitCode: EXIT.ok },
          [
            `rotated ${r.parameter}: runs sign new links with the new key from their next config load`,
            r.previousValidUntil
              ? `  links signed with the old key keep verifying until ${r.previousValidUntil} (${r.previousParameter}; the endpoint checks both with verifyUnsubscribeToken)`
              : "  there was no key before: nothing to keep",
          ],
        );
        return EXIT.ok;
      }),
  );
  return cli;
}

if (require.main === module) {
  rotateCli()
    .run(process.argv.slice(2))
    .then((code) => process.exit(code));
}
