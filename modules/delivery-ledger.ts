/**
 * The sender's delivery ledger: a DynamoDB table, one item per digest date and recipient,
 * that the sender writes with conditional updates so each recipient gets a digest once.
 * On-demand billing, encrypted with the given customer-managed key, TTL on old items,
 * point-in-time recovery and deletion protection on. The key schema and the TTL attribute
 * come from the contract the sender imports, so they cannot drift.
 */
import { Construct } from "constructs";
import { DynamodbTable } from "@cdktf/provider-aws/lib/dynamodb-table";
import { LEDGER } from "../app/src/contract";
import type { CustomerManagedKey } from "./customer-managed-key";
import type { IGrantee } from "./policy";
import { assertLedgerTableName, configFail } from "./validate";

/** Props for {@link DeliveryLedger}. */
export interface DeliveryLedgerProps {
  /** Table name, e.g. "vibe-digest-prod-delivery-ledger" (3-255 of A-Z a-z 0-9 _ . -). */
  readonly tableName: string;
  /** The stack's customer-managed key; the table is encrypted with it (SSE-KMS), and grants
   *  name the grantee in its key policy (kms:ViaService of the key's region). */
  readonly encryptionKey: CustomerManagedKey;
  /** Continuous backups for 35 days. @default true */
  readonly pointInTimeRecovery?: boolean;
  /**
   * Refuse to delete the table (Terraform destroy fails until it is turned off). A local
   * stage on moto, which is reset instead of destroyed, may turn it off.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/** Typed attributes of a {@link DeliveryLedger}. */
export interface DeliveryLedgerOutputs {
  /** What the task definition passes as VIBE_LEDGER_TABLE. */
  readonly tableName: string;
  readonly tableArn: string;
}

/** KMS actions a principal needs to read and write items of a table under a customer-managed key
 *  (spelled out: the invariants allow no wildcard action). */
export const LEDGER_KEY_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"] as const;

/** The delivery ledger table. */
export class DeliveryLedger extends Construct {
  readonly table: DynamodbTable;
  readonly outputs: DeliveryLedgerOutputs;
  private readonly key: CustomerManagedKey;
  private readonly tableName: string;

  constructor(scope: Construct, id: string, props: DeliveryLedgerProps) {
    super(scope, id);
    // The same rule as the sender's VIBE_LEDGER_TABLE check (app/src/validation.ts).
    assertLedgerTableName(this, "tableName", props.tableName);
    if (!props.encryptionKey?.arn) configFail(this, "VALUE_INVALID", "encryptionKey", "a KMS key (the stack's customer-managed key)");
    this.key = props.encryptionKey;
    this.tableName = props.tableName;

    this.table = new DynamodbTable(this, "table", {
      name: props.tableName,
      billingMode: "PAY_PER_REQUEST",
      hashKey: LEDGER.partitionKey,
      rangeKey: LEDGER.sortKey,
      attribute: [
        { name: LEDGER.partitionKey, type: "S" },
        { name: LEDGER.sortKey, type: "S" },
      ],
      ttl: { attributeName: LEDGER.ttlAttribute, enabled: true },
      serverSideEncryption: { enabled: true, kmsKeyArn: props.encryptionKey.arn },
      pointInTimeRecovery: { enabled: props.pointInTimeRecovery ?? true },
      deletionProtectionEnabled: props.deletionProtection ?? true,
    });
    this.outputs = { tableName: this.table.name, tableArn: this.table.arn };
  }

  /** The main resource. */
  get resource(): DynamodbTable {
    return this.table;
  }

  /**
   * Lets `grantee` use the ledger as the sender does (and an operator's `ledger status` and
   * `ledger resend`): dynamodb:GetItem, UpdateItem and Query on this table only (no PutItem,
   * DeleteItem, Scan or table management), and the key's data actions only when DynamoDB
   * calls KMS for it (kms:ViaService), in the grantee's policy and in the key policy.
   */
  grantReadWrite(grantee: IGrantee): void {
    grantee.addToPrincipalPolicy({
      sid: "DeliveryLedgerReadWrite",
      actions: [...LEDGER.actions],
      // Built from the name: known in every plan, even one that replaces the table.
      resources: [this.key.regionalArn("dynamodb", `table/${this.tableName}`)],
    });
    this.key.grantUseVia(grantee, "dynamodb", LEDGER_KEY_ACTIONS, "DeliveryLedgerKeyViaDynamoDb", "UseViaDynamoDbForLedgerWriters");
  }
}
