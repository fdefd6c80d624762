import { CustomerManagedKey, KEY_ADMIN_ACTIONS } from "../../modules/customer-managed-key";
import { EncryptedLogGroup } from "../../modules/encrypted-log-group";
import { TaskRole } from "../../modules/task-role";
import { synthWith, thrownBy } from "../support/construct-fixtures";
import { onlyResource, ref, resources, statementBySid, statementsOf, type TfJson } from "../support/tf-json";

function keyPolicy(json: TfJson) {
  return statementsOf(json, onlyResource(json, "aws_kms_key_policy").props.policy);
}

describe("CustomerManagedKey", () => {
  const json = synthWith(() => undefined);
  const key = onlyResource(json, "aws_kms_key");

  test("when synthesized, it is a rotating symmetric key with a 30-day deletion window and an alias", () => {
    expect(key.props).toMatchObject({ enable_key_rotation: true, customer_master_key_spec: "SYMMETRIC_DEFAULT", deletion_window_in_days: 30 });
    expect(onlyResource(json, "aws_kms_alias").props).toMatchObject({ name: "alias/test-ops", target_key_id: ref(key, "key_id") });
  });

  test("when synthesized, its policy is a separate resource naming the account from the props, never from the key's ARN", () => {
    const admin = statementBySid(keyPolicy(json), "KeyAdministration");
    expect(admin.principals![0]!.identifiers[0]).toBe("arn:aws:iam::111111111111:root");
    expect(admin.actions).toEqual([...KEY_ADMIN_ACTIONS]);
    expect(JSON.stringify(keyPolicy(json))).not.toContain(key.address);
  });

  test("when an identity policy names the key, it uses the account's key/* ARN and the key's alias, both known before apply", () => {
    const j = synthWith((f) => {
      const role = new TaskRole(f.stack, "role", { roleName: "vd-task" });
      f.key.grantUseVia(role, "sqs", ["kms:Decrypt"], "UseKeyViaSqs", "RoleUsesKeyViaSqs");
    });
    const st = statementBySid(statementsOf(j, onlyResource(j, "aws_iam_role_policy").props.policy), "UseKeyViaSqs");
    expect(st).toMatchObject({
      actions: ["kms:Decrypt"],
      resources: ["arn:aws:kms:us-east-1:111111111111:key/*"],
      condition: [
        { test: "StringEquals", variable: "kms:ViaService", values: ["sqs.us-east-1.amazonaws.com"] },
        { test: "ForAnyValue:StringEquals", variable: "kms:ResourceAliases", values: ["alias/test-ops"] },
      ],
    });
    const k = statementBySid(keyPolicy(j), "RoleUsesKeyViaSqs");
    expect(k).toMatchObject({ actions: ["kms:Decrypt"], principals: [{ type: "AWS", identifiers: [ref(onlyResource(j, "aws_iam_role"), "arn")] }] });
    expect(k.condition).toEqual([{ test: "StringEquals", variable: "kms:ViaService", values: ["sqs.us-east-1.amazonaws.com"] }]);
  });

  test.each([
    ["an account of 11 digits", { account: "11111111111" }],
    ["an account with letters", { account: "11111111111a" }],
    ["a bad region", { region: "moon-1" }],
  ])("when given %s, it throws", (_what, patch) => {
    expect(thrownBy((f) => new CustomerManagedKey(f.stack, "k2", { description: "x", alias: "x", account: "111111111111", region: "us-east-1", ...patch })).code).toMatch(/VALUE_INVALID|REGION_INVALID/);
  });

  test("when defaults apply, no statement allows kms:CreateGrant (a grantee could grant itself Decrypt without a key-policy diff)", () => {
    expect(keyPolicy(json).filter((s) => (s.actions ?? []).some((a) => /^kms:(CreateGrant|\*)$/i.test(a))).map((s) => s.sid)).toEqual([]);
  });

  test("when AWS service grants are allowed, kms:CreateGrant is its own statement limited to grants for AWS resources", () => {
    const j = synthWith((f) => new CustomerManagedKey(f.stack, "ops", { description: "ops", alias: "test-ops-2", allowAwsServiceGrants: true, account: "111111111111", region: "us-east-1" }));
    const policies = resources(j, "aws_kms_key_policy").map((p) => statementsOf(j, p.props.policy));
    const withGrant = policies.flat().filter((s) => (s.actions ?? []).includes("kms:CreateGrant"));
    expect(withGrant).toHaveLength(1);
    expect(withGrant[0]).toMatchObject({
      sid: "GrantsForAwsServicesOnly",
      actions: ["kms:CreateGrant"],
      condition: [{ test: "Bool", variable: "kms:GrantIsForAWSResource", values: ["true"] }],
    });
  });

  test("when two log groups are granted, the logs statement lists both log-group ARNs in one condition", () => {
    const j = synthWith((f) => {
      new EncryptedLogGroup(f.stack, "a", { logGroupName: "/t/a", key: f.key, region: "us-east-1" });
      new EncryptedLogGroup(f.stack, "b", { logGroupName: "/t/b", key: f.key, region: "us-east-1" });
    });
    const logs = statementBySid(keyPolicy(j), "CloudWatchLogsEncryptLogGroups");
    expect(logs.principals).toEqual([{ type: "Service", identifiers: ["logs.us-east-1.amazonaws.com"] }]);
    expect(logs.condition).toHaveLength(1);
    expect(logs.condition![0]!.variable).toBe("kms:EncryptionContext:aws:logs:arn");
    expect(logs.condition![0]!.values.map((x) => x.split(":log-group:")[1])).toEqual(["/t/a", "/t/b"]);
  });

  test("when the same sid is granted with other actions, it throws VALUE_INVALID", () => {
    const err = thrownBy((f) => {
      f.key.grantToService("Same", "a.amazonaws.com", ["kms:Decrypt"]);
      f.key.grantToService("Same", "b.amazonaws.com", ["kms:Encrypt"]);
    });
    expect(err.code).toBe("VALUE_INVALID");
  });

  test("when a statement has no principal, it throws VALUE_INVALID", () => {
    expect(thrownBy((f) => f.key.addToResourcePolicy({ sid: "X", actions: ["kms:Decrypt"], resources: ["*"] })).code).toBe("VALUE_INVALID");
  });
});

describe("EncryptedLogGroup", () => {
  test("when synthesized, the log group is encrypted with the CMK and kept 365 days", () => {
    const j = synthWith((f) => new EncryptedLogGroup(f.stack, "lg", { logGroupName: "/t/x", key: f.key, region: "us-east-1" }));
    expect(onlyResource(j, "aws_cloudwatch_log_group").props).toMatchObject({
      name: "/t/x",
      kms_key_id: ref(onlyResource(j, "aws_kms_key"), "arn"),
      retention_in_days: 365,
    });
  });

  test.each([30, 364, 366])("when retention is %p days, it throws VALUE_INVALID", (days) => {
    expect(thrownBy((f) => new EncryptedLogGroup(f.stack, "lg", { logGroupName: "/t/x", key: f.key, region: "us-east-1", retentionDays: days })).code).toBe("VALUE_INVALID");
  });
});
