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
  | "AWS_UNAVAILABLE"
  | "AWS_ERROR"
  | "SES_SENDING_PAUSED"
  | "SES_SENDER_NOT_VERIFIED"
  | "SES_MESSAGE_REJECTED"
  | "SES_CONFIGURATION_SET_MISSING"
  | "SES_QUOTA_EXCEEDED"
  | "FEED_HTTP_STATUS"
  | "FEED_TIMEOUT"
  | "FEED_TOO_LARGE"
  | "FEED_PARSE_FAILED"
  | "FEED_FETCH_FAILED"
  | "DELIVERY_FAILED"
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
    this.definitelyNotSent = d.httpStatus !== undefined && d.httpStatus >= 400 && d.httpStatus < 500;
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

/** One feed could not be used; the digest goes on without it. */
export class FeedError extends DigestError {
  constructor(
    readonly code: "FEED_HTTP_STATUS" | "FEED_TIMEOUT" | "FEED_TOO_LARGE" | "FEED_PARSE_FAILED" | "FEED_FETCH_FAILED",
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
  Code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown; requestId?: unknown };
  $fault?: unknown;
}

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
  const d: AwsErrorDetails = { operation, resource, awsCode, requestId, httpStatus: status };
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
    case "CredentialsProviderError":
      return new CredentialsInvalidError(d);
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
