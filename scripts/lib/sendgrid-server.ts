/**
 * A local SendGrid v3 `POST /v3/mail/send` emulator on 127.0.0.1, for the tests and the
 * local run (never the internet). It checks a request the way SendGrid's API reference
 * documents it and answers with SendGrid's status codes and error body shape:
 *
 *   202 Accepted, empty body, X-Message-Id          the message is recorded in `accepted`
 *   400 {"errors":[{"message","field","help"}]}     invalid JSON or a field that breaks a rule
 *   401                                              no/unknown Bearer API key
 *   403                                              the from address is not a verified sender
 *   405 / 404                                        wrong method / path
 *   413                                              body over 30 MB
 *   429 + X-RateLimit-Limit/-Remaining/-Reset        over the configured rate limit
 *
 * Besides mail/send, the few key-management endpoints an operator's key rotation uses
 * (`npm run rotate -- sendgrid-key`), with SendGrid's shapes:
 *
 *   GET    /v3/scopes             200 {"scopes":[...]} of the Bearer key; 401 for an unknown key
 *   POST   /v3/api_keys           201 {"api_key","api_key_id","name","scopes"}: a new key the
 *                                 emulator then accepts (the caller needs api_keys.create)
 *   DELETE /v3/api_keys/{id}      204: that key is refused from then on (api_keys.delete)
 *
 * Rules: personalizations (1..1000), each with `to` (1..1000 valid addresses); from.email;
 * subject (string, or a subject in every personalization); content (1+ blocks, each type and
 * a non-empty string value; text/plain first, then text/html); headers and custom_args with
 * string values, no reserved header. Tests can script failures per request (status, delay,
 * accept-then-hang for an ambiguous outcome, connection reset).
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

/** One message the emulator accepted (202). */
export interface SendGridAccepted {
  readonly messageId: string;
  readonly to: string[];
  readonly from: string;
  readonly subject: string;
  readonly content: { type: string; value: string }[];
  readonly headers: Record<string, string>;
  readonly customArgs: Record<string, string>;
  readonly receivedAt: number;
}

export interface SendGridError {
  readonly message: string;
  readonly field: string | null;
  readonly help: string | null;
}

/** What a scripted failure does instead of the normal answer. */
export type SendGridFault =
  | { readonly kind: "status"; readonly status: number; readonly errors?: SendGridError[]; readonly headers?: Record<string, string> }
  /** Read the request, then never answer (the client times out before anything is recorded). */
  | { readonly kind: "hang" }
  /** Accept and record the message, then never answer: the ambiguous outcome. */
  | { readonly kind: "accept-then-hang" }
  /** Accept and record, then answer 500 (SendGrid did queue it). */
  | { readonly kind: "accept-then-500" }
  /** Destroy the connection after reading the request. */
  | { readonly kind: "reset" }
  /** Answer normally after a delay. */
  | { readonly kind: "delay"; readonly ms: number };

export interface SendGridRule {
  /** Which requests it applies to (by first `to` address). @default - every request */
  readonly to?: string | RegExp;
  /** How many times it applies. @default Infinity */
  readonly times?: number;
  readonly fault: SendGridFault;
}

export interface SendGridServerOptions {
  /** API keys the emulator accepts. @default - any key that starts with "SG." */
  readonly apiKeys?: readonly string[];
  /** Verified sender addresses. @default - every sender is verified */
  readonly verifiedSenders?: readonly string[];
  /** Requests allowed per window before 429. @default - no limit */
  readonly rateLimit?: { readonly limit: number; readonly windowMs: number };
  /** Hard cap on how long a hanging answer is held before the socket is closed. @default 60000 */
  readonly maxHangMs?: number;
  /**
   * Scopes of particular keys (GET /v3/scopes answers them; api_keys.create/delete gate the
   * key endpoints). @default - every accepted key has {@link SENDGRID_DEFAULT_SCOPES}
   */
  readonly keyScopes?: Readonly<Record<string, readonly string[]>>;
}

/** Scopes of an accepted key unless `keyScopes` says otherwise (a full-access key's relevant ones). */
export const SENDGRID_DEFAULT_SCOPES: readonly string[] = ["api_keys.create", "api_keys.delete", "api_keys.read", "mail.send", "scopes.read"];

/** One request the emulator saw (any outcome). */
export interface SendGridRequestLog {
  readonly method: string;
  readonly path: string;
  readonly status: number | "hang" | "reset";
  readonly to?: string;
}

export interface SendGridServer {
  readonly url: string;
  readonly accepted: SendGridAccepted[];
  readonly requests: SendGridRequestLog[];
  /** Adds a scripted fault (first matching rule wins). */
  inject(rule: SendGridRule): void;
  /** Drops the scripted faults. */
  clearFaults(): void;
  /** Messages accepted for `address` (case-insensitive). */
  acceptedFor(address: string): SendGridAccepted[];
  /** Whether the emulator accepts `key` now (configured or created, and not revoked). */
  accepts(key: string): boolean;
  close(): Promise<void>;
}

const HELP = "https://docs.sendgrid.com/api-reference/mail-send/errors";
const MAX_BODY = 30 * 1024 * 1024;
const RESERVED_HEADERS = new Set(["x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"]);
// Deliberately simple, like a provider-side syntax check: one @, a dotted domain.
const EMAIL = /^[^\s@"<>]+@[^\s@"<>]+\.[A-Za-z]{2,63}$/;

const err = (message: string, field: string | null, help: string | null = HELP): SendGridError => ({ message, field, help });

/** Checks a mail/send body; returns SendGrid-style errors (empty when valid). */
export function validateMailSend(body: unknown): SendGridError[] {
  const errors: SendGridError[] = [];
  if (typeof body !== "object" || body === null || Array.isArray(body)) return [err("Bad Request", null, null)];
  const b = body as Record<string, unknown>;
  const pers = b.personalizations;
  if (!Array.isArray(pers) || pers.length === 0) {
    errors.push(err("The personalizations field is required and must have at least one personalization.", "personalizations"));
  } else if (pers.length > 1000) {
    errors.push(err("The personalizations field must have at most 1000 personalizations.", "personalizations"));
  } else {
    pers.forEach((p, i) => {
      const to = (p as { to?: unknown })?.to;
      if (!Array.isArray(to) || to.length === 0 || to.length > 1000) {
        errors.push(err("The to array is required for all personalization objects, and must have at least one email object with a valid email address.", `personalizations.${i}.to`));
        return;
      }
      to.forEach((t, j) => {
        const email = (t as { email?: unknown })?.email;
        if (typeof email !== "string" || !EMAIL.test(email)) errors.push(err("Does not contain a valid address.", `personalizations.${i}.to.${j}.email`));
      });
    });
  }
  const from = b.from as { email?: unknown } | undefined;
  if (typeof from !== "object" || from === null || from.email === undefined) {
    errors.push(err("The from object must be provided for every email send. It is an object that requires an email parameter, but may also contain a name parameter.", "from"));
  } else if (typeof from.email !== "string" || !EMAIL.test(from.email)) {
    errors.push(err("The from email does not contain a valid address.", "from.email"));
  }
  const everyHasSubject = Array.isArray(pers) && pers.length > 0 && pers.every((p) => typeof (p as { subject?: unknown })?.subject === "string");
  if (!(typeof b.subject === "string" && b.subject.length > 0) && !everyHasSubject) {
    errors.push(err("The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.", "subject"));
  }
  const content = b.content;
  if (!Array.isArray(content) || content.length === 0) {
    errors.push(err("Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.", "content"));
  } else {
    content.forEach((c, i) => {
      const block = c as { type?: unknown; value?: unknown };
      if (typeof block?.type !== "string" || block.type.length === 0) errors.push(err("The content type cannot contain ';', or CRLF characters and must be at least one character.", `content.${i}.type`));
      if (typeof block?.value !== "string" || block.value.length === 0) errors.push(err("The content value must be a string at least one character in length.", `content.${i}.value`));
    });
    const types = content.map((c) => (c as { type?: unknown })?.type);
    const plain = types.indexOf("text/plain");
    const html = types.indexOf("text/html");
    if (plain > 0 || (html >= 0 && html !== (plain === 0 ? 1 : 0))) {
      errors.push(err("If present, text/plain content must be first, followed by text/html, followed by any other content.", "content"));
    }
  }
  if (b.headers !== undefined) {
    const h = b.headers as Record<string, unknown>;
    if (typeof h !== "object" || h === null || Array.isArray(h)) errors.push(err("Invalid type. Expected: object, given: " + typeof h + ".", "headers"));
    else {
      for (const [k, v] of Object.entries(h)) {
        if (typeof v !== "string") errors.push(err("Invalid type. Expected: string.", `headers.${k}`));
        if (RESERVED_HEADERS.has(k.toLowerCase())) errors.push(err(`The header ${k} is reserved and cannot be set in headers.`, "headers"));
      }
    }
  }
  if (b.custom_args !== undefined) {
    const a = b.custom_args as Record<string, unknown>;
    if (typeof a !== "object" || a === null || Array.isArray(a) || !Object.values(a).every((v) => typeof v === "string")) {
      errors.push(err("Invalid type. Expected: string values in custom_args.", "custom_args"));
    }
  }
  return errors;
}

/** SendGrid message ids are 22 URL-safe base64 characters. */
function messageId(): string {
  return randomBytes(16).toString("base64url").slice(0, 22);
}

/** Starts the emulator on a free loopback port. */
export async function startSendGridServer(opts: SendGridServerOptions = {}): Promise<SendGridServer> {
  const accepted: SendGridAccepted[] = [];
  const requests: SendGridRequestLog[] = [];
  const rules: { rule: SendGridRule; left: number }[] = [];
  const window: number[] = [];
  const hanging = new Set<{ timer: NodeJS.Timeout; res: http.ServerResponse }>();
  const maxHang = opts.maxHangMs ?? 60_000;

  const json = (res: http.ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
    const text = body === undefined ? "" : JSON.stringify(body);
    res.writeHead(status, { ...(text ? { "content-type": "application/json" } : {}), "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  const hang = (res: http.ServerResponse) => {
    const h = {
      res,
      timer: setTimeout(() => {
        hanging.delete(h);
        res.destroy();
      }, maxHang),
    };
    hanging.add(h);
  };

  // Keys created through POST /v3/api_keys (id -> key and scopes) and keys revoked since.
  const created = new Map<string, { key: string; name: string; scopes: readonly string[] }>();
  const revoked = new Set<string>();
  const accepts = (key: string): boolean =>
    !revoked.has(key) && ([...created.values()].some((c) => c.key === key) || (opts.apiKeys ? opts.apiKeys.includes(key) : key.startsWith("SG.")));
  const scopesOf = (key: string): readonly string[] =>
    [...created.values()].find((c) => c.key === key)?.scopes ?? opts.keyScopes?.[key] ?? SENDGRID_DEFAULT_SCOPES;

  /** GET /v3/scopes, POST /v3/api_keys, DELETE /v3/api_keys/{id}. */
  const keyEndpoint = (req: http.IncomingMessage, res: http.ServerResponse, path: string, log: (status: number) => void): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    req.on("end", () => {
      const key = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
      if (!key || !accepts(key)) {
        log(401);
        return json(res, 401, { errors: [err("The provided authorization grant is invalid, expired, or revoked", null, null)] });
      }
      const scopes = scopesOf(key);
      const need = (scope: string): boolean => {
        if (scopes.includes(scope)) return true;
        log(403);
        json(res, 403, { errors: [err(`access forbidden: the key lacks ${scope}`, null, null)] });
        return false;
      };
      if (path === "/v3/scopes" && req.method === "GET") {
        log(200);
        return json(res, 200, { scopes: [...scopes] });
      }
      if (path === "/v3/api_keys" && req.method === "POST") {
        if (!need("api_keys.create")) return;
        let body: { name?: unknown; scopes?: unknown } = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as typeof body;
        } catch {
          log(400);
          return json(res, 400, { errors: [err("Bad Request", null, null)] });
        }
        if (typeof body.name !== "string" || body.name.length === 0 || body.name.length > 100) {
          log(400);
          return json(res, 400, { errors: [err("missing required argument", "name")] });
        }
        if (body.scopes !== undefined && (!Array.isArray(body.scopes) || !body.scopes.every((x) => typeof x === "string"))) {
          log(400);
          return json(res, 400, { errors: [err("scopes must be an array of strings", "scopes")] });
        }
        const id = randomBytes(16).toString("base64url").slice(0, 22);
        const newKey = `SG.${id}.${randomBytes(32).toString("base64url").slice(0, 43)}`;
        const granted = (body.scopes as string[] | undefined) ?? [...SENDGRID_DEFAULT_SCOPES];
        created.set(id, { key: newKey, name: body.name, scopes: granted });
        log(201);
        return json(res, 201, { api_key: newKey, api_key_id: id, name: body.name, scopes: granted });
      }
      const del = /^\/v3\/api_keys\/([A-Za-z0-9_-]+)$/.exec(path);
      if (del && req.method === "DELETE") {
        if (!need("api_keys.delete")) return;
        const c = created.get(del[1]!);
        if (!c) {
          log(404);
          return json(res, 404, { errors: [err("unable to find API Key", "api_key_id")] });
        }
        revoked.add(c.key);
        created.delete(del[1]!);
        log(204);
        res.writeHead(204);
        return void res.end();
      }
      log(405);
      return json(res, 405, { errors: [err("method not allowed", null, null)] });
    });
  };

  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const log = (status: SendGridRequestLog["status"], to?: string) => requests.push({ method: req.method ?? "", path, status, ...(to ? { to } : {}) });
    if (path === "/v3/scopes" || path === "/v3/api_keys" || path.startsWith("/v3/api_keys/")) return keyEndpoint(req, res, path, log);
    if (path !== "/v3/mail/send") {
      log(404);
      return json(res, 404, { errors: [err("resource not found", null, null)] });
    }
    if (req.method !== "POST") {
      log(405);
      return json(res, 405, { errors: [err("method not allowed", null, null)] });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooLarge = true;
      else chunks.push(c);
    });
    req.on("end", () => {
      if (tooLarge) {
        log(413);
        return json(res, 413, { errors: [err("The JSON payload you have included in your request is too large.", null, null)] });
      }
      const auth = req.headers.authorization ?? "";
      const m = /^Bearer (\S+)$/.exec(auth);
      if (!m) {
        log(401);
        return json(res, 401, { errors: [err("authorization required", null, null)] });
      }
      const key = m[1];
      if (!accepts(key)) {
        log(401);
        return json(res, 401, { errors: [err("The provided authorization grant is invalid, expired, or revoked", null, null)] });
      }
      if (opts.rateLimit) {
        const now = Date.now();
        while (window.length && window[0] <= now - opts.rateLimit.windowMs) window.shift();
        if (window.length >= opts.rateLimit.limit) {
          log(429);
          const reset = Math.ceil((window[0] + opts.rateLimit.windowMs) / 1000);
          return json(res, 429, { errors: [err("too many requests", null, null)] }, { "X-RateLimit-Limit": String(opts.rateLimit.limit), "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": String(reset) });
        }
        window.push(now);
      }
      if (!/^application\/json\b/i.test(req.headers["content-type"] ?? "")) {
        log(400);
        return json(res, 400, { errors: [err("Content-Type should be application/json.", null, null)] });
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
      } catch {
        log(400);
        return json(res, 400, { errors: [err("Bad Request", null, null)] });
      }
      const errors = validateMailSend(body);
      const to = ((body.personalizations as { to?: { email?: string }[] }[] | undefined)?.[0]?.to?.[0]?.email ?? "").toString();
      if (errors.length) {
        log(400, to);
        return json(res, 400, { errors });
      }
      const from = String((body.from as { email: string }).email);
      if (opts.verifiedSenders && !opts.verifiedSenders.map((s) => s.toLowerCase()).includes(from.toLowerCase())) {
        log(403, to);
        return json(res, 403, {
          errors: [err("The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the Sender Identity requirements", "from", null)],
        });
      }
      const record = (): SendGridAccepted => {
        const pers = body.personalizations as { to: { email: string }[]; subject?: string }[];
        const a: SendGridAccepted = {
          messageId: messageId(),
          to: pers.flatMap((p) => p.to.map((t) => t.email)),
          from,
          subject: typeof body.subject === "string" ? body.subject : (pers[0].subject ?? ""),
          content: body.content as { type: string; value: string }[],
          headers: (body.headers as Record<string, string> | undefined) ?? {},
          customArgs: (body.custom_args as Record<string, string> | undefined) ?? {},
          receivedAt: Date.now(),
        };
        accepted.push(a);
        return a;
      };
      const accept = () => {
        const a = record();
        log(202, to);
        json(res, 202, undefined, { "X-Message-Id": a.messageId });
      };

      const i = rules.findIndex(({ rule, left }) => left > 0 && (rule.to === undefined || (typeof rule.to === "string" ? rule.to.toLowerCase() === to.toLowerCase() : rule.to.test(to))));
      if (i < 0) return accept();
      rules[i].left--;
      const fault = rules[i].rule.fault;
      switch (fault.kind) {
        case "status":
          log(fault.status, to);
          return json(res, fault.status, { errors: fault.errors ?? [err(fault.status >= 500 ? "internal server error" : "scripted failure", null, null)] }, fault.headers);
        case "hang":
          log("hang", to);
          return hang(res);
        case "accept-then-hang":
          record();
          log("hang", to);
          return hang(res);
        case "accept-then-500":
          record();
          log(500, to);
          return json(res, 500, { errors: [err("internal server error", null, null)] });
        case "reset":
          log("reset", to);
          return req.socket.destroy();
        case "delay": {
          const h = {
            res,
            timer: setTimeout(() => {
              hanging.delete(h);
              if (!res.destroyed) accept();
            }, Math.min(fault.ms, maxHang)),
          };
          hanging.add(h);
          return;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accepted,
    requests,
    inject: (rule) => void rules.push({ rule, left: rule.times ?? Infinity }),
    clearFaults: () => void rules.splice(0),
    acceptedFor: (address) => accepted.filter((a) => a.to.some((t) => t.toLowerCase() === address.toLowerCase())),
    accepts,
    close: async () => {
      for (const h of hanging) {
        clearTimeout(h.timer);
        h.res.destroy();
      }
      hanging.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
