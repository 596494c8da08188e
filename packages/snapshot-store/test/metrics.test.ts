import { afterEach, describe, expect, it, vi } from 'vitest';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { METRIC, METRICS_NAMESPACE } from '@compaction/contracts';
import { MetricUnit, powertoolsSink } from '@compaction/snapshot-store';

describe('powertoolsSink', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = saved;
    vi.restoreAllMocks();
  });

  it('emits EMF in the ReceiptCompaction namespace with the collection dimension (and extra ones per value)', () => {
    process.env['POWERTOOLS_METRICS_DISABLED'] = 'false';
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const metrics = new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: 'compactor',
      defaultDimensions: { collection: 'words' },
    });
    const sink = powertoolsSink(metrics);
    sink.add(METRIC.compactionDeletes, MetricUnit.Count, 3);
    sink.add(METRIC.compactionDuration, MetricUnit.Milliseconds, 12, { phase: 'apply' });
    metrics.publishStoredMetrics();
    const emf = lines.map(
      (l) =>
        JSON.parse(l) as Record<string, unknown> & {
          _aws: {
            CloudWatchMetrics: {
              Namespace: string;
              Dimensions: string[][];
              Metrics: { Name: string }[];
            }[];
          };
        },
    );
    const deletes = emf.find((e) => METRIC.compactionDeletes in e)!;
    expect(deletes._aws.CloudWatchMetrics[0]!.Namespace).toBe('ReceiptCompaction');
    expect(deletes['collection']).toBe('words');
    expect(deletes[METRIC.compactionDeletes]).toBe(3);
    const duration = emf.find((e) => METRIC.compactionDuration in e)!;
    expect(duration).toMatchObject({
      collection: 'words',
      phase: 'apply',
      [METRIC.compactionDuration]: 12,
    });
  });
});
