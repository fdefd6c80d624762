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
  toAddress: { path: "email/to_address", type: "StringList", secret: false, required: true },
  useSes: { path: "email/use_ses", type: "String", secret: false, required: false },
  sesPercent: { path: "email/ses_percent", type: "String", secret: false, required: false },
  configurationSet: { path: "email/configuration_set", type: "String", secret: false, required: false },
  sendgridApiKey: { path: "sendgrid/api_key", type: "SecureString", secret: true, required: false },
  feeds: { path: "digest/feeds", type: "String", secret: false, required: true },
  /** List-Unsubscribe target (RFC 2369/8058): an https URL (one-click POST) or a mailto:. Optional. */
  unsubscribeUrl: { path: "email/unsubscribe_url", type: "String", secret: false, required: false },
} as const;

export type ParameterKey = keyof typeof PARAMETERS;
export type ParameterType = (typeof PARAMETERS)[ParameterKey]["type"];

/**
 * What Terraform writes into a SecureString on create. It is not a secret; the sender
 * treats it as "not set" (e.g. no static access key: use the task role). Operators put the
 * real value with `npm run secrets -- put NAME` (stdin), never through Terraform.
 */
export const SECRET_PLACEHOLDER = "unset";

/** Full parameter name for `key` below `root`. */
export function parameterName(root: string, key: ParameterKey): string {
  return `${root.replace(/\/+$/, "")}/${PARAMETERS[key].path}`;
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
} as const;

/** CloudWatch namespace and metric names the sender emits and the alarms watch. */
export const METRICS = {
  namespace: "VibeDigest",
  sent: "EmailsSent",
  failed: "EmailsFailed",
  deliveryLatencyMs: "DeliveryLatency",
  parameterStoreLatencyMs: "ParameterStoreLatency",
  feedFailures: "FeedFailures",
  digestSucceeded: "DigestSucceeded",
  /** Percent of the 24-hour SES quota used (Max24HourSend vs SentLast24Hours of GetSendQuota). */
  sesQuotaUsedPercent: "SesQuotaUsedPercent",
  /** Count of AccessDenied answers from Parameter Store or KMS while loading config. */
  parameterStoreAccessDenied: "ParameterStoreAccessDenied",
} as const;

/** Subject prefix kept from the SendGrid-era app. */
export const SUBJECT_PREFIX = "🧠 Daily Vibe Coding Digest";
/** The digest's clock: subject time and digest date are America/New_York. */
export const DIGEST_TIME_ZONE = "America/New_York";
