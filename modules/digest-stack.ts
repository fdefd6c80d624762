/**
 * One deployable stage of vibe-digest: composes the constructs, wires their grants and
 * exports the attributes that scripts and the sender's operators need. It writes no
 * policy JSON: every permission comes from a construct's `grantXxx` method.
 */
import "./cdktf-node24";
import { Construct } from "constructs";
import { LocalBackend, S3Backend, TerraformOutput, TerraformStack } from "cdktf";
import { AwsProvider, type AwsProviderEndpoints } from "@cdktf/provider-aws/lib/provider";
import { ENV, SENDGRID_DEFAULT_BASE_URL } from "../app/src/contract";
import { CustomerManagedKey } from "./customer-managed-key";
import { DeliveryLedger } from "./delivery-ledger";
import { ConfigError } from "./errors";
import { Monitoring } from "./monitoring";
import { Network } from "./network";
import { ParameterStore, secretKeysFor } from "./parameter-store";
import { ScheduledTask } from "./scheduled-task";
import { SenderIdentity } from "./sender-identity";
import { STACK_SERVICES, pipelineNames, type StageConfig } from "./stages";
import { DnsFirewall, awsServiceDomains, type DnsAllowRule } from "./dns-firewall";
import { feedAllowList, hostOfUrl, isLoopbackLiteral, type FeedAllowList } from "./feed-allow-list";
import { OperatorPolicy } from "./operator-policy";
import { partitionOf, type IGrantee } from "./policy";
import { TaskRole } from "./task-role";
import { assertAccount, assertEmail, assertIntegerInRange, assertRegion, assertUrl } from "./validate";

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
  /** The VPC's DNS allow-list (absent where the target cannot apply it). */
  readonly dnsFirewall?: DnsFirewall;
  /** The stage's feed allow-list (digest/feed_hosts and the firewall's feed domains). */
  readonly feedAllowList: FeedAllowList;
  /** The operator policies, one per operator role of the stage. */
  readonly operators: OperatorPolicy[];

  constructor(scope: Construct, props: DigestStackProps) {
    const { stage } = props;
    super(scope, stage.stackName);
    this.stage = stage;
    assertRegion(this, "stage.region", stage.region);
    assertAccount(this, "stage.account", stage.account);
    assertIntegerInRange(this, "PERCENT_OUT_OF_RANGE", "stage.sesPercent", stage.sesPercent, 0, 100);
    if (stage.toAddresses.length === 0) throw new ConfigError("VALUE_INVALID", this.node.path, "stage.toAddresses", "at least one address");
    for (const a of stage.toAddresses) assertEmail(this, "stage.toAddresses", a);
    for (const [i, f] of stage.feeds.entries()) assertUrl(this, `stage.feeds[${i}].url`, f.url);
    // SendGrid carries whatever SES does not: it must be reachable (DNS allow-list) then.
    if ((!stage.useSes || stage.sesPercent < 100) && !stage.useSendGrid) {
      throw new ConfigError("VALUE_INVALID", this.node.path, "stage.useSendGrid", "true while useSes is false or sesPercent is below 100 (SendGrid sends the rest)");
    }
    if (stage.target.kind === "aws" && !stage.pipeline) {
      throw new ConfigError("STAGE_INVALID", this.node.path, "stage.pipeline", "given for a real-AWS stage (its bootstrap stack's roles and boundary)");
    }

    configureProvider(this, stage);
    configureBackend(this, stage);
    const prefix = stage.stackName;
    const omitted = new Set(stage.omit);
    const { account, region } = stage;
    const names = stage.pipeline ? pipelineNames(stage) : undefined;
    // Real stages: every role this stack creates carries the workload boundary of its
    // bootstrap stack (the deployer may create roles only with it).
    const boundary = names?.workloadBoundaryArn;
    // Feeds on the internet (every real stage's) need the NAT gateway, and the DNS allow-list
    // says which names; feeds on a loopback IP literal (the local stage's) need no egress.
    const internet = stage.feeds.some((f) => !isLoopbackLiteral(hostOfUrl(f.url) ?? ""));
    this.feedAllowList = feedAllowList(this, stage.feeds, stage.extraFeedHosts, { internet });

    // One key for operational data (logs, topics, queue, images, ledger, schedules, task
    // storage); the parameters have their own, which allows no grants at all. ECR and
    // DynamoDB create grants on this one when a repository or table is created with it, so
    // it allows grants for AWS services only.
    this.operationsKey = new CustomerManagedKey(this, "operations-key", {
      description: `${prefix}: encrypts logs, topics, the dead-letter queue, images, the ledger, schedules and task storage`,
      alias: `${prefix}-operations`,
      allowAwsServiceGrants: true,
      account,
      region,
    });
    const key = this.operationsKey;

    this.taskRole = new TaskRole(this, "task-role", {
      roleName: `${prefix}-task`,
      trustConditions: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [account] }],
      permissionsBoundaryArn: boundary,
    });

    this.sender = new SenderIdentity(this, "sender", {
      namePrefix: prefix,
      domain: stage.domain,
      fromAddress: stage.fromAddress,
      key,
      region,
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
      region,
      account,
      useAwsManagedKey: stage.parameterKey === "aws-managed",
      secrets,
      deployerPrincipalArns: names ? [names.deployerRoleArn] : [],
      values: {
        awsRegion: region,
        fromAddress: stage.fromAddress,
        toAddress: stage.toAddresses.join(","),
        useSes: String(stage.useSes),
        sesPercent: String(stage.sesPercent),
        feeds: JSON.stringify(stage.feeds),
        feedHosts: this.feedAllowList.hostPatterns.join(","),
        ...(stage.unsubscribeUrl ? { unsubscribeUrl: stage.unsubscribeUrl } : {}),
        ...(this.sender.outputs.configurationSetName ? { configurationSet: this.sender.outputs.configurationSetName } : {}),
      },
    });

    // Exactly-once delivery: the sender claims (date, recipient) items with conditional writes.
    this.ledger = new DeliveryLedger(this, "ledger", {
      tableName: stackResourceNames(stage).ledgerTable,
      encryptionKey: key,
      // On moto the stage is reset, never destroyed; real stages refuse deletion.
      deletionProtection: stage.target.kind === "aws",
    });

    this.network = new Network(this, "network", {
      namePrefix: prefix,
      region,
      availabilityZones: stage.availabilityZones,
      cidr: stage.network.cidr,
      key,
      allowInternetEgress: internet,
      endpointAzs: stage.network.endpointAzs,
      permissionsBoundaryArn: boundary,
    });

    // What the VPC may resolve: the feed hosts, SendGrid while the stage uses it, the AWS
    // endpoints the task calls; everything else is blocked and logged.
    if (!omitted.has("dnsFirewall")) {
      this.dnsFirewall = new DnsFirewall(this, "dns-firewall", {
        namePrefix: prefix,
        vpcId: this.network.outputs.vpcId,
        key,
        region,
        allow: dnsAllowRules(stage, this.feedAllowList.dnsDomains),
        mustResolve: stage.feeds.map((f, i) => ({ subject: `stage.feeds[${i}].url`, host: hostOfUrl(f.url) ?? "" })).filter((f) => internet && f.host !== ""),
      });
    }

    this.task = new ScheduledTask(this, "task", {
      namePrefix: prefix,
      region,
      key,
      taskRole: this.taskRole,
      imageTag: stage.imageTag,
      subnetIds: this.network.outputs.privateSubnetIds,
      securityGroupId: this.network.outputs.taskSecurityGroupId,
      scheduleExpression: stage.schedule.expression,
      scheduleTimezone: stage.schedule.timezone,
      catchUpExpressions: stage.schedule.catchUp,
      permissionsBoundaryArn: boundary,
      environment: {
        [ENV.parameterRoot]: stage.parameterRoot,
        [ENV.region]: region,
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

    // The deployer (pipelines) writes the encrypted schedules; its identity policy is the
    // bootstrap stack's, the key policy names it here.
    if (names) this.task.grantManageSchedules(names.deployerRoleArn);

    // Operators: one inline policy per operator role, every statement from a grant.
    this.operators = stage.operatorRoleArns.map((roleArn, i) => {
      const op = new OperatorPolicy(this, `operator-${i}`, { roleArn, account, policyName: `${prefix}-operator` });
      this.parameters.grantOperate(op);
      this.ledger.grantReadWrite(op);
      this.sender.grantDescribe(op);
      this.task.grantDescribe(op);
      this.monitoring.grantDescribe(op);
      if (stage.credentialsMode === "access-key") grantSenderUserKeys(op, stage);
      return op;
    });

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

/**
 * Names of a stage's resources that commands outside the stack look up (the doctor): one
 * function, and a test holds it to the synthesized stacks, so it cannot drift from them.
 */
export function stackResourceNames(stage: StageConfig) {
  const p = stage.stackName;
  return {
    alarmTopic: `${p}-alarms`,
    repository: `${p}-sender`,
    scheduleGroup: p,
    schedules: [`${p}-daily`, ...stage.schedule.catchUp.map((_, i) => `${p}-catch-up-${i + 1}`)],
    ledgerTable: `${p}-delivery-ledger`,
    configurationSet: `${p}-digest`,
    cluster: p,
  };
}

/** The name of the IAM user whose key pair an access-key stage keeps in Parameter Store. */
export function senderUserName(stage: Pick<StageConfig, "stackName">): string {
  return `${stage.stackName}-sender`;
}

/**
 * Access-key mode: the operator manages the sender user's key pair (the rotate command),
 * on that one user only.
 */
function grantSenderUserKeys(grantee: IGrantee, stage: StageConfig): void {
  grantee.addToPrincipalPolicy({
    sid: "RotateSenderUserKeys",
    actions: ["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys", "iam:UpdateAccessKey"],
    resources: [`arn:${partitionOf(stage.region)}:iam::${stage.account}:user/${senderUserName(stage)}`],
  });
}

/** The DNS firewall's allow rules of a stage, each with why. */
export function dnsAllowRules(stage: StageConfig, feedDomains: readonly string[]): DnsAllowRule[] {
  const rules: DnsAllowRule[] = [];
  if (feedDomains.length) rules.push({ name: "feeds", domains: feedDomains, reason: "the hosts of the stage's feeds and their declared redirect targets (digest/feed_hosts)" });
  if (stage.useSendGrid) rules.push({ name: "sendgrid", domains: [new URL(SENDGRID_DEFAULT_BASE_URL).hostname], reason: "the SendGrid v3 API, while the stage migrates or falls back to SendGrid" });
  rules.push({ name: "aws", domains: awsServiceDomains(stage.region, stage.account), reason: "the AWS endpoints the task calls (SSM, SES, logs, ECR, DynamoDB, the ECR layer bucket)" });
  return rules;
}

function configureProvider(stack: TerraformStack, stage: StageConfig): void {
  const defaultTags = [{ tags: { Project: "vibe-digest", Stage: stage.name, ManagedBy: "cdktf" } }];
  if (stage.target.kind === "aws") {
    // A plan or apply with credentials of another account fails before touching anything.
    new AwsProvider(stack, "aws", { region: stage.region, allowedAccountIds: [stage.account], defaultTags });
    return;
  }
  const endpoint = stage.target.endpoint;
  assertUrl(stack, "stage.target.endpoint", endpoint, { loopbackOnly: true });
  // The cdktf binding spells multi-word endpoint keys in camelCase (route53resolver -> route53Resolver).
  const property: Partial<Record<string, keyof AwsProviderEndpoints>> = { route53resolver: "route53Resolver" };
  const endpoints: AwsProviderEndpoints = Object.fromEntries(STACK_SERVICES.map((s) => [property[s] ?? s, endpoint]));
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
