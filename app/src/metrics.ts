/**
 * Metrics in CloudWatch Embedded Metric Format (EMF): one JSON line on stdout that
 * CloudWatch Logs turns into metrics, so the task needs no cloudwatch:PutMetricData call
 * and no agent. Hand-written (the format is one small JSON object) rather than
 * aws-embedded-metrics, which probes the environment and in ECS sends to an agent socket.
 * Every line carries the contract's METRIC_DIMENSIONS (`Stage`) as properties and declares
 * them as its one dimension set: the set the stage's alarms select.
 */
import { METRIC_DIMENSIONS, METRICS, STAGE_UNSET, metricDimensionsFor } from "./contract";

export type MetricUnit = "Count" | "Milliseconds" | "Percent";

/** Where the run records what it measured. */
export interface Metrics {
  /** Adds `value` to a counter. */
  count(name: string, value?: number): void;
  /** Records one observation (e.g. a latency). */
  observe(name: string, value: number, unit?: MetricUnit): void;
  /** Writes what was recorded; idempotent (a second flush writes nothing new). */
  flush(): void;
}

/** Collects metrics and writes them as one EMF line through `write` on flush. */
export class EmfMetrics implements Metrics {
  private readonly counters = new Map<string, number>();
  private readonly observations = new Map<string, { unit: MetricUnit; values: number[] }>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly opts: {
      namespace?: string;
      now?: () => number;
      properties?: Record<string, string>;
      /** The `Stage` dimension's value. @default STAGE_UNSET */
      stage?: string;
    } = {},
  ) {}

  count(name: string, value = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + value);
  }

  observe(name: string, value: number, unit: MetricUnit = "Milliseconds"): void {
    const o = this.observations.get(name) ?? { unit, values: [] };
    o.values.push(Math.round(value * 1000) / 1000);
    this.observations.set(name, o);
  }

  /** The EMF document for what is recorded, or undefined when nothing is. */
  document(): Record<string, unknown> | undefined {
    if (this.counters.size === 0 && this.observations.size === 0) return undefined;
    const defs: { Name: string; Unit: MetricUnit }[] = [];
    const values: Record<string, number | number[]> = {};
    for (const [name, v] of this.counters) {
      defs.push({ Name: name, Unit: "Count" });
      values[name] = v;
    }
    for (const [name, o] of this.observations) {
      defs.push({ Name: name, Unit: o.unit });
      // EMF accepts at most 100 values per metric in one document.
      values[name] = o.values.length === 1 ? o.values[0] : o.values.slice(0, 100);
    }
    return {
      _aws: {
        Timestamp: (this.opts.now ?? Date.now)(),
        CloudWatchMetrics: [{ Namespace: this.opts.namespace ?? METRICS.namespace, Dimensions: [[...METRIC_DIMENSIONS]], Metrics: defs }],
      },
      ...this.opts.properties,
      ...metricDimensionsFor(this.opts.stage ?? STAGE_UNSET),
      ...values,
    };
  }

  flush(): void {
    const doc = this.document();
    this.counters.clear();
    this.observations.clear();
    if (doc) this.write(JSON.stringify(doc));
  }
}

/** Records nothing (tests, preview). */
export class NoopMetrics implements Metrics {
  count(): void {}
  observe(): void {}
  flush(): void {}
}
