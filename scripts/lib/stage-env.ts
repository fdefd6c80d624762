/**
 * Where an operations command (rotate, rollout) finds a stage: its parameter root, region,
 * delivery ledger, sender IAM user and SendGrid API base URL. Everything comes from the
 * stage data (modules/stages.ts) and the names the stack derives from it; for `local`, the
 * environment that `npm run local -- --keep` exports (.local/env.sh) overrides them, since
 * a kept local stack runs on ports picked at start. A real stage ignores those overrides
 * and refuses an environment that points somewhere else (a shell that sourced
 * .local/env.sh must not send a `--stage prod` command to moto, or the other way round).
 */
import { DEFAULT_PARAMETER_ROOT, ENV, SENDGRID_DEFAULT_BASE_URL } from "../../app/src/contract";
import { CliError, EXIT, type EnvDoc } from "../../app/src/cli-kit";
import { LEDGER_TABLE_NAME_EXPECTED, isLedgerTableName, parseEndpointUrl, parseParameterRoot, parseRegion, type Checked } from "../../app/src/validation";
import { senderUserName, stackResourceNames } from "../../modules/digest-stack";
import { devStage, localStage, prodStage, type CredentialsMode, type StageConfig, type StageName } from "../../modules/stages";

/** The stage names a command accepts (for `stageOption`). */
export const STAGE_NAMES: readonly StageName[] = ["local", "dev", "prod"];

/** The IAM user whose access key the sender uses in `access-key` mode (what `npm run local` creates). */
export const SENDER_USER_ENV = "VIBE_SENDER_USER";

/** Environment variables an operations command reads (the stage resolution and the AWS SDK), for `--help`. */
export const STAGE_ENV_DOCS: readonly EnvDoc[] = [
  { name: "AWS_PROFILE", description: "named profile of the shared AWS config (else the default credential chain: the operator role's session)" },
  { name: ENV.region, description: "local only: region (dev/prod use their stage's region)" },
  { name: ENV.endpointUrl, description: "local only: the moto endpoint (set by .local/env.sh); refused for dev/prod" },
  { name: ENV.parameterRoot, description: "local only: Parameter Store root (default: the stage's, /vibecoding)" },
  { name: ENV.ledgerTable, description: "local only: delivery ledger table (default: <stack>-delivery-ledger)" },
  { name: ENV.sendgridBaseUrl, description: "local only: SendGrid API base URL (the loopback emulator); dev/prod use api.sendgrid.com" },
  { name: SENDER_USER_ENV, description: "local only: IAM user of the sender's access key (default: <stack>-sender)" },
  { name: ENV.stage, description: "when set (as .local/env.sh does), must name the same stage as --stage" },
];

/** A stage as an operations command acts on it. */
export interface StageEnv {
  readonly name: StageName;
  /** The stage data (modules/stages.ts). */
  readonly stage: StageConfig;
  readonly region: string;
  readonly parameterRoot: string;
  readonly ledgerTable: string;
  readonly credentialsMode: CredentialsMode;
  /** IAM user of the sender's access key (meaningful in `access-key` mode only). */
  readonly senderUser: string;
  /** SendGrid API root, without a trailing slash; undefined when `local` has no emulator exported. */
  readonly sendgridBaseUrl?: string;
  /** AWS endpoint (moto) for `local`; undefined for real AWS. */
  readonly endpoint?: string;
  /** Environment variables that overrode the stage data (names only). */
  readonly overrides: readonly string[];
}

/** The delivery ledger table the stack declares for a stage (its name rule lives with the stack). */
export function ledgerTableName(stage: StageConfig): string {
  return stackResourceNames(stage).ledgerTable;
}

/** The sender's IAM user in `access-key` mode (`npm run local` creates it for the local stage). */
export { senderUserName };

/** The stage data of `name`; `local` points at `endpoint` when given. */
export function stageData(name: StageName, endpoint?: string): StageConfig {
  if (name === "local") return localStage(endpoint ? { awsEndpoint: endpoint } : {});
  return name === "dev" ? devStage() : prodStage();
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Resolves `name` against the environment (see the module comment). Throws a CliError
 * (exit 2) naming the variable when the environment belongs to another stage or holds a
 * value that cannot be right.
 */
export function resolveStage(name: StageName, env: Env = process.env): StageEnv {
  const get = (k: string) => {
    const v = env[k]?.trim();
    return v ? v : undefined;
  };
  const envStage = get(ENV.stage);
  if (envStage !== undefined && envStage !== name) {
    throw new CliError(
      "STAGE_ENV_MISMATCH",
      `--stage ${name}, but ${ENV.stage}=${envStage} in the environment: this shell is set up for another stage`,
      EXIT.config,
      envStage === "local" ? "open a shell without .local/env.sh sourced (or unset its variables) to act on a real stage" : `unset ${ENV.stage}, or pass --stage ${envStage}`,
    );
  }
  if (name !== "local") {
    const endpoint = get(ENV.endpointUrl);
    if (endpoint !== undefined) {
      throw new CliError(
        "STAGE_ENV_MISMATCH",
        `--stage ${name} talks to real AWS, but ${ENV.endpointUrl} is set: every AWS call would go to that endpoint instead`,
        EXIT.config,
        `unset ${ENV.endpointUrl} (and the other exports of .local/env.sh) in this shell`,
      );
    }
    const stage = stageData(name);
    return {
      name,
      stage,
      region: stage.region,
      parameterRoot: stage.parameterRoot,
      ledgerTable: ledgerTableName(stage),
      credentialsMode: stage.credentialsMode,
      senderUser: senderUserName(stage),
      sendgridBaseUrl: SENDGRID_DEFAULT_BASE_URL,
      overrides: [],
    };
  }

  const overrides: string[] = [];
  const take = (k: string) => {
    const v = get(k);
    if (v !== undefined) overrides.push(k);
    return v;
  };
  // The same value rules the sender applies to these variables (app/src/validation.ts).
  const checked = <T>(name: string, r: Checked<T>): T => {
    if (!r.ok) throw new CliError("STAGE_ENV_INVALID", `${name} must be ${r.expected}`, EXIT.config, "source .local/env.sh (written by npm run local -- --keep)");
    return r.value;
  };
  const endpointRaw = take(ENV.endpointUrl);
  const endpoint = endpointRaw === undefined ? undefined : checked(ENV.endpointUrl, parseEndpointUrl(endpointRaw));
  const stage = stageData("local", endpoint);
  const regionRaw = take(ENV.region);
  const region = regionRaw === undefined ? stage.region : checked(ENV.region, parseRegion(regionRaw));
  const rootRaw = take(ENV.parameterRoot);
  const parameterRoot = rootRaw === undefined ? (stage.parameterRoot ?? DEFAULT_PARAMETER_ROOT) : checked(ENV.parameterRoot, parseParameterRoot(rootRaw));
  const ledgerTable = take(ENV.ledgerTable) ?? ledgerTableName(stage);
  if (!isLedgerTableName(ledgerTable)) throw new CliError("STAGE_ENV_INVALID", `${ENV.ledgerTable} must be ${LEDGER_TABLE_NAME_EXPECTED}`, EXIT.config);
  const senderUser = take(SENDER_USER_ENV) ?? senderUserName(stage);
  if (!/^[\w+=,.@-]{1,64}$/.test(senderUser)) throw new CliError("STAGE_ENV_INVALID", `${SENDER_USER_ENV} must be an IAM user name (1-64 of letters, digits and +=,.@_-)`, EXIT.config);
  const sendgridRaw = take(ENV.sendgridBaseUrl);
  const sendgrid = sendgridRaw === undefined ? undefined : checked(ENV.sendgridBaseUrl, parseEndpointUrl(sendgridRaw));
  return {
    name: "local",
    stage,
    region,
    parameterRoot,
    ledgerTable,
    credentialsMode: stage.credentialsMode,
    senderUser,
    ...(sendgrid ? { sendgridBaseUrl: sendgrid.replace(/\/+$/, "") } : {}),
    endpoint: stage.target.kind === "emulator" ? stage.target.endpoint : undefined,
    overrides,
  };
}

/** SDK client settings for a stage: its region, moto's endpoint for `local`, capped retries. */
export function awsClientConfig(s: Pick<StageEnv, "region" | "endpoint">, maxAttempts = 3): { region: string; endpoint?: string; maxAttempts: number } {
  return { region: s.region, maxAttempts, ...(s.endpoint ? { endpoint: s.endpoint } : {}) };
}

/** One line saying what a command acts on (no secrets: names only). */
export function describeStage(s: StageEnv): string {
  const via = s.endpoint ? ` via ${s.endpoint}` : "";
  return `stage ${s.name} (${s.region}${via}; parameters ${s.parameterRoot}; ledger ${s.ledgerTable})`;
}
