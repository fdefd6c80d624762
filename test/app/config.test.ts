import { GetParametersByPathCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { readEnv } from "../../app/src/cli";
import { ParameterStoreConfig, SECURE_STRING_EXPECTED } from "../../app/src/config";
import { ConfigInvalidError, ConfigMissingError } from "../../app/src/errors";
import { DEFAULT_FROM_NAME } from "../../app/src/validation";
import { countCommands, putParameters, ssmClient, uniqueRoot, type StackValues } from "../support/app-fixtures";

const FEEDS = JSON.stringify([{ url: "https://feeds.example.com/a.rss", name: "A" }]);

/**
 * A stack's parameters under a fresh root. No digest/feed_hosts unless given (the feeds
 * here are public URLs), which keeps a hierarchy of at most 10 parameters: one page.
 */
async function stack(values: Partial<StackValues> = {}, omit: string[] = []) {
  const u = uniqueRoot();
  const ssm = ssmClient();
  await putParameters(ssm, u.root, { from: u.from, to: u.to, feeds: FEEDS, feedHosts: null, ...values }, omit);
  const calls = countCommands(ssm);
  return { ...u, ssm, calls };
}

describe("ParameterStoreConfig", () => {
  test("when loaded, it returns the typed config from one GetParametersByPath call", async () => {
    const s = await stack({ configurationSet: "digest-events" }, ["sendgrid/api_key"]);
    const config = await new ParameterStoreConfig(s.ssm, { root: s.root }).load();
    expect(s.calls).toEqual(["GetParametersByPathCommand"]);
    expect(config).toMatchObject({
      root: s.root,
      region: "us-east-1",
      fromAddress: s.from,
      recipients: [s.to],
      useSes: true,
      sesPercent: 100,
      configurationSet: "digest-events",
      feeds: [{ url: "https://feeds.example.com/a.rss", name: "A" }],
    });
    expect(config.credentials).toBeUndefined();
    expect(config.sendgridApiKey).toBeUndefined();
  });

  test("when the cache is warm, it makes no second SSM call", async () => {
    const s = await stack();
    const cfg = new ParameterStoreConfig(s.ssm, { root: s.root });
    const a = await cfg.load();
    const b = await cfg.load();
    expect(b).toBe(a);
    expect(s.calls).toHaveLength(1);
  });

  test("when the TTL has passed, it fetches again", async () => {
    const s = await stack();
    let now = 1_000_000;
    const cfg = new ParameterStoreConfig(s.ssm, { root: s.root, ttlSeconds: 60, now: () => now });
    await cfg.load();
    now += 59_999;
    await cfg.load();
    expect(s.calls).toHaveLength(1);
    now += 1;
    await cfg.load();
    expect(s.calls).toHaveLength(2);
  });

  test("when many callers load at once, they share one in-flight request", async () => {
    const s = await stack();
    const cfg = new ParameterStoreConfig(s.ssm, { root: s.root, ttlSeconds: 0 });
    const all = await Promise.all(Array.from({ length: 20 }, () => cfg.load()));
    expect(s.calls).toHaveLength(1);
    expect(new Set(all).size).toBe(1);
    await cfg.load(); // TTL 0: no cache once the request settled
    expect(s.calls).toHaveLength(2);
  });

  test("when cleared, it drops the cached secrets and fetches on the next load", async () => {
    const s = await stack({ accessKeyId: "AKIA" + "EXAMPLEKEY000001", secretAccessKey: "s3cr3t/value+example" });
    const cfg = new ParameterStoreConfig(s.ssm, { root: s.root });
    const first = await cfg.load();
    cfg.clear();
    expect(() => first.credentials!.secretAccessKey.reveal()).toThrow("cleared");
    const second = await cfg.load();
    expect(second.credentials!.accessKeyId.reveal()).toBe("AKIA" + "EXAMPLEKEY000001");
    // Each load: the hierarchy, plus the secret labelled for the key id (credential-pair.ts).
    expect(s.calls).toEqual(["GetParametersByPathCommand", "GetParameterCommand", "GetParametersByPathCommand", "GetParameterCommand"]);
  });

  test("when the hierarchy spans several pages, it reads them all", async () => {
    const s = await stack({ configurationSet: "cs" });
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => s.ssm.send(new PutParameterCommand({ Name: `${s.root}/extra/p${i}`, Value: "x", Type: "String" }))),
    );
    const before = s.calls.length;
    const config = await new ParameterStoreConfig(s.ssm, { root: s.root }).load();
    expect(config.configurationSet).toBe("cs");
    const loads = s.calls.slice(before);
    expect(loads.length).toBeGreaterThanOrEqual(3); // 22 parameters, 10 per page
    expect(loads.every((c) => c === "GetParametersByPathCommand")).toBe(true);
  });

  test.each(["aws/region", "email/from_address", "email/to_address", "digest/feeds"])(
    "when required parameter %s is missing, it fails with CONFIG_MISSING naming it",
    async (missing) => {
      const s = await stack({}, [missing]);
      const err = await new ParameterStoreConfig(s.ssm, { root: s.root }).load().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigMissingError);
      expect(err).toMatchObject({ code: "CONFIG_MISSING", parameter: `${s.root}/${missing}` });
      expect((err as Error).message).toContain(`${s.root}/${missing}`);
    },
  );

  test("when aws/region is missing and a fallback region is given, it uses the fallback", async () => {
    const s = await stack({}, ["aws/region"]);
    const config = await new ParameterStoreConfig(s.ssm, { root: s.root, overrides: { fallbackRegion: "eu-west-1" } }).load();
    expect(config.region).toBe("eu-west-1");
  });

  const invalid: [string, Partial<StackValues>, string][] = [
    ["email/from_address", { from: "not-an-email" }, "not-an-email"],
    ["email/from_address", { from: "a@b" }, "a@b"],
    ["email/to_address", { to: "ok@example.com,nope" }, "nope"],
    ["email/use_ses", { useSes: "maybe" }, "maybe"],
    ["email/ses_percent", { sesPercent: "101" }, "101"],
    ["email/ses_percent", { sesPercent: "ten" }, "ten"],
    ["email/configuration_set", { configurationSet: "has spaces!" }, "has spaces!"],
    ["aws/region", { region: "moon-base" }, "moon-base"],
    ["digest/feeds", { feeds: "[{\"url\":\"javascript:alert(1)\",\"name\":\"x\"}]" }, "javascript:alert(1)"],
    ["digest/feeds", { feeds: "[not json" }, "[not json"],
    ["digest/feeds", { feeds: "[]" }, "[]"],
    // More than the 8 KB an Advanced-tier parameter holds (the stack refuses the same list).
    ["email/to_address", { to: Array.from({ length: 400 }, (_, i) => `reader-${String(i).padStart(4, "0")}@vibedigest.example.com`).join(",") }, "reader-0001"],
  ];
  test.each(invalid)("when %s is %j, it fails with CONFIG_INVALID naming the parameter, not the value", async (param, values, bad) => {
    const s = await stack(values);
    const err = await new ParameterStoreConfig(s.ssm, { root: s.root }).load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigInvalidError);
    expect(err).toMatchObject({ code: "CONFIG_INVALID", parameter: `${s.root}/${param}` });
    expect((err as Error).message).not.toContain(bad);
  });

  test("when only one access-key parameter holds a value, it fails naming the other", async () => {
    const s = await stack({ accessKeyId: "AKIAONLYONE" });
    const err = await new ParameterStoreConfig(s.ssm, { root: s.root }).load().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CONFIG_MISSING", parameter: `${s.root}/aws/secret_access_key` });
  });

  test("when to_address lists several recipients, it keeps each once in order", async () => {
    const s = await stack({ to: "a@example.com, b@example.com,A@example.com ,c@example.com" });
    const config = await new ParameterStoreConfig(s.ssm, { root: s.root }).load();
    expect(config.recipients).toEqual(["a@example.com", "b@example.com", "c@example.com"]);
  });

  test("when the environment overrides recipients and the flag, it uses the overrides", async () => {
    const s = await stack({ useSes: "true" });
    const config = await new ParameterStoreConfig(s.ssm, {
      root: s.root,
      overrides: { recipients: ["x@example.org", "y@example.org"], useSes: false },
    }).load();
    expect(config.recipients).toEqual(["x@example.org", "y@example.org"]);
    expect(config.useSes).toBe(false);
  });

  test("when feeds is a comma-separated list of URLs, it names each feed by its host", async () => {
    const s = await stack({ feeds: "https://a.example.com/feed.xml, https://b.example.org/atom" });
    const config = await new ParameterStoreConfig(s.ssm, { root: s.root }).load();
    expect(config.feeds).toEqual([
      { url: "https://a.example.com/feed.xml", name: "a.example.com" },
      { url: "https://b.example.org/atom", name: "b.example.org" },
    ]);
  });

  test("when the first load fails, the failure is not cached", async () => {
    const s = await stack({}, ["digest/feeds"]);
    const cfg = new ParameterStoreConfig(s.ssm, { root: s.root });
    await expect(cfg.load()).rejects.toBeInstanceOf(ConfigMissingError);
    await s.ssm.send(new PutParameterCommand({ Name: `${s.root}/digest/feeds`, Value: FEEDS, Type: "String" }));
    await expect(cfg.load()).resolves.toMatchObject({ feeds: [{ name: "A" }] });
  });

  test.each([
    ["AccessDeniedException", 400, "AWS_ACCESS_DENIED"],
    ["ThrottlingException", 400, "AWS_THROTTLED"],
    ["InternalServerError", 500, "AWS_UNAVAILABLE"],
    ["UnrecognizedClientException", 400, "AWS_CREDENTIALS_INVALID"],
  ])("when SSM answers %s, it fails with %s keeping the AWS code and request id", async (name, status, code) => {
    const ssm = new SSMClient({ region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } });
    const mock = mockClient(ssm);
    const sdkError = Object.assign(new Error("User: arn:aws:sts::123:assumed-role/x is not authorized; value=CANARY"), {
      name,
      $metadata: { httpStatusCode: status, requestId: "req-123" },
      $response: { body: "CANARY" },
    });
    mock.on(GetParametersByPathCommand).rejects(sdkError);
    const err = await new ParameterStoreConfig(ssm, { root: "/vibecoding" }).load().catch((e: unknown) => e);
    expect(err).toMatchObject({ code, awsCode: name, requestId: "req-123", resource: "/vibecoding", operation: "ssm:GetParametersByPath" });
    expect(String(err)).not.toContain("CANARY");
    expect(JSON.stringify(err)).not.toContain("CANARY");
    mock.restore();
  });
});

describe("ParameterStoreConfig unsubscribe target", () => {
  test.each([
    ["https://digest.example/unsubscribe", "https://digest.example/unsubscribe"],
    ["mailto:leave@example.com", "mailto:leave@example.com"],
    ["unset", undefined],
  ])("when email/unsubscribe_url is %s, the config holds %p", async (value, expected) => {
    const s = await stack({ unsubscribe: value });
    expect((await new ParameterStoreConfig(s.ssm, { root: s.root }).load()).unsubscribe).toBe(expected);
  });

  test.each(["http://insecure.example/u", "javascript:alert(1)", "ftp://x.example/"])("when email/unsubscribe_url is %s, it fails with CONFIG_INVALID", async (value) => {
    const s = await stack({ unsubscribe: value });
    await expect(new ParameterStoreConfig(s.ssm, { root: s.root }).load()).rejects.toMatchObject({ code: "CONFIG_INVALID", parameter: `${s.root}/email/unsubscribe_url` });
  });
});

describe("ParameterStoreConfig unsubscribe signing key", () => {
  // Assembled at run time: 40 characters, no whitespace.
  const KEY = ["sign", "ing-", "key-"].join("") + "0123456789abcdefghijklmnopqrstuvwx".slice(0, 28);

  test("when email/unsubscribe_signing_key holds a key, the config holds it as a redacted Secret", async () => {
    const s = await stack({ unsubscribe: "https://digest.example/unsubscribe", unsubscribeSigningKey: KEY });
    const config = await new ParameterStoreConfig(s.ssm, { root: s.root }).load();
    expect(config.unsubscribeSigningKey?.reveal()).toBe(KEY);
    expect(`${config.unsubscribeSigningKey}`).toBe("[redacted]");
    expect(JSON.stringify(config)).not.toContain(KEY);
  });

  test.each(["unset", "none"])("when email/unsubscribe_signing_key is %p, the config has no key", async (value) => {
    const s = await stack({ unsubscribe: "https://digest.example/unsubscribe", unsubscribeSigningKey: value });
    expect((await new ParameterStoreConfig(s.ssm, { root: s.root }).load()).unsubscribeSigningKey).toBeUndefined();
  });

  test("when cleared, the cached signing key is dropped", async () => {
    const s = await stack({ unsubscribe: "https://digest.example/unsubscribe", unsubscribeSigningKey: KEY });
    const cfg = new ParameterStoreConfig(s.ssm, { root: s.root });
    const first = await cfg.load();
    cfg.clear();
    expect(() => first.unsubscribeSigningKey!.reveal()).toThrow("cleared");
  });

  test.each([
    ["31 characters", KEY.slice(0, 31)],
    ["a space inside", `${KEY.slice(0, 20)} ${KEY.slice(20)}`],
    ["a trailing newline", `${KEY}\n`],
    ["a tab inside", `${KEY.slice(0, 20)}\t${KEY.slice(20)}`],
  ])("when email/unsubscribe_signing_key has %s, it fails with CONFIG_INVALID naming the parameter, not the value", async (_, value) => {
    const s = await stack({ unsubscribe: "https://digest.example/unsubscribe", unsubscribeSigningKey: value });
    const err = await new ParameterStoreConfig(s.ssm, { root: s.root }).load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigInvalidError);
    expect(err).toMatchObject({ code: "CONFIG_INVALID", parameter: `${s.root}/email/unsubscribe_signing_key`, expected: "a key of at least 32 characters without whitespace" });
    const views = [String(err), (err as Error).message, JSON.stringify(err)].join("\n");
    expect(views).not.toContain(KEY.slice(0, 20));
  });
});

/**
 * Every refused setting: the run refuses it with CONFIG_INVALID naming the parameter (never
 * the value), by the same rule (validation.ts) the stack and `secrets put` apply.
 */
describe("refused settings", () => {
  // Key-shaped canaries assembled at run time (nothing key-like is committed).
  const SG = ["S", "G."].join("") + "a".repeat(22) + "." + "b".repeat(43);
  const refused: [string, string, Partial<StackValues>][] = [
    ["sendgrid/api_key", "an inner space", { sendgridApiKey: `${SG.slice(0, 20)} ${SG.slice(20)}` }],
    ["sendgrid/api_key", "two trailing newlines", { sendgridApiKey: `${SG}\n\n` }],
    ["sendgrid/api_key", "one trailing newline", { sendgridApiKey: `${SG}\n` }],
    ["sendgrid/api_key", "a tab", { sendgridApiKey: `${SG.slice(0, 20)}\t${SG.slice(20)}` }],
    ["sendgrid/api_key", "U+FFFD (bytes that were not UTF-8)", { sendgridApiKey: `${SG.slice(0, 20)}\ufffd${SG.slice(20)}` }],
    ["sendgrid/api_key", "a non-ASCII letter", { sendgridApiKey: `${SG}é` }],
    ["sendgrid/api_key", "1025 characters", { sendgridApiKey: `${SG}${"x".repeat(1025 - SG.length)}` }],
    ["aws/access_key_id", "an inner space", { accessKeyId: "AKIA EXAMPLE", secretAccessKey: "s".repeat(40) }],
    ["aws/secret_access_key", "a trailing newline", { accessKeyId: "AKIAEXAMPLE0000", secretAccessKey: `${"s".repeat(40)}\n` }],
    ["email/unsubscribe_url", "a second URL smuggled in with >,<", { unsubscribe: "https://example.com/u?x=>,<https://evil.test/" }],
    ["email/unsubscribe_url", "CR LF and a header", { unsubscribe: "https://example.com/u\r\nBcc: victim@example.net" }],
    ["email/unsubscribe_url", "a tab", { unsubscribe: "https://example.com/u\tx" }],
    ["email/unsubscribe_url", "a space", { unsubscribe: "https://example.com/u x" }],
    ["email/unsubscribe_url", "a comma", { unsubscribe: "https://example.com/u?a=1,2" }],
    ["email/unsubscribe_url", "a double quote", { unsubscribe: 'https://example.com/u?"x"' }],
    ["email/unsubscribe_url", "a broken percent escape", { unsubscribe: "https://example.com/u?x=%zz" }],
    ["email/unsubscribe_url", "a mailto with two addresses", { unsubscribe: "mailto:a@example.com,b@evil.test" }],
    ["email/unsubscribe_url", "a mailto with >", { unsubscribe: "mailto:a@example.com>" }],
    ["email/unsubscribe_signing_key", "U+FFFD", { unsubscribe: "https://digest.example/u", unsubscribeSigningKey: `${"k".repeat(40)}\ufffd` }],
    ["email/from_name", "CR LF and a header", { fromName: "Digest\r\nBcc: victim@example.net" }],
    ["email/from_name", "a double quote", { fromName: 'The "Digest"' }],
    ["email/from_name", "angle brackets", { fromName: "Digest <evil@example.net>" }],
    ["email/from_name", "a bidi override", { fromName: "Digest \u202Etsegid" }],
    ["email/from_name", "a control character", { fromName: "Digest\u0007" }],
    ["email/from_name", "65 characters", { fromName: "D".repeat(65) }],
    ["digest/feed_hosts", "a bare wildcard", { feedHosts: "*" }],
    ["digest/feed_hosts", "a URL instead of a host", { feedHosts: "https://feeds.example.com/" }],
    ["digest/feed_hosts", "a space inside a name", { feedHosts: "feeds example.com" }],
    ["digest/feed_hosts", "a wildcard on an IP", { feedHosts: "*.127.0.0.1" }],
    ["digest/feed_hosts", "a wildcard inside a label", { feedHosts: "fe*ds.example.com" }],
    ["digest/feed_hosts", "201 patterns", { feedHosts: Array.from({ length: 201 }, (_, i) => `h${i}.example.com`).join(",") }],
    ["digest/feeds", "the EC2 metadata address", { feedHosts: null, feeds: '[{"url":"http://169.254.169.254/latest/meta-data/","name":"M"}]' }],
    ["digest/feeds", "the ECS credentials address", { feedHosts: null, feeds: '[{"url":"http://169.254.170.2/v2/credentials","name":"C"}]' }],
    ["digest/feeds", "the IPv6 metadata address", { feedHosts: null, feeds: '[{"url":"http://[fd00:ec2::254]/","name":"M6"}]' }],
    ["digest/feeds", "loopback without feed_hosts", { feedHosts: null, feeds: '[{"url":"http://127.0.0.1:5056/a.rss","name":"L"}]' }],
    ["digest/feeds", "IPv6 loopback without feed_hosts", { feedHosts: null, feeds: '[{"url":"http://[::1]/a.rss","name":"L6"}]' }],
    ["digest/feeds", "localhost without feed_hosts", { feedHosts: null, feeds: '[{"url":"http://localhost/a.rss","name":"LH"}]' }],
    ["digest/feeds", "a private address", { feedHosts: null, feeds: '[{"url":"http://10.0.0.1/a.rss","name":"P"}]' }],
    ["digest/feeds", "loopback when feed_hosts names only a pattern", { feedHosts: "*.example.com", feeds: '[{"url":"http://127.0.0.1/a.rss","name":"L"}]' }],
    ["digest/feeds", "metadata when feed_hosts names loopback", { feedHosts: "127.0.0.1", feeds: '[{"url":"http://169.254.169.254/","name":"M"}]' }],
    ["digest/feeds", "a name with U+FFFD", { feeds: '[{"url":"https://a.example.com/f","name":"Caf\ufffd"}]' }],
    ["digest/feeds", "a name with a control character", { feeds: '[{"url":"https://a.example.com/f","name":"A\\u0007"}]' }],
  ];
  test.each(refused)("when %s has %s, the run refuses it with CONFIG_INVALID naming the parameter", async (param, _what, values) => {
    const s = await stack(values);
    const err = await new ParameterStoreConfig(s.ssm, { root: s.root }).load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigInvalidError);
    expect(err).toMatchObject({ code: "CONFIG_INVALID", parameter: `${s.root}/${param}` });
    const views = [String(err), JSON.stringify(err)].join("\n");
    for (const v of Object.values(values)) if (typeof v === "string" && v.length > 8) expect(views).not.toContain(v.slice(0, 12));
  });

  test.each([
    ["sendgrid/api_key", "a real value"],
    ["sendgrid/api_key", "unset"],
    ["aws/secret_access_key", "a real value"],
    ["email/unsubscribe_signing_key", "a real value"],
  ])("when the secret %s is stored as a plain String holding %s, the run refuses it (not a SecureString)", async (param, what) => {
    const s = await stack();
    const value = what === "unset" ? "unset" : `${"v".repeat(40)}`;
    await s.ssm.send(new PutParameterCommand({ Name: `${s.root}/${param}`, Value: value, Type: "String", Overwrite: true }));
    const err = await new ParameterStoreConfig(s.ssm, { root: s.root }).load().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CONFIG_INVALID", parameter: `${s.root}/${param}`, expected: SECURE_STRING_EXPECTED });
    expect(JSON.stringify(err)).not.toContain(value);
  });

  test("when digest/feed_hosts names 127.0.0.1, a loopback feed is accepted and the patterns are in the config", async () => {
    const s = await stack({ feedHosts: "127.0.0.1, *.Example.COM, [::1]" });
    const config = await new ParameterStoreConfig(s.ssm, { root: s.root }).load();
    expect(config.feedHosts).toEqual(["127.0.0.1", "*.example.com", "::1"]);
  });

  test("when digest/feed_hosts is not written, the config has no host restriction", async () => {
    const s = await stack({ feedHosts: null, feeds: '[{"url":"https://a.example.com/f","name":"A"}]' });
    expect((await new ParameterStoreConfig(s.ssm, { root: s.root }).load()).feedHosts).toBeUndefined();
  });

  test.each([
    [undefined, DEFAULT_FROM_NAME],
    ["Vibe Team 🧠", "Vibe Team 🧠"],
    ["  Café Digest  ", "Café Digest"],
  ])("when email/from_name is %p, the From display name is %p", async (fromName, expected) => {
    const s = await stack(fromName === undefined ? {} : { fromName });
    expect((await new ParameterStoreConfig(s.ssm, { root: s.root }).load()).fromName).toBe(expected);
  });
});

describe("readEnv (the sender's environment)", () => {
  test.each([
    ["AWS_REGION", "../../etc/passwd"],
    ["AWS_REGION", "us-east-1; rm -rf /"],
    ["AWS_DEFAULT_REGION", "Moon"],
    ["AWS_ENDPOINT_URL", "not a url"],
    ["AWS_ENDPOINT_URL", "ftp://127.0.0.1:21"],
    ["AWS_ENDPOINT_URL", "http://user:secret@127.0.0.1:5055"],
    ["AWS_ENDPOINT_URL", "http://127.0.0.1:5055/?x=1"],
    ["VIBE_PARAMETER_ROOT", "../etc"],
    ["VIBE_PARAMETER_ROOT", "/aws/reference"],
    ["EMAIL_TO", "a@example.com,not-an-address"],
  ])("when %s is %p, it fails with CONFIG_INVALID naming the variable, not the value", (name, value) => {
    const err = (() => {
      try {
        readEnv({ [name]: value }, false);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigInvalidError);
    expect(err).toMatchObject({ code: "CONFIG_INVALID", parameter: name });
    expect(JSON.stringify(err)).not.toContain(value);
  });

  test("when the AWS variables are valid, they are used as given", () => {
    const env = readEnv({ AWS_REGION: "eu-central-1", AWS_ENDPOINT_URL: "http://127.0.0.1:5055", VIBE_PARAMETER_ROOT: "/t-1", EMAIL_TO: "a@example.com, b@example.com" }, false);
    expect(env).toMatchObject({ region: "eu-central-1", endpoint: "http://127.0.0.1:5055", root: "/t-1", overrides: { recipients: ["a@example.com", "b@example.com"] } });
  });
});
