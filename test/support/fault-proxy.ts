/**
 * A deterministic, seeded fault-injecting HTTP proxy on 127.0.0.1, put in front of moto
 * (SES, DynamoDB, SSM) or the SendGrid emulator for the delivery fault tests.
 *
 * Each request is classified (SES action, DynamoDB operation, SendGrid send) and given an
 * identity: the recipient it concerns (SES Destinations, the DynamoDB key's recipient, the
 * SendGrid `to`) and how many requests of that kind and recipient came before. Whether a
 * rule's fault hits a request is a hash of (seed, rule, identity), never of arrival order,
 * so a run with the same seed meets the same faults however its requests interleave.
 *
 * Faults:
 *   throttle               answer the provider's "slow down" (SES Throttling, SendGrid 429,
 *                          DynamoDB ThrottlingException) without forwarding
 *   error-5xx              answer 5xx without forwarding (nothing happened upstream)
 *   error-5xx-after-forward forward, then answer 5xx instead of the real answer (it happened)
 *   reset-after-forward    forward, wait for the answer, then reset the client's connection
 *   drop-answer            forward, then never answer (the client times out)
 *   outage                 from the Nth matching request on, for `durationMs`, reset every
 *                          matching request without forwarding (an endpoint that is down)
 *
 * SES GetSendQuota answers can be rewritten (moto always says 1 send a second), and every
 * request can be held for a fixed latency before it is handled (a network round trip, for
 * the send-rate benchmark).
 */
import { createHash, randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { LEDGER } from "../../app/src/contract";

export type RequestKind =
  | "ses:SendRawEmail"
  | "ses:GetSendQuota"
  | "ses:other"
  | "dynamodb:UpdateItem"
  | "dynamodb:Query"
  | "dynamodb:GetItem"
  | "dynamodb:other"
  | "ssm"
  | "sendgrid:send"
  | "other";

export interface ClassifiedRequest {
  readonly kind: RequestKind;
  /** The recipient the request concerns, when it has one. */
  readonly recipient?: string;
}

export type FaultKind = "throttle" | "error-5xx" | "error-5xx-after-forward" | "reset-after-forward" | "drop-answer" | "outage";

export interface FaultRule {
  /** Which requests it may hit. */
  readonly on: RequestKind | readonly RequestKind[];
  readonly fault: FaultKind;
  /** Share of matching requests it hits (seeded per request identity). @default 1 */
  readonly rate?: number;
  /** For "outage": it starts at this matching request (0: the first) and lasts this long. */
  readonly outage?: { readonly afterRequests?: number; readonly durationMs: number };
}

export interface FaultProxyOptions {
  /** The upstream base URL (moto or the SendGrid emulator), loopback only. */
  readonly target: string;
  readonly seed: number;
  readonly rules?: readonly FaultRule[];
  /** Rewrites SES GetSendQuota answers. */
  readonly sesQuota?: { readonly maxSendRate: number; readonly max24HourSend: number };
  /** Every request waits this long before it is handled (faulted or forwarded). @default 0 */
  readonly latencyMs?: number;
}

export interface FaultProxy {
  readonly url: string;
  /** Faults injected so far, by "kind fault" (e.g. "ses:SendRawEmail throttle"). */
  readonly injected: Record<string, number>;
  /** Requests seen, by kind. */
  readonly seen: Record<string, number>;
  /** When each request of a provider send kind arrived (epoch ms), in order. */
  readonly sendArrivals: number[];
  /** When the outage rule's window opened and closed (epoch ms), once it has. */
  readonly outageWindow?: { readonly from: number; readonly to: number };
  /** Replaces the rules (a new scenario); occurrence counts start again. */
  setRules(rules: readonly FaultRule[]): void;
  close(): Promise<void>;
}

/** What a request is and whom it concerns, from its headers and body. */
export function classify(headers: http.IncomingHttpHeaders, path: string, body: string): ClassifiedRequest {
  const target = String(headers["x-amz-target"] ?? "");
  if (target.startsWith("DynamoDB_")) {
    const op = target.split(".")[1] ?? "";
    let recipient: string | undefined;
    try {
      const key = (JSON.parse(body) as { Key?: Record<string, { S?: string }> }).Key;
      recipient = key?.[LEDGER.sortKey]?.S;
    } catch {
      /* not JSON: no recipient */
    }
    const kind = op === "UpdateItem" || op === "Query" || op === "GetItem" ? (`dynamodb:${op}` as const) : "dynamodb:other";
    return { kind, ...(recipient ? { recipient } : {}) };
  }
  if (target.startsWith("AmazonSSM.")) return { kind: "ssm" };
  if (path.startsWith("/v3/mail/send")) {
    let recipient: string | undefined;
    try {
      recipient = (JSON.parse(body) as { personalizations?: { to?: { email?: string }[] }[] }).personalizations?.[0]?.to?.[0]?.email;
    } catch {
      /* no recipient */
    }
    return { kind: "sendgrid:send", ...(recipient ? { recipient: recipient.toLowerCase() } : {}) };
  }
  const form = new URLSearchParams(body);
  const action = form.get("Action");
  if (action === "SendRawEmail") return { kind: "ses:SendRawEmail", ...(form.get("Destinations.member.1") ? { recipient: form.get("Destinations.member.1")!.toLowerCase() } : {}) };
  if (action === "GetSendQuota") return { kind: "ses:GetSendQuota" };
  if (action) return { kind: "ses:other" };
  return { kind: "other" };
}

/** 0 <= x < 1 from the seed and a request's identity. */
export function seededUnit(seed: number, ...parts: (string | number)[]): number {
  return createHash("sha256").update([seed, ...parts].join("|")).digest().readUInt32BE(0) / 2 ** 32;
}

function throttleAnswer(kind: RequestKind): { status: number; headers: Record<string, string>; body: string } {
  if (kind.startsWith("ses:")) {
    return {
      status: 400,
      headers: { "content-type": "text/xml" },
      body: `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Maximum sending rate exceeded.</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
    };
  }
  if (kind === "sendgrid:send") {
    return { status: 429, headers: { "content-type": "application/json", "x-ratelimit-limit": "600", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "0" }, body: JSON.stringify({ errors: [{ message: "too many requests", field: null, help: null }] }) };
  }
  return { status: 400, headers: { "content-type": "application/x-amz-json-1.0" }, body: JSON.stringify({ __type: "com.amazonaws.dynamodb.v20120810#ThrottlingException", message: "Rate of requests exceeds the allowed throughput." }) };
}

function serverErrorAnswer(kind: RequestKind): { status: number; headers: Record<string, string>; body: string } {
  if (kind.startsWith("ses:")) {
    return { status: 503, headers: { "content-type": "text/xml" }, body: `<ErrorResponse xmlns="http://ses.amazonaws.com/doc/2010-12-01/"><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>Service unavailable.</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>` };
  }
  if (kind === "sendgrid:send") return { status: 503, headers: { "content-type": "application/json" }, body: JSON.stringify({ errors: [{ message: "service unavailable", field: null, help: null }] }) };
  return { status: 500, headers: { "content-type": "application/x-amz-json-1.0" }, body: JSON.stringify({ __type: "com.amazonaws.dynamodb.v20120810#InternalServerError", message: "Internal server error" }) };
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(opts.target);
  if (upstream.hostname !== "127.0.0.1" && upstream.hostname !== "localhost") throw new Error("the fault proxy forwards to loopback only");
  let rules: readonly FaultRule[] = opts.rules ?? [];
  let occurrences = new Map<string, number>();
  let ruleMatches = new Map<number, number>();
  let outage: { from: number; to: number } | undefined;
  const injected: Record<string, number> = {};
  const seen: Record<string, number> = {};
  const sendArrivals: number[] = [];
  const held = new Set<http.ServerResponse>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  /**
   * Forwards one request upstream. A kept-alive socket the upstream had already closed
   * fails before the request reached it (Node's `reusedSocket` case): that one is retried on
   * a fresh socket, so the proxy never injects a reset of its own.
   */
  const forward = (req: http.IncomingMessage, body: Buffer, retried = false): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const out = http.request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      out.on("error", (err: NodeJS.ErrnoException) => {
        if (!retried && out.reusedSocket && err.code === "ECONNRESET") forward(req, body, true).then(resolve, reject);
        else reject(err);
      });
      out.end(body);
    });

  /** The rule that hits this request, if any. */
  const pick = (c: ClassifiedRequest): { rule: FaultRule; index: number } | undefined => {
    const id = `${c.kind}|${c.recipient ?? "-"}`;
    const n = occurrences.get(id) ?? 0;
    occurrences.set(id, n + 1);
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      const kinds = typeof rule.on === "string" ? [rule.on] : rule.on;
      if (!kinds.includes(c.kind)) continue;
      if (rule.fault === "outage") {
        const m = ruleMatches.get(i) ?? 0;
        ruleMatches.set(i, m + 1);
        const now = Date.now();
        if (!outage && m >= (rule.outage?.afterRequests ?? 0)) outage = { from: now, to: now + (rule.outage?.durationMs ?? 0) };
        if (outage && now >= outage.from && now < outage.to) return { rule, index: i };
        continue;
      }
      if (seededUnit(opts.seed, i, id, n) < (rule.rate ?? 1)) return { rule, index: i };
    }
    return undefined;
  };

  const send = (res: http.ServerResponse, status: number, headers: Record<string, string | string[] | undefined>, body: Buffer | string) => {
    const buf = typeof body === "string" ? Buffer.from(body) : body;
    const h: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(headers)) if (v !== undefined && !["content-length", "transfer-encoding", "connection"].includes(k.toLowerCase())) h[k] = v;
    res.writeHead(status, { ...h, "content-length": String(buf.length) });
    res.end(buf);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const c = classify(req.headers, req.url ?? "/", body.toString("utf8"));
      seen[c.kind] = (seen[c.kind] ?? 0) + 1;
      if (c.kind === "ses:SendRawEmail" || c.kind === "sendgrid:send") sendArrivals.push(Date.now());
      const hit = pick(c);
      const count = (f: FaultKind) => void (injected[`${c.kind} ${f}`] = (injected[`${c.kind} ${f}`] ?? 0) + 1);
      const handle = async () => {
        if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
        if (hit) {
          const f = hit.rule.fault;
          count(f);
          if (f === "throttle" || f === "error-5xx") {
            const a = f === "throttle" ? throttleAnswer(c.kind) : serverErrorAnswer(c.kind);
            return send(res, a.status, a.headers, a.body);
          }
          if (f === "outage") return void req.socket.destroy();
          await forward(req, body);
          if (f === "reset-after-forward") return void req.socket.destroy();
          if (f === "drop-answer") return void held.add(res);
          const a = serverErrorAnswer(c.kind);
          return send(res, a.status, a.headers, a.body);
        }
        const answer = await forward(req, body);
        let out = answer.body;
        if (c.kind === "ses:GetSendQuota" && opts.sesQuota && answer.status === 200) {
          out = Buffer.from(
            answer.body
              .toString("utf8")
              .replace(/<MaxSendRate>[^<]*<\/MaxSendRate>/, `<MaxSendRate>${opts.sesQuota.maxSendRate}</MaxSendRate>`)
              .replace(/<Max24HourSend>[^<]*<\/Max24HourSend>/, `<Max24HourSend>${opts.sesQuota.max24HourSend}</Max24HourSend>`),
          );
        }
        send(res, answer.status, answer.headers, out);
      };
      handle().catch(() => req.socket.destroy());
    });
  });
  // Longer than the SDK's and the SendGrid provider's idle sockets live: the proxy never
  // closes a kept-alive socket under a client (that race would look like an injected fault).
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    injected,
    seen,
    sendArrivals,
    get outageWindow() {
      return outage;
    },
    setRules(next) {
      rules = next;
      occurrences = new Map();
      ruleMatches = new Map();
      outage = undefined;
      for (const k of Object.keys(injected)) delete injected[k];
      for (const k of Object.keys(seen)) delete seen[k];
      sendArrivals.length = 0;
    },
    close: async () => {
      for (const r of held) r.destroy();
      held.clear();
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
