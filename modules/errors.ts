/**
 * The one error class that constructs throw when their props are invalid. Its `code` is
 * stable (tests and callers match on it), `constructPath` says where, `bound` says which
 * rule was broken. A message names the prop or parameter, never its value: a value could
 * be a secret that a caller passed by mistake.
 */
export type ConfigErrorCode =
  | "PARAMETER_ROOT_INVALID"
  | "EMAIL_ADDRESS_INVALID"
  | "DOMAIN_INVALID"
  | "REGION_INVALID"
  | "PERCENT_OUT_OF_RANGE"
  | "FEEDS_INVALID"
  | "URL_INVALID"
  | "SECRET_VALUE_REJECTED"
  | "VALUE_INVALID"
  | "NAME_INVALID"
  | "THRESHOLD_INVALID"
  | "SCHEDULE_INVALID"
  | "NETWORK_INVALID"
  | "POLICY_EMPTY"
  | "STAGE_INVALID";

export class ConfigError extends Error {
  constructor(
    readonly code: ConfigErrorCode,
    readonly constructPath: string,
    /** The prop or parameter concerned (a name, never a value). */
    readonly subject: string,
    /** The rule that was violated, e.g. "0..100" or "an absolute path". */
    readonly bound: string,
  ) {
    super(`${code}: ${constructPath}: ${subject} must be ${bound}`);
    this.name = "ConfigError";
  }
}
