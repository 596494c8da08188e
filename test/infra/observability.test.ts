/**
 * The compactor's duration alarm: Maximum duration above 80 % of the function timeout,
 * on the `live` alias, notifying the operators' topic.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { COMPACTOR_SETTINGS, RESOURCE_SETTINGS } from '@compaction/contracts';
import { resourcesOfType, synth } from './synth.js';

const synthesized = synth();
afterAll(() => synthesized.dispose());

describe('Observability: compactor duration near its timeout', () => {
  it('alarms when Maximum Duration exceeds 80 % of the compactor timeout', () => {
    synthesized.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Duration',
      Namespace: 'AWS/Lambda',
      Statistic: 'Maximum',
      Period: 300,
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: COMPACTOR_SETTINGS.timeoutSeconds * 1000 * 0.8,
      AlarmDescription: Match.stringLikeRegexp('80 % of its 300 s timeout'),
      AlarmActions: [Match.objectLike({ Ref: Match.stringLikeRegexp('^ObservabilityAlarmTopic') })],
    });
    const functions = resourcesOfType(synthesized.json, 'AWS::Lambda::Function');
    const compactor = Object.values(functions).find(
      (f) => f.Properties['Timeout'] === COMPACTOR_SETTINGS.timeoutSeconds,
    );
    expect(compactor).toBeDefined();
  });

  it('the change queues give a message at least 5 receives before the DLQ', () => {
    expect(RESOURCE_SETTINGS.collectionQueue.maxReceiveCount).toBeGreaterThanOrEqual(5);
    const queues = Object.values(resourcesOfType(synthesized.json, 'AWS::SQS::Queue'));
    const redrives = queues
      .map((q) => q.Properties['RedrivePolicy'] as { maxReceiveCount?: number } | undefined)
      .filter((r) => r !== undefined);
    expect(redrives).toHaveLength(2);
    for (const r of redrives) expect(r.maxReceiveCount).toBe(5);
  });
});
