import { METRICS } from "../../app/src/contract";
import { EmfMetrics } from "../../app/src/metrics";
import { ALARMS, DEFAULT_THRESHOLDS, Monitoring, type MonitoringProps } from "../../modules/monitoring";
import { TaskRole } from "../../modules/task-role";
import { synthWith, thrownBy, type Fixture } from "../support/construct-fixtures";
import { onlyResource, ref, resources, statementBySid, statementsOf, type Found, type TfJson } from "../support/tf-json";

const TASK = { clusterArn: "arn:aws:ecs:us-east-1:111111111111:cluster/vd", scheduleGroupName: "vd", deadLetterQueueName: "vd-dlq" };

function build(f: Fixture, props: Partial<MonitoringProps> = {}): void {
  new Monitoring(f.stack, "monitoring", { namePrefix: "vd", key: f.key, alarmEmail: "ops@example.com", task: TASK, stage: "prod", ...props });
}

interface Query {
  id: string;
  expression?: string;
  return_data?: boolean;
  metric?: { namespace: string; metric_name: string; stat: string; period: number; dimensions?: Record<string, string> };
}
const synth = (props: Partial<MonitoringProps> = {}): TfJson => synthWith((f) => build(f, props));

describe("Monitoring", () => {
  const json = synth();
  const topic = resources(json, "aws_sns_topic").find((t) => t.props.name === "vd-alarms")!;
  const alarm = (name: string): Found => {
    const a = resources(json, "aws_cloudwatch_metric_alarm").find((r) => r.props.alarm_name === `vd-${name}`);
    if (!a) throw new Error(`no alarm ${name}`);
    return a;
  };

  test("when synthesized, the alarm topic is encrypted with the CMK", () => {
    expect(topic.props.kms_master_key_id).toBe(ref(onlyResource(json, "aws_kms_key"), "arn"));
  });

  test("when synthesized, the CMK lets cloudwatch.amazonaws.com decrypt and generate data keys for this account", () => {
    const key = statementsOf(json, onlyResource(json, "aws_kms_key_policy").props.policy);
    const s = statementBySid(key, "CloudWatchAlarmsPublishViaEncryptedTopic");
    expect(s.principals).toEqual([{ type: "Service", identifiers: ["cloudwatch.amazonaws.com"] }]);
    expect(s.actions).toEqual(["kms:Decrypt", "kms:GenerateDataKey"]);
    expect(s.condition![0]!.variable).toBe("aws:SourceAccount");
  });

  test("when synthesized, the topic policy lets CloudWatch publish only this stack's alarms", () => {
    const policy = resources(json, "aws_sns_topic_policy").find((p) => p.props.arn === ref(topic, "arn"))!;
    const s = statementBySid(statementsOf(json, policy.props.policy), "CloudWatchAlarmsPublish");
    expect(s.resources).toEqual(["arn:aws:sns:us-east-1:111111111111:vd-alarms"]);
    expect(s.condition!.find((c) => c.variable === "aws:SourceArn")!.values[0]).toMatch(/:alarm:vd-\*$/);
  });

  test("when synthesized, the alarm email is subscribed", () => {
    expect(onlyResource(json, "aws_sns_topic_subscription").props).toMatchObject({ protocol: "email", endpoint: "ops@example.com", topic_arn: ref(topic, "arn") });
  });

  test("when synthesized, every alarm notifies the topic on alarm and on recovery", () => {
    const all = resources(json, "aws_cloudwatch_metric_alarm");
    expect(all.map((a) => a.props.alarm_name.replace(/^vd-/, "")).sort()).toEqual(Object.values(ALARMS).sort());
    for (const a of all) {
      expect(a.props.alarm_actions).toEqual([ref(topic, "arn")]);
      expect(a.props.ok_actions).toEqual([ref(topic, "arn")]);
    }
  });

  test("when defaults apply, delivery failures alarm above 3 in 5 minutes", () => {
    expect(alarm(ALARMS.deliveryFailures).props).toMatchObject({
      namespace: METRICS.namespace, metric_name: METRICS.failed, statistic: "Sum", period: 300, comparison_operator: "GreaterThanThreshold", threshold: 3,
    });
  });

  test("when defaults apply, the failure rate is SES failures over SES attempts in 10 minutes, above 5%", () => {
    const a = alarm(ALARMS.failureRate).props;
    const queries = a.metric_query as Query[];
    expect(a).toMatchObject({ threshold: 5, comparison_operator: "GreaterThanThreshold", treat_missing_data: "notBreaching" });
    // Only SES's own counters: EmailsSent/EmailsFailed include SendGrid and its rescues of SES failures.
    expect(queries.filter((q) => q.metric).map((q) => [q.id, q.metric!.metric_name, q.metric!.stat, q.metric!.period])).toEqual([
      ["failures", METRICS.sesFailures, "Sum", 600],
      ["attempts", METRICS.sesAttempts, "Sum", 600],
    ]);
    expect(JSON.stringify(queries)).not.toMatch(new RegExp(`"(${METRICS.sent}|${METRICS.failed})"`));
  });

  test("when there were no SES attempts, the failure-rate expression yields no data point (not breaching) instead of dividing by zero", () => {
    const rate = (alarm(ALARMS.failureRate).props.metric_query as Query[]).find((q) => q.return_data)!;
    expect(rate.expression).toBe("IF(attempts > 0, 100 * FILL(failures, 0) / attempts)");
  });

  test("when defaults apply, the feed alarm fires when FeedFailures / FeedsAttempted of a run's hour is above 50%", () => {
    const a = alarm(ALARMS.feedFailures).props;
    const queries = a.metric_query as Query[];
    expect(a).toMatchObject({ threshold: 50, comparison_operator: "GreaterThanThreshold", evaluation_periods: 1, treat_missing_data: "notBreaching" });
    expect(queries.filter((q) => q.metric).map((q) => [q.id, q.metric!.metric_name, q.metric!.stat, q.metric!.period, q.metric!.dimensions])).toEqual([
      ["failures", METRICS.feedFailures, "Sum", 3600, { Stage: "prod" }],
      ["attempted", METRICS.feedsAttempted, "Sum", 3600, { Stage: "prod" }],
    ]);
    // An hour without a run has no attempts: no data point (not breaching), never a division by zero.
    expect(queries.filter((q) => q.return_data)).toEqual([expect.objectContaining({ expression: "IF(attempted > 0, 100 * FILL(failures, 0) / attempted)" })]);
  });

  test("when a run reports DigestSucceeded 0 (an empty digest, every feed failed, a recipient not sent), an alarm fires in that hour", () => {
    expect(alarm(ALARMS.runFailed).props).toMatchObject({
      namespace: METRICS.namespace, metric_name: METRICS.digestSucceeded, dimensions: { Stage: "prod" }, statistic: "Minimum", period: 3600,
      evaluation_periods: 1, comparison_operator: "LessThanThreshold", threshold: 1, treat_missing_data: "notBreaching",
    });
  });

  test("when the feed threshold is given, the feed alarm uses it", () => {
    const j = synth({ thresholds: { feedFailurePercent: 25 } });
    expect(resources(j, "aws_cloudwatch_metric_alarm").find((r) => r.props.alarm_name === `vd-${ALARMS.feedFailures}`)!.props.threshold).toBe(25);
  });

  test("when an operator is granted describe, it may list the alarm topic's subscriptions only", () => {
    const j = synthWith((f) => {
      const m = new Monitoring(f.stack, "monitoring", { namePrefix: "vd", key: f.key, alarmEmail: "ops@example.com", task: TASK, stage: "prod" });
      m.grantDescribe(new TaskRole(f.stack, "op", { roleName: "vd-operator" }));
    });
    expect(resources(j, "aws_sns_topic").map((x) => x.props.name)).toContain("vd-alarms");
    expect(statementsOf(j, onlyResource(j, "aws_iam_role_policy").props.policy)).toEqual([
      { sid: "ReadAlarmSubscriptions", effect: "Allow", actions: ["sns:ListSubscriptionsByTopic"], resources: ["arn:aws:sns:us-east-1:111111111111:vd-alarms"] },
    ]);
  });

  test("when defaults apply, bounce and complaint rates alarm below AWS's review levels", () => {
    expect(alarm(ALARMS.bounceRate).props).toMatchObject({ namespace: "AWS/SES", metric_name: "Reputation.BounceRate", threshold: 0.04 });
    expect(alarm(ALARMS.complaintRate).props).toMatchObject({ namespace: "AWS/SES", metric_name: "Reputation.ComplaintRate", threshold: 0.0008 });
    expect(DEFAULT_THRESHOLDS.bounceRate).toBeLessThan(0.05);
    expect(DEFAULT_THRESHOLDS.complaintRate).toBeLessThan(0.001);
  });

  test("when no digest succeeds for 26 hours, the alarm fires and missing data counts as breaching", () => {
    expect(alarm(ALARMS.noSuccess).props).toMatchObject({
      metric_name: METRICS.digestSucceeded, period: 3600, evaluation_periods: 26, datapoints_to_alarm: 26,
      comparison_operator: "LessThanThreshold", threshold: 1, treat_missing_data: "breaching",
    });
  });

  test("when any Parameter Store access is denied, the alarm fires", () => {
    expect(alarm(ALARMS.parameterStoreAccessDenied).props).toMatchObject({ metric_name: METRICS.parameterStoreAccessDenied, threshold: 1, comparison_operator: "GreaterThanOrEqualToThreshold" });
  });

  test("when quota use reaches 80%, the alarm fires on the sender's metric", () => {
    expect(alarm(ALARMS.quota).props).toMatchObject({ metric_name: METRICS.sesQuotaUsedPercent, threshold: 80 });
  });

  test("when delivery time rises above its learned anomaly band, the alarm fires (no fixed millisecond baseline)", () => {
    const a = alarm(ALARMS.latency).props;
    const queries = a.metric_query as Query[];
    expect(a).toMatchObject({ comparison_operator: "GreaterThanUpperThreshold", threshold_metric_id: "baseline", treat_missing_data: "notBreaching" });
    expect(a).not.toHaveProperty("threshold");
    expect(queries.find((q) => q.id === "latency")!.metric).toMatchObject({ metric_name: METRICS.deliveryLatencyMs, stat: "Average", period: 3600 });
    expect(queries.find((q) => q.id === "baseline")!.expression).toBe(`ANOMALY_DETECTION_BAND(latency, ${DEFAULT_THRESHOLDS.deliveryLatencyBandStdDevs})`);
    expect(JSON.stringify(queries)).not.toContain("2000");
  });

  test("when the band width is given, the anomaly band uses it", () => {
    const j = synth({ thresholds: { deliveryLatencyBandStdDevs: 3 } });
    const a = resources(j, "aws_cloudwatch_metric_alarm").find((r) => r.props.alarm_name === `vd-${ALARMS.latency}`)!.props;
    expect((a.metric_query as Query[]).find((q) => q.id === "baseline")!.expression).toBe("ANOMALY_DETECTION_BAND(latency, 3)");
  });

  test("when synthesized for stage prod, every alarm on the digest's metrics selects exactly {Stage: \"prod\"}", () => {
    const own = resources(json, "aws_cloudwatch_metric_alarm").flatMap((a) => [
      ...(a.props.namespace === METRICS.namespace ? [a.props.dimensions as Record<string, string> | undefined] : []),
      ...((a.props.metric_query ?? []) as Query[]).filter((q) => q.metric?.namespace === METRICS.namespace).map((q) => q.metric!.dimensions),
    ]);
    expect(own.length).toBeGreaterThanOrEqual(9);
    for (const d of own) expect(d).toEqual({ Stage: "prod" });
  });

  test("when the sender writes an EMF line for stage prod, it declares Dimensions [[\"Stage\"]] and carries Stage \"prod\" (what the alarms select)", () => {
    const lines: string[] = [];
    const emf = new EmfMetrics((l) => lines.push(l), { now: () => 0, stage: "prod" });
    emf.count(METRICS.sesAttempts);
    emf.flush();
    expect(lines[0]).toContain('"Stage":"prod"');
    const doc = JSON.parse(lines[0]!) as { Stage: string; _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] } };
    expect(doc._aws.CloudWatchMetrics[0]!.Namespace).toBe("VibeDigest");
    expect(doc._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([["Stage"]]);
    expect(doc.Stage).toBe("prod");
  });

  test("when the EMF writer is given no stage, every line carries Stage \"unset\"", () => {
    const emf = new EmfMetrics(() => undefined, { now: () => 0 });
    emf.count(METRICS.sent);
    expect(emf.document()).toMatchObject({ Stage: "unset" });
  });

  test.each(["", "pro d", "x".repeat(65)])("when the stage is %p, it throws VALUE_INVALID naming stage", (stage) => {
    expect(thrownBy((f) => build(f, { stage }))).toMatchObject({ code: "VALUE_INVALID", subject: "stage" });
  });

  test("when the task stops with a non-zero exit or fails to start, event-rule matches raise alarms", () => {
    const rules = resources(json, "aws_cloudwatch_event_rule");
    const exit = rules.find((r) => r.props.name === "vd-task-exit-nonzero")!;
    expect(JSON.parse(exit.props.event_pattern).detail).toEqual({
      clusterArn: [TASK.clusterArn], lastStatus: ["STOPPED"], containers: { exitCode: [{ "anything-but": 0 }] },
    });
    const start = rules.find((r) => r.props.name === "vd-task-failed-to-start")!;
    expect(JSON.parse(start.props.event_pattern).detail.stopCode).toEqual(["TaskFailedToStart"]);
    expect(alarm(ALARMS.taskExitNonZero).props).toMatchObject({ namespace: "AWS/Events", metric_name: "MatchedEvents", dimensions: { RuleName: ref(exit, "name") } });
  });

  test("when the schedule cannot start the task or dead-letters it, alarms fire", () => {
    expect(alarm(ALARMS.scheduleTargetErrors).props).toMatchObject({ namespace: "AWS/Scheduler", metric_name: "TargetErrorCount", dimensions: { ScheduleGroup: "vd" } });
    expect(alarm(ALARMS.deadLetters).props).toMatchObject({ namespace: "AWS/SQS", dimensions: { QueueName: "vd-dlq" }, threshold: 1 });
  });

  test("when thresholds are given, they replace the defaults", () => {
    const j = synth({ thresholds: { deliveryFailuresIn5Minutes: 10, hoursWithoutSuccess: 48 } });
    const byName = (n: string) => resources(j, "aws_cloudwatch_metric_alarm").find((r) => r.props.alarm_name === `vd-${n}`)!.props;
    expect(byName(ALARMS.deliveryFailures).threshold).toBe(10);
    expect(byName(ALARMS.noSuccess).evaluation_periods).toBe(48);
  });

  test("when synthesized, a cost anomaly monitor reports impacts of 20% or more by email", () => {
    const sub = onlyResource(json, "aws_ce_anomaly_subscription").props;
    expect(onlyResource(json, "aws_ce_anomaly_monitor").props).toMatchObject({ monitor_type: "DIMENSIONAL", monitor_dimension: "SERVICE" });
    expect(sub.subscriber).toEqual([{ type: "EMAIL", address: "ops@example.com" }]);
    expect(sub.threshold_expression.dimension).toEqual({ key: "ANOMALY_TOTAL_IMPACT_PERCENTAGE", match_options: ["GREATER_THAN_OR_EQUAL"], values: ["20"] });
  });

  test("when synthesized, Monitoring grants nothing: metrics arrive as EMF log lines, not PutMetricData calls", () => {
    expect(resources(json, "aws_iam_role_policy")).toEqual([]);
    expect(JSON.stringify(json)).not.toContain("cloudwatch:PutMetricData");
  });

  test.each([
    ["a bounce rate at AWS's 5% review level", { thresholds: { bounceRate: 0.05 } }],
    ["a complaint rate at AWS's 0.1% review level", { thresholds: { complaintRate: 0.001 } }],
    ["24 hours without success (shorter than a day's schedule)", { thresholds: { hoursWithoutSuccess: 24 } }],
    ["a negative failure count", { thresholds: { deliveryFailuresIn5Minutes: -1 } }],
    ["an anomaly band narrower than one standard deviation", { thresholds: { deliveryLatencyBandStdDevs: 0.5 } }],
    ["a feed failure share of 100% (it could never be exceeded)", { thresholds: { feedFailurePercent: 100 } }],
    ["a feed failure share of 0% (one unreadable feed would page)", { thresholds: { feedFailurePercent: 0 } }],
  ])("when given %s, it throws THRESHOLD_INVALID", (_what, props) => {
    expect(thrownBy((f) => build(f, props as Partial<MonitoringProps>)).code).toBe("THRESHOLD_INVALID");
  });
});
