import { inspect } from "node:util";

const REDACTED = "[redacted]";

/**
 * Holds a secret value so that logging, JSON-serialising, string-interpolating or
 * `util.inspect`-ing it shows `[redacted]`. The value lives in a private field (not
 * enumerable, not shown by inspect) and is read only through {@link Secret.reveal}.
 */
export class Secret {
  #value: string | undefined;

  constructor(value: string) {
    this.#value = value;
  }

  /** The value, for the one call that needs it (building AWS credentials, an auth header). */
  reveal(): string {
    if (this.#value === undefined) throw new Error("Secret was cleared");
    return this.#value;
  }

  /** Drops the reference to the value. */
  clear(): void {
    this.#value = undefined;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED})`;
  }
}
