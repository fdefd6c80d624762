/**
 * The digest as a scheduled container: an ECR repository (immutable tags, scan on push,
 * KMS, lifecycle), an ECS cluster with Container Insights, a hardened Fargate task
 * definition (read-only root file system, non-root user, no privileges, logs to an
 * encrypted log group), separate execution and task roles, and EventBridge Scheduler
 * schedules (encrypted with the CMK, no flexible window, bounded retries, encrypted
 * dead-letter queue) with their own least-privilege role, trusted only for this schedule
 * group. Fargate's ephemeral storage (the image and /tmp) is encrypted with the CMK too.
 */
import { Construct } from "constructs";
import { EcrRepository } from "@cdktf/provider-aws/lib/ecr-repository";
import { EcrLifecyclePolicy } from "@cdktf/provider-aws/lib/ecr-lifecycle-policy";
import { DataAwsEcrLifecyclePolicyDocument } from "@cdktf/provider-aws/lib/data-aws-ecr-lifecycle-policy-document";
import { EcsCluster } from "@cdktf/provider-aws/lib/ecs-cluster";
import { EcsTaskDefinition } from "@cdktf/provider-aws/lib/ecs-task-definition";
import { SchedulerScheduleGroup } from "@cdktf/provider-aws/lib/scheduler-schedule-group";
import { SchedulerSchedule } from "@cdktf/provider-aws/lib/scheduler-schedule";
import { SqsQueue } from "@cdktf/provider-aws/lib/sqs-queue";
import type { CustomerManagedKey } from "./customer-managed-key";
import { EncryptedLogGroup } from "./encrypted-log-group";
import { credentialKindOf } from "./credential-values";
import { ConfigError } from "./errors";
import type { IGrantee } from "./policy";
import { ServiceRole } from "./service-role";
import type { TaskRole } from "./task-role";
import { assertIntegerInRange, assertName } from "./validate";

/** Environment variable names that must never be set in plain `environment`. */
export const SECRET_LOOKING_NAME = /SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL/i;

/** Valid Fargate cpu -> memory (MiB) combinations for the small sizes we allow. */
const FARGATE_SIZES: Record<number, number[]> = { 256: [512, 1024, 2048], 512: [1024, 2048, 3072, 4096], 1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192] };

/** What EventBridge Scheduler accepts as a schedule expression. */
const SCHEDULE_EXPRESSION = /^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\)|at\(.+\))$/;

/** A daily cron at one fixed time, `cron(M H * * ? *)`: minute and hour as plain numbers. */
const DAILY_CRON = /^cron\((\d{1,2}) (\d{1,2}) \* \* \? \*\)$/;

/** Minutes after midnight of a daily `cron(M H * * ? *)`, or undefined for anything else. */
export function dailyCronMinuteOfDay(expression: string): number | undefined {
  const m = DAILY_CRON.exec(expression);
  if (!m) return undefined;
  const minute = Number(m[1]);
  const hour = Number(m[2]);
  return minute <= 59 && hour <= 23 ? hour * 60 + minute : undefined;
}

/** Props for {@link ScheduledTask}. */
export interface ScheduledTaskProps {
  readonly namePrefix: string;
  readonly region: string;
  /** CMK for the repository, the log group and the dead-letter queue. */
  readonly key: CustomerManagedKey;
  /** The role the container runs as (its grants are the stack's business). */
  readonly taskRole: TaskRole;
  /** Image tag in the repository (tags are immutable). */
  readonly imageTag: string;
  /** Private subnets and the task's security group. */
  readonly subnetIds: string[];
  readonly securityGroupId: string;
  /** Plain, non-secret environment of the container; secret-looking names and credential-looking
   *  values (see credential-values.ts) are refused. `NODE_OPTIONS` is always set from
   *  `memoryMiB` ({@link nodeOptionsFor}) unless given here. @default {} */
  readonly environment?: Record<string, string>;
  /** Scheduler expression. @default "cron(0 7 * * ? *)" (07:00 daily) */
  readonly scheduleExpression?: string;
  /** @default "America/New_York" */
  readonly scheduleTimezone?: string;
  /**
   * Extra runs of the same task later the same day, in the same time zone: each a daily
   * `cron(M H * * ? *)` at a time after the daily run's, which must then be such a cron too
   * (a catch-up on another day, or before the daily run, would not retry that digest). The delivery
   * ledger makes them safe: they send only to recipients still `failed` or never tried
   * (a digest whose recipients are all `sent` costs a few DynamoDB reads), so a failure at
   * 07:00 is retried without a person. The scheduler's own retry policy only covers a task
   * that could not be started, not one that exited non-zero. @default [] (none)
   */
  readonly catchUpExpressions?: readonly string[];
  /** Retries when the task cannot be started (0..5). @default 2 */
  readonly maxRetryAttempts?: number;
  /** Give up on an invocation after this many seconds (60..86400). @default 3600 */
  readonly maxEventAgeSeconds?: number;
  /** Fargate CPU units. @default 256 */
  readonly cpu?: number;
  /** Memory in MiB. @default 512 */
  readonly memoryMiB?: number;
  /** Log retention in days (>= 365). @default 365 */
  readonly logRetentionDays?: number;
  /** Arguments to the image's entry point (`node /app/digest.cjs`, see app/Dockerfile).
   *  @default ["run"] (one digest run) */
  readonly command?: string[];
  /** uid:gid the container runs as (never root). @default "10001:10001" */
  readonly user?: string;
  /** Images kept in the repository. @default 30 */
  readonly keepImages?: number;
  /** Permissions boundary of the execution and scheduler roles (a real stage's workload boundary). @default - none */
  readonly permissionsBoundaryArn?: string;
}

/** Typed attributes of a {@link ScheduledTask}. */
export interface ScheduledTaskOutputs {
  readonly repositoryUrl: string;
  readonly clusterArn: string;
  readonly clusterName: string;
  readonly taskDefinitionArn: string;
  readonly scheduleGroupName: string;
  readonly deadLetterQueueName: string;
  readonly logGroupName: string;
}

export const CONTAINER_NAME = "sender";

/** The digest container, its roles, and the daily schedule that runs it. */
export class ScheduledTask extends Construct {
  readonly repository: EcrRepository;
  readonly cluster: EcsCluster;
  readonly taskDefinition: EcsTaskDefinition;
  readonly executionRole: ServiceRole;
  readonly schedulerRole: ServiceRole;
  readonly schedule: SchedulerSchedule;
  /** Same-day re-runs ({@link ScheduledTaskProps.catchUpExpressions}). */
  readonly catchUpSchedules: SchedulerSchedule[];
  readonly deadLetterQueue: SqsQueue;
  readonly logGroup: EncryptedLogGroup;
  readonly outputs: ScheduledTaskOutputs;
  /** Names of the daily schedule and the catch-up schedules, in that order. */
  readonly scheduleNames: readonly string[];
  readonly scheduleGroupName: string;
  readonly repositoryName: string;
  private readonly key: CustomerManagedKey;

  constructor(scope: Construct, id: string, props: ScheduledTaskProps) {
    super(scope, id);
    const p = props.namePrefix;
    assertName(this, "namePrefix", p);
    const cpu = props.cpu ?? 256;
    const memory = props.memoryMiB ?? 512;
    if (!FARGATE_SIZES[cpu]?.includes(memory)) {
      throw new ConfigError("VALUE_INVALID", this.node.path, "cpu/memoryMiB", "a Fargate size (256/512..2048, 512/1024..4096, 1024/2048..8192)");
    }
    const retries = props.maxRetryAttempts ?? 2;
    assertIntegerInRange(this, "SCHEDULE_INVALID", "maxRetryAttempts", retries, 0, 5);
    const maxAge = props.maxEventAgeSeconds ?? 3600;
    assertIntegerInRange(this, "SCHEDULE_INVALID", "maxEventAgeSeconds", maxAge, 60, 86_400);
    const expression = props.scheduleExpression ?? "cron(0 7 * * ? *)";
    const catchUps = props.catchUpExpressions ?? [];
    if (catchUps.length > 4) throw new ConfigError("SCHEDULE_INVALID", this.node.path, "catchUpExpressions", "at most 4 catch-up runs");
    for (const [prop, value] of [["scheduleExpression", expression], ...catchUps.map((e) => ["catchUpExpressions", e])]) {
      if (!SCHEDULE_EXPRESSION.test(value)) throw new ConfigError("SCHEDULE_INVALID", this.node.path, prop, "cron(...), rate(...) or at(...)");
    }
    // A catch-up retries the same day's digest (the ledger is keyed by the New York date):
    // it must run daily, later the same day than the daily run, in the schedule's time zone.
    if (catchUps.length > 0) {
      const daily = dailyCronMinuteOfDay(expression);
      if (daily === undefined) throw new ConfigError("SCHEDULE_INVALID", this.node.path, "scheduleExpression", "a daily cron(M H * * ? *) when catch-up runs are given");
      catchUps.forEach((e, i) => {
        const at = dailyCronMinuteOfDay(e);
        if (at === undefined) throw new ConfigError("SCHEDULE_INVALID", this.node.path, `catchUpExpressions[${i}]`, "a daily cron(M H * * ? *)");
        if (at <= daily) throw new ConfigError("SCHEDULE_INVALID", this.node.path, `catchUpExpressions[${i}]`, "a time later the same day than scheduleExpression's");
      });
    }
    const user = props.user ?? "10001:10001";
    if (!/^\d+(:\d+)?$/.test(user) || /^0(:|$)/.test(user)) {
      throw new ConfigError("VALUE_INVALID", this.node.path, "user", "a numeric uid[:gid] other than 0 (root)");
    }
    const command = props.command ?? ["run"];
    if (command.length === 0 || command.some((a) => a.trim() === "")) {
      throw new ConfigError("VALUE_INVALID", this.node.path, "command", "one or more non-empty arguments");
    }
    // The sender's heap follows the task's memory (a quarter of it for the old generation,
    // what Node derives from a cgroup limit) and is set, not derived, so it never depends on how
    // Node reads the container's limit. Measured (docs/operations.md "Memory"): under these
    // settings a whole run peaks at ~150 MB RSS at any list size, a 3.4x margin in 512 MiB.
    const environment = { NODE_OPTIONS: nodeOptionsFor(memory), ...props.environment };
    for (const [name, value] of Object.entries(environment)) {
      if (SECRET_LOOKING_NAME.test(name)) {
        throw new ConfigError("SECRET_VALUE_REJECTED", this.node.path, `environment.${name}`, "a non-secret name (secrets come from Parameter Store)");
      }
      // Names alone miss a key pasted under an innocent name; the message names the kind, never the value.
      const kind = credentialKindOf(value);
      if (kind) throw new ConfigError("SECRET_VALUE_REJECTED", this.node.path, `environment.${name}`, `a non-secret value (it looks like a ${kind}; secrets come from Parameter Store)`);
    }
    if (props.subnetIds.length === 0) throw new ConfigError("NETWORK_INVALID", this.node.path, "subnetIds", "at least one subnet");
    const { key } = props;
    this.key = key;
    const arn = (service: string, resource: string) => `arn:${key.partition}:${service}:${key.region}:${key.account}:${resource}`;

    // Image registry.
    this.repositoryName = `${p}-sender`;
    this.repository = new EcrRepository(this, "repository", {
      name: this.repositoryName,
      imageTagMutability: "IMMUTABLE",
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: [{ encryptionType: "KMS", kmsKey: key.arn }],
      forceDelete: false,
    });
    const lifecycle = new DataAwsEcrLifecyclePolicyDocument(this, "lifecycle-document", {
      rule: [
        { priority: 1, description: "expire untagged images after 7 days", selection: [{ tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 7 }], action: [{ type: "expire" }] },
        { priority: 2, description: `keep the last ${props.keepImages ?? 30} images`, selection: [{ tagStatus: "any", countType: "imageCountMoreThan", countNumber: props.keepImages ?? 30 }], action: [{ type: "expire" }] },
      ],
    });
    new EcrLifecyclePolicy(this, "lifecycle", { repository: this.repository.name, policy: lifecycle.json });

    // Fargate's ephemeral storage (image layers, the /tmp volume with rendered mail) under the
    // CMK: Fargate asks for data keys and a decrypt-only grant, limited to this cluster.
    const clusterContext = [
      { test: "StringEquals", variable: "kms:EncryptionContext:aws:ecs:clusterAccount", values: [key.account] },
      { test: "StringEquals", variable: "kms:EncryptionContext:aws:ecs:clusterName", values: [p] },
    ];
    key.grantToService("FargateEphemeralStorageDataKeys", "fargate.amazonaws.com", ["kms:GenerateDataKeyWithoutPlaintext"], clusterContext);
    key.grantToService("FargateEphemeralStorageGrants", "fargate.amazonaws.com", ["kms:CreateGrant"], [
      ...clusterContext,
      { test: "ForAllValues:StringEquals", variable: "kms:GrantOperations", values: ["Decrypt"] },
    ]);
    this.cluster = new EcsCluster(this, "cluster", {
      name: p,
      setting: [{ name: "containerInsights", value: "enabled" }],
      configuration: { managedStorageConfiguration: { fargateEphemeralStorageKmsKeyId: key.keyId } },
    });
    this.logGroup = new EncryptedLogGroup(this, "logs", {
      logGroupName: `/${p}/sender`,
      key,
      region: props.region,
      retentionDays: props.logRetentionDays,
    });

    // The execution role pulls the image and writes logs; nothing else.
    this.executionRole = new ServiceRole(this, "execution-role", {
      roleName: `${p}-execution`,
      assumedBy: "ecs-tasks.amazonaws.com",
      trustConditions: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [key.account] }],
      policyName: "pull-image-write-logs",
      description: "ECS execution role of the digest task: pull its image, write its logs",
      permissionsBoundaryArn: props.permissionsBoundaryArn,
    });
    this.grantPull(this.executionRole);
    this.logGroup.grantWrite(this.executionRole, "WriteTaskLogs");

    this.taskDefinition = new EcsTaskDefinition(this, "task-definition", {
      family: `${p}-sender`,
      requiresCompatibilities: ["FARGATE"],
      networkMode: "awsvpc",
      cpu: String(cpu),
      memory: String(memory),
      runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
      executionRoleArn: this.executionRole.role.arn,
      taskRoleArn: props.taskRole.role.arn,
      volume: [{ name: "tmp" }],
      containerDefinitions: JSON.stringify([
        {
          name: CONTAINER_NAME,
          image: `${this.repository.repositoryUrl}:${props.imageTag}`,
          essential: true,
          readonlyRootFilesystem: true,
          privileged: false,
          user,
          // The image's ENTRYPOINT is the sender; this says which command the schedule runs.
          command,
          linuxParameters: { initProcessEnabled: true, capabilities: { drop: ["ALL"] } },
          // The only writable place: rendered mail and temp files.
          mountPoints: [{ sourceVolume: "tmp", containerPath: "/tmp", readOnly: false }],
          environment: Object.entries(environment)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([name, value]) => ({ name, value })),
          logConfiguration: {
            logDriver: "awslogs",
            options: { "awslogs-group": this.logGroup.logGroup.name, "awslogs-region": props.region, "awslogs-stream-prefix": "digest" },
          },
        },
      ]),
    });

    // The schedule: dead-letter queue, its own role, bounded retries.
    // The queue names the key by its alias, not its ARN: SQS resolves the key when it first
    // needs a data key (a dead letter), so the queue need not wait for the key. That matters
    // because the provider holds every new queue until its attributes read back equal three
    // times, ~7 s apart (~25 s, on AWS as on moto); chained after the key's own ~11 s of
    // propagation checks it was the longest path of an apply.
    this.deadLetterQueue = new SqsQueue(this, "dead-letters", {
      name: `${p}-schedule-dlq`,
      kmsMasterKeyId: key.aliasName,
      kmsDataKeyReusePeriodSeconds: 300,
      messageRetentionSeconds: 1_209_600,
    });
    const group = new SchedulerScheduleGroup(this, "schedule-group", { name: p });
    this.scheduleGroupName = p;
    // Trusted only by Scheduler acting for this account's schedule group (confused deputy).
    this.schedulerRole = new ServiceRole(this, "scheduler-role", {
      roleName: `${p}-scheduler`,
      assumedBy: "scheduler.amazonaws.com",
      trustConditions: [
        { test: "StringEquals", variable: "aws:SourceAccount", values: [key.account] },
        { test: "ArnEquals", variable: "aws:SourceArn", values: [arn("scheduler", `schedule-group/${p}`)] },
      ],
      policyName: "run-digest-task",
      description: "EventBridge Scheduler role: run the digest task, dead-letter failures",
      permissionsBoundaryArn: props.permissionsBoundaryArn,
    });
    const taskFamilyArn = arn("ecs", `task-definition/${p}-sender:*`);
    // ARNs built from names: known in every plan (a create plan, or one that replaces a resource).
    const roleArn = (name: string) => `arn:${key.partition}:iam::${key.account}:role/${name}`;
    this.schedulerRole.addToPrincipalPolicy({
      sid: "RunDigestTask",
      actions: ["ecs:RunTask"],
      resources: [taskFamilyArn],
      conditions: [{ test: "ArnEquals", variable: "ecs:cluster", values: [arn("ecs", `cluster/${p}`)] }],
    });
    this.schedulerRole.addToPrincipalPolicy({
      sid: "PassDigestTaskRoles",
      actions: ["iam:PassRole"],
      resources: [roleArn(`${p}-execution`), roleArn(props.taskRole.roleName)],
      conditions: [{ test: "StringEquals", variable: "iam:PassedToService", values: ["ecs-tasks.amazonaws.com"] }],
    });
    this.schedulerRole.addToPrincipalPolicy({ sid: "DeadLetterFailedRuns", actions: ["sqs:SendMessage"], resources: [arn("sqs", `${p}-schedule-dlq`)] });
    key.grantUseVia(this.schedulerRole, "sqs", ["kms:Decrypt", "kms:GenerateDataKey"], "EncryptDeadLetters", "SchedulerEncryptsDeadLetters");
    // The schedules are encrypted with the CMK: Scheduler decrypts one with the schedule's role.
    this.grantScheduleKey(this.schedulerRole, "DecryptSchedules", ["kms:Decrypt"], "SchedulerRoleDecryptsSchedules");

    const scheduleRun = (id: string, name: string, description: string, scheduleExpression: string) =>
      new SchedulerSchedule(this, id, {
        name: `${p}-${name}`,
        groupName: group.name,
        description,
        scheduleExpression,
        scheduleExpressionTimezone: props.scheduleTimezone ?? "America/New_York",
        kmsKeyArn: key.arn,
        flexibleTimeWindow: { mode: "OFF" },
        state: "ENABLED",
        target: {
          arn: this.cluster.arn,
          roleArn: this.schedulerRole.role.arn,
          ecsParameters: {
            taskDefinitionArn: this.taskDefinition.arn,
            launchType: "FARGATE",
            platformVersion: "LATEST",
            taskCount: 1,
            networkConfiguration: { subnets: props.subnetIds, securityGroups: [props.securityGroupId], assignPublicIp: false },
          },
          retryPolicy: { maximumRetryAttempts: retries, maximumEventAgeInSeconds: maxAge },
          deadLetterConfig: { arn: this.deadLetterQueue.arn },
        },
      });
    this.scheduleNames = [`${p}-daily`, ...catchUps.map((_, i) => `${p}-catch-up-${i + 1}`)];
    this.schedule = scheduleRun("schedule", "daily", "Runs the daily digest", expression);
    this.catchUpSchedules = catchUps.map((e, i) =>
      scheduleRun(`catch-up-${i + 1}`, `catch-up-${i + 1}`, "Re-runs the digest: the ledger sends only to recipients not yet sent", e),
    );

    this.outputs = {
      repositoryUrl: this.repository.repositoryUrl,
      clusterArn: this.cluster.arn,
      clusterName: this.cluster.name,
      taskDefinitionArn: this.taskDefinition.arn,
      scheduleGroupName: group.name,
      deadLetterQueueName: this.deadLetterQueue.name,
      logGroupName: this.logGroup.logGroup.name,
    };
  }

  get resource(): SchedulerSchedule {
    return this.schedule;
  }

  /**
   * Lets the principal that deploys the stack (key policy only: its identity policy is the
   * pipeline's) encrypt the schedules with the CMK when it creates or updates them, and
   * read them back.
   */
  grantManageSchedules(principalArn: string): void {
    this.key.grantUse("ScheduleWritersUseKey", principalArn, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], [this.scheduleContext()]);
  }

  /**
   * Lets an operator check the task (the doctor): ecr:DescribeImages on the repository (is
   * the stage's image tag there?), scheduler:GetSchedule on the schedules (enabled?), and
   * decrypt a schedule with the CMK (Scheduler returns it decrypted).
   */
  grantDescribe(grantee: IGrantee): void {
    grantee.addToPrincipalPolicy({ sid: "DescribeDigestImages", actions: ["ecr:DescribeImages"], resources: [this.key.regionalArn("ecr", `repository/${this.repositoryName}`)] });
    grantee.addToPrincipalPolicy({
      sid: "ReadDigestSchedules",
      actions: ["scheduler:GetSchedule"],
      resources: this.scheduleNames.map((n) => `arn:${this.key.partition}:scheduler:${this.key.region}:${this.key.account}:schedule/${this.scheduleGroupName}/${n}`),
    });
    this.grantScheduleKey(grantee, "DecryptDigestSchedules", ["kms:Decrypt"], "ScheduleReadersDecrypt");
  }

  /** Key use bound to this group's schedules (their encryption context), both policy sides. */
  private grantScheduleKey(grantee: IGrantee, sid: string, actions: readonly string[], keySid: string): void {
    const scope = this.key.identityScope();
    grantee.addToPrincipalPolicy({ sid, actions, resources: scope.resources, conditions: [this.scheduleContext(), ...scope.conditions] });
    this.key.grantUse(keySid, grantee.grantPrincipalArn, actions, [this.scheduleContext()]);
  }

  private scheduleContext() {
    return {
      test: "ArnLike",
      variable: "kms:EncryptionContext:aws:scheduler:schedule:arn",
      values: [`arn:${this.key.partition}:scheduler:${this.key.region}:${this.key.account}:schedule/${this.scheduleGroupName}/*`],
    };
  }

  /** Lets `grantee` pull this repository's images (GetAuthorizationToken has no resource). */
  grantPull(grantee: IGrantee): void {
    grantee.addToPrincipalPolicy({ sid: "EcrAuthToken", actions: ["ecr:GetAuthorizationToken"], resources: ["*"] });
    grantee.addToPrincipalPolicy({
      sid: "PullDigestImage",
      actions: ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      resources: [this.key.regionalArn("ecr", `repository/${this.repositoryName}`)],
    });
  }
}

/** The container's NODE_OPTIONS for a task of `memoryMiB`: heap bounds from the task's size. */
export function nodeOptionsFor(memoryMiB: number): string {
  return `--max-old-space-size=${Math.floor(memoryMiB / 4)} --max-semi-space-size=1`;
}
