/**
 * Where the compactor's metrics go. The domain code writes to a {@link MetricsSink}
 * scoped to one collection; the handler backs it with Powertools EMF metrics
 * (namespace `ReceiptCompaction`, dimension `collection`), tests with a
 * {@link RecordingMetrics} they can read back.
 */
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { MetricName } from '@compaction/contracts';

export { MetricUnit };
export type MetricUnitValue = (typeof MetricUnit)[keyof typeof MetricUnit];

/** One collection's metrics. `dimensions` adds dimensions (e.g. `phase`) to that one value. */
export interface MetricsSink {
  add(
    name: MetricName,
    unit: MetricUnitValue,
    value: number,
    dimensions?: Readonly<Record<string, string>>,
  ): void;
}

/** Adds a count (unit Count). */
export const count = (sink: MetricsSink, name: MetricName, value = 1): void =>
  sink.add(name, MetricUnit.Count, value);

/**
 * A sink over Powertools metrics. Values without extra dimensions are buffered in
 * `metrics` (which carries the `collection` default dimension, and is flushed by the
 * handler); values with extra dimensions go out at once as single metrics.
 *
 * @example
 * const metrics = new Metrics({ namespace: METRICS_NAMESPACE, defaultDimensions: { collection: 'words' } });
 * const sink = powertoolsSink(metrics);
 * sink.add(METRIC.compactionDeletes, MetricUnit.Count, 12);
 * metrics.publishStoredMetrics();
 */
export function powertoolsSink(metrics: Metrics): MetricsSink {
  return {
    add(name, unit, value, dimensions) {
      if (!dimensions || Object.keys(dimensions).length === 0) {
        metrics.addMetric(name, unit, value);
        return;
      }
      // A single metric keeps the default dimensions (`collection` among them).
      const single = metrics.singleMetric();
      single.addDimensions(dimensions);
      single.addMetric(name, unit, value);
    },
  };
}

/** One recorded value. */
export interface RecordedMetric {
  name: MetricName;
  unit: MetricUnitValue;
  value: number;
  dimensions: Readonly<Record<string, string>>;
}

/**
 * A sink that keeps every value, for tests and the benchmark.
 *
 * @example
 * const metrics = new RecordingMetrics();
 * await compactCollection({ …, deps: { …, metrics } });
 * metrics.sum(METRIC.compactionStaleChanges); // 0
 */
export class RecordingMetrics implements MetricsSink {
  readonly entries: RecordedMetric[] = [];

  add(
    name: MetricName,
    unit: MetricUnitValue,
    value: number,
    dimensions: Readonly<Record<string, string>> = {},
  ): void {
    this.entries.push({ name, unit, value, dimensions });
  }

  /** Sum of every value recorded under `name` (0 when none). */
  sum(name: MetricName): number {
    return this.entries.filter((e) => e.name === name).reduce((s, e) => s + e.value, 0);
  }

  /** Values recorded under `name`, in order. */
  values(name: MetricName): number[] {
    return this.entries.filter((e) => e.name === name).map((e) => e.value);
  }
}
