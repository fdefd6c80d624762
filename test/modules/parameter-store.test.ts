import { parseRecipientList } from "../../app/src/validation";
import { Testing } from "cdktf";
import type { Construct } from "constructs";
import { parseConfig } from "../../app/src/config";
import { PARAMETERS, ROLLBACK_CLEARED, RUNTIME_PARAMETERS, SECRET_PLACEHOLDER, parameterName, type ParameterKey } from "../../app/src/contract";
import { ConfigError } from "../../modules/errors";
import { ParameterStore, secretKeysFor, type ParameterStoreProps } from "../../modules/parameter-store";
import { OperatorPolicy } from "../../modules/operator-policy";
import { TaskRole } from "../../modules/task-role";
import { AWS_MANAGED_SSM_KEY } from "../../modules/parameter-store";
import { onlyResource, ref, resources, statementBySid, statementsOf, type TfJson } from "../support/tf-json";

const VALUES: ParameterStoreProps["values"] = {
  awsRegion: "us-east-1",
  fromAddress: "digest@vibedigest.example.com",
  toAddress: "reader@example.com,second@example.com",
  useSes: "true",
  sesPercent: "25",
  feeds: JSON.stringify([{ url: "https://feeds.example.com/a.rss", name: "A" }]),
};

const ACCOUNT = "111111111111";
const BASE = { namePrefix: "vibe-digest-test", region: "us-east-1", account: ACCOUNT } as const;
/** How identity policies name the parameters key: any key of the account that carries its alias. */
const KEY_SCOPE = { resources: [`arn:aws:kms:us-east-1:${ACCOUNT}:key/*`], alias: { test: "ForAnyValue:StringEquals", variable: "kms:ResourceAliases", values: ["alias/vibe-digest-test-parameters"] } };

function keyPolicy(json: TfJson) {
  return statementsOf(json, onlyResource(json, "aws_kms_key_policy").props.policy);
}

function synth(props: Partial<ParameterStoreProps> = {}, withGrant = false): TfJson {
  return JSON.parse(
    Testing.synthScope((scope: Construct) => {
      const store = new ParameterStore(scope, "parameters", { ...BASE, values: VALUES, ...props });
      if (withGrant) store.grantRead(new TaskRole(scope, "role", { roleName: "vibe-digest-test-task" }));
    }),
  ) as TfJson;
}

function parameterNamed(json: TfJson, name: string) {
  const found = resources(json, "aws_ssm_parameter").filter((p) => p.props.name === name);
  expect(found).toHaveLength(1);
  return found[0]!;
}

const SECRET_KEYS = (Object.keys(PARAMETERS) as ParameterKey[]).filter((k) => PARAMETERS[k].secret);
const PLAIN_KEYS = Object.keys(VALUES) as ParameterKey[];

describe("ParameterStore", () => {
  const json = synth({}, true);
  const key = onlyResource(json, "aws_kms_key");

  test("when synthesized, it declares one customer-managed symmetric key with rotation on", () => {
    expect(key.props).toMatchObject({
      enable_key_rotation: true,
      key_usage: "ENCRYPT_DECRYPT",
      customer_master_key_spec: "SYMMETRIC_DEFAULT",
      deletion_window_in_days: 30,
    });
  });

  test("when synthesized, it gives the key an alias named after the prefix", () => {
    expect(onlyResource(json, "aws_kms_alias").props).toEqual(
      expect.objectContaining({ name: "alias/vibe-digest-test-parameters", target_key_id: ref(key, "key_id") }),
    );
  });

  test.each(SECRET_KEYS)("when %s is declared, it is a SecureString under /vibecoding encrypted with the CMK", (k) => {
    const p = parameterNamed(json, `/vibecoding/${PARAMETERS[k].path}`);
    expect(p.props.type).toBe("SecureString");
    expect(p.props.key_id).toBe(ref(key, "arn"));
  });

  test.each(SECRET_KEYS)("when %s is declared, its value is write-only: value_wo placeholder, a version, no value", (k) => {
    const p = parameterNamed(json, `/vibecoding/${PARAMETERS[k].path}`);
    expect(p.props.value_wo).toBe(SECRET_PLACEHOLDER);
    expect(p.props.value_wo_version).toBe(1);
    expect(p.props).not.toHaveProperty("value");
    expect(p.props).not.toHaveProperty("insecure_value");
  });

  test.each(PLAIN_KEYS)("when %s is given, it is a plain parameter of the contract's type holding that value", (k) => {
    const p = parameterNamed(json, `/vibecoding/${PARAMETERS[k].path}`);
    expect(p.props.type).toBe(PARAMETERS[k].type);
    expect(p.props.value).toBe(VALUES[k as keyof typeof VALUES]);
    expect(p.props).not.toHaveProperty("key_id");
    expect(p.props).not.toHaveProperty("value_wo");
  });

  test("when an optional plain parameter is not given, it is not declared", () => {
    expect(resources(json, "aws_ssm_parameter").map((p) => p.props.name)).not.toContain("/vibecoding/email/configuration_set");
    expect(resources(json, "aws_ssm_parameter")).toHaveLength(SECRET_KEYS.length + PLAIN_KEYS.length + Object.keys(RUNTIME_PARAMETERS).length);
  });

  test("when synthesized, the SES rollback flag starts cleared and Terraform ignores later changes of its value", () => {
    const p = parameterNamed(json, "/vibecoding/email/ses_rollback");
    expect(p.props).toMatchObject({ type: "String", value: ROLLBACK_CLEARED, lifecycle: { ignore_changes: ["value"] } });
  });

  test("when the sender is granted runtime writes, it may PutParameter on exactly the rollback flag", () => {
    const j = JSON.parse(
      Testing.synthScope((scope: Construct) => {
        const store = new ParameterStore(scope, "parameters", { ...BASE, values: VALUES });
        store.grantWriteRuntime(new TaskRole(scope, "role", { roleName: "vibe-digest-test-task" }));
      }),
    ) as TfJson;
    const st = statementsOf(j, onlyResource(j, "aws_iam_role_policy").props.policy);
    expect(st).toEqual([
      { sid: "WriteRuntimeParameters", effect: "Allow", actions: ["ssm:PutParameter"], resources: [`arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/vibecoding/email/ses_rollback`] },
    ]);
  });

  test("when a custom path is given, every parameter lives under it", () => {
    const custom = synth({ path: "/teams/digest" });
    const names = resources(custom, "aws_ssm_parameter").map((p) => p.props.name as string);
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(n.startsWith("/teams/digest/")).toBe(true);
  });

  test("when only some secrets are asked for, only those SecureStrings are declared", () => {
    const some = synth({ secrets: ["sendgridApiKey"] });
    const secure = resources(some, "aws_ssm_parameter").filter((p) => p.props.type === "SecureString");
    expect(secure.map((p) => p.props.name)).toEqual(["/vibecoding/sendgrid/api_key"]);
  });

  describe("the unsubscribe signing key", () => {
    const name = "/vibecoding/email/unsubscribe_signing_key";

    test("when declared, it is a write-only SecureString under the stack's CMK, holding only the placeholder", () => {
      const p = parameterNamed(json, name);
      expect(p.props).toMatchObject({ type: "SecureString", key_id: ref(key, "arn"), value_wo: SECRET_PLACEHOLDER, value_wo_version: 1 });
      expect(p.props).not.toHaveProperty("value");
      expect(p.props).not.toHaveProperty("insecure_value");
    });

    test("when the sender is granted read, the existing read and decrypt statements cover it (no statement of its own)", () => {
      const st = statementsOf(json, onlyResource(json, "aws_iam_role_policy").props.policy);
      const read = statementBySid(st, "ReadDigestParameters");
      const covers = read.resources!.some((arn) => {
        const pattern = arn.replace(/^.*:parameter/, "");
        return pattern === name || (pattern.endsWith("/*") && name.startsWith(pattern.slice(0, -1)));
      });
      expect(covers).toBe(true);
      expect(read.actions).toContain("ssm:GetParametersByPath");
      expect(statementBySid(st, "DecryptDigestParametersViaSsm").condition).toContainEqual(KEY_SCOPE.alias);
      expect(st.map((x) => x.sid)).toEqual(["ReadDigestParameters", "DecryptDigestParametersViaSsm"]);
    });
  });

  describe("secretKeysFor", () => {
    test.each([
      ["task-role, no unsubscribe target", { staticCredentials: false }, ["sendgridApiKey"]],
      ["task-role, a mailto target", { staticCredentials: false, unsubscribeUrl: "mailto:leave@example.com" }, ["sendgridApiKey"]],
      ["task-role, an https target", { staticCredentials: false, unsubscribeUrl: "https://digest.example/unsubscribe" }, ["sendgridApiKey", "unsubscribeSigningKey"]],
      ["access-key, a mailto target", { staticCredentials: true, unsubscribeUrl: "mailto:leave@example.com" }, ["awsAccessKeyId", "awsSecretAccessKey", "sendgridApiKey"]],
      ["access-key, an https target", { staticCredentials: true, unsubscribeUrl: "https://digest.example/unsubscribe" }, ["awsAccessKeyId", "awsSecretAccessKey", "sendgridApiKey", "unsubscribeSigningKey"]],
    ] as const)("when the stage is %s, it declares exactly %j", (_, needs, expected) => {
      expect(secretKeysFor(needs)).toEqual(expected);
    });

    test("when only the signing key and SendGrid are asked for, exactly those SecureStrings are declared", () => {
      const some = synth({ secrets: secretKeysFor({ staticCredentials: false, unsubscribeUrl: "https://digest.example/u" }), values: { ...VALUES, unsubscribeUrl: "https://digest.example/u" } });
      const secure = resources(some, "aws_ssm_parameter").filter((p) => p.props.type === "SecureString");
      expect(secure.map((p) => p.props.name).sort()).toEqual(["/vibecoding/email/unsubscribe_signing_key", "/vibecoding/sendgrid/api_key"]);
    });
  });

  describe("grantRead", () => {
    const policy = onlyResource(json, "aws_iam_role_policy");
    const statements = statementsOf(json, policy.props.policy);

    test("when granted, it allows exactly the three SSM read actions on the root and below", () => {
      const s = statementBySid(statements, "ReadDigestParameters");
      expect(s.effect).toBe("Allow");
      expect(s.actions).toEqual(["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]);
      expect(s.resources).toHaveLength(2);
      expect(s.resources![0]).toMatch(/^arn:.+:ssm:.+:.+:parameter\/vibecoding$/);
      expect(s.resources![1]).toMatch(/^arn:.+:ssm:.+:.+:parameter\/vibecoding\/\*$/);
      expect(s.condition).toBeUndefined();
    });

    test("when granted, it allows kms:Decrypt on this key only via SSM in the key's region, naming the key by its alias (known at plan time)", () => {
      const s = statementBySid(statements, "DecryptDigestParametersViaSsm");
      expect(s.actions).toEqual(["kms:Decrypt"]);
      expect(s.resources).toEqual(KEY_SCOPE.resources);
      expect(s.condition).toEqual([{ test: "StringEquals", variable: "kms:ViaService", values: ["ssm.us-east-1.amazonaws.com"] }, KEY_SCOPE.alias]);
      expect(JSON.stringify(statements)).not.toContain(ref(key, "arn"));
    });

    test("when the region is given, the ARNs and the ViaService condition name it literally", () => {
      const regional = synth({ region: "eu-west-1" }, true);
      const st = statementsOf(regional, onlyResource(regional, "aws_iam_role_policy").props.policy);
      expect(statementBySid(st, "DecryptDigestParametersViaSsm").condition![0]!.values).toEqual(["ssm.eu-west-1.amazonaws.com"]);
      expect(statementBySid(st, "ReadDigestParameters").resources![0]).toContain(":ssm:eu-west-1:");
    });

    test("when granted, no statement has a wildcard action or resource", () => {
      for (const s of statements) {
        expect(s.actions!.some((a) => a.includes("*"))).toBe(false);
        expect(s.resources).not.toContain("*");
      }
    });
  });

  describe("key policy", () => {
    const policy = keyPolicy(json);

    test("when synthesized, the policy is attached to the parameter key", () => {
      expect(onlyResource(json, "aws_kms_key_policy").props.key_id).toBe(ref(key, "key_id"));
    });

    test("when synthesized, the account root may administer the key but not use it for data", () => {
      const admin = statementBySid(policy, "KeyAdministration");
      expect(admin.principals).toEqual([{ type: "AWS", identifiers: [expect.stringMatching(/^arn:.+:iam::.+:root$/)] }]);
      for (const a of ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom"]) expect(admin.actions).not.toContain(a);
      expect(admin.actions).toEqual(expect.arrayContaining(["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:EnableKeyRotation"]));
    });

    test("when synthesized, no statement delegates data use to the account (every user of the key is named)", () => {
      const root = `arn:aws:iam::${ACCOUNT}:root`;
      const dataActions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"];
      const delegated = policy.filter((s) => s.principals?.some((p) => p.identifiers.includes(root)) && s.actions!.some((a) => dataActions.includes(a)));
      expect(delegated.map((s) => s.sid)).toEqual([]);
    });

    test("when a reader is granted, only that role may decrypt, and only through SSM", () => {
      const dec = statementBySid(policy, "DecryptViaSsmForReaders");
      expect(dec.actions).toEqual(["kms:Decrypt"]);
      expect(dec.principals).toEqual([{ type: "AWS", identifiers: [ref(onlyResource(json, "aws_iam_role"), "arn")] }]);
      expect(dec.condition![0]!.variable).toBe("kms:ViaService");
    });

    test("when deployers are named, they join the readers' decrypt statement (the provider refreshes with decryption) and may encrypt the placeholders, both via SSM only", () => {
      const j = synth({ deployerPrincipalArns: ["arn:aws:iam::111111111111:role/deployer"] }, true);
      expect(statementBySid(keyPolicy(j), "DecryptViaSsmForReaders").principals![0]!.identifiers).toEqual([
        "arn:aws:iam::111111111111:role/deployer",
        ref(onlyResource(j, "aws_iam_role"), "arn"),
      ]);
      const enc = statementBySid(keyPolicy(j), "EncryptViaSsmForWriters");
      expect(enc).toMatchObject({ actions: ["kms:Encrypt", "kms:GenerateDataKey"], principals: [{ type: "AWS", identifiers: ["arn:aws:iam::111111111111:role/deployer"] }] });
      expect(enc.condition).toEqual([{ test: "StringEquals", variable: "kms:ViaService", values: ["ssm.us-east-1.amazonaws.com"] }]);
    });

    test("when nobody is granted, no principal may use the key for data", () => {
      expect(keyPolicy(synth()).map((s) => s.sid)).toEqual(["KeyAdministration"]);
    });
  });

  describe("grantOperate", () => {
    const OPERATOR = "arn:aws:iam::111111111111:role/vibe-digest-test-operator";
    const j = JSON.parse(
      Testing.synthScope((scope: Construct) => {
        const store = new ParameterStore(scope, "parameters", { ...BASE, values: VALUES });
        store.grantOperate(new OperatorPolicy(scope, "operator", { roleArn: OPERATOR, account: ACCOUNT, policyName: "vibe-digest-test-operator" }));
      }),
    ) as TfJson;
    const st = statementsOf(j, onlyResource(j, "aws_iam_role_policy").props.policy);

    test("when an operator is granted, it may read, put and label (for rotation) parameters below the root only", () => {
      expect(statementBySid(st, "OperateDigestParameters")).toMatchObject({
        actions: ["ssm:GetParameter", "ssm:GetParameterHistory", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:LabelParameterVersion", "ssm:PutParameter", "ssm:UnlabelParameterVersion"],
        resources: [`arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/vibecoding`, `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/vibecoding/*`],
      });
    });

    test("when an operator is granted, ssm:DescribeParameters (no resource-level permissions) is its one Resource * statement", () => {
      expect(st.filter((x) => x.resources?.includes("*"))).toEqual([expect.objectContaining({ sid: "OperatorReadsWithoutResourceLevel", actions: ["ssm:DescribeParameters"] })]);
    });

    test("when an operator is granted, the key policy names it for decrypt and encrypt, both via SSM only", () => {
      for (const sid of ["DecryptViaSsmForReaders", "EncryptViaSsmForWriters"]) {
        const k = statementBySid(keyPolicy(j), sid);
        expect(k.principals).toEqual([{ type: "AWS", identifiers: [OPERATOR] }]);
        expect(k.condition).toEqual([{ test: "StringEquals", variable: "kms:ViaService", values: ["ssm.us-east-1.amazonaws.com"] }]);
      }
    });
  });

  describe("the recipients parameter's tier", () => {
    const recipients = (n: number) => Array.from({ length: n }, (_, i) => `reader-${String(i).padStart(4, "0")}@vibedigest.example.com`).join(",");
    const tierOf = (toAddress: string) => parameterNamed(synth({ values: { ...VALUES, toAddress } }), "/vibecoding/email/to_address").props.tier;

    test("when the list fits 4 KB, it is a Standard (free) parameter", () => {
      expect(Buffer.byteLength(recipients(100))).toBeLessThanOrEqual(4096);
      expect(tierOf(recipients(100))).toBe("Standard");
    });

    test("when the list is over 4 KB and within 8 KB, it is an Advanced parameter (SSM's Standard tier would refuse it)", () => {
      expect(Buffer.byteLength(recipients(150))).toBeGreaterThan(4096);
      expect(Buffer.byteLength(recipients(150))).toBeLessThanOrEqual(8192);
      expect(tierOf(recipients(150))).toBe("Advanced");
    });

    test("when the list is over 8 KB, synth refuses it naming the bound, not the addresses (the sender refuses the same list)", () => {
      expect(parseRecipientList(recipients(400)).ok).toBe(false);
      expect(parseRecipientList(recipients(150)).ok).toBe(true);
      let err: unknown;
      try {
        synth({ values: { ...VALUES, toAddress: recipients(400) } });
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: "VALUE_INVALID", subject: "values.toAddress", bound: expect.stringContaining("8192 bytes") });
      expect((err as Error).message).not.toContain("reader-0001");
    });

    test.each(["fromAddress", "feeds"] as const)("when %s is over 4 KB, synth refuses it (it stays a Standard parameter)", (k) => {
      const big = k === "feeds" ? JSON.stringify(Array.from({ length: 80 }, (_, i) => ({ url: `https://feeds.example.com/${"x".repeat(30)}/${i}.rss`, name: `Feed ${i}` }))) : `${"a".repeat(60)}@${"b".repeat(4100)}.com`;
      expect(() => synth({ values: { ...VALUES, [k]: big } })).toThrow(expect.objectContaining({ code: expect.stringMatching(/VALUE_INVALID|EMAIL_ADDRESS_INVALID/) }) as unknown as Error);
    });
  });

  describe("the feed allow-list parameter", () => {
    test("when feed_hosts covers every feed, it is a StringList of the patterns", () => {
      const j = synth({ values: { ...VALUES, feedHosts: "*.example.com,feeds.example.com" } });
      expect(parameterNamed(j, "/vibecoding/digest/feed_hosts").props).toMatchObject({ type: "StringList", value: "*.example.com,feeds.example.com" });
    });

    test.each([
      ["a host the feeds are not on", "other.example.org"],
      ["the apex only (a wildcard does not match the apex, and the apex no subdomain)", "example.com"],
      ["a pattern of another form", "feeds.*.com"],
    ])("when feed_hosts is %s, synth refuses the feeds the sender would refuse", (_what, feedHosts) => {
      expect(() => synth({ values: { ...VALUES, feedHosts } })).toThrow(expect.objectContaining({ code: "FEEDS_INVALID" }) as unknown as Error);
    });
  });

  describe("with the AWS managed aws/ssm key", () => {
    const managed = synth({ useAwsManagedKey: true }, true);

    test("when chosen, no key or key policy is declared and SecureStrings use alias/aws/ssm", () => {
      expect(resources(managed, "aws_kms_key")).toHaveLength(0);
      expect(resources(managed, "aws_kms_key_policy")).toHaveLength(0);
      for (const p of resources(managed, "aws_ssm_parameter").filter((r) => r.props.type === "SecureString")) {
        expect(p.props.key_id).toBe(AWS_MANAGED_SSM_KEY);
      }
    });

    test("when chosen, grantRead adds only the SSM statement (the managed key's own policy allows decrypt via SSM)", () => {
      const st = statementsOf(managed, onlyResource(managed, "aws_iam_role_policy").props.policy);
      expect(st.map((s) => s.sid)).toEqual(["ReadDigestParameters"]);
      expect(st[0]!.resources![0]).toMatch(/:parameter\/vibecoding$/);
    });
  });

  const BAD: [string, Partial<ParameterStoreProps>, string][] = [
    ["an empty path", { path: "" }, "PARAMETER_ROOT_INVALID"],
    ["a relative path", { path: "vibecoding" }, "PARAMETER_ROOT_INVALID"],
    ["a trailing slash", { path: "/vibecoding/" }, "PARAMETER_ROOT_INVALID"],
    ["a reserved /aws path", { path: "/aws/digest" }, "PARAMETER_ROOT_INVALID"],
    ["a path with a space", { path: "/vibe coding" }, "PARAMETER_ROOT_INVALID"],
    ["a bad prefix", { namePrefix: "bad prefix!" }, "NAME_INVALID"],
    ["a 3-day deletion window", { keyDeletionWindowDays: 3 }, "VALUE_INVALID"],
    ["a bad region", { region: "mars-north-1x" }, "REGION_INVALID"],
    ["a from address without @", { values: { ...VALUES, fromAddress: "digest.example.com" } }, "EMAIL_ADDRESS_INVALID"],
    ["a recipient without a TLD", { values: { ...VALUES, toAddress: "ok@example.com,a@b" } }, "EMAIL_ADDRESS_INVALID"],
    ["use_ses yes", { values: { ...VALUES, useSes: "yes" } }, "VALUE_INVALID"],
    ["ses_percent 101", { values: { ...VALUES, sesPercent: "101" } }, "PERCENT_OUT_OF_RANGE"],
    ["ses_percent -1", { values: { ...VALUES, sesPercent: "-1" } }, "PERCENT_OUT_OF_RANGE"],
    ["ses_percent 12.5", { values: { ...VALUES, sesPercent: "12.5" } }, "PERCENT_OUT_OF_RANGE"],
    ["feeds that are neither JSON nor URLs", { values: { ...VALUES, feeds: "{not json" } }, "FEEDS_INVALID"],
    ["an empty feed list", { values: { ...VALUES, feeds: "[]" } }, "FEEDS_INVALID"],
    ["a feed without a name", { values: { ...VALUES, feeds: '[{"url":"https://a.example.com/x.rss"}]' } }, "FEEDS_INVALID"],
    ["an ftp feed", { values: { ...VALUES, feeds: '[{"url":"ftp://a.example.com/x","name":"x"}]' } }, "FEEDS_INVALID"],
    ["a bad region value", { values: { ...VALUES, awsRegion: "useast1" } }, "REGION_INVALID"],
    ["an http unsubscribe URL", { values: { ...VALUES, unsubscribeUrl: "http://example.com/u" } }, "URL_INVALID"],
    ["an empty value", { values: { ...VALUES, useSes: "" } }, "VALUE_INVALID"],
    ["a missing required from address", { values: { ...VALUES, fromAddress: undefined } }, "VALUE_INVALID"],
    ["an unknown parameter key", { values: { ...VALUES, nope: "x" } as never }, "VALUE_INVALID"],
    ["a value for a secret parameter", { values: { ...VALUES, sendgridApiKey: "x" } as never }, "SECRET_VALUE_REJECTED"],
    ["a plain key in secrets", { secrets: ["fromAddress"] as never }, "VALUE_INVALID"],
  ];

  test.each(BAD)("when given %s, it throws ConfigError %s naming the construct", (_what, props, code) => {
    let err: unknown;
    try {
      synth(props);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe(code);
    expect((err as ConfigError).constructPath).toBe("stack/parameters");
  });
});

/**
 * The stack must never write a value the sender then refuses to load, nor refuse one the
 * sender would load: for each value below, the construct accepts it exactly when the
 * sender's parseConfig does. Left out: the empty string and values over 4096 characters
 * (the sender's 1000-recipient and 200-feed bounds lie beyond that), which SSM cannot
 * store, so the stack rejects them for that reason alone.
 */
describe("ParameterStore accepts exactly what the sender accepts", () => {
  const long = `${"a".repeat(64)}@${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(60)}.com`; // 255 characters
  const feeds = (n: number, name = "F") => JSON.stringify(Array.from({ length: n }, (_, i) => ({ url: `https://feeds.example.com/${i}.rss`, name })));
  type Key = keyof ParameterStoreProps["values"];
  const rows = (key: Key, values: string[]): [Key, string][] => values.map((v) => [key, v]);
  const CASES: [Key, string][] = [
    ...rows("fromAddress", ["digest@vibedigest.example.com", "a.b@x.com", "a+tag@x.co", " padded@example.com ", "a..b@x.com", "a!b@x.com", "a/b@x.com", "a@b", "a@x.c", "no-at.example.com", "two@x.com,three@x.com", "unset", long]),
    ...rows("toAddress", ["a@example.com", "a@example.com,b@example.org", " a@example.com , b@example.org ", "a@example.com,", "a@example.com,,b@example.org", "a@example.com,a..b@x.com", "a@example.com;b@example.org", "a!b@x.com", ","]),
    ...rows("feeds", [
      feeds(1),
      feeds(3),
      feeds(1, " "),
      feeds(1, "x".repeat(201)),
      "https://a.example.com/x.rss, http://b.example.org/atom",
      "https://a.example.com/x.rss,",
      "[]",
      "[not json",
      "{not json",
      '[{"url":"ftp://a.example.com/x","name":"x"}]',
      '[{"url":"javascript:alert(1)","name":"x"}]',
      '[{"url":"https://user:pw@a.example.com/x","name":"x"}]',
      '[{"url":"https://a.example.com/x"}]',
      '[{"url":"https://a.example.com/x","name":"x","extra":1}]',
      '{"url":"https://a.example.com/x","name":"x"}',
    ]),
    ...rows("awsRegion", ["us-east-1", "eu-central-2", "us-gov-west-1", "us-isob-east-1", "ap-southeast-10", "moon-base", "useast1", "mars-north-1x", "US-EAST-1", "us-east-1a"]),
    ...rows("unsubscribeUrl", ["https://digest.example/unsubscribe", "mailto:leave@example.com", "none", "http://insecure.example/u", "javascript:alert(1)", "ftp://x.example/", "https://user:pw@digest.example/u", "https://[::", "mailto:nobody", "https://a b.example/"]),
    ...rows("sesPercent", ["0", "25", "100", " 25 ", "007", "101", "-1", "12.5", "1e2", "ten", "none"]),
    ...rows("useSes", ["true", "false", "TRUE", " false ", "yes", "1", "none"]),
  ];

  function stackAccepts(key: Key, value: string): boolean {
    try {
      synth({ values: { ...VALUES, [key]: value } });
      return true;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      return false;
    }
  }

  function senderAccepts(key: Key, value: string): boolean {
    const values = new Map<string, string>();
    for (const [k, v] of Object.entries({ ...VALUES, [key]: value })) if (v !== undefined) values.set(parameterName("/vibecoding", k as ParameterKey), v);
    try {
      parseConfig("/vibecoding", values);
      return true;
    } catch (e) {
      if (!(e instanceof Error) || !["CONFIG_INVALID", "CONFIG_MISSING"].includes((e as { code?: string }).code ?? "")) throw e;
      return false;
    }
  }

  test.each(CASES.map(([k, v]) => [k, v.length > 80 ? `${v.slice(0, 60)}... (${v.length} chars)` : v, v] as const))("when %s is %p, the stack and the sender agree", (key, _shown, value) => {
    expect(stackAccepts(key, value)).toBe(senderAccepts(key, value));
  });

  test("when the table is run, it has values both accept and values both reject for every parameter", () => {
    for (const key of new Set(CASES.map(([k]) => k))) {
      const verdicts = new Set(CASES.filter(([k]) => k === key).map(([k, v]) => senderAccepts(k, v)));
      expect([key, [...verdicts].sort()]).toEqual([key, [false, true]]);
    }
  });
});
