/**
 * Operator command for secret parameters (the one CLI convention: app/src/cli-kit.ts).
 * The value is read from standard input, never from the command line (which lands in shell
 * history and `ps`), checked with the sender's own rule, and never printed.
 *
 *   printf %s "$KEY" | npm run secrets -- put sendgrid/api_key --stage prod
 *   npm run secrets -- status [--stage dev] [--root /vibecoding]
 *
 * `--stage` picks the stage's parameter root and region (modules/stages.ts); the local
 * stage also its emulator endpoint when AWS_ENDPOINT_URL is unset. Credentials come from
 * the usual AWS environment (AWS_PROFILE, the default chain).
 */
import { SSMClient } from "@aws-sdk/client-ssm";
import { AWS_ENV_DOCS, Cli, CliError, EXIT, STANDARD_EXIT_DOCS, processIo, stageOption, type CliIo } from "../app/src/cli-kit";
import { DEFAULT_PARAMETER_ROOT, PARAMETERS, parameterName } from "../app/src/contract";
import { parseEndpointUrl, parseParameterRoot, parseRegion, type Checked } from "../app/src/validation";
import { devStage, localStage, prodStage, type StageConfig, type StageName } from "../modules/stages";
import { MAX_SECRET_BYTES, SECRET_KEYS, SecretCommandError, putSecret, resolveSecretKey, secretStatus, secretValueFromStdin, type SecretState } from "./lib/secrets";

const STAGES: Record<StageName, () => StageConfig> = { local: () => localStage(), dev: devStage, prod: prodStage };

export interface SecretsDeps {
  readonly io?: CliIo;
  readonly env?: NodeJS.ProcessEnv;
  /** Reads standard input (at most `limit` bytes plus one, to detect an over-long value); throws when it is a terminal. */
  readonly readStdin?: (limit: number) => Promise<Uint8Array>;
  /** Builds the SSM client (tests count or stub nothing: they point it at moto). */
  readonly ssm?: (o: { region: string; endpoint?: string }) => SSMClient;
}

interface Target {
  readonly root: string;
  readonly region: string;
  readonly endpoint?: string;
}

/** An environment value by its rule, or a config failure naming the variable (never its value). */
function envValue<T>(env: NodeJS.ProcessEnv, name: string, parse: (v: string) => Checked<T>): T | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  const r = parse(raw);
  if (!r.ok) throw new CliError("CONFIG_INVALID", `${name} is invalid: expected ${r.expected}`, EXIT.config);
  return r.value;
}

/** Where the command acts: --root, else the stage's root, else /vibecoding; region and endpoint from the environment, else the stage. */
function targetOf(opts: { stage?: string; root?: string }, env: NodeJS.ProcessEnv): Target {
  const stage = opts.stage ? STAGES[opts.stage as StageName]() : undefined;
  const rootChecked = parseParameterRoot(opts.root ?? stage?.parameterRoot ?? DEFAULT_PARAMETER_ROOT);
  if (!rootChecked.ok) throw new CliError("USAGE", `--root is invalid: expected ${rootChecked.expected}`, EXIT.usage, "run with --help for usage");
  const region = envValue(env, "AWS_REGION", parseRegion) ?? envValue(env, "AWS_DEFAULT_REGION", parseRegion) ?? stage?.region;
  if (!region) throw new CliError("AWS_REGION_MISSING", "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or name a --stage", EXIT.config);
  const endpoint = envValue(env, "AWS_ENDPOINT_URL", parseEndpointUrl) ?? (stage?.target.kind === "emulator" ? stage.target.endpoint : undefined);
  return { root: rootChecked.value, region, ...(endpoint ? { endpoint } : {}) };
}

/** Exit code of a refused value or stage state. */
function secretFailure(err: unknown): unknown {
  if (!(err instanceof SecretCommandError)) return err;
  const exit = err.code === "UNKNOWN_SECRET" ? EXIT.usage : err.code === "NOT_DEPLOYED" || err.code === "NOT_SECURE_STRING" ? EXIT.config : EXIT.failed;
  const hint =
    err.code === "VALUE_INVALID" || err.code === "EMPTY_VALUE"
      ? "pipe the value without extra spaces or line breaks, e.g. printf %s \"$VALUE\" | npm run secrets -- put NAME --stage STAGE"
      : err.code === "UNKNOWN_SECRET"
        ? "run with --help for the secret names"
        : undefined;
  return new CliError(err.code, err.message, exit, hint);
}

async function processStdin(limit: number): Promise<Uint8Array> {
  if (process.stdin.isTTY) throw new SecretCommandError("EMPTY_VALUE", "pipe the secret value on standard input (it is never taken from the command line)");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    chunks.push(chunk as Buffer);
    if (size > limit) break;
  }
  return Buffer.concat(chunks);
}

/** The `secrets` command line. */
export function secretsCli(deps: SecretsDeps = {}): Cli {
  const env = deps.env ?? process.env;
  const newSsm = deps.ssm ?? ((o) => new SSMClient({ region: o.region, maxAttempts: o.endpoint ? 2 : 3, ...(o.endpoint ? { endpoint: o.endpoint } : {}) }));
  const names = SECRET_KEYS.map((k) => PARAMETERS[k].path);
  const cli = new Cli(
    "secrets",
    {
      invocation: "npm run secrets --",
      description: `Puts and checks the secret parameters (${names.join(", ")}): values come on standard input, are checked with the sender's own rules, stored as SecureStrings under the stack's KMS key, and never printed.`,
      env: [
        ...AWS_ENV_DOCS,
        { name: "AWS_DEFAULT_REGION", description: "used when AWS_REGION is unset (else the stage's region)" },
      ],
      exitCodes: [
        STANDARD_EXIT_DOCS.ok,
        { code: EXIT.failed, meaning: "put: the value was refused (EMPTY_VALUE, VALUE_INVALID), nothing written; status: a secret is invalid or insecure" },
        { code: EXIT.config, meaning: "the parameter is not deployed or not a SecureString, or AWS environment/credentials missing or invalid (the message names which)" },
        STANDARD_EXIT_DOCS.internal,
        { code: EXIT.usage, meaning: "bad command line or unknown secret name (see --help)" },
      ],
      examples: [
        'printf %s "$SENDGRID_API_KEY" | npm run secrets -- put sendgrid/api_key --stage prod',
        "node -e 'process.stdout.write(require(\"crypto\").randomBytes(32).toString(\"base64url\"))' | npm run secrets -- put email/unsubscribe_signing_key --stage local",
        "npm run secrets -- status --stage dev",
      ],
    },
    deps.io ?? processIo(),
  );
  const stages = Object.keys(STAGES);

  cli.action<{ json?: boolean; stage: string; root?: string }>(
    cli
      .command(`put <name>`, `Writes one secret from standard input. <name>: ${names.join(" | ")} (at most ${MAX_SECRET_BYTES} bytes; one trailing line break is dropped).`)
      .addOption(stageOption(stages))
      .option("--root <path>", "parameter root (default: the stage's)"),
    async ({ out, opts, args }) => {
      try {
        const key = resolveSecretKey(args[0]);
        const t = targetOf(opts, env);
        const value = secretValueFromStdin(await (deps.readStdin ?? processStdin)(MAX_SECRET_BYTES));
        const ssm = newSsm(t);
        try {
          const version = await putSecret(ssm, t.root, key, value);
          const parameter = parameterName(t.root, key);
          out.result({ ok: true, parameter, version, exitCode: EXIT.ok }, `put ${parameter} (version ${version})`);
          return EXIT.ok;
        } finally {
          ssm.destroy();
        }
      } catch (err) {
        throw secretFailure(err);
      }
    },
  );

  cli.action<{ json?: boolean; stage?: string; root?: string }>(
    cli
      .command("status", "Says for each secret whether it is set (and valid), a placeholder, missing, invalid (the next run would stop) or insecure (a plain String). No value is printed.")
      .addOption(stageOption(stages, undefined).makeOptionMandatory(false))
      .option("--root <path>", `parameter root (default: the stage's, else ${DEFAULT_PARAMETER_ROOT})`),
    async ({ out, opts }) => {
      const t = targetOf(opts, env);
      const ssm = newSsm(t);
      try {
        const status = await secretStatus(ssm, t.root);
        const bad = Object.values(status).filter((s: SecretState) => s === "invalid" || s === "insecure").length;
        const exitCode = bad ? EXIT.failed : EXIT.ok;
        out.result({ ok: bad === 0, root: t.root, secrets: status, exitCode }, Object.entries(status).map(([param, state]) => `${state.padEnd(11)} ${param}`));
        return exitCode;
      } finally {
        ssm.destroy();
      }
    },
  );
  return cli;
}

if (require.main === module) {
  secretsCli()
    .run(process.argv.slice(2))
    .then((code) => process.exit(code));
}
