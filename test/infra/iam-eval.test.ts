/** The permission table's evaluator (test/support/iam-eval.ts) does what its comment says. */
import { actionMatches, conditionHolds, evaluate, resourceMatches, type Principal, type Statement } from "../support/iam-eval";

const ROLE = "arn:aws:iam::111111111111:role/r";
const KEY = "arn:aws:kms:us-east-1:111111111111:key/k";
const allow = (over: Partial<Statement> = {}): Statement => ({ sid: "A", effect: "Allow", actions: ["ssm:GetParameter"], resources: ["arn:aws:ssm:us-east-1:111111111111:parameter/x"], ...over });
const who = (identity: Statement[], boundary?: Statement[]): Principal => ({ arn: ROLE, identity, ...(boundary ? { boundary } : {}) });

describe("iam-eval", () => {
  test.each([
    ["ssm:Get*", "ssm:GetParameter", true],
    ["SSM:getparameter", "ssm:GetParameter", true],
    ["ssm:Get?arameter", "ssm:GetParameter", true],
    ["ssm:Put*", "ssm:GetParameter", false],
    ["kms:*", "kms:Decrypt", true],
  ])("when action pattern %p meets %p, it matches: %p (case-insensitive, * and ?)", (p, a, expected) => {
    expect(actionMatches(p, a)).toBe(expected);
  });

  test.each([
    ["*", "arn:aws:s3:::b/k", true],
    ["arn:aws:s3:::b/vibe/*", "arn:aws:s3:::b/vibe/x.tfstate", true],
    ["arn:aws:s3:::b/vibe/*", "arn:aws:s3:::b/other/x", false],
    ["arn:aws:s3:::B/*", "arn:aws:s3:::b/x", false],
  ])("when resource pattern %p meets %p, it matches: %p (case-sensitive)", (p, r, expected) => {
    expect(resourceMatches(p, r)).toBe(expected);
  });

  test.each([
    [{ test: "StringEquals", variable: "k", values: ["a", "b"] }, { k: "b" }, true],
    [{ test: "StringEquals", variable: "k", values: ["a"] }, {}, false],
    [{ test: "StringNotEquals", variable: "k", values: ["a"] }, {}, true],
    [{ test: "StringNotEquals", variable: "k", values: ["a"] }, { k: "a" }, false],
    [{ test: "StringLike", variable: "k", values: ["repo:o/r:environment:*"] }, { k: "repo:o/r:environment:prod" }, true],
    [{ test: "ArnLike", variable: "k", values: ["arn:aws:scheduler:*:1:schedule/g/*"] }, { k: "arn:aws:scheduler:us-east-1:1:schedule/h/x" }, false],
    [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }, { "aws:SecureTransport": "true" }, false],
    [{ test: "ForAnyValue:StringEquals", variable: "kms:ResourceAliases", values: ["alias/a"] }, { "kms:ResourceAliases": ["alias/b", "alias/a"] }, true],
    [{ test: "ForAnyValue:StringEquals", variable: "kms:ResourceAliases", values: ["alias/a"] }, {}, false],
    [{ test: "ForAllValues:StringEquals", variable: "kms:GrantOperations", values: ["Decrypt"] }, { "kms:GrantOperations": ["Decrypt", "Encrypt"] }, false],
    [{ test: "ForAllValues:StringEquals", variable: "kms:GrantOperations", values: ["Decrypt"] }, {}, true],
  ])("when condition %j meets context %j, it holds: %p", (c, ctx, expected) => {
    expect(conditionHolds(c, ctx)).toBe(expected);
  });

  test("when a policy uses an operator it does not implement, it throws instead of guessing", () => {
    expect(() => conditionHolds({ test: "NumericLessThan", variable: "k", values: ["1"] }, { k: "0" })).toThrow(/not implemented/);
    expect(() => evaluate({ principal: who([allow({ notResources: ["x"] })]), action: "ssm:GetParameter", resource: "y" })).toThrow(/NotResource/);
  });

  test("when one policy allows and another denies, the explicit deny wins", () => {
    const d = evaluate({ principal: who([allow(), allow({ sid: "No", effect: "Deny", actions: ["ssm:*"], resources: ["*"] })]), action: "ssm:GetParameter", resource: "arn:aws:ssm:us-east-1:111111111111:parameter/x" });
    expect(d).toEqual({ allowed: false, reason: "explicit deny (No)" });
  });

  test("when nothing allows, it is an implicit deny; when the boundary lacks the action, the identity allow is not enough", () => {
    expect(evaluate({ principal: who([]), action: "ssm:GetParameter", resource: "arn:aws:ssm:us-east-1:111111111111:parameter/x" }).allowed).toBe(false);
    const capped = evaluate({ principal: who([allow()], [allow({ actions: ["ssm:PutParameter"] })]), action: "ssm:GetParameter", resource: "arn:aws:ssm:us-east-1:111111111111:parameter/x" });
    expect(capped).toEqual({ allowed: false, reason: "not within the permissions boundary" });
  });

  test("when a NotAction deny names everything but some actions, those stay allowed and the rest are denied", () => {
    const p = who([allow({ actions: ["iam:*"], resources: ["*"] }), { sid: "OnlyPolicies", effect: "Deny", notActions: ["iam:PutRolePolicy"], resources: ["*"] }]);
    expect(evaluate({ principal: p, action: "iam:PutRolePolicy", resource: ROLE }).allowed).toBe(true);
    expect(evaluate({ principal: p, action: "iam:AttachRolePolicy", resource: ROLE }).allowed).toBe(false);
  });

  describe("a KMS key", () => {
    const adminOnly: Statement[] = [{ sid: "Admin", actions: ["kms:DescribeKey"], resources: ["*"], principals: [{ type: "AWS", identifiers: ["arn:aws:iam::111111111111:root"] }] }];
    const decrypt = allow({ actions: ["kms:Decrypt"], resources: ["*"] });

    test("when the key policy names the role, it may use the key without an identity statement", () => {
      const kp: Statement[] = [{ sid: "Named", actions: ["kms:Decrypt"], resources: ["*"], principals: [{ type: "AWS", identifiers: [ROLE] }] }];
      expect(evaluate({ principal: who([]), action: "kms:Decrypt", resource: KEY, resourcePolicy: kp }).allowed).toBe(true);
    });

    test("when the key policy only delegates other actions to the account, an identity allow for Decrypt is not enough", () => {
      expect(evaluate({ principal: who([decrypt]), action: "kms:Decrypt", resource: KEY, resourcePolicy: adminOnly })).toEqual({ allowed: false, reason: "no key-policy statement allows the role" });
    });

    test("when the key policy delegates the action to the account, the identity policy decides", () => {
      expect(evaluate({ principal: who([allow({ actions: ["kms:DescribeKey"], resources: ["*"] })]), action: "kms:DescribeKey", resource: KEY, resourcePolicy: adminOnly }).allowed).toBe(true);
      expect(evaluate({ principal: who([]), action: "kms:DescribeKey", resource: KEY, resourcePolicy: adminOnly }).allowed).toBe(false);
    });

    test("when a key-policy statement has a condition the request does not meet, it does not apply", () => {
      const kp: Statement[] = [{ sid: "ViaSsm", actions: ["kms:Decrypt"], resources: ["*"], principals: [{ type: "AWS", identifiers: [ROLE] }], condition: [{ test: "StringEquals", variable: "kms:ViaService", values: ["ssm.us-east-1.amazonaws.com"] }] }];
      expect(evaluate({ principal: who([]), action: "kms:Decrypt", resource: KEY, resourcePolicy: kp, context: { "kms:ViaService": "ssm.us-east-1.amazonaws.com" } }).allowed).toBe(true);
      expect(evaluate({ principal: who([]), action: "kms:Decrypt", resource: KEY, resourcePolicy: kp }).allowed).toBe(false);
    });

    test("when the key policy names another role, this role may not use the key", () => {
      const kp: Statement[] = [{ sid: "Other", actions: ["kms:Decrypt"], resources: ["*"], principals: [{ type: "AWS", identifiers: ["arn:aws:iam::111111111111:role/other"] }] }];
      expect(evaluate({ principal: who([decrypt]), action: "kms:Decrypt", resource: KEY, resourcePolicy: kp }).allowed).toBe(false);
    });
  });
});
