/**
 * Names that the stack (modules/) and the sender (app/) must agree on. Both import this
 * one file, so a parameter path, an environment variable or a metric name cannot drift.
 * Keep it free of runtime dependencies: it is bundled into the sender and the synth.
 */

/** Root of the Parameter Store hierarchy (the seed's name). */
export const DEFAULT_PARAMETER_ROOT = "/vibecoding";

/** Every parameter below the root, relative to it, with its type and whether it is secret. */
export const PARAMETERS = {
  awsAccessKeyId: { path: "aws/access_key_id", type: "SecureString", secret: true, required: false },
  awsSecretAccessKey: { path: "aws/secret_access_key", type: "SecureString", secret: true, required: false },
  awsRegion: { path: "aws/region", type: "String", secret: false, required: true },
  fromAddress: { path: "email/from_address", type: "String", secret: false, required: true },
  /**
   * The From display name (`"Vibe Coding Digest" <from_address>`). Optional: unset, the
   * sender uses DEFAULT_FROM_NAME from validation.ts; the value rule is parseFromName there.
   */
  fromName: { path: "email/from_name", type: "String", secret: false, required: false },
  toAddress: { path: "email/to_address", type: "StringList", secret: false, required: true },
  useSes: { path: "email/use_ses", type: "String", secret: false, required: false },
  sesPercent: { path: "email/ses_percent", type: "String", secret: false, required: false },
  configurationSet: { path: "email/configuration_set", type: "String", secret: false, required: false },
  sendgridApiKey: { path: "sendgrid/api_key", type: "SecureString", secret: true, required: false },
  feeds: { path: "digest/feeds", type: "String", secret: false, required: true },
  /**
   * The feed egress allow-list: host patterns (`example.com` exactly, `*.example.com` any
   * subdomain, or an IP literal), comma-separated. The stack writes it from the same stage
   * data as `digest/feeds` and the DNS firewall's domain list. When set, the sender fetches
   * (and follows redirects to) only hosts it matches, and reaches a private, loopback or
   * link-local address only when the list names that IP literal (the local stage's
   * 127.0.0.1). Optional for older stacks: unset means no host restriction.
   */
  feedHosts: { path: "digest/feed_hosts", type: "StringList", secret: false, required: false },
  /** List-Unsubscribe target (RFC 2369/8058): an https URL (one-click POST) or a mailto:. Optional. */
  unsubscribeUrl: { path: "email/unsubscribe_url", type: "String", secret: false, required: false },
  /**
   * HMAC key that signs each recipient's https List-Unsubscribe URL (`?u=<address>&t=<token>`,
   * app/src/unsubscribe.ts), so a one-click POST says who is leaving. Optional: without it
   * the URL is the same for everyone. Declared where the unsubscribe target is https.
   */
  unsubscribeSigningKey: { path: "email/unsubscribe_signing_key", type: "SecureString", secret: true, required: false },
} as const;

export type ParameterKey = keyof typeof PARAMETERS;
export type ParameterType = (typeof PARAMETERS)[ParameterKey]["type"];

/**
 * What Terraform writes into a SecureString on create. It is not a secret; the sender
 * treats it as "not set" (e.g. no static access key: use the task role). Operators put the
 * real value with `npm run secrets -- put NAME` (stdin), never through Terraform.
 */
export const SECRET_PLACEHOLDER = "unset";

/** `path` below the parameter root `root` (a trailing slash of the root is dropped). */
function below(root: string, path: string): string {
  return `${root.replace(/\/+$/, "")}/${path}`;
}

/** Full parameter name for `key` below `root`. */
export function parameterName(root: string, key: ParameterKey): string {
  return below(root, PARAMETERS[key].path);
}

/** Environment variables the task definition sets and the sender reads (in `main` only). */
export const ENV = {
  parameterRoot: "VIBE_PARAMETER_ROOT",
  region: "AWS_REGION",
  endpointUrl: "AWS_ENDPOINT_URL",
  useSes: "USE_SES_EMAIL",
  emailTo: "EMAIL_TO",
  configTtlSeconds: "VIBE_CONFIG_TTL_SECONDS",
  outDir: "VIBE_OUT_DIR",
  /** `json` forces JSON logs; otherwise pretty progress on a TTY, JSON when piped. */
  logFormat: "VIBE_LOG_FORMAT",
  /** Optional ceiling on SES sends per second, below the account's MaxSendRate. */
  maxSendRate: "VIBE_MAX_SEND_RATE",
  /**
   * Name of the delivery ledger table (DynamoDB, key schema {@link LEDGER}). Unset: the run
   * warns that exactly-once delivery is not guaranteed and sends without a ledger.
   */
  ledgerTable: "VIBE_LEDGER_TABLE",
  /**
   * The stage name (`local`, `dev`, `prod`): the `Stage` dimension of every metric, the one
   * the stage's alarms select. Unset: the sender emits Stage="unset" and warns once.
   */
  stage: "VIBE_STAGE",
  /** SendGrid API base URL (tests and the local run point it at the loopback emulator). @default SENDGRID_DEFAULT_BASE_URL */
  sendgridBaseUrl: "VIBE_SENDGRID_BASE_URL",
  /**
   * After SIGTERM, how long (ms) sends in flight may take to settle before the sender prints
   * its summary and exits 143; keep it under the task's stopTimeout (ECS default 30 s).
   * @default SHUTDOWN_GRACE_DEFAULT_MS
   */
  shutdownGraceMs: "VIBE_SHUTDOWN_GRACE_MS",
} as const;

/** Default of {@link ENV.shutdownGraceMs}: well inside ECS's default 30 s stopTimeout, leaving time to flush and exit. */
export const SHUTDOWN_GRACE_DEFAULT_MS = 10_000;

/**
 * Parameters the sender itself writes (not stage config). They live below the same root, so
 * the run's one GetParametersByPath reads them with the rest; the task role needs
 * ssm:PutParameter on exactly these names.
 */
export const RUNTIME_PARAMETERS = {
  /**
   * The automatic SES rollback (String). {@link ROLLBACK_CLEARED} when not rolled back;
   * otherwise a JSON {@link RollbackRecord}. Later runs honour it (everything via SendGrid)
   * until an operator clears it (`digest rollback clear`). The stack declares it with the
   * cleared value and ignores later changes of its value, so a deploy never clears it.
   */
  sesRollback: { path: "email/ses_rollback", type: "String", secret: false, writtenBy: "sender" },
} as const;
export type RuntimeParameterKey = keyof typeof RUNTIME_PARAMETERS;

/** Full name of a runtime parameter below `root`. */
export function runtimeParameterName(root: string, key: RuntimeParameterKey): string {
  return below(root, RUNTIME_PARAMETERS[key].path);
}

/**
 * Parameters that only operator commands write and the sender's run never uses. The stack
 * need not declare them: the command creates each under the KMS key of the parameter it
 * belongs with.
 */
export const OPERATOR_PARAMETERS = {
  /**
   * The unsubscribe signing key that `npm run rotate -- unsubscribe-signing-key` replaced,
   * with the end of its grace period: JSON `{"v":1,"key":"...","expiresAt":"<ISO time>"}`
   * (app/src/unsubscribe.ts reads it). Until then the unsubscribe endpoint accepts tokens
   * signed with it too, so links already in inboxes keep working.
   */
  unsubscribeSigningKeyPrevious: { path: "email/unsubscribe_signing_key_previous", type: "SecureString", secret: true, writtenBy: "operator" },
} as const;
export type OperatorParameterKey = keyof typeof OPERATOR_PARAMETERS;

/** Full name of an operator parameter below `root`. */
export function operatorParameterName(root: string, key: OperatorParameterKey): string {
  return below(root, OPERATOR_PARAMETERS[key].path);
}

/** Value of `email/ses_rollback` when no rollback is in force (SSM cannot store ""). */
export const ROLLBACK_CLEARED = "none";

/** What `email/ses_rollback` holds while a rollback is in force (JSON; no secrets, no addresses). */
export interface RollbackRecord {
  readonly state: "rolled_back";
  /** ISO time it was recorded. */
  readonly at: string;
  /** What triggered it; "manual" when an operator set a value by hand. */
  readonly reason: "ses-failure-rate" | "ses-sending-paused" | "parameter-store" | "manual";
  /** Human-readable detail, e.g. "SES failure rate above 5%: 9 of 41 SES sends failed ...". */
  readonly detail: string;
  readonly runId?: string;
  readonly digestDate?: string;
  /** Error code that triggered it (e.g. SES_SENDING_PAUSED, AWS_ACCESS_DENIED). */
  readonly code?: string;
  /** For reason "ses-failure-rate": the evidence the sequential test decided on. */
  readonly evidence?: RollbackEvidence;
}

/**
 * The evidence behind an automatic rollback on the SES failure rate: Wald's sequential
 * probability ratio test of {@link ROLLBACK_DEFAULTS}.p0 against p1 over the SES outcomes
 * of the sliding window (app/src/rollback.ts explains the test).
 */
export interface RollbackEvidence {
  readonly test: "sprt";
  /** SES outcomes (recipients with a final SES answer) in the window, and how many failed. */
  readonly attempts: number;
  readonly failures: number;
  /** The window's length and the times of its first and last outcome (ISO). */
  readonly windowMs: number;
  readonly from: string;
  readonly to: string;
  /** The two failure rates the test weighs (acceptable, too high). */
  readonly p0: number;
  readonly p1: number;
  /** Likelihood ratio of p1 over p0 for these counts, and the bound it reached, (1 - beta) / alpha. */
  readonly likelihoodRatio: number;
  readonly bound: number;
  /** 1 - alpha: at a true failure rate of p0 or less, a run trips with probability at most alpha. */
  readonly confidence: number;
}

/**
 * The automatic rollback's failure-rate trip (the seed: SES failure rate > 5% over 10
 * minutes): Wald's SPRT of p0 = 2% against p1 = 10%, whose neutral rate (where the evidence
 * drifts neither way) is 5.0%; alpha = 0.01% (false trip at 2%), beta = 1% (no trip at 10%).
 */
export const ROLLBACK_DEFAULTS = {
  windowMs: 10 * 60 * 1000,
  /** The rate the seed's bound names: the test's neutral point lies here. */
  maxFailureRate: 0.05,
  p0: 0.02,
  p1: 0.1,
  alpha: 0.0001,
  beta: 0.01,
} as const;

/** SendGrid v3 API root; `POST /v3/mail/send` is appended. */
export const SENDGRID_DEFAULT_BASE_URL = "https://api.sendgrid.com";

/**
 * The delivery ledger (DynamoDB): one item per digest date (America/New_York) and
 * recipient, written with conditional updates so a digest reaches each recipient once.
 */
export const LEDGER = {
  /** Partition key (S): the digest date, YYYY-MM-DD in DIGEST_TIME_ZONE. */
  partitionKey: "digest_date",
  /** Sort key (S): the recipient address, trimmed and lower-cased. */
  sortKey: "recipient",
  /** TTL attribute (N, epoch seconds): DynamoDB deletes the item after it. */
  ttlAttribute: "expires_at",
  /** Days an item is kept after its last write. */
  ttlDays: 30,
  /** Item states. */
  states: ["in_progress", "sent", "failed", "unknown"] as const,
  /** The other attributes the sender writes. */
  attributes: {
    state: "state",
    claimId: "claim_id",
    leaseUntil: "lease_until",
    sendingSince: "sending_since",
    provider: "provider",
    messageId: "message_id",
    errorCode: "error_code",
    attempts: "attempts",
    updatedAt: "updated_at",
    runId: "run_id",
    /**
     * (N) Milliseconds the provider took to answer the send request (the request's own
     * latency, pacing excluded), written with the outcome of every item whose request was
     * made (sent, failed, unknown): `rollout status` reports p50/p95 per provider.
     */
    latencyMs: "latency_ms",
  },
  /** DynamoDB actions the sender uses on the table (the stack grants exactly these). */
  actions: ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"] as const,
} as const;
export type LedgerState = (typeof LEDGER.states)[number];

/** CloudWatch namespace and metric names the sender emits and the alarms watch. */
export const METRICS = {
  namespace: "VibeDigest",
  sent: "EmailsSent",
  failed: "EmailsFailed",
  deliveryLatencyMs: "DeliveryLatency",
  parameterStoreLatencyMs: "ParameterStoreLatency",
  feedFailures: "FeedFailures",
  /** Feeds the run tried (with FeedFailures, the share of feeds that failed: the feed alarm's input). */
  feedsAttempted: "FeedsAttempted",
  digestSucceeded: "DigestSucceeded",
  /** Percent of the 24-hour SES quota used (Max24HourSend vs SentLast24Hours of GetSendQuota). */
  sesQuotaUsedPercent: "SesQuotaUsedPercent",
  /** Count of AccessDenied answers from Parameter Store or KMS while loading config. */
  parameterStoreAccessDenied: "ParameterStoreAccessDenied",
  /** 1 when this run triggered the automatic SES rollback (the stack's alarm watches it). */
  sesRollback: "SesRollback",
  /** 1 when this run started with a rollback in force (everything via SendGrid). */
  sesRollbackActive: "SesRollbackActive",
  /** Recipients whose SES send was rejected and who were sent through SendGrid instead. */
  sesFallbacks: "SesFallbacks",
  /** Recipients whose send outcome is ambiguous (ledger state `unknown`; never resent). */
  emailsUnknown: "EmailsUnknown",
  /**
   * SES send attempts (one per recipient handed to SES, whatever the outcome). The
   * denominator of the stack's SES failure-rate alarm; SendGrid sends never count here.
   */
  sesAttempts: "SesAttempts",
  /**
   * SES send attempts that failed (rejected, throttled past retries, errored), counted even
   * when SendGrid then delivered the message. The numerator of the SES failure-rate alarm.
   */
  sesFailures: "SesFailures",
  /**
   * SES send requests answered with throttling (each answer, retries included): pacing
   * backpressure, alarmed on its own. Never in SesAttempts/SesFailures nor in the rollback's
   * test; a recipient still throttled after the dispatcher's retries ends `failed`
   * (EmailsFailed) and the catch-up run retries it.
   */
  sesThrottled: "SesThrottled",
} as const;

/**
 * The one dimension set every metric above is emitted with (EMF `Dimensions: [METRIC_DIMENSIONS]`,
 * each name also a property of every EMF line: metrics.ts) and that every stack alarm on
 * {@link METRICS.namespace} selects (monitoring.ts), so two stages in one account and region
 * do not feed each other's alarms. `Stage`: the stage name, which the stack puts into the
 * task's {@link ENV.stage} and the sender reads there ({@link STAGE_UNSET} when it is unset).
 */
export const METRIC_DIMENSIONS = ["Stage"] as const;

/** The `Stage` dimension a sender emits when {@link ENV.stage} is unset (no alarm selects it). */
export const STAGE_UNSET = "unset";

/** The value of each METRIC_DIMENSIONS name for a stage. */
export function metricDimensionsFor(stage: string): Record<(typeof METRIC_DIMENSIONS)[number], string> {
  return { Stage: stage };
}

/** Subject prefix kept from the SendGrid-era app. */
export const SUBJECT_PREFIX = "🧠 Daily Vibe Coding Digest";
/** The digest's clock: subject time and digest date are America/New_York. */
export const DIGEST_TIME_ZONE = "America/New_York";
