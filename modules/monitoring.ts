/**
 * Alarms for the digest, published to an SNS topic encrypted with our CMK (whose policy
 * lets CloudWatch use it), plus a Cost Explorer anomaly monitor for the seed's cost alarm.
 * Thresholds are props whose defaults are the seed's values.
 */
import { Construct } from "constructs";
import { CloudwatchMetricAlarm, type CloudwatchMetricAlarmConfig } from "@cdktf/provider-aws/lib/cloudwatch-metric-alarm";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CeAnomalyMonitor } from "@cdktf/provider-aws/lib/ce-anomaly-monitor";
import { CeAnomalySubscription } from "@cdktf/provider-aws/lib/ce-anomaly-subscription";
import { METRICS, metricDimensionsFor } from "../app/src/contract";
import type { CustomerManagedKey } from "./customer-managed-key";
import { EncryptedTopic } from "./encrypted-topic";
import { ConfigError } from "./errors";
import type { IGrantee } from "./policy";
import { assertEmail, assertIntegerInRange, assertName, assertNumberInRange } from "./validate";

/** Alarm thresholds; every default is the seed's value or AWS's guidance. */
export interface AlarmThresholds {
  /** Alarm when more than this many sends fail in 5 minutes. @default 3 */
  readonly deliveryFailuresIn5Minutes: number;
  /** Alarm when SES failures / SES attempts over 10 minutes exceeds this percent (the seed's
   *  rollback trigger; SendGrid sends and SendGrid rescues of SES failures do not count). @default 5 */
  readonly failureRatePercent: number;
  /** SES Reputation.BounceRate (fraction); must stay below AWS's 5% review level. @default 0.04 */
  readonly bounceRate: number;
  /** SES Reputation.ComplaintRate (fraction); must stay below AWS's 0.1% review level. @default 0.0008 */
  readonly complaintRate: number;
  /** Alarm when no digest succeeded for this many hours (missing data breaches). @default 26 */
  readonly hoursWithoutSuccess: number;
  /** Alarm when this percent of the 24-hour SES quota is used. @default 80 */
  readonly sesQuotaUsedPercent: number;
  /**
   * Width of the anomaly-detection band around the learned delivery-time baseline, in
   * standard deviations: the alarm fires when the hourly average delivery time rises
   * above the band's upper edge. CloudWatch learns the baseline from the metric's own
   * history (about two weeks), so no fixed number of milliseconds is baked in. @default 2
   */
  readonly deliveryLatencyBandStdDevs: number;
  /** Cost anomaly report when an anomaly's impact reaches this percent. @default 20 */
  readonly costAnomalyPercent: number;
  /**
   * Alarm when more than this percent of a run's feeds failed (FeedFailures / FeedsAttempted
   * in the hour of the run; runs are at least two hours apart). @default 50
   */
  readonly feedFailurePercent: number;
}

export const DEFAULT_THRESHOLDS: AlarmThresholds = {
  deliveryFailuresIn5Minutes: 3,
  failureRatePercent: 5,
  bounceRate: 0.04,
  complaintRate: 0.0008,
  hoursWithoutSuccess: 26,
  sesQuotaUsedPercent: 80,
  deliveryLatencyBandStdDevs: 2,
  costAnomalyPercent: 20,
  feedFailurePercent: 50,
};

/** The scheduled task, for the alarms that watch it. */
export interface MonitoredTask {
  readonly clusterArn: string;
  readonly scheduleGroupName: string;
  readonly deadLetterQueueName: string;
}

/** Props for {@link Monitoring}. */
export interface MonitoringProps {
  readonly namePrefix: string;
  /** CMK for the alarm topic. */
  readonly key: CustomerManagedKey;
  /** Subscribed to the alarm topic and to the cost-anomaly report. */
  readonly alarmEmail: string;
  /** @default DEFAULT_THRESHOLDS */
  readonly thresholds?: Partial<AlarmThresholds>;
  /** The scheduled task. @default - no task alarms */
  readonly task?: MonitoredTask;
  /** Declare the Cost Explorer anomaly monitor and its subscription. @default true */
  readonly costAnomalyMonitor?: boolean;
  /**
   * The stage name: the `Stage` dimension (the contract's METRIC_DIMENSIONS) that every alarm
   * on the digest's own metrics selects, the value the stack gives the task as VIBE_STAGE.
   */
  readonly stage: string;
}

/** Alarm names (suffixes after the prefix), stable for runbooks. */
export const ALARMS = {
  deliveryFailures: "delivery-failures",
  failureRate: "ses-failure-rate",
  parameterStoreAccessDenied: "parameter-store-access-denied",
  bounceRate: "ses-bounce-rate",
  complaintRate: "ses-complaint-rate",
  taskFailedToStart: "task-failed-to-start",
  taskExitNonZero: "task-exit-nonzero",
  scheduleTargetErrors: "schedule-target-errors",
  deadLetters: "schedule-dead-letters",
  noSuccess: "no-successful-digest",
  quota: "ses-quota-close",
  latency: "delivery-latency-degraded",
  sesRollback: "ses-rollback-triggered",
  emailsUnknown: "emails-outcome-unknown",
  feedFailures: "feed-failures",
  runFailed: "digest-run-failed",
} as const;

/** CloudWatch alarms, their encrypted SNS topic and the cost anomaly monitor. */
export class Monitoring extends Construct {
  readonly topic: EncryptedTopic;
  readonly alarms: Record<string, CloudwatchMetricAlarm> = {};
  readonly thresholds: AlarmThresholds;
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    assertName(this, "namePrefix", props.namePrefix);
    assertEmail(this, "alarmEmail", props.alarmEmail);
    const t = { ...DEFAULT_THRESHOLDS, ...props.thresholds };
    this.thresholds = t;
    validateThresholds(this, t);
    this.prefix = props.namePrefix;

    this.topic = new EncryptedTopic(this, "alarm-topic", { topicName: `${props.namePrefix}-alarms`, key: props.key });
    this.topic.allowServicePublish(
      "CloudWatchAlarmsPublish",
      "cloudwatch.amazonaws.com",
      `arn:${props.key.partition}:cloudwatch:*:${props.key.account}:alarm:${props.namePrefix}-*`,
    );
    this.topic.subscribeEmail("alarm-email", props.alarmEmail);

    const ns = METRICS.namespace;
    // Every alarm on the sender's own metrics selects the contract's dimension set, the one
    // the sender's EMF lines declare; an alarm with other dimensions would never see data.
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(props.stage ?? "")) throw new ConfigError("VALUE_INVALID", this.node.path, "stage", "a stage name (letters, digits, _ . -; at most 64)");
    const own = { dimensions: metricDimensionsFor(props.stage) };
    this.alarm(ALARMS.deliveryFailures, `More than ${t.deliveryFailuresIn5Minutes} digest sends failed in 5 minutes`, {
      namespace: ns, metricName: METRICS.failed, ...own, statistic: "Sum", period: 300, evaluationPeriods: 1,
      comparisonOperator: "GreaterThanThreshold", threshold: t.deliveryFailuresIn5Minutes, treatMissingData: "notBreaching",
    });
    // SES attempts only: a send that SES rejected and SendGrid then delivered is an SES
    // failure here. No SES attempt in the window (all on SendGrid, or no run) gives no data
    // point, which does not breach; a window with attempts but no failure datapoint is 0%.
    this.percentAlarm(ALARMS.failureRate, `SES failure rate above ${t.failureRatePercent}% over 10 minutes (seed rollback trigger)`, {
      part: { id: "failures", metricName: METRICS.sesFailures },
      whole: { id: "attempts", metricName: METRICS.sesAttempts },
      resultId: "rate", label: "SES failure rate (%)", periodSeconds: 600, thresholdPercent: t.failureRatePercent, dimensions: own.dimensions,
    });
    this.alarm(ALARMS.parameterStoreAccessDenied, "Parameter Store or its key denied the sender access", {
      namespace: ns, metricName: METRICS.parameterStoreAccessDenied, ...own, statistic: "Sum", period: 300, evaluationPeriods: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: 1, treatMissingData: "notBreaching",
    });
    this.alarm(ALARMS.bounceRate, `SES bounce rate at ${t.bounceRate * 100}% (AWS reviews at 5%)`, {
      namespace: "AWS/SES", metricName: "Reputation.BounceRate", statistic: "Maximum", period: 3600, evaluationPeriods: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: t.bounceRate, treatMissingData: "notBreaching",
    });
    this.alarm(ALARMS.complaintRate, `SES complaint rate at ${t.complaintRate * 100}% (AWS reviews at 0.1%)`, {
      namespace: "AWS/SES", metricName: "Reputation.ComplaintRate", statistic: "Maximum", period: 3600, evaluationPeriods: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: t.complaintRate, treatMissingData: "notBreaching",
    });
    this.alarm(ALARMS.noSuccess, `No successful digest in ${t.hoursWithoutSuccess} hours`, {
      namespace: ns, metricName: METRICS.digestSucceeded, ...own, statistic: "Sum", period: 3600,
      evaluationPeriods: t.hoursWithoutSuccess, datapointsToAlarm: t.hoursWithoutSuccess,
      comparisonOperator: "LessThanThreshold", threshold: 1, treatMissingData: "breaching",
    });
    this.alarm(ALARMS.quota, `Sending above ${t.sesQuotaUsedPercent}% of the 24-hour SES quota`, {
      namespace: ns, metricName: METRICS.sesQuotaUsedPercent, ...own, statistic: "Maximum", period: 300, evaluationPeriods: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: t.sesQuotaUsedPercent, treatMissingData: "notBreaching",
    });
    // The baseline is learned by CloudWatch anomaly detection from the metric's history
    // (the model is created with the alarm); the alarm compares each hour's average with the
    // band's upper edge. Hours without sends have no data and do not breach.
    this.alarm(ALARMS.latency, `Delivery time above its learned baseline (anomaly band of ${t.deliveryLatencyBandStdDevs} standard deviations)`, {
      evaluationPeriods: 1, comparisonOperator: "GreaterThanUpperThreshold", thresholdMetricId: "baseline", treatMissingData: "notBreaching",
      metricQuery: [
        { id: "latency", metric: { namespace: ns, metricName: METRICS.deliveryLatencyMs, ...own, stat: "Average", period: 3600 }, label: "Delivery time (ms)", returnData: true },
        { id: "baseline", expression: `ANOMALY_DETECTION_BAND(latency, ${t.deliveryLatencyBandStdDevs})`, label: "Expected delivery time (ms)", returnData: true },
      ],
    });

    this.alarm(ALARMS.sesRollback, "The sender rolled SES back to SendGrid (clear it with `digest rollback clear` once fixed)", {
      namespace: ns, metricName: METRICS.sesRollback, ...own, statistic: "Sum", period: 300, evaluationPeriods: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: 1, treatMissingData: "notBreaching",
    });
    this.alarm(ALARMS.emailsUnknown, "A send's outcome is unknown: the ledger will not resend it, check SES for the message", {
      namespace: ns, metricName: METRICS.emailsUnknown, ...own, statistic: "Sum", period: 300, evaluationPeriods: 1,
      comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: 1, treatMissingData: "notBreaching",
    });

    // Feeds: more than half of a run's feeds failed. The sender emits FeedsAttempted and
    // FeedFailures once per run; an hour holds at most one scheduled run. An hour without a
    // run has no attempts and gives no data point (not breaching).
    this.percentAlarm(ALARMS.feedFailures, `More than ${t.feedFailurePercent}% of a run's feeds could not be read`, {
      part: { id: "failures", metricName: METRICS.feedFailures },
      whole: { id: "attempted", metricName: METRICS.feedsAttempted },
      resultId: "failed_share", label: "Feeds that failed (%)", periodSeconds: 3600, thresholdPercent: t.feedFailurePercent, dimensions: own.dimensions,
    });
    // A run that reports failure (DigestSucceeded = 0: config, nothing or not everyone sent,
    // an empty digest, every feed failed) pages at once, from the sender's own metric; the
    // 26-hour alarm above only catches days without any successful run.
    this.alarm(ALARMS.runFailed, "A digest run failed (nothing sent, not everyone sent, an empty digest, or a config error): see the run summary", {
      namespace: ns, metricName: METRICS.digestSucceeded, ...own, statistic: "Minimum", period: 3600, evaluationPeriods: 1,
      comparisonOperator: "LessThanThreshold", threshold: 1, treatMissingData: "notBreaching",
    });

    if (props.task) this.watchTask(props.task);

    if (props.costAnomalyMonitor ?? true) {
      const monitor = new CeAnomalyMonitor(this, "cost-monitor", {
        name: `${props.namePrefix}-services`,
        monitorType: "DIMENSIONAL",
        monitorDimension: "SERVICE",
      });
      new CeAnomalySubscription(this, "cost-subscription", {
        name: `${props.namePrefix}-cost-anomalies`,
        frequency: "DAILY",
        monitorArnList: [monitor.arn],
        subscriber: [{ type: "EMAIL", address: props.alarmEmail }],
        thresholdExpression: {
          dimension: { key: "ANOMALY_TOTAL_IMPACT_PERCENTAGE", matchOptions: ["GREATER_THAN_OR_EQUAL"], values: [String(t.costAnomalyPercent)] },
        },
      });
    }
  }

  get resource(): EncryptedTopic {
    return this.topic;
  }

  /** Lets an operator check the alarm topic's subscriptions (the doctor: is one confirmed?). */
  grantDescribe(grantee: IGrantee): void {
    grantee.addToPrincipalPolicy({ sid: "ReadAlarmSubscriptions", actions: ["sns:ListSubscriptionsByTopic"], resources: [this.topic.knownArn] });
  }

  /** Task alarms: failed to start, exited non-zero, the schedule's target errors, dead letters. */
  private watchTask(task: MonitoredTask): void {
    const stopped = (id: string, description: string, detail: Record<string, unknown>): CloudwatchEventRule =>
      new CloudwatchEventRule(this, id, {
        name: `${this.prefix}-${id}`,
        description,
        eventPattern: JSON.stringify({
          source: ["aws.ecs"],
          "detail-type": ["ECS Task State Change"],
          detail: { clusterArn: [task.clusterArn], lastStatus: ["STOPPED"], ...detail },
        }),
      });
    const failedToStart = stopped("task-failed-to-start", "The digest task stopped before it could run", { stopCode: ["TaskFailedToStart"] });
    const exitNonZero = stopped("task-exit-nonzero", "The digest container exited with a non-zero code", {
      containers: { exitCode: [{ "anything-but": 0 }] },
    });
    for (const [name, rule] of [[ALARMS.taskFailedToStart, failedToStart], [ALARMS.taskExitNonZero, exitNonZero]] as const) {
      this.alarm(name, `${rule.description}`, {
        namespace: "AWS/Events", metricName: "MatchedEvents", dimensions: { RuleName: rule.name }, statistic: "Sum", period: 300,
        evaluationPeriods: 1, comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: 1, treatMissingData: "notBreaching",
      });
    }
    this.alarm(ALARMS.scheduleTargetErrors, "EventBridge Scheduler could not start the digest task", {
      namespace: "AWS/Scheduler", metricName: "TargetErrorCount", dimensions: { ScheduleGroup: task.scheduleGroupName },
      statistic: "Sum", period: 300, evaluationPeriods: 1, comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: 1,
      treatMissingData: "notBreaching",
    });
    this.alarm(ALARMS.deadLetters, "A schedule invocation landed in the dead-letter queue", {
      namespace: "AWS/SQS", metricName: "ApproximateNumberOfMessagesVisible", dimensions: { QueueName: task.deadLetterQueueName },
      statistic: "Maximum", period: 300, evaluationPeriods: 1, comparisonOperator: "GreaterThanOrEqualToThreshold", threshold: 1,
      treatMissingData: "notBreaching",
    });
  }

  /**
   * Alarms when `100 * part / whole` (both Sums of the digest's own metrics over the period)
   * is above the threshold. No `whole` in a period gives no data point (not breaching, never
   * a division by zero); a period with `whole` but no `part` is 0%.
   */
  private percentAlarm(
    name: string,
    description: string,
    q: {
      readonly part: { readonly id: string; readonly metricName: string };
      readonly whole: { readonly id: string; readonly metricName: string };
      readonly resultId: string;
      readonly label: string;
      readonly periodSeconds: number;
      readonly thresholdPercent: number;
      readonly dimensions: Record<string, string>;
    },
  ): void {
    const metric = (m: { id: string; metricName: string }) => ({
      id: m.id,
      metric: { namespace: METRICS.namespace, metricName: m.metricName, dimensions: q.dimensions, stat: "Sum", period: q.periodSeconds },
      returnData: false,
    });
    this.alarm(name, description, {
      evaluationPeriods: 1, comparisonOperator: "GreaterThanThreshold", threshold: q.thresholdPercent, treatMissingData: "notBreaching",
      metricQuery: [
        metric(q.part),
        metric(q.whole),
        { id: q.resultId, expression: `IF(${q.whole.id} > 0, 100 * FILL(${q.part.id}, 0) / ${q.whole.id})`, label: q.label, returnData: true },
      ],
    });
  }

  private alarm(
    name: string,
    description: string,
    config: Omit<CloudwatchMetricAlarmConfig, "alarmName" | "alarmDescription" | "alarmActions" | "okActions">,
  ): void {
    this.alarms[name] = new CloudwatchMetricAlarm(this, `alarm-${name}`, {
      alarmName: `${this.prefix}-${name}`,
      alarmDescription: description,
      alarmActions: [this.topic.arn],
      okActions: [this.topic.arn],
      ...config,
    });
  }
}

function validateThresholds(scope: Construct, t: AlarmThresholds): void {
  assertIntegerInRange(scope, "THRESHOLD_INVALID", "thresholds.deliveryFailuresIn5Minutes", t.deliveryFailuresIn5Minutes, 0, 10_000);
  assertNumberInRange(scope, "THRESHOLD_INVALID", "thresholds.failureRatePercent", t.failureRatePercent, 0.1, 100);
  // Above AWS's own review levels the alarm would come too late to matter.
  assertNumberInRange(scope, "THRESHOLD_INVALID", "thresholds.bounceRate", t.bounceRate, 0.001, 0.0499);
  assertNumberInRange(scope, "THRESHOLD_INVALID", "thresholds.complaintRate", t.complaintRate, 0.0001, 0.00099);
  // period 1 h x N must stay within CloudWatch's 7-day evaluation window.
  assertIntegerInRange(scope, "THRESHOLD_INVALID", "thresholds.hoursWithoutSuccess", t.hoursWithoutSuccess, 25, 168);
  assertNumberInRange(scope, "THRESHOLD_INVALID", "thresholds.sesQuotaUsedPercent", t.sesQuotaUsedPercent, 1, 100);
  // Narrower than 1 standard deviation alarms on noise; wider than 10 never fires.
  assertNumberInRange(scope, "THRESHOLD_INVALID", "thresholds.deliveryLatencyBandStdDevs", t.deliveryLatencyBandStdDevs, 1, 10);
  assertNumberInRange(scope, "THRESHOLD_INVALID", "thresholds.costAnomalyPercent", t.costAnomalyPercent, 1, 1000);
  // 0 would page on any single unreadable feed; 100 could never be exceeded.
  assertNumberInRange(scope, "THRESHOLD_INVALID", "thresholds.feedFailurePercent", t.feedFailurePercent, 1, 99);
}

