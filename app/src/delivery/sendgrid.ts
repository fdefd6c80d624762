/**
 * SendGrid v3 `POST /v3/mail/send` provider (the migration's fallback). One request per
 * recipient: a personalization with one `to`, text/plain then text/html content, the
 * List-Unsubscribe headers and the run tags as custom_args. 202 is success (the message id
 * is the X-Message-Id header). Failures map to coded errors that keep the status and the
 * error body's field names, never its messages or the key.
 *
 * Plain node:http(s) rather than fetch so the provider knows whether the request was
 * written before a failure: a timeout or reset after that point is ambiguous (the ledger
 * records `unknown`), before it nothing was sent.
 */
import http from "node:http";
import https from "node:https";
import { SENDGRID_DEFAULT_BASE_URL } from "../contract";
import {
  DigestError,
  SendGridForbiddenError,
  SendGridNetworkError,
  SendGridRejectedError,
  SendGridThrottledError,
  SendGridTimeoutError,
  SendGridUnauthorizedError,
  SendInterruptedError,
  SendGridUnavailableError,
} from "../errors";
import type { Logger } from "../log";
import type { Secret } from "../secret";
import type { DeliveryProvider, DigestMessage, SendLimits, SendReceipt } from "./provider";

export interface SendGridProviderOptions {
  /** API root. @default "https://api.sendgrid.com" */
  readonly baseUrl?: string;
  /** Whole-request timeout (connect, write, answer). @default 15000 */
  readonly timeoutMs?: number;
  /** Sends per second this run allows itself through SendGrid. @default 10 */
  readonly maxPerSecond?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
  /** The run's stop, checked again right before the request leaves (see SesProviderOptions). @default - none */
  readonly signal?: AbortSignal;
}

/** Headers SendGrid does not let a sender set (its docs' reserved list). */
const RESERVED_HEADERS = new Set(["x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"]);
const MAX_ANSWER_BYTES = 64 * 1024;

/** The JSON body of one send (exported for tests and the emulator's fixtures). */
export function mailSendBody(m: DigestMessage): Record<string, unknown> {
  const headers = Object.fromEntries(Object.entries(m.headers).filter(([k]) => !RESERVED_HEADERS.has(k.toLowerCase())));
  return {
    personalizations: [{ to: [{ email: m.to }] }],
    from: { email: m.from, ...(m.fromName ? { name: m.fromName } : {}) },
    subject: m.subject,
    // SendGrid requires text/plain first, then text/html.
    content: [
      { type: "text/plain", value: m.text },
      { type: "text/html", value: m.html },
    ],
    ...(Object.keys(headers).length ? { headers } : {}),
    ...(Object.keys(m.tags).length ? { custom_args: { ...m.tags } } : {}),
  };
}

export class SendGridProvider implements DeliveryProvider {
  readonly name = "sendgrid";
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(
    private readonly apiKey: Secret,
    private readonly opts: SendGridProviderOptions = {},
  ) {
    this.url = new URL("/v3/mail/send", opts.baseUrl ?? SENDGRID_DEFAULT_BASE_URL);
    if (this.url.protocol !== "https:" && this.url.protocol !== "http:") throw new Error("SendGrid base URL must be http(s)");
    // Idle kept-alive sockets are dropped after 4 s, before a server's idle timeout (5 s for
    // Node's http servers) can close one under a new request: that race looks like a
    // connection reset after the request was written, an `unknown` outcome.
    const agentOptions = { keepAlive: true, maxSockets: 16, timeout: 4000 };
    this.agent = this.url.protocol === "https:" ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.now = opts.now ?? Date.now;
  }

  async limits(): Promise<SendLimits> {
    return { maxPerSecond: this.opts.maxPerSecond ?? 10, remaining24h: Infinity };
  }

  async send(m: DigestMessage): Promise<SendReceipt> {
    const body = Buffer.from(JSON.stringify(mailSendBody(m)), "utf8");
    if (this.opts.signal?.aborted) throw new SendInterruptedError(m.to);
    const answer = await this.post(m.to, body);
    if (answer.status === 202 || answer.status === 200) {
      const messageId = answer.messageId;
      if (!messageId) throw new SendGridUnavailableError({ recipient: m.to, httpStatus: answer.status });
      this.opts.logger?.info({ provider: this.name, recipient: m.to, messageId }, "SendGrid accepted the message");
      return { messageId };
    }
    throw this.mapAnswer(m.to, answer);
  }

  /** Closes kept-alive sockets. */
  async close(): Promise<void> {
    this.agent.destroy();
  }

  private mapAnswer(recipient: string, a: Answer): DigestError {
    const d = { recipient, httpStatus: a.status, fields: a.fields };
    if (a.status === 401) return new SendGridUnauthorizedError(d);
    if (a.status === 403) return new SendGridForbiddenError(d);
    if (a.status === 429) return new SendGridThrottledError(d, retryAfter(a.rateLimitReset, this.now()));
    if (a.status >= 500) return new SendGridUnavailableError(d);
    return new SendGridRejectedError(d);
  }

  private post(recipient: string, body: Buffer): Promise<Answer> {
    const lib = this.url.protocol === "https:" ? https : http;
    return new Promise<Answer>((resolve, reject) => {
      let written = false;
      let settled = false;
      const done = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const req = lib.request(this.url, {
        method: "POST",
        agent: this.agent,
        headers: {
          authorization: `Bearer ${this.apiKey.reveal()}`,
          "content-type": "application/json",
          "content-length": body.length,
          accept: "application/json",
          "user-agent": "vibe-digest",
        },
      });
      const timer = setTimeout(() => {
        done(() => reject(new SendGridTimeoutError(recipient, written, this.timeoutMs)));
        req.destroy();
      }, this.timeoutMs);
      req.on("finish", () => {
        written = true;
      });
      req.on("error", (err: NodeJS.ErrnoException) => done(() => reject(new SendGridNetworkError(recipient, written, typeof err.code === "string" ? err.code : undefined))));
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(c);
        });
        res.on("error", () => done(() => reject(new SendGridNetworkError(recipient, true, "ERESPONSE"))));
        res.on("end", () =>
          done(() =>
            resolve({
              status: res.statusCode ?? 0,
              messageId: headerValue(res.headers["x-message-id"]),
              rateLimitReset: headerValue(res.headers["x-ratelimit-reset"]),
              fields: errorFields(Buffer.concat(chunks).toString("utf8")),
            }),
          ),
        );
      });
      req.end(body);
    });
  }
}

interface Answer {
  readonly status: number;
  readonly messageId?: string;
  readonly rateLimitReset?: string;
  readonly fields: string[];
}

function headerValue(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.trim() !== "" ? s.trim() : undefined;
}

/** `errors[].field` of an error body: names like "from.email" (the messages may echo values: dropped). */
function errorFields(text: string): string[] {
  try {
    const o = JSON.parse(text) as { errors?: { field?: unknown }[] };
    if (!Array.isArray(o.errors)) return [];
    return o.errors
      .map((e) => e?.field)
      .filter((f): f is string => typeof f === "string" && /^[A-Za-z0-9_.[\]-]{1,80}$/.test(f))
      .slice(0, 10);
  } catch {
    return [];
  }
}

/**
 * X-RateLimit-Reset is the Unix time (seconds) when the window resets; a small number is
 * read as seconds from now, for proxies that send a delta.
 */
export function retryAfter(reset: string | undefined, nowMs: number): number | undefined {
  if (reset === undefined || !/^\d+(\.\d+)?$/.test(reset)) return undefined;
  const n = Number(reset);
  const ms = n >= 1_000_000_000 ? n * 1000 - nowMs : n * 1000;
  return Math.max(0, Math.ceil(ms));
}
