/**
 * One deployable stage of vibe-digest: composes the constructs, wires their grants and
 * exports the attributes that scripts and the sender's operators need. It writes no
 * policy JSON: every permission comes from a construct's `grantXxx` method.
 */
import "./cdktf-node24";
import { Construct } from "constructs";
import { LocalBackend, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { AwsProvider, type AwsProviderEndpoints } from "@cdktf/provider-aws/lib/provider";
import { ENV } from "../app/src/contract";
import { CustomerManagedKey } from "./customer-managed-key";
import { DeliveryLedger } from "./delivery-ledger";
import { ConfigError } from "./errors";
import { Monitoring } from "./monitoring";
import { Network } from "./network";
import { ParameterStore, secretKeysFor } from "./parameter-store";
import { ScheduledTask } from "./scheduled-task";
import { SenderIdentity } from "./sender-identity";
import { STACK_SERVICES, type StageConfig } from "./stages";
import { TaskRole } from "./task-role";
import { assertEmail, assertIntegerInRange, assertRegion, assertUrl } from "./validate";

/** Props for {@link DigestStack}. */
export interface DigestStackProps {
  readonly stage: StageConfig;
}

/** Names of the stack's Terraform outputs (scripts read them with `terraform output -json`). */
export const STACK_OUTPUTS = {
  parameterRoot: "parameter_root",
  kmsKeyArn: "kms_key_arn",
  kmsKeyId: "kms_key_id",
  fromAddress: "from_address",
  region: "region",
  taskRoleArn: "task_role_arn",
  parameterNames: "parameter_names",
  configurationSet: "configuration_set",
  repositoryUrl: "ecr_repository_url",
  clusterName: "ecs_cluster_name",
  taskDefinitionArn: "task_definition_arn",
  alarmTopicArn: "alarm_topic_arn",
  vpcId: "vpc_id",
  ledgerTable: "ledger_table",
  runtimeParameterNames: "runtime_parameter_names",
} as const;

/** Where the sender writes rendered mail inside the container (the only writable path). */
export const CONTAINER_OUT_DIR = "/tmp/out";

export class DigestStack extends TerraformStack {
  readonly stage: StageConfig;
  readonly operationsKey: CustomerManagedKey;
  readonly parameters: ParameterStore;
  readonly sender: SenderIdentity;
  readonly taskRole: TaskRole;
  readonly network: Network;
  readonly task: ScheduledTask;
  readonly monitoring: Monitoring;
  readonly ledger: DeliveryLedger;

  constructor(scope: Construct, props: DigestStackProps) {
    const { stage } = props;
    super(scope, stage.stackName);
    this.stage = stage;
    assertRegion(this, "stage.region", stage.region);
    assertIntegerInRange(this, "PERCENT_OUT_OF_RANGE", "stage.sesPercent", stage.sesPercent, 0, 100);
    if (stage.toAddresses.length === 0) throw new ConfigError("VALUE_INVALID", this.node.path, "stage.toAddresses", "at least one address");
    for (const a of stage.toAddresses) assertEmail(this, "stage.toAddresses", a);
    for (const [i, f] of stage.feeds.entries()) assertUrl(this, `stage.feeds[${i}].url`, f.url);

    configureProvider(this, stage);
    configureBackend(this, stage);
    const prefix = stage.stackName;
    const omitted = new Set(stage.omit);

    // One key for operational data (logs, topics, queue, images, ledger); the parameters have
    // their own, which allows no grants at all. ECR and DynamoDB create grants on this one
    // when a repository or table is created with it, so it allows grants for AWS services only.
    this.operationsKey = new CustomerManagedKey(this, "operations-key", {
      description: `${prefix}: encrypts logs, topics, the dead-letter queue, images and the ledger`,
      alias: `${prefix}-operations`,
      allowAwsServiceGrants: true,
    });
    const key = this.operationsKey;

    this.taskRole = new TaskRole(this, "task-role", {
      roleName: `${prefix}-task`,
      trustConditions: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [key.account] }],
    });

    this.sender = new SenderIdentity(this, "sender", {
      namePrefix: prefix,
      domain: stage.domain,
      fromAddress: stage.fromAddress,
      key,
      region: stage.region,
      hostedZoneId: stage.hostedZoneId,
      dmarcPolicy: stage.dmarcPolicy,
      domainIdentity: !omitted.has("sesDomainIdentity"),
      configurationSet: !omitted.has("sesConfigurationSet"),
      eventDestinations: !omitted.has("sesEventDestinations"),
    });

    const secrets = secretKeysFor({ staticCredentials: stage.credentialsMode === "access-key", unsubscribeUrl: stage.unsubscribeUrl });
    this.parameters = new ParameterStore(this, "parameters", {
      namePrefix: prefix,
      path: stage.parameterRoot,
      region: stage.region,
      useAwsManagedKey: stage.parameterKey === "aws-managed",
      secrets,
      deployerPrincipalArns: stage.deployerRoleName ? [`arn:${key.partition}:iam::${key.account}:role/${stage.deployerRoleName}`] : [],
      values: {
        awsRegion: stage.region,
        fromAddress: stage.fromAddress,
        toAddress: stage.toAddresses.join(","),
        useSes: String(stage.useSes),
        sesPercent: String(stage.sesPercent),
        feeds: JSON.stringify(stage.feeds),
        ...(stage.unsubscribeUrl ? { unsubscribeUrl: stage.unsubscribeUrl } : {}),
        ...(this.sender.outputs.configurationSetName ? { configurationSet: this.sender.outputs.configurationSetName } : {}),
      },
    });

    // Exactly-once delivery: the sender claims (date, recipient) items with conditional writes.
    this.ledger = new DeliveryLedger(this, "ledger", {
      tableName: `${prefix}-delivery-ledger`,
      encryptionKey: key,
      region: stage.region,
      // On moto the stage is reset, never destroyed; real stages refuse deletion.
      deletionProtection: stage.target.kind === "aws",
    });

    this.network = new Network(this, "network", {
      namePrefix: prefix,
      region: stage.region,
      availabilityZones: stage.availabilityZones,
      cidr: stage.network.cidr,
      key,
      allowInternetEgress: stage.network.allowInternetEgress,
    });

    this.task = new ScheduledTask(this, "task", {
      namePrefix: prefix,
      region: stage.region,
      key,
      taskRole: this.taskRole,
      imageTag: stage.imageTag,
      subnetIds: this.network.outputs.privateSubnetIds,
      securityGroupId: this.network.outputs.taskSecurityGroupId,
      scheduleExpression: stage.schedule.expression,
      scheduleTimezone: stage.schedule.timezone,
      catchUpExpressions: stage.schedule.catchUp,
      environment: {
        [ENV.parameterRoot]: stage.parameterRoot,
        [ENV.region]: stage.region,
        [ENV.outDir]: CONTAINER_OUT_DIR,
        [ENV.logFormat]: "json",
        [ENV.ledgerTable]: this.ledger.outputs.tableName,
        // The metrics' Stage dimension: the value this stage's alarms select (below).
        [ENV.stage]: stage.name,
      },
    });

    this.monitoring = new Monitoring(this, "monitoring", {
      namePrefix: prefix,
      key,
      alarmEmail: stage.alarmEmail,
      stage: stage.name,
      costAnomalyMonitor: !omitted.has("costAnomalyMonitor"),
      task: {
        clusterArn: this.task.outputs.clusterArn,
        scheduleGroupName: this.task.outputs.scheduleGroupName,
        deadLetterQueueName: this.task.outputs.deadLetterQueueName,
      },
    });

    // The task role's whole permission set, one grant per need. No cloudwatch:PutMetricData:
    // the sender's metrics are EMF lines in its log stream (the execution role writes those).
    this.sender.grantSend(this.taskRole);
    this.parameters.grantRead(this.taskRole);
    this.parameters.grantWriteRuntime(this.taskRole);
    this.ledger.grantReadWrite(this.taskRole);

    const out = (id: string, value: unknown, description: string): void => {
      new TerraformOutput(this, id, { value, description });
    };
    out(STACK_OUTPUTS.parameterRoot, this.parameters.outputs.root, "Root of the Parameter Store hierarchy");
    out(STACK_OUTPUTS.kmsKeyArn, this.parameters.outputs.keyArn, "ARN of the CMK that encrypts the SecureStrings (alias/aws/ssm with the managed key)");
    out(STACK_OUTPUTS.kmsKeyId, this.parameters.outputs.keyId, "Id of the CMK that encrypts the SecureStrings (alias/aws/ssm with the managed key)");
    out(STACK_OUTPUTS.fromAddress, this.sender.outputs.fromAddress, "Verified SES sender address");
    out(STACK_OUTPUTS.region, stage.region, "AWS region of the stack");
    out(STACK_OUTPUTS.taskRoleArn, this.taskRole.outputs.roleArn, "IAM role the sender task runs as");
    out(STACK_OUTPUTS.parameterNames, this.parameters.outputs.parameterNames, "Full names of the declared parameters, by contract key");
    out(STACK_OUTPUTS.configurationSet, this.sender.outputs.configurationSetName ?? "", "SES configuration set (empty where the stage leaves it out)");
    out(STACK_OUTPUTS.repositoryUrl, this.task.outputs.repositoryUrl, "ECR repository of the sender image");
    out(STACK_OUTPUTS.clusterName, this.task.outputs.clusterName, "ECS cluster that runs the digest task");
    out(STACK_OUTPUTS.taskDefinitionArn, this.task.outputs.taskDefinitionArn, "Task definition the schedule runs");
    out(STACK_OUTPUTS.alarmTopicArn, this.monitoring.topic.arn, "SNS topic of the alarms");
    out(STACK_OUTPUTS.vpcId, this.network.outputs.vpcId, "The digest's VPC");
    out(STACK_OUTPUTS.ledgerTable, this.ledger.outputs.tableName, "DynamoDB delivery ledger (the sender's VIBE_LEDGER_TABLE)");
    out(STACK_OUTPUTS.runtimeParameterNames, this.parameters.outputs.runtimeParameterNames, "Parameters the sender writes (e.g. the SES rollback flag)");
  }
}

function configureProvider(stack: TerraformStack, stage: StageConfig): void {
  const defaultTags = [{ tags: { Project: "vibe-digest", Stage: stage.name, ManagedBy: "cdktf" } }];
  if (stage.target.kind === "aws") {
    new AwsProvider(stack, "aws", { region: stage.region, defaultTags });
    return;
  }
  const endpoint = stage.target.endpoint;
  assertUrl(stack, "stage.target.endpoint", endpoint, { loopbackOnly: true });
  const endpoints: AwsProviderEndpoints = Object.fromEntries(STACK_SERVICES.map((s) => [s, endpoint]));
  new AwsProvider(stack, "aws", {
    region: stage.region,
    // Static, well-known emulator keys: not credentials of any real account.
    accessKey: "test",
    secretKey: "test",
    skipCredentialsValidation: true,
    // Asked of moto's STS (loopback), not skipped: without the account id the provider
    // reads security-group references back as "<account>/sg-..." and never converges.
    skipRequestingAccountId: false,
    skipMetadataApiCheck: "true",
    s3UsePathStyle: true,
    // An API the emulator lacks answers 500: without a cap the provider retries ~6 min.
    maxRetries: 2,
    endpoints: [endpoints],
    defaultTags,
  });
}

function configureBackend(stack: TerraformStack, stage: StageConfig): void {
  const b = stage.backend;
  if (b.kind === "local") {
    new LocalBackend(stack, { path: b.path ?? "terraform.tfstate" });
    return;
  }
  new S3Backend(stack, {
    bucket: b.bucket,
    key: b.key,
    region: b.region,
    encrypt: true,
    ...(b.kmsKeyId ? { kmsKeyId: b.kmsKeyId } : {}),
  });
  // cdktf 0.21's S3Backend has no prop for S3-native locking (Terraform >= 1.10).
  if (b.useLockfile ?? true) stack.addOverride("terraform.backend.s3.use_lockfile", true);
}
