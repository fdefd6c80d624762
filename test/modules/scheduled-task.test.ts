import { CONTAINER_NAME, nodeOptionsFor, ScheduledTask, type ScheduledTaskProps } from "../../modules/scheduled-task";
import { TaskRole } from "../../modules/task-role";
import { buildScheduledTask, synthWith, thrownBy } from "../support/construct-fixtures";
import { onlyResource, ref, resources, statementBySid, statementsOf, type Found, type TfJson } from "../support/tf-json";

const build = buildScheduledTask;
const synth = (props: Partial<ScheduledTaskProps> = {}): TfJson => synthWith((f) => build(f, props));

describe("ScheduledTask", () => {
  const json = synth();
  const kmsArn = ref(onlyResource(json, "aws_kms_key"), "arn");
  const role = (name: string): Found => resources(json, "aws_iam_role").find((r) => r.props.name === name)!;
  const roleStatements = (name: string) =>
    statementsOf(json, resources(json, "aws_iam_role_policy").find((p) => p.props.role === ref(role(name), "id"))!.props.policy);
  const taskDef = onlyResource(json, "aws_ecs_task_definition");
  const container = JSON.parse(taskDef.props.container_definitions)[0];
  const schedule = onlyResource(json, "aws_scheduler_schedule");

  test("when synthesized, the repository has immutable tags, scans on push and is encrypted with the CMK", () => {
    expect(onlyResource(json, "aws_ecr_repository").props).toMatchObject({
      image_tag_mutability: "IMMUTABLE",
      image_scanning_configuration: { scan_on_push: true },
      encryption_configuration: [{ encryption_type: "KMS", kms_key: kmsArn }],
      force_delete: false,
    });
  });

  test("when synthesized, a lifecycle policy expires untagged images and keeps the last 30", () => {
    const lifecycle = onlyResource(json, "aws_ecr_lifecycle_policy");
    expect(lifecycle.props.policy).toMatch(/^\$\{data\.aws_ecr_lifecycle_policy_document\./);
    const doc = Object.values(json.data!.aws_ecr_lifecycle_policy_document!)[0]!;
    expect(doc.rule.map((r: { selection: { count_number: number }[] }) => r.selection[0]!.count_number)).toEqual([7, 30]);
  });

  test("when synthesized, the cluster has Container Insights on", () => {
    expect(onlyResource(json, "aws_ecs_cluster").props.setting).toEqual([{ name: "containerInsights", value: "enabled" }]);
  });

  test("when synthesized, the task is Fargate with separate execution and task roles", () => {
    expect(taskDef.props).toMatchObject({ requires_compatibilities: ["FARGATE"], network_mode: "awsvpc", cpu: "256", memory: "512" });
    expect(taskDef.props.execution_role_arn).toBe(ref(role("vd-execution"), "arn"));
    expect(taskDef.props.task_role_arn).toBe(ref(role("vd-task"), "arn"));
  });

  test("when synthesized, the container is read-only, unprivileged, non-root and drops all capabilities", () => {
    expect(container).toMatchObject({ name: CONTAINER_NAME, readonlyRootFilesystem: true, privileged: false, user: "10001:10001" });
    expect(container.linuxParameters.capabilities.drop).toEqual(["ALL"]);
    expect(container.mountPoints).toEqual([{ sourceVolume: "tmp", containerPath: "/tmp", readOnly: false }]);
  });

  test("when synthesized, the container runs the sender's `run` command through the image's entry point", () => {
    expect(container.command).toEqual(["run"]);
    expect(container).not.toHaveProperty("entryPoint");
  });

  test("when synthesized, the image is the repository's at the given immutable tag", () => {
    expect(container.image).toBe(`${ref(onlyResource(json, "aws_ecr_repository"), "repository_url")}:2026.11.28`);
  });

  test("when synthesized, the environment holds only the given non-secret names and the heap bounds of a 512 MiB task, sorted", () => {
    expect(container.environment).toEqual([
      { name: "AWS_REGION", value: "us-east-1" },
      { name: "NODE_OPTIONS", value: "--max-old-space-size=128 --max-semi-space-size=1" },
      { name: "VIBE_PARAMETER_ROOT", value: "/vibecoding" },
    ]);
  });

  test.each([
    [512, "--max-old-space-size=128 --max-semi-space-size=1"],
    [1024, "--max-old-space-size=256 --max-semi-space-size=1"],
    [2048, "--max-old-space-size=512 --max-semi-space-size=1"],
  ])("when the task has %i MiB, the sender's old generation gets a quarter of it", (memoryMiB, expected) => {
    expect(nodeOptionsFor(memoryMiB)).toBe(expected);
  });

  test("when synthesized, logs go to an encrypted log group kept 365 days", () => {
    const lg = onlyResource(json, "aws_cloudwatch_log_group");
    expect(lg.props).toMatchObject({ name: "/vd/sender", kms_key_id: kmsArn, retention_in_days: 365 });
    expect(container.logConfiguration).toMatchObject({ logDriver: "awslogs", options: { "awslogs-group": ref(lg, "name") } });
  });

  test("when synthesized, the execution role may pull this repository and write this log group only", () => {
    const st = roleStatements("vd-execution");
    expect(st.map((s) => s.sid)).toEqual(["EcrAuthToken", "PullDigestImage", "WriteTaskLogs"]);
    expect(statementBySid(st, "PullDigestImage").resources).toEqual(["arn:aws:ecr:us-east-1:111111111111:repository/vd-sender"]);
    expect(statementBySid(st, "WriteTaskLogs").resources![0]).toMatch(/:log-group:\/vd\/sender$/);
  });

  test("when synthesized, the schedule runs daily at 07:00 New York time with no flexible window", () => {
    expect(schedule.props).toMatchObject({
      schedule_expression: "cron(0 7 * * ? *)",
      schedule_expression_timezone: "America/New_York",
      flexible_time_window: { mode: "OFF" },
      state: "ENABLED",
    });
  });

  test("when synthesized, the schedule retries a bounded number of times and dead-letters into the encrypted queue", () => {
    const dlq = onlyResource(json, "aws_sqs_queue");
    // Our CMK by its alias (a literal: the queue does not wait for the key), the alias of that key.
    const alias = onlyResource(json, "aws_kms_alias");
    expect(dlq.props.kms_master_key_id).toBe("alias/test-ops");
    expect(alias.props).toEqual(expect.objectContaining({ name: "alias/test-ops", target_key_id: ref(onlyResource(json, "aws_kms_key"), "key_id") }));
    expect(dlq.props.depends_on ?? []).toEqual([]);
    expect(schedule.props.target.retry_policy).toEqual({ maximum_retry_attempts: 2, maximum_event_age_in_seconds: 3600 });
    expect(schedule.props.target.dead_letter_config).toEqual({ arn: ref(dlq, "arn") });
  });

  test("when synthesized, the task runs once on Fargate in the private subnets without a public IP", () => {
    expect(schedule.props.target.ecs_parameters).toMatchObject({
      launch_type: "FARGATE",
      task_count: 1,
      network_configuration: { subnets: ["subnet-a", "subnet-b"], security_groups: ["sg-task"], assign_public_ip: false },
    });
  });

  test("when synthesized, the scheduler role may run only this task family on this cluster and pass only its two roles", () => {
    const st = roleStatements("vd-scheduler");
    const run = statementBySid(st, "RunDigestTask");
    expect(run.actions).toEqual(["ecs:RunTask"]);
    expect(run.resources![0]).toMatch(/:task-definition\/vd-sender:\*$/);
    expect(run.condition).toEqual([{ test: "ArnEquals", variable: "ecs:cluster", values: ["arn:aws:ecs:us-east-1:111111111111:cluster/vd"] }]);
    const pass = statementBySid(st, "PassDigestTaskRoles");
    expect(pass.resources).toEqual([`arn:aws:iam::111111111111:role/${role("vd-execution").props.name}`, `arn:aws:iam::111111111111:role/${role("vd-task").props.name}`]);
    expect(pass.condition![0]).toEqual({ test: "StringEquals", variable: "iam:PassedToService", values: ["ecs-tasks.amazonaws.com"] });
    expect(statementBySid(st, "DeadLetterFailedRuns").resources).toEqual([`arn:aws:sqs:us-east-1:111111111111:${onlyResource(json, "aws_sqs_queue").props.name}`]);
  });

  test("when synthesized, only the scheduler role is let use the key for the queue, via SQS", () => {
    const key = statementsOf(json, onlyResource(json, "aws_kms_key_policy").props.policy);
    const s = statementBySid(key, "SchedulerEncryptsDeadLetters");
    expect(s.principals).toEqual([{ type: "AWS", identifiers: [ref(role("vd-scheduler"), "arn")] }]);
    expect(s.condition).toEqual([{ test: "StringEquals", variable: "kms:ViaService", values: ["sqs.us-east-1.amazonaws.com"] }]);
  });

  test("when synthesized, the scheduler role is trusted only by Scheduler acting for this account's schedule group", () => {
    const trust = statementsOf(json, role("vd-scheduler").props.assume_role_policy)[0]!;
    expect(trust.principals).toEqual([{ type: "Service", identifiers: ["scheduler.amazonaws.com"] }]);
    expect(trust.condition).toEqual([
      { test: "StringEquals", variable: "aws:SourceAccount", values: ["111111111111"] },
      { test: "ArnEquals", variable: "aws:SourceArn", values: ["arn:aws:scheduler:us-east-1:111111111111:schedule-group/vd"] },
    ]);
  });

  test("when synthesized, the schedule is encrypted with the CMK, and its role may decrypt this group's schedules only", () => {
    expect(schedule.props.kms_key_arn).toBe(kmsArn);
    const context = { test: "ArnLike", variable: "kms:EncryptionContext:aws:scheduler:schedule:arn", values: ["arn:aws:scheduler:us-east-1:111111111111:schedule/vd/*"] };
    expect(statementBySid(roleStatements("vd-scheduler"), "DecryptSchedules").condition).toContainEqual(context);
    const key = statementsOf(json, onlyResource(json, "aws_kms_key_policy").props.policy);
    expect(statementBySid(key, "SchedulerRoleDecryptsSchedules")).toMatchObject({ actions: ["kms:Decrypt"], principals: [{ type: "AWS", identifiers: [ref(role("vd-scheduler"), "arn")] }], condition: [context] });
  });

  test("when synthesized, Fargate's ephemeral storage is encrypted with the CMK, which lets Fargate use it for this cluster only", () => {
    expect(onlyResource(json, "aws_ecs_cluster").props.configuration).toEqual({ managed_storage_configuration: { fargate_ephemeral_storage_kms_key_id: ref(onlyResource(json, "aws_kms_key"), "key_id") } });
    const key = statementsOf(json, onlyResource(json, "aws_kms_key_policy").props.policy);
    const clusterContext = [
      { test: "StringEquals", variable: "kms:EncryptionContext:aws:ecs:clusterAccount", values: ["111111111111"] },
      { test: "StringEquals", variable: "kms:EncryptionContext:aws:ecs:clusterName", values: ["vd"] },
    ];
    expect(statementBySid(key, "FargateEphemeralStorageDataKeys")).toMatchObject({ actions: ["kms:GenerateDataKeyWithoutPlaintext"], principals: [{ type: "Service", identifiers: ["fargate.amazonaws.com"] }], condition: clusterContext });
    expect(statementBySid(key, "FargateEphemeralStorageGrants").condition).toEqual([...clusterContext, { test: "ForAllValues:StringEquals", variable: "kms:GrantOperations", values: ["Decrypt"] }]);
  });

  test("when the deployer is named, the key policy lets it encrypt and read this group's schedules only", () => {
    const j = synthWith((f) => {
      build(f);
      (f.stack.node.findChild("task") as ScheduledTask).grantManageSchedules("arn:aws:iam::111111111111:role/vd-deployer");
    });
    const s = statementBySid(statementsOf(j, onlyResource(j, "aws_kms_key_policy").props.policy), "ScheduleWritersUseKey");
    expect(s).toMatchObject({ actions: ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], principals: [{ type: "AWS", identifiers: ["arn:aws:iam::111111111111:role/vd-deployer"] }] });
    expect(s.condition![0]!.values).toEqual(["arn:aws:scheduler:us-east-1:111111111111:schedule/vd/*"]);
  });

  test("when an operator is granted describe, it may list this repository's images and read this group's schedules, nothing else", () => {
    const j = synthWith((f) => {
      build(f, { catchUpExpressions: ["cron(0 9 * * ? *)"] });
      (f.stack.node.findChild("task") as ScheduledTask).grantDescribe(new TaskRole(f.stack, "op", { roleName: "vd-operator" }));
    });
    const op = resources(j, "aws_iam_role").find((r) => r.props.name === "vd-operator")!;
    const st = statementsOf(j, resources(j, "aws_iam_role_policy").find((p) => p.props.role === ref(op, "id"))!.props.policy);
    expect(statementBySid(st, "DescribeDigestImages")).toMatchObject({ actions: ["ecr:DescribeImages"], resources: ["arn:aws:ecr:us-east-1:111111111111:repository/vd-sender"] });
    expect(statementBySid(st, "ReadDigestSchedules").resources).toEqual([
      "arn:aws:scheduler:us-east-1:111111111111:schedule/vd/vd-daily",
      "arn:aws:scheduler:us-east-1:111111111111:schedule/vd/vd-catch-up-1",
    ]);
  });

  test("when a permissions boundary is given, the execution and scheduler roles carry it", () => {
    const b = "arn:aws:iam::111111111111:policy/vd-workload-boundary";
    const j = synth({ permissionsBoundaryArn: b });
    for (const name of ["vd-execution", "vd-scheduler"]) expect(resources(j, "aws_iam_role").find((r) => r.props.name === name)!.props.permissions_boundary).toBe(b);
  });

  test.each([
    ["a secret-looking environment name", "SECRET_VALUE_REJECTED", { environment: { SENDGRID_API_KEY: "x" } }],
    ["root as the user", "VALUE_INVALID", { user: "0:0" }],
    ["a non-Fargate size", "VALUE_INVALID", { cpu: 256, memoryMiB: 4096 }],
    ["6 retries", "SCHEDULE_INVALID", { maxRetryAttempts: 6 }],
    ["an event age under a minute", "SCHEDULE_INVALID", { maxEventAgeSeconds: 30 }],
    ["a bad schedule expression", "SCHEDULE_INVALID", { scheduleExpression: "0 7 * * *" }],
    ["a bad catch-up expression", "SCHEDULE_INVALID", { catchUpExpressions: ["cron(0 9 * * ? *)", "9am"] }],
    ["five catch-up runs", "SCHEDULE_INVALID", { catchUpExpressions: Array(5).fill("cron(0 9 * * ? *)") }],
    ["no subnets", "NETWORK_INVALID", { subnetIds: [] }],
    ["an empty command", "VALUE_INVALID", { command: [] }],
    ["a 30-day log retention", "VALUE_INVALID", { logRetentionDays: 30 }],
  ])("when given %s, it throws %s", (_what, code, props) => {
    expect(thrownBy((f) => build(f, props as Partial<ScheduledTaskProps>)).code).toBe(code);
  });

  describe("catch-up schedule validation", () => {
    test.each([
      ["a rate() catch-up", "cron(0 7 * * ? *)", ["rate(2 hours)"], "catchUpExpressions[0]"],
      ["an at() catch-up", "cron(0 7 * * ? *)", ["at(2026-11-28T09:00:00)"], "catchUpExpressions[0]"],
      ["a weekday-only catch-up cron", "cron(0 7 * * ? *)", ["cron(0 9 ? * MON-FRI *)"], "catchUpExpressions[0]"],
      ["an every-hour catch-up cron", "cron(0 7 * * ? *)", ["cron(0 * * * ? *)"], "catchUpExpressions[0]"],
      ["a catch-up at the daily run's time", "cron(0 7 * * ? *)", ["cron(0 7 * * ? *)"], "catchUpExpressions[0]"],
      ["a catch-up before the daily run", "cron(0 7 * * ? *)", ["cron(30 6 * * ? *)"], "catchUpExpressions[0]"],
      ["a second catch-up before the daily run", "cron(30 7 * * ? *)", ["cron(0 9 * * ? *)", "cron(15 7 * * ? *)"], "catchUpExpressions[1]"],
      ["an out-of-range hour", "cron(0 7 * * ? *)", ["cron(0 24 * * ? *)"], "catchUpExpressions[0]"],
      ["a rate() daily run with catch-ups", "rate(1 day)", ["cron(0 9 * * ? *)"], "scheduleExpression"],
      ["a weekday-only daily run with catch-ups", "cron(0 7 ? * MON-FRI *)", ["cron(0 9 * * ? *)"], "scheduleExpression"],
    ])("when given %s, it throws SCHEDULE_INVALID naming %4$s", (_what, scheduleExpression, catchUpExpressions, prop) => {
      const e = thrownBy((f) => build(f, { scheduleExpression, catchUpExpressions }));
      expect(e.code).toBe("SCHEDULE_INVALID");
      expect(e.message).toContain(prop);
    });

    test.each([
      ["09:00 after 07:00", "cron(0 7 * * ? *)", ["cron(0 9 * * ? *)"]],
      ["07:01 after 07:00", "cron(0 7 * * ? *)", ["cron(1 7 * * ? *)"]],
      ["two later the same day", "cron(30 6 * * ? *)", ["cron(0 9 * * ? *)", "cron(59 23 * * ? *)"]],
    ])("when given %s, it synthesizes", (_what, scheduleExpression, catchUpExpressions) => {
      expect(() => synth({ scheduleExpression, catchUpExpressions })).not.toThrow();
    });

    test("without catch-ups, a rate() daily expression is still accepted", () => {
      expect(() => synth({ scheduleExpression: "rate(1 day)" })).not.toThrow();
    });
  });

  describe("with catch-up runs", () => {
    const withCatchUps = synth({ catchUpExpressions: ["cron(0 9 * * ? *)", "cron(0 11 * * ? *)"] });
    const schedules = resources(withCatchUps, "aws_scheduler_schedule");
    const daily = schedules.find((x) => x.props.name === "vd-daily")!;

    test("when given two catch-up expressions, it declares them besides the daily schedule", () => {
      expect(schedules.map((x) => [x.props.name, x.props.schedule_expression]).sort()).toEqual([
        ["vd-catch-up-1", "cron(0 9 * * ? *)"],
        ["vd-catch-up-2", "cron(0 11 * * ? *)"],
        ["vd-daily", "cron(0 7 * * ? *)"],
      ]);
    });

    test("when given catch-up runs, each runs the same task, time zone, retries and dead-letter queue as the daily one", () => {
      for (const catchUp of schedules.filter((x) => x !== daily)) {
        expect(catchUp.props.schedule_expression_timezone).toBe("America/New_York");
        expect(catchUp.props.flexible_time_window).toEqual({ mode: "OFF" });
        expect(catchUp.props.group_name).toBe(daily.props.group_name);
        expect(catchUp.props.target).toEqual(daily.props.target);
      }
    });
  });

  test("by default, there is no catch-up run", () => {
    expect(resources(json, "aws_scheduler_schedule").map((x) => x.props.name)).toEqual(["vd-daily"]);
  });
});
