import { startSendGridServer, validateMailSend, type SendGridServer } from "../../scripts/lib/sendgrid-server";

const KEY = "SG.test-key.emulator";
const valid = () => ({
  personalizations: [{ to: [{ email: "reader@example.net" }] }],
  from: { email: "digest@example.com" },
  subject: "🧠 Daily Vibe Coding Digest",
  content: [
    { type: "text/plain", value: "text" },
    { type: "text/html", value: "<p>html</p>" },
  ],
  headers: { "List-Unsubscribe": "<https://example.com/u>" },
  custom_args: { run_id: "r1" },
});

async function post(s: SendGridServer, body: unknown, headers: Record<string, string> = {}, timeoutMs = 5000) {
  const res = await fetch(`${s.url}/v3/mail/send`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as { errors: { message: string; field: string | null; help: string | null }[] }) : undefined };
}

describe("SendGrid emulator", () => {
  let s: SendGridServer;
  beforeAll(async () => {
    s = await startSendGridServer({ apiKeys: [KEY], verifiedSenders: ["digest@example.com"] });
  });
  afterAll(async () => s.close());
  afterEach(() => s.clearFaults());

  test("when the request is valid, it answers 202 with an empty body and an X-Message-Id, and records the message", async () => {
    const r = await post(s, valid());
    expect(r.status).toBe(202);
    expect(r.body).toBeUndefined();
    const id = r.headers.get("x-message-id");
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(s.accepted.find((a) => a.messageId === id)).toMatchObject({ to: ["reader@example.net"], from: "digest@example.com", customArgs: { run_id: "r1" }, headers: { "List-Unsubscribe": "<https://example.com/u>" } });
  });

  test.each([
    ["no Authorization header", 401, {}, "authorization required"],
    ["an unknown key", 401, { authorization: "Bearer SG.wrong" }, "The provided authorization grant is invalid, expired, or revoked"],
    ["a Basic header", 401, { authorization: "Basic abc" }, "authorization required"],
  ])("when the request has %s, it answers %i in SendGrid's error shape", async (_, status, headers, message) => {
    const h = { ...headers } as Record<string, string>;
    const res = await fetch(`${s.url}/v3/mail/send`, {
      method: "POST",
      headers: { "content-type": "application/json", ...h },
      body: JSON.stringify(valid()),
      signal: AbortSignal.timeout(5000),
    });
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ errors: [{ message, field: null, help: null }] });
  });

  test.each([
    ["no personalizations", "personalizations", { personalizations: [] }],
    ["a personalization without to", "personalizations.0.to", { personalizations: [{}] }],
    ["an invalid to address", "personalizations.0.to.0.email", { personalizations: [{ to: [{ email: "not-an-address" }] }] }],
    ["no from", "from", { from: undefined }],
    ["an invalid from", "from.email", { from: { email: "x" } }],
    ["no subject", "subject", { subject: undefined }],
    ["no content", "content", { content: [] }],
    ["an empty content value", "content.0.value", { content: [{ type: "text/plain", value: "" }] }],
    ["text/html before text/plain", "content", { content: [{ type: "text/html", value: "h" }, { type: "text/plain", value: "t" }] }],
    ["a reserved header", "headers", { headers: { Subject: "x" } }],
    ["a non-string custom arg", "custom_args", { custom_args: { n: 1 } }],
  ] as [string, string, Record<string, unknown>][])("when the body has %s, it answers 400 naming the field %s", async (_, field, change) => {
    const r = await post(s, { ...valid(), ...change });
    expect(r.status).toBe(400);
    expect(r.body!.errors.map((e) => e.field)).toContain(field);
    for (const e of r.body!.errors) expect(Object.keys(e).sort()).toEqual(["field", "help", "message"]);
  });

  test("when the body is not JSON, or the content type is not JSON, it answers 400", async () => {
    expect((await post(s, "{not json")).status).toBe(400);
    expect((await post(s, valid(), { "content-type": "text/plain" })).status).toBe(400);
  });

  test("when the sender is not a verified identity, it answers 403 on the from field", async () => {
    const r = await post(s, { ...valid(), from: { email: "someone@example.org" } });
    expect(r.status).toBe(403);
    expect(r.body!.errors[0]).toMatchObject({ field: "from", message: expect.stringContaining("verified Sender Identity") });
  });

  test("when the wrong method or path is used, it answers 405 or 404", async () => {
    expect((await fetch(`${s.url}/v3/mail/send`, { signal: AbortSignal.timeout(5000) })).status).toBe(405);
    expect((await fetch(`${s.url}/v3/mail/sendx`, { method: "POST", signal: AbortSignal.timeout(5000) })).status).toBe(404);
  });

  test("when the rate limit is reached, it answers 429 with the X-RateLimit headers (reset in epoch seconds)", async () => {
    const limited = await startSendGridServer({ apiKeys: [KEY], rateLimit: { limit: 2, windowMs: 60_000 } });
    try {
      expect((await post(limited, valid())).status).toBe(202);
      expect((await post(limited, valid())).status).toBe(202);
      const r = await post(limited, valid());
      expect(r.status).toBe(429);
      expect(r.headers.get("x-ratelimit-limit")).toBe("2");
      expect(r.headers.get("x-ratelimit-remaining")).toBe("0");
      const reset = Number(r.headers.get("x-ratelimit-reset"));
      expect(reset).toBeGreaterThan(Date.now() / 1000);
      expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 61);
      expect(r.body).toEqual({ errors: [{ message: "too many requests", field: null, help: null }] });
      expect(limited.accepted).toHaveLength(2);
    } finally {
      await limited.close();
    }
  });

  test("when a fault is injected for one address and a number of times, only those requests fail", async () => {
    s.inject({ to: "reader@example.net", times: 1, fault: { kind: "status", status: 503 } });
    expect((await post(s, valid())).status).toBe(503);
    expect((await post(s, valid())).status).toBe(202);
  });

  test("when accept-then-hang is injected, the message is recorded but no answer comes", async () => {
    const before = s.accepted.length;
    s.inject({ times: 1, fault: { kind: "accept-then-hang" } });
    await expect(post(s, valid(), {}, 300)).rejects.toThrow();
    expect(s.accepted.length).toBe(before + 1);
  });

  test("when validated directly, a body like the provider's has no errors", () => {
    expect(validateMailSend(valid())).toEqual([]);
    expect(validateMailSend({ ...valid(), content: [{ type: "text/html", value: "h" }] })).toEqual([]);
  });
});

describe("SendGrid emulator: the key endpoints a rotation uses", () => {
  let s: SendGridServer;
  const limited = ["SG.limited", "key"].join("-");
  beforeAll(async () => {
    s = await startSendGridServer({ apiKeys: [KEY, limited], keyScopes: { [limited]: ["mail.send"] } });
  });
  afterAll(async () => s.close());

  const call = async (method: string, path: string, key: string | undefined, body?: unknown) => {
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };

  test("when GET /v3/scopes is asked with a known key, it answers 200 with that key's scopes", async () => {
    expect(await call("GET", "/v3/scopes", KEY)).toMatchObject({ status: 200, body: { scopes: expect.arrayContaining(["mail.send", "api_keys.create"]) } });
    expect(await call("GET", "/v3/scopes", limited)).toEqual({ status: 200, body: { scopes: ["mail.send"] } });
  });

  test.each([undefined, "SG.unknown.key"])("when GET /v3/scopes is asked with key %p, it answers 401", async (key) => {
    expect((await call("GET", "/v3/scopes", key)).status).toBe(401);
  });

  test("when a key is created, mail/send accepts it; once deleted, it is refused with 401", async () => {
    const created = await call("POST", "/v3/api_keys", KEY, { name: "rotation", scopes: ["mail.send"] });
    expect(created.status).toBe(201);
    const { api_key: key, api_key_id: id } = created.body as { api_key: string; api_key_id: string };
    expect(key).toMatch(/^SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect((await call("GET", "/v3/scopes", key)).body).toEqual({ scopes: ["mail.send"] });
    expect((await post(s, valid(), { authorization: `Bearer ${key}` })).status).toBe(202);
    expect((await call("DELETE", `/v3/api_keys/${id}`, KEY)).status).toBe(204);
    expect((await post(s, valid(), { authorization: `Bearer ${key}` })).status).toBe(401);
    expect(s.accepts(key)).toBe(false);
  });

  test("when a key without api_keys.create asks for a new key, it answers 403 and creates nothing", async () => {
    expect((await call("POST", "/v3/api_keys", limited, { name: "x" })).status).toBe(403);
  });

  test.each([[{}], [{ name: "" }], [{ name: "x", scopes: "mail.send" }]])("when the create body is %j, it answers 400", async (body) => {
    expect((await call("POST", "/v3/api_keys", KEY, body)).status).toBe(400);
  });

  test("when mail/send is called as before, the emulator's answers are unchanged (unknown path 404, wrong method 405)", async () => {
    expect((await call("GET", "/v3/mail/send", KEY)).status).toBe(405);
    expect((await call("GET", "/v3/other", KEY)).status).toBe(404);
    expect((await post(s, valid())).status).toBe(202);
  });
});
