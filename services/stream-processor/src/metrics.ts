import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC, type ChangeKind, type CollectionName } from '@compaction/contracts';
import type { IgnoreReason } from './build-messages.js';
import type { RejectCode } from './errors.js';

/** What the record handler counts; {@link EmfStreamMetrics} turns it into EMF. */
export interface StreamMetrics {
  /** A record that ended (sent, ignored or rejected) — not one reported as failed. */
  recordProcessed(): void;
  recordIgnored(reason: IgnoreReason): void;
  recordRejected(code: RejectCode): void;
  messagesSent(collection: CollectionName, kind: ChangeKind, count: number): void;
  /** Entries given up on after the publisher's retries (their records are retried by Lambda). */
  sendFailures(count: number): void;
}

/** Counts of one invocation. */
export interface MetricCounts {
  processed: number;
  ignored: number;
  rejected: number;
  sendFailures: number;
  ignoredBy: Partial<Record<IgnoreReason, number>>;
  rejectedBy: Partial<Record<RejectCode, number>>;
  /** Key `<collection>/<kind>`. */
  sent: Record<string, number>;
}

const emptyCounts = (): MetricCounts => ({
  processed: 0,
  ignored: 0,
  rejected: 0,
  sendFailures: 0,
  ignoredBy: {},
  rejectedBy: {},
  sent: {},
});

/**
 * Tallies the counts of an invocation in memory (tests and the benchmark read them
 * with {@link MetricTally.counts}).
 *
 * @example
 * const tally = new MetricTally();
 * tally.recordIgnored('other-entity');
 * tally.counts.ignored // 1
 */
export class MetricTally implements StreamMetrics {
  #counts = emptyCounts();

  get counts(): Readonly<MetricCounts> {
    return this.#counts;
  }

  /** Returns the counts so far and starts a new tally. */
  take(): MetricCounts {
    const counts = this.#counts;
    this.#counts = emptyCounts();
    return counts;
  }

  recordProcessed(): void {
    this.#counts.processed++;
  }

  recordIgnored(reason: IgnoreReason): void {
    this.#counts.ignored++;
    this.#counts.ignoredBy[reason] = (this.#counts.ignoredBy[reason] ?? 0) + 1;
  }

  recordRejected(code: RejectCode): void {
    this.#counts.rejected++;
    this.#counts.rejectedBy[code] = (this.#counts.rejectedBy[code] ?? 0) + 1;
  }

  messagesSent(collection: CollectionName, kind: ChangeKind, count: number): void {
    const key = `${collection}/${kind}`;
    this.#counts.sent[key] = (this.#counts.sent[key] ?? 0) + count;
  }

  sendFailures(count: number): void {
    this.#counts.sendFailures += count;
  }
}

/**
 * Publishes an invocation's tally as CloudWatch EMF through Powertools Metrics
 * (namespace `METRICS_NAMESPACE`, default dimension `service`):
 *
 * | metric | dimensions |
 * |---|---|
 * | StreamProcessorProcessedRecords, …IgnoredRecords, …RejectedRecords, …SendFailures | service |
 * | StreamProcessorMessagesSent | service, collection, kind (one EMF line per pair) |
 * | StreamProcessorRejectedRecords | service, reason (the reject code; one EMF line per code) |
 *
 * One EMF line carries one dimension set, so the per-(collection, kind) counts are
 * summed first and written as one line per pair, not one per message.
 *
 * @example
 * const metrics = new EmfStreamMetrics(new Metrics({ namespace: METRICS_NAMESPACE }));
 * // … record handler calls …
 * metrics.publish(); // at the end of the invocation
 */
export class EmfStreamMetrics extends MetricTally {
  constructor(readonly metrics: Metrics) {
    super();
  }

  publish(): void {
    const c = this.take();
    this.metrics.addMetric(METRIC.streamProcessedRecords, MetricUnit.Count, c.processed);
    this.metrics.addMetric(METRIC.streamIgnoredRecords, MetricUnit.Count, c.ignored);
    this.metrics.addMetric(METRIC.streamRejectedRecords, MetricUnit.Count, c.rejected);
    this.metrics.addMetric(METRIC.streamSendFailures, MetricUnit.Count, c.sendFailures);
    this.metrics.publishStoredMetrics();
    for (const [reason, count] of Object.entries(c.rejectedBy)) {
      this.metrics
        .singleMetric()
        .addDimensions({ reason })
        .addMetric(METRIC.streamRejectedRecords, MetricUnit.Count, count);
    }
    for (const [key, count] of Object.entries(c.sent)) {
      const [collection, kind] = key.split('/') as [string, string];
      this.metrics
        .singleMetric()
        .addDimensions({ collection, kind })
        .addMetric(METRIC.streamMessagesSent, MetricUnit.Count, count);
    }
  }
}
