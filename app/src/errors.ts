/**
 * One class per failure. Every error carries a stable `code` and the parameter or resource
 * it concerns, never a value that could be secret. AWS SDK errors are wrapped: their error
 * code, HTTP status and request id are kept, everything else (message text that may echo
 * addresses or values, the raw response, the request) is dropped. No `cause` is attached,
 * so `util.inspect` of a thrown error cannot reach an SDK payload.
 */

export type ErrorCode =
  | "CONFIG_MISSING"
  | "CONFIG_INVALID"
  | "AWS_ACCESS_DENIED"
  | "AWS_PARAMETER_NOT_FOUND"
  | "AWS_INVALID_VALUE"
  | "AWS_THROTTLED"
  | "AWS_CREDENTIALS_INVALID"
  | "AWS_CREDENTIALS_MISSING"
  | "AWS_UNAVAILABLE"
  | "AWS_ERROR"
  | "SES_SENDING_PAUSED"
  | "SES_SENDER_NOT_VERIFIED"
  | "SES_MESSAGE_REJECTED"
  | "SES_CONFIGURATION_SET_MISSING"
  | "SES_QUOTA_EXCEEDED"
  | FeedErrorCode
  | "DELIVERY_FAILED"
  | "DELIVERY_SETUP_FAILED"
  | "SES_ROLLED_BACK"
  | "SENDGRID_NOT_CONFIGURED"
  | "SENDGRID_UNAUTHORIZED"
  | "SENDGRID_FORBIDDEN"
  | "SENDGRID_REJECTED"
  | "SENDGRID_THROTTLED"
  | "SENDGRID_UNAVAILABLE"
  | "SENDGRID_TIMEOUT"
  | "SENDGRID_NETWORK"
  | "LEDGER_UNAVAILABLE"
  | "LEDGER_CLAIM_LOST"
  | "USAGE";

/** Base of every error the sender throws. */
export abstract class DigestError extends Error {
  abstract readonly code: ErrorCode;
  /** The parameter name, feed, recipient or AWS operation this error concerns. */
  readonly resource: string;
  /** True when retrying the same call later may succeed. */
  readonly retryable: boolean;

  protected constructor(message: string, resource: string, retryable = false) {
    super(message);
    this.resource = resource;
    this.retryable = retryable;
  }

  /** A log-safe view (what the JSON logs and the run summary carry). */
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, resource: this.resource };
  }
}

/** A required parameter is absent (or still holds the placeholder). */
export class ConfigMissingError extends DigestError {
  readonly code = "CONFIG_MISSING" as const;
  constructor(readonly parameter: string) {
    super(`Parameter ${parameter} is missing`, parameter);
    this.name = "ConfigMissingError";
  }
}

/** A parameter is present but its value does not fit; the message says what was expected. */
export class ConfigInvalidError extends DigestError {
  readonly code = "CONFIG_INVALID" as const;
  constructor(
    readonly parameter: string,
    readonly expected: string,
  ) {
    super(`Parameter ${parameter} is invalid: expected ${expected}`, parameter);
    this.name = "ConfigInvalidError";
  }
}

/** What an AWS SDK error keeps after wrapping. */
export interface AwsErrorDetails {
  /** Operation, e.g. "ssm:GetParametersByPath" or "ses:SendRawEmail". */
  readonly operation: string;
  /** What it concerned: a parameter path, a recipient, the SES identity. */
  readonly resource: string;
  readonly awsCode?: string;
  readonly requestId?: string;
  readonly httpStatus?: number;
  /**
   * Overrides the status-based default of {@link AwsServiceError.definitelyNotSent}, e.g.
   * true for a connection that was refused before any request was written.
   */
  readonly definitelyNotSent?: boolean;
}

/** Base of wrapped AWS errors. */
export abstract class AwsServiceError extends DigestError {
  readonly operation: string;
  readonly awsCode?: string;
  readonly requestId?: string;
  readonly httpStatus?: number;
  /**
   * True when AWS certainly did not accept the message (a 4xx answer to a send). A router
   * may fall back to another provider for that recipient without risking a duplicate.
   */
  readonly definitelyNotSent: boolean;

  protected constructor(safeMessage: string, d: AwsErrorDetails, retryable: boolean) {
    const ids = [d.awsCode && `code ${d.awsCode}`, d.requestId && `request ${d.requestId}`].filter(Boolean).join(", ");
    super(`${d.operation} on ${d.resource}: ${safeMessage}${ids ? ` (${ids})` : ""}`, d.resource, retryable);
    this.operation = d.operation;
    this.awsCode = d.awsCode;
    this.requestId = d.requestId;
    this.httpStatus = d.httpStatus;
    this.definitelyNotSent = d.definitelyNotSent ?? (d.httpStatus !== undefined && d.httpStatus >= 400 && d.httpStatus < 500);
  }

  override toJSON(): Record<string, unknown> {
    return {
      ...super.toJSON(),
      operation: this.operation,
      awsCode: this.awsCode,
      requestId: this.requestId,
      httpStatus: this.httpStatus,
    };
  }
}

export class AccessDeniedError extends AwsServiceError {
  readonly code = "AWS_ACCESS_DENIED" as const;
  constructor(d: AwsErrorDetails) {
    super("access denied; check the task role's IAM permissions and the KMS key policy", d, false);
    this.name = "AccessDeniedError";
  }
}

export class ParameterNotFoundError extends AwsServiceError {
  readonly code = "AWS_PARAMETER_NOT_FOUND" as const;
  constructor(d: AwsErrorDetails) {
    super("parameter not found", d, false);
    this.name = "ParameterNotFoundError";
  }
}

export class InvalidValueError extends AwsServiceError {
  readonly code = "AWS_INVALID_VALUE" as const;
  constructor(d: AwsErrorDetails) {
    super("AWS rejected a value in the request as invalid", d, false);
    this.name = "InvalidValueError";
  }
}

export class ThrottledError extends AwsServiceError {
  readonly code = "AWS_THROTTLED" as const;
  constructor(d: AwsErrorDetails) {
    super("throttled by AWS; slow down and retry", d, true);
    this.name = "ThrottledError";
  }
}

export class CredentialsInvalidError extends AwsServiceError {
  readonly code = "AWS_CREDENTIALS_INVALID" as const;
  constructor(d: AwsErrorDetails) {
    super("AWS did not accept the credentials (unknown, expired or mis-signed)", d, false);
    this.name = "CredentialsInvalidError";
  }
}

/** No credentials were found at all (nothing in the SDK's chain): not the same as rejected ones. */
export class CredentialsMissingError extends AwsServiceError {
  readonly code = "AWS_CREDENTIALS_MISSING" as const;
  constructor(d: AwsErrorDetails) {
    super("no AWS credentials found (environment, profile, container or instance role)", d, false);
    this.name = "CredentialsMissingError";
  }
}

export class AwsUnavailableError extends AwsServiceError {
  readonly code = "AWS_UNAVAILABLE" as const;
  constructor(d: AwsErrorDetails) {
    super("AWS service unavailable or failed internally", d, true);
    this.name = "AwsUnavailableError";
  }
}

export class AwsError extends AwsServiceError {
  readonly code = "AWS_ERROR" as const;
  constructor(d: AwsErrorDetails) {
    super("AWS service error", d, false);
    this.name = "AwsError";
  }
}

export class SendingPausedError extends AwsServiceError {
  readonly code = "SES_SENDING_PAUSED" as const;
  constructor(d: AwsErrorDetails) {
    super("SES sending is paused for the account or the configuration set", d, false);
    this.name = "SendingPausedError";
  }
}

export class SenderNotVerifiedError extends AwsServiceError {
  readonly code = "SES_SENDER_NOT_VERIFIED" as const;
  constructor(d: AwsErrorDetails) {
    super("the sender identity (or MAIL FROM domain) is not verified in SES for this region", d, false);
    this.name = "SenderNotVerifiedError";
  }
}

export class MessageRejectedError extends AwsServiceError {
  readonly code = "SES_MESSAGE_REJECTED" as const;
  constructor(d: AwsErrorDetails) {
    super("SES rejected the message", d, false);
    this.name = "MessageRejectedError";
  }
}

export class ConfigurationSetMissingError extends AwsServiceError {
  readonly code = "SES_CONFIGURATION_SET_MISSING" as const;
  constructor(d: AwsErrorDetails) {
    super("the configured SES configuration set does not exist", d, false);
    this.name = "ConfigurationSetMissingError";
  }
}

export class QuotaExceededError extends AwsServiceError {
  readonly code = "SES_QUOTA_EXCEEDED" as const;
  constructor(d: AwsErrorDetails) {
    super("the SES 24-hour sending quota is used up", d, false);
    this.name = "QuotaExceededError";
  }
}

/** Codes of {@link FeedError} (docs/feeds.md explains each). */
export type FeedErrorCode =
  | "FEED_HTTP_STATUS"
  | "FEED_TIMEOUT"
  | "FEED_TOO_LARGE"
  | "FEED_PARSE_FAILED"
  | "FEED_FETCH_FAILED"
  /** The feed URL or a redirect target names a host `digest/feed_hosts` does not match. */
  | "FEED_HOST_NOT_ALLOWED"
  /** The feed URL or a redirect target is (or resolves to) a private, loopback, link-local or reserved address not allow-listed as a literal. */
  | "FEED_ADDRESS_REFUSED"
  /** A redirect leads back to a URL already visited. */
  | "FEED_REDIRECT_LOOP"
  /** More redirects than the fetcher follows (5). */
  | "FEED_TOO_MANY_REDIRECTS"
  /** A redirect without a usable Location, or to a non-http(s) URL or one with credentials. */
  | "FEED_REDIRECT_INVALID";

/** One feed could not be used; the digest goes on without it. */
export class FeedError extends DigestError {
  constructor(
    readonly code: FeedErrorCode,
    readonly feed: string,
    detail: string,
    retryable: boolean,
  ) {
    super(`Feed ${feed}: ${detail}`, feed, retryable);
    this.name = "FeedError";
  }
}

/** A non-AWS delivery failure (e.g. a provider answered something unexpected). */
export class DeliveryError extends DigestError {
  readonly code = "DELIVERY_FAILED" as const;
  constructor(
    recipient: string,
    detail: string,
    readonly definitelyNotSent = false,
  ) {
    super(`Delivery to ${recipient} failed: ${detail}`, recipient, false);
    this.name = "DeliveryError";
  }
}

/**
 * A provider could not even be set up for this send (e.g. reloading the config that holds
 * its credentials failed), so no request was made. Keeps the underlying error's code.
 */
export class ProviderSetupError extends DigestError {
  readonly code = "DELIVERY_SETUP_FAILED" as const;
  readonly definitelyNotSent = true;
  /** Code and operation of the failure underneath (e.g. AWS_ACCESS_DENIED, ssm:GetParametersByPath). */
  readonly causeCode: string;
  readonly causeOperation?: string;
  constructor(provider: string, recipient: string, cause: DigestError) {
    super(`${provider} could not be set up to send to ${recipient}: ${cause.code}`, recipient, cause.retryable);
    this.name = "ProviderSetupError";
    this.causeCode = cause.code;
    this.causeOperation = cause instanceof AwsServiceError ? cause.operation : undefined;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), causeCode: this.causeCode, causeOperation: this.causeOperation };
  }
}

/** SES is rolled back (automatic rollback in force) and no SendGrid fallback is configured. */
export class SesRolledBackError extends DigestError {
  readonly code = "SES_ROLLED_BACK" as const;
  readonly definitelyNotSent = true;
  constructor(recipient: string) {
    super(`Delivery to ${recipient} not attempted: the SES rollback is in force and SendGrid is not configured (clear it with \`digest rollback clear\` once SES is healthy)`, recipient, false);
    this.name = "SesRolledBackError";
  }
}

/** SendGrid is needed for this recipient but `sendgrid/api_key` holds no real key. */
export class SendGridNotConfiguredError extends DigestError {
  readonly code = "SENDGRID_NOT_CONFIGURED" as const;
  readonly definitelyNotSent = true;
  readonly operation = "sendgrid:mail.send";
  constructor(recipient: string, why: string) {
    super(`Delivery to ${recipient} not attempted: ${why}, and SendGrid is not configured (sendgrid/api_key is unset)`, recipient, false);
    this.name = "SendGridNotConfiguredError";
  }
}

/** What a SendGrid failure keeps: status, the error body's field names (never its messages), timing. */
export interface SendGridErrorDetails {
  readonly recipient: string;
  readonly httpStatus?: number;
  /** `errors[].field` of the answer, e.g. "from" or "personalizations.0.to" (names, not values). */
  readonly fields?: readonly string[];
  /** True when SendGrid certainly did not accept the message. */
  readonly definitelyNotSent: boolean;
}

/** Base of SendGrid v3 `mail/send` failures; operation "sendgrid:mail.send". */
export abstract class SendGridServiceError extends DigestError {
  readonly operation = "sendgrid:mail.send";
  readonly httpStatus?: number;
  readonly fields: readonly string[];
  readonly definitelyNotSent: boolean;
  protected constructor(safeMessage: string, d: SendGridErrorDetails, retryable: boolean) {
    const extra = [d.httpStatus !== undefined && `HTTP ${d.httpStatus}`, d.fields?.length && `fields ${d.fields.join(", ")}`].filter(Boolean).join(", ");
    super(`sendgrid:mail.send on ${d.recipient}: ${safeMessage}${extra ? ` (${extra})` : ""}`, d.recipient, retryable);
    this.httpStatus = d.httpStatus;
    this.fields = d.fields ?? [];
    this.definitelyNotSent = d.definitelyNotSent;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), operation: this.operation, httpStatus: this.httpStatus, ...(this.fields.length ? { fields: this.fields } : {}) };
  }
}

export class SendGridUnauthorizedError extends SendGridServiceError {
  readonly code = "SENDGRID_UNAUTHORIZED" as const;
  constructor(d: Omit<SendGridErrorDetails, "definitelyNotSent">) {
    super("SendGrid did not accept the API key (missing, invalid, expired or revoked)", { ...d, definitelyNotSent: true }, false);
    this.name = "SendGridUnauthorizedError";
  }
}

export class SendGridForbiddenError extends SendGridServiceError {
  readonly code = "SENDGRID_FORBIDDEN" as const;
  constructor(d: Omit<SendGridErrorDetails, "definitelyNotSent">) {
    super("SendGrid refused the send (sender identity not verified, key lacks mail.send, or account blocked)", { ...d, definitelyNotSent: true }, false);
    this.name = "SendGridForbiddenError";
  }
}

export class SendGridRejectedError extends SendGridServiceError {
  readonly code = "SENDGRID_REJECTED" as const;
  constructor(d: Omit<SendGridErrorDetails, "definitelyNotSent">) {
    super("SendGrid rejected the request as invalid", { ...d, definitelyNotSent: true }, false);
    this.name = "SendGridRejectedError";
  }
}

export class SendGridThrottledError extends SendGridServiceError {
  readonly code = "SENDGRID_THROTTLED" as const;
  /** From X-RateLimit-Reset: how long until the limit resets, when SendGrid said. */
  readonly retryAfterMs?: number;
  constructor(d: Omit<SendGridErrorDetails, "definitelyNotSent">, retryAfterMs?: number) {
    super("SendGrid rate limit reached; slow down and retry", { ...d, definitelyNotSent: true }, true);
    this.name = "SendGridThrottledError";
    this.retryAfterMs = retryAfterMs;
  }
}

/** A 5xx answer: SendGrid may or may not have queued the message. */
export class SendGridUnavailableError extends SendGridServiceError {
  readonly code = "SENDGRID_UNAVAILABLE" as const;
  constructor(d: Omit<SendGridErrorDetails, "definitelyNotSent">) {
    super("SendGrid failed internally or is unavailable; the outcome is unknown", { ...d, definitelyNotSent: false }, true);
    this.name = "SendGridUnavailableError";
  }
}

export class SendGridTimeoutError extends SendGridServiceError {
  readonly code = "SENDGRID_TIMEOUT" as const;
  constructor(recipient: string, written: boolean, timeoutMs: number) {
    super(
      written ? `no answer within ${timeoutMs} ms after the request was written; the outcome is unknown` : `could not connect within ${timeoutMs} ms; nothing was sent`,
      { recipient, definitelyNotSent: !written },
      true,
    );
    this.name = "SendGridTimeoutError";
  }
}

export class SendGridNetworkError extends SendGridServiceError {
  readonly code = "SENDGRID_NETWORK" as const;
  /** The socket error code (ECONNREFUSED, ECONNRESET ...). */
  readonly socketCode?: string;
  constructor(recipient: string, written: boolean, socketCode?: string) {
    super(
      written ? "the connection failed after the request was written; the outcome is unknown" : "the connection failed before the request was written; nothing was sent",
      { recipient, definitelyNotSent: !written },
      true,
    );
    this.name = "SendGridNetworkError";
    this.socketCode = socketCode;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), socketCode: this.socketCode };
  }
}

/** The delivery ledger could not be read or written, so the recipient was not sent (exactly-once first). */
export class LedgerUnavailableError extends DigestError {
  readonly code = "LEDGER_UNAVAILABLE" as const;
  readonly definitelyNotSent = true;
  readonly causeCode: string;
  readonly awsCode?: string;
  readonly requestId?: string;
  constructor(recipient: string, cause: DigestError) {
    super(`Delivery to ${recipient} not attempted: the delivery ledger is unavailable (${cause.code})`, recipient, cause.retryable);
    this.name = "LedgerUnavailableError";
    this.causeCode = cause.code;
    if (cause instanceof AwsServiceError) {
      this.awsCode = cause.awsCode;
      this.requestId = cause.requestId;
    }
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), causeCode: this.causeCode, awsCode: this.awsCode, requestId: this.requestId };
  }
}

/** Another run took this recipient's ledger claim over (ours expired) before we sent: not sent by us. */
export class LedgerClaimLostError extends DigestError {
  readonly code = "LEDGER_CLAIM_LOST" as const;
  readonly definitelyNotSent = true;
  constructor(recipient: string) {
    super(`Delivery to ${recipient} not attempted: the ledger claim expired and another run took it over`, recipient, false);
    this.name = "LedgerClaimLostError";
  }
}

/** True when `err` says the provider certainly did not accept the message (safe to send elsewhere or later). */
export function isDefinitelyNotSent(err: unknown): boolean {
  if (typeof err !== "object" || err === null || !("definitelyNotSent" in err)) return false;
  return (err as { definitelyNotSent?: unknown }).definitelyNotSent === true;
}

/** True for a provider's "slow down" answer (SES Throttling, SendGrid 429). */
export function isThrottled(err: unknown): boolean {
  return err instanceof DigestError && (err.code === "AWS_THROTTLED" || err.code === "SENDGRID_THROTTLED");
}

/** The provider a failure came from, read from its operation ("ses:...", "sendgrid:..."). */
export function providerOfError(err: unknown): string | undefined {
  if (err instanceof ProviderSetupError) return undefined;
  const op = typeof err === "object" && err !== null && "operation" in err ? (err as { operation?: unknown }).operation : undefined;
  return typeof op === "string" ? op.split(":")[0] : undefined;
}

/** The command line was used wrongly. */
export class UsageError extends DigestError {
  readonly code = "USAGE" as const;
  constructor(detail: string) {
    super(detail, "cli", false);
    this.name = "UsageError";
  }
}

/** Shape of an AWS SDK v3 service exception, read defensively. */
interface SdkErrorLike {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown; requestId?: unknown };
  $fault?: unknown;
}

/** Socket errors raised before a request could be written (DNS, refused, unreachable). */
const CONNECT_PHASE_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"]);

/**
 * Maps an AWS SDK error to one of the classes above. Reads only the error code, status,
 * request id and (for SES's overloaded `MessageRejected`/`Throttling`) classifies the
 * message text without copying it.
 */
export function mapAwsError(err: unknown, operation: string, resource: string): DigestError {
  if (err instanceof DigestError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as SdkErrorLike;
  const awsCode = typeof e.Code === "string" ? e.Code : typeof e.name === "string" ? e.name : undefined;
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  const requestId = typeof e.$metadata?.requestId === "string" ? e.$metadata.requestId : undefined;
  const text = typeof e.message === "string" ? e.message.toLowerCase() : "";
  // A connection that never got established carried no request: nothing can have been sent.
  const socketCode = typeof e.code === "string" ? e.code : undefined;
  const connectPhase =
    status === undefined &&
    ((socketCode !== undefined && CONNECT_PHASE_CODES.has(socketCode)) || (awsCode === "TimeoutError" && /did not establish a connection|without establishing a connection/.test(text)));
  const d: AwsErrorDetails = { operation, resource, awsCode, requestId, httpStatus: status, ...(connectPhase ? { definitelyNotSent: true } : {}) };
  // KMS denials surface through SSM with prefixed codes (e.g. "KMS.AccessDeniedException").
  if (awsCode && /AccessDenied/.test(awsCode)) return new AccessDeniedError(d);
  switch (awsCode) {
    case "AccessDenied":
    case "AccessDeniedException":
    case "UnauthorizedOperation":
      return new AccessDeniedError(d);
    case "ParameterNotFound":
    case "ParameterVersionNotFound":
      return new ParameterNotFoundError(d);
    case "InvalidParameterValue":
    case "InvalidParameterValueException":
    case "ValidationError":
    case "ValidationException":
    case "InvalidKeyId":
    case "InvalidFilterKey":
      return new InvalidValueError(d);
    case "Throttling":
    case "ThrottlingException":
    case "ThrottledException":
    case "TooManyRequestsException":
    case "RequestLimitExceeded":
      if (text.includes("daily message quota")) return new QuotaExceededError(d);
      return new ThrottledError(d);
    case "UnrecognizedClientException":
    case "InvalidClientTokenId":
    case "SignatureDoesNotMatch":
    case "ExpiredToken":
    case "ExpiredTokenException":
    case "InvalidAccessKeyId":
      return new CredentialsInvalidError(d);
    case "CredentialsProviderError":
    case "ProviderError":
      return new CredentialsMissingError(d);
    case "AccountSendingPausedException":
    case "ConfigurationSetSendingPausedException":
      return new SendingPausedError(d);
    case "MailFromDomainNotVerifiedException":
    case "MailFromDomainNotVerified":
      return new SenderNotVerifiedError(d);
    case "ConfigurationSetDoesNotExistException":
    case "ConfigurationSetDoesNotExist":
      return new ConfigurationSetMissingError(d);
    case "MessageRejected":
      if (/not verified|did not have authority|not authorized to send/.test(text)) return new SenderNotVerifiedError(d);
      if (/sending (is )?(paused|suspended)|account (is )?(paused|suspended)/.test(text)) return new SendingPausedError(d);
      return new MessageRejectedError(d);
    case "ServiceUnavailable":
    case "ServiceUnavailableException":
    case "InternalFailure":
    case "InternalServerError":
    case "InternalServerErrorException":
      return new AwsUnavailableError(d);
    default:
      if (status === undefined || status >= 500) return new AwsUnavailableError(d);
      return new AwsError(d);
  }
}
