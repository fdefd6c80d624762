import { readEnv } from "../../app/src/cli";
import { LEDGER } from "../../app/src/contract";
import { DeliveryLedger, LEDGER_KEY_ACTIONS, type DeliveryLedgerProps } from "../../modules/delivery-ledger";
import { TaskRole } from "../../modules/task-role";
import { synthWith, thrownBy, type Fixture } from "../support/construct-fixtures";
import { onlyResource, ref, resources, statementBySid, statementsOf, type TfJson } from "../support/tf-json";

function build(f: Fixture, props: Partial<DeliveryLedgerProps> = {}): void {
  const ledger = new DeliveryLedger(f.stack, "ledger", { tableName: "vd-delivery-ledger", encryptionKey: f.key, ...props });
  ledger.grantReadWrite(new TaskRole(f.stack, "role", { roleName: "vd-task" }));
}
const synth = (props: Partial<DeliveryLedgerProps> = {}): TfJson => synthWith((f) => build(f, props));

describe("DeliveryLedger", () => {
  const json = synth();
  const table = onlyResource(json, "aws_dynamodb_table");
  const keyArn = ref(onlyResource(json, "aws_kms_key"), "arn");
  const keyScope = { resources: ["arn:aws:kms:us-east-1:111111111111:key/*"], alias: { test: "ForAnyValue:StringEquals", variable: "kms:ResourceAliases", values: ["alias/test-ops"] } };

  test("when synthesized, the key schema and TTL are the contract's", () => {
    expect(table.props).toMatchObject({
      hash_key: LEDGER.partitionKey,
      range_key: LEDGER.sortKey,
      attribute: [{ name: LEDGER.partitionKey, type: "S" }, { name: LEDGER.sortKey, type: "S" }],
      ttl: { attribute_name: LEDGER.ttlAttribute, enabled: true },
    });
  });

  test("when synthesized, it is on-demand, encrypted with the CMK, with point-in-time recovery and deletion protection", () => {
    expect(table.props).toMatchObject({
      billing_mode: "PAY_PER_REQUEST",
      server_side_encryption: { enabled: true, kms_key_arn: keyArn },
      point_in_time_recovery: { enabled: true },
      deletion_protection_enabled: true,
    });
  });

  test("when granted, the sender may GetItem, UpdateItem and Query this table only", () => {
    const st = statementsOf(json, resources(json, "aws_iam_role_policy")[0]!.props.policy);
    expect(statementBySid(st, "DeliveryLedgerReadWrite")).toMatchObject({ actions: [...LEDGER.actions], resources: ["arn:aws:dynamodb:us-east-1:111111111111:table/vd-delivery-ledger"] });
  });

  test("when granted, the key may be used only via DynamoDB, in the role's policy and in the key policy", () => {
    const st = statementsOf(json, resources(json, "aws_iam_role_policy")[0]!.props.policy);
    const via = [{ test: "StringEquals", variable: "kms:ViaService", values: ["dynamodb.us-east-1.amazonaws.com"] }];
    expect(statementBySid(st, "DeliveryLedgerKeyViaDynamoDb")).toMatchObject({ actions: [...LEDGER_KEY_ACTIONS], resources: keyScope.resources, condition: [...via, keyScope.alias] });
    const keyPolicy = statementsOf(json, onlyResource(json, "aws_kms_key_policy").props.policy);
    expect(statementBySid(keyPolicy, "UseViaDynamoDbForLedgerWriters")).toMatchObject({ principals: [{ type: "AWS", identifiers: [ref(onlyResource(json, "aws_iam_role"), "arn")] }], condition: via });
  });

  test("when the key actions are listed, none is a wildcard", () => {
    for (const a of LEDGER_KEY_ACTIONS) expect(a).not.toContain("*");
  });

  test("when deletion protection is turned off (moto is reset, not destroyed), the table says so", () => {
    expect(onlyResource(synth({ deletionProtection: false }), "aws_dynamodb_table").props.deletion_protection_enabled).toBe(false);
  });

  test.each([
    ["a too-short name", "NAME_INVALID", { tableName: "ab" }],
    ["a name with a slash", "NAME_INVALID", { tableName: "a/b" }],
  ])("when given %s, it throws %s", (_what, code, props) => {
    expect(thrownBy((f) => build(f, props as Partial<DeliveryLedgerProps>)).code).toBe(code);
  });

  test.each(["vd-delivery-ledger", "a.b_c-1", "abc", "ab", "a/b", "a b", "tábla", "x".repeat(255), "x".repeat(256)])(
    "when the table name is %p, the construct accepts it exactly when the sender's VIBE_LEDGER_TABLE check does",
    (name) => {
      const stackAccepts = (() => {
        try {
          synth({ tableName: name });
          return true;
        } catch {
          return false;
        }
      })();
      const senderAccepts = (() => {
        try {
          readEnv({ VIBE_LEDGER_TABLE: name }, false);
          return true;
        } catch {
          return false;
        }
      })();
      expect(stackAccepts).toBe(senderAccepts);
    },
  );
});
