import { createHmac } from "node:crypto";
import { listUnsubscribeHeaders } from "../../app/src/mime";
import { Secret } from "../../app/src/secret";
import { formatPreviousSigningKey, parsePreviousSigningKey, signedUnsubscribeUrl, unsubscribeAddressOf, unsubscribeToken, unsubscribeVerificationKeys, verifyUnsubscribeToken } from "../../app/src/unsubscribe";

// Test keys assembled at run time (not secrets; nothing key-shaped is committed).
const KEY = ["unit", "-test", "-signing"].join("") + "-key-0123456789abcdefghij";
const OTHER_KEY = KEY.replace("unit", "else");

describe("unsubscribe token", () => {
  test("when computed twice for one address, it is the same 43-character base64url string", () => {
    const a = unsubscribeToken(KEY, "reader@example.com");
    expect(unsubscribeToken(KEY, "reader@example.com")).toBe(a);
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("when computed, it is base64url(HMAC-SHA256(key, 'unsubscribe:v1:' + lower-cased address))", () => {
    const expected = createHmac("sha256", KEY).update("unsubscribe:v1:reader@example.com").digest("base64url");
    expect(unsubscribeToken(KEY, "Reader@Example.COM")).toBe(expected);
  });

  test("when the addresses differ, the tokens differ", () => {
    expect(unsubscribeToken(KEY, "a@example.com")).not.toBe(unsubscribeToken(KEY, "b@example.com"));
  });

  test("when the keys differ, the tokens differ", () => {
    expect(unsubscribeToken(KEY, "a@example.com")).not.toBe(unsubscribeToken(OTHER_KEY, "a@example.com"));
  });

  test("when the address differs only in case or surrounding space, the token is the same", () => {
    expect(unsubscribeToken(KEY, " Reader@EXAMPLE.com ")).toBe(unsubscribeToken(KEY, "reader@example.com"));
  });

  test("when the key is a Secret, the token is the one of its value", () => {
    expect(unsubscribeToken(new Secret(KEY), "a@example.com")).toBe(unsubscribeToken(KEY, "a@example.com"));
  });
});

describe("verifyUnsubscribeToken", () => {
  const token = unsubscribeToken(KEY, "reader@example.com");

  test("when given the right token, it accepts it, whatever the address's case", () => {
    expect(verifyUnsubscribeToken(KEY, "reader@example.com", token)).toBe(true);
    expect(verifyUnsubscribeToken(new Secret(KEY), "READER@example.com", token)).toBe(true);
  });

  const flip = (t: string, i: number) => t.slice(0, i) + (t[i] === "A" ? "B" : "A") + t.slice(i + 1);
  test.each([
    ["its first character changed", flip(token, 0)],
    ["its last character changed", flip(token, token.length - 1)],
    ["one character cut", token.slice(0, -1)],
    ["one character added", `${token}A`],
    ["padding added", `${token}=`],
    ["empty", ""],
  ])("when the token has %s, it rejects it", (_, tampered) => {
    expect(verifyUnsubscribeToken(KEY, "reader@example.com", tampered)).toBe(false);
  });

  test("when the token belongs to another address or another key, it rejects it", () => {
    expect(verifyUnsubscribeToken(KEY, "other@example.com", token)).toBe(false);
    expect(verifyUnsubscribeToken(OTHER_KEY, "reader@example.com", token)).toBe(false);
  });

  test("when the token is not a string, it rejects it without throwing", () => {
    expect(verifyUnsubscribeToken(KEY, "reader@example.com", undefined as unknown as string)).toBe(false);
  });
});

describe("signedUnsubscribeUrl", () => {
  test("when the target has no query, it appends ?u=<base64url address>&t=<token>", () => {
    const url = new URL(signedUnsubscribeUrl("https://digest.example/unsubscribe", KEY, "Reader@Example.com"));
    expect(`${url.origin}${url.pathname}`).toBe("https://digest.example/unsubscribe");
    expect([...url.searchParams.keys()]).toEqual(["u", "t"]);
    expect(unsubscribeAddressOf(url.searchParams.get("u")!)).toBe("reader@example.com");
    expect(verifyUnsubscribeToken(KEY, unsubscribeAddressOf(url.searchParams.get("u")!), url.searchParams.get("t")!)).toBe(true);
  });

  test("when the target already has a query, it appends with & and keeps the query as written", () => {
    const signed = signedUnsubscribeUrl("https://digest.example/u?list=daily%20digest", KEY, "a@example.com");
    expect(signed.startsWith("https://digest.example/u?list=daily%20digest&u=")).toBe(true);
    expect(new URL(signed).searchParams.get("t")).toBe(unsubscribeToken(KEY, "a@example.com"));
  });

  test("when the target has a fragment, the parameters go before it", () => {
    const signed = signedUnsubscribeUrl("https://digest.example/u#confirm", KEY, "a@example.com");
    expect(signed).toMatch(/^https:\/\/digest\.example\/u\?u=[A-Za-z0-9_-]+&t=[A-Za-z0-9_-]{43}#confirm$/);
  });

  test("when signed, the URL carries no character that needs escaping and still gets the one-click header", () => {
    const signed = signedUnsubscribeUrl("https://digest.example/unsubscribe", KEY, "first.last+tag@example.com");
    expect(signed).toMatch(/^[A-Za-z0-9:/._?&=-]+$/);
    expect(listUnsubscribeHeaders(signed)).toEqual({ "List-Unsubscribe": `<${signed}>`, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" });
  });

  test("when signed, the key appears nowhere in the URL", () => {
    expect(signedUnsubscribeUrl("https://digest.example/unsubscribe", KEY, "a@example.com")).not.toContain(KEY);
  });
});

describe("unsubscribe tokens across a signing key rotation", () => {
  const at = (iso: string) => new Date(iso);

  test("when given several keys, a token made with any of them verifies and one made with another key does not", () => {
    const third = KEY.replace("unit", "gone");
    expect(verifyUnsubscribeToken([KEY, new Secret(OTHER_KEY)], "a@example.com", unsubscribeToken(OTHER_KEY, "a@example.com"))).toBe(true);
    expect(verifyUnsubscribeToken([KEY, OTHER_KEY], "a@example.com", unsubscribeToken(KEY, "a@example.com"))).toBe(true);
    expect(verifyUnsubscribeToken([KEY, OTHER_KEY], "a@example.com", unsubscribeToken(third, "a@example.com"))).toBe(false);
    expect(verifyUnsubscribeToken([], "a@example.com", unsubscribeToken(KEY, "a@example.com"))).toBe(false);
  });

  test.each(["unset", "", "too-short"])("when the current key read is %p (not a signing key), only the previous key verifies", (raw) => {
    const previous = formatPreviousSigningKey(OTHER_KEY, at("2026-12-31T00:00:00Z"));
    expect(unsubscribeVerificationKeys(raw, previous, at("2026-12-01T00:00:00Z"))).toEqual([OTHER_KEY]);
  });

  test("when the previous key is within its grace period, the verification keys are the current key and then the previous one", () => {
    const previous = formatPreviousSigningKey(OTHER_KEY, at("2026-12-31T00:00:00Z"));
    expect(unsubscribeVerificationKeys(KEY, previous, at("2026-12-30T23:59:59Z"))).toEqual([KEY, OTHER_KEY]);
  });

  test.each<[string, string | undefined]>([
    ["expired", formatPreviousSigningKey(["x".repeat(8), "previous-key-0123456789abcdef"].join(""), new Date("2026-12-01T00:00:00Z"))],
    ["not JSON", "plain-value"],
    ["of another version", JSON.stringify({ v: 2, key: "k".repeat(40), expiresAt: "2099-01-01T00:00:00Z" })],
    ["a key too short to be a signing key", JSON.stringify({ v: 1, key: "short", expiresAt: "2099-01-01T00:00:00Z" })],
    ["without a valid expiry", JSON.stringify({ v: 1, key: "k".repeat(40), expiresAt: "soon" })],
    ["unset", undefined],
  ])("when the previous key is %s, only the current key verifies", (_label, raw) => {
    expect(parsePreviousSigningKey(raw, at("2026-12-02T00:00:00Z"))).toBeUndefined();
    expect(unsubscribeVerificationKeys(KEY, raw, at("2026-12-02T00:00:00Z"))).toEqual([KEY]);
  });
});
