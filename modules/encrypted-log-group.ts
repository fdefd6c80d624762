/**
 * A CloudWatch log group encrypted with our CMK and kept at least a year. The key policy
 * gets the matching grant for the CloudWatch Logs service, limited to this log group by
 * its encryption context.
 */
import { Construct } from "constructs";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import type { CustomerManagedKey } from "./customer-managed-key";
import { ConfigError } from "./errors";
import type { IGrantee } from "./policy";
import { assertIntegerInRange } from "./validate";

/** Retention values CloudWatch Logs accepts (days). */
const RETENTIONS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** Props for {@link EncryptedLogGroup}. */
export interface EncryptedLogGroupProps {
  /** Log group name, e.g. "/vibe-digest-prod/sender". */
  readonly logGroupName: string;
  readonly key: CustomerManagedKey;
  readonly region: string;
  /** Days to keep events; at least 365. @default 365 */
  readonly retentionDays?: number;
}

/** A KMS-encrypted log group with a retention of a year or more. */
export class EncryptedLogGroup extends Construct {
  readonly logGroup: CloudwatchLogGroup;
  /** ARN of the log group without the trailing ":*". */
  readonly arn: string;

  constructor(scope: Construct, id: string, props: EncryptedLogGroupProps) {
    super(scope, id);
    const retention = props.retentionDays ?? 365;
    assertIntegerInRange(this, "VALUE_INVALID", "retentionDays", retention, 365, 3653);
    if (!RETENTIONS.includes(retention)) {
      throw new ConfigError("VALUE_INVALID", this.node.path, "retentionDays", `one of CloudWatch's values (${RETENTIONS.filter((r) => r >= 365).join(", ")})`);
    }
    if (!/^[A-Za-z0-9_\-/.#]{1,512}$/.test(props.logGroupName)) {
      throw new ConfigError("NAME_INVALID", this.node.path, "logGroupName", "a CloudWatch log group name");
    }
    const { key } = props;
    this.arn = `arn:${key.partition}:logs:${props.region}:${key.account}:log-group:${props.logGroupName}`;
    key.grantToService(
      "CloudWatchLogsEncryptLogGroups",
      `logs.${props.region}.amazonaws.com`,
      ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
      [{ test: "ArnEquals", variable: "kms:EncryptionContext:aws:logs:arn", values: [this.arn] }],
    );
    this.logGroup = new CloudwatchLogGroup(this, "log-group", {
      name: props.logGroupName,
      kmsKeyId: key.arn,
      retentionInDays: retention,
    });
  }

  get resource(): CloudwatchLogGroup {
    return this.logGroup;
  }

  /** Lets `grantee` create streams and put events in this log group only. */
  grantWrite(grantee: IGrantee, sid: string): void {
    grantee.addToPrincipalPolicy({
      sid,
      actions: ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
      resources: [this.arn, `${this.arn}:log-stream:*`],
    });
  }
}
