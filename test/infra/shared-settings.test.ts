import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COLLECTIONS,
  COMPACTOR_SETTINGS,
  ENV,
  RESOURCE_SETTINGS,
  STREAM_PROCESSOR_SETTINGS,
  resourceNames,
} from '@compaction/contracts';
import { loadConfig } from '@compaction/compactor';
import { resourcesOfType, synth, type Synthesized } from './synth.js';

/**
 * The local-AWS provisioning and the CDK app both read `@compaction/contracts`
 * (RESOURCE_SETTINGS, COMPACTOR_SETTINGS, STREAM_PROCESSOR_SETTINGS, resourceNames, ENV).
 * This proves the synthesized template carries exactly those values, so what the tests
 * run against locally is what gets deployed.
 */
let s: Synthesized;
beforeAll(() => {
  s = synth({ stage: 'dev' });
});
afterAll(() => s?.dispose());

const names = resourceNames('dev');
const queueByName = (name: string) => {
  const found = Object.values(resourcesOfType(s.json, 'AWS::SQS::Queue')).find(
    (q) => q.Properties.QueueName === name,
  );
  expect(found, name).toBeDefined();
  return found!.Properties;
};
const tableByName = (name: string) => {
  const found = Object.values(resourcesOfType(s.json, 'AWS::DynamoDB::Table')).find(
    (t) => t.Properties.TableName === name,
  );
  expect(found, name).toBeDefined();
  return found!.Properties;
};
const fnByPrefix = (prefix: string) =>
  Object.entries(resourcesOfType(s.json, 'AWS::Lambda::Function')).find(([id]) =>
    new RegExp(`^${prefix}[0-9A-F]{8}$`).test(id),
  )![1].Properties;

describe('the synthesized stack equals the shared resource definition', () => {
  it('names every resource with resourceNames(stage)', () => {
    tableByName(names.receiptsTable);
    tableByName(names.stateTable);
    queueByName(names.rejectsQueue);
    for (const c of COLLECTIONS) {
      queueByName(names.queues[c].queue);
      queueByName(names.queues[c].deadLetterQueue);
    }
    const bucketNames = Object.values(resourcesOfType(s.json, 'AWS::S3::Bucket')).map((b) =>
      JSON.stringify(b.Properties.BucketName ?? null),
    );
    expect(bucketNames.some((n) => n.includes(`"${names.snapshotBucket}-"`))).toBe(true);
  });

  it('uses RESOURCE_SETTINGS for the tables', () => {
    const receipts = tableByName(names.receiptsTable);
    expect(receipts.KeySchema).toEqual([
      { AttributeName: RESOURCE_SETTINGS.receiptsTable.partitionKey, KeyType: 'HASH' },
      { AttributeName: RESOURCE_SETTINGS.receiptsTable.sortKey, KeyType: 'RANGE' },
    ]);
    expect(receipts.StreamSpecification).toEqual({
      StreamViewType: RESOURCE_SETTINGS.receiptsTable.streamViewType,
    });
    const state = tableByName(names.stateTable);
    expect(state.KeySchema).toEqual([
      { AttributeName: RESOURCE_SETTINGS.stateTable.partitionKey, KeyType: 'HASH' },
    ]);
    expect(state.TimeToLiveSpecification).toEqual({
      AttributeName: RESOURCE_SETTINGS.stateTable.timeToLiveAttribute,
      Enabled: true,
    });
  });

  it('uses RESOURCE_SETTINGS for the queues', () => {
    for (const c of COLLECTIONS) {
      const queue = queueByName(names.queues[c].queue);
      expect(queue.VisibilityTimeout).toBe(
        RESOURCE_SETTINGS.collectionQueue.visibilityTimeoutSeconds,
      );
      expect(queue.MessageRetentionPeriod).toBe(
        RESOURCE_SETTINGS.collectionQueue.retentionPeriodSeconds,
      );
      expect((queue.RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount).toBe(
        RESOURCE_SETTINGS.collectionQueue.maxReceiveCount,
      );
      // AWS guidance for a Lambda SQS event source: at least 5 receives.
      expect(RESOURCE_SETTINGS.collectionQueue.maxReceiveCount).toBeGreaterThanOrEqual(5);
      expect(queueByName(names.queues[c].deadLetterQueue).MessageRetentionPeriod).toBe(
        RESOURCE_SETTINGS.deadLetterQueue.retentionPeriodSeconds,
      );
    }
    expect(queueByName(names.rejectsQueue).MessageRetentionPeriod).toBe(
      RESOURCE_SETTINGS.rejectsQueue.retentionPeriodSeconds,
    );
  });

  it('uses COMPACTOR_SETTINGS and STREAM_PROCESSOR_SETTINGS for the functions and their mappings', () => {
    expect(fnByPrefix('CompactorFunction').Timeout).toBe(COMPACTOR_SETTINGS.timeoutSeconds);
    expect(fnByPrefix('StreamProcessorFunction').Timeout).toBe(
      STREAM_PROCESSOR_SETTINGS.timeoutSeconds,
    );
    const mappings = Object.values(resourcesOfType(s.json, 'AWS::Lambda::EventSourceMapping')).map(
      (m) => m.Properties,
    );
    const stream = mappings.filter((m) => m.StartingPosition !== undefined);
    expect(stream).toEqual([
      expect.objectContaining({
        BatchSize: STREAM_PROCESSOR_SETTINGS.batchSize,
        MaximumBatchingWindowInSeconds: STREAM_PROCESSOR_SETTINGS.maxBatchingWindowSeconds,
        MaximumRetryAttempts: STREAM_PROCESSOR_SETTINGS.retryAttempts,
        MaximumRecordAgeInSeconds: STREAM_PROCESSOR_SETTINGS.maxRecordAgeSeconds,
        BisectBatchOnFunctionError: STREAM_PROCESSOR_SETTINGS.bisectBatchOnError,
      }),
    ]);
    const queues = mappings.filter((m) => m.StartingPosition === undefined);
    expect(queues).toHaveLength(COLLECTIONS.length);
    for (const m of queues) {
      expect(m).toMatchObject({
        BatchSize: COMPACTOR_SETTINGS.batchSize,
        MaximumBatchingWindowInSeconds: COMPACTOR_SETTINGS.maxBatchingWindowSeconds,
        ScalingConfig: { MaximumConcurrency: COMPACTOR_SETTINGS.maxConcurrency },
      });
    }
  });

  it('gives the compactor the values it assumes when a variable is unset (one source)', () => {
    const vars = (
      fnByPrefix('CompactorFunction').Environment as { Variables: Record<string, unknown> }
    ).Variables;
    // What the Lambda reads from the template equals what it reads from an empty environment.
    const literal = Object.fromEntries(
      Object.entries(vars).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
    const fromTemplate = loadConfig({
      ...literal,
      [ENV.stateTable]: 't',
      [ENV.snapshotBucket]: 'b',
    });
    const fromDefaults = loadConfig({ [ENV.stateTable]: 't', [ENV.snapshotBucket]: 'b' });
    expect(fromTemplate.lock).toEqual(fromDefaults.lock);
    expect(fromTemplate.requeue).toEqual(fromDefaults.requeue);
    expect(fromTemplate.timeBudget).toEqual(fromDefaults.timeBudget);
    expect(fromTemplate.maxVectorLossShare).toBe(fromDefaults.maxVectorLossShare);
    expect(fromTemplate.workDir).toBe(fromDefaults.workDir);
    // (The flags are per stage, `bin/`'s stage settings; they are not defaults.)
    expect(vars).toMatchObject({
      [ENV.lockLeaseMs]: String(COMPACTOR_SETTINGS.lock.leaseMs),
      [ENV.lockHeartbeatMs]: String(COMPACTOR_SETTINGS.lock.heartbeatMs),
      [ENV.lockMaxWaitMs]: String(COMPACTOR_SETTINGS.lock.maxWaitMs),
      [ENV.maxVectorLossShare]: String(COMPACTOR_SETTINGS.maxVectorLossShare),
      [ENV.workDir]: COMPACTOR_SETTINGS.workDir,
    });
  });

  it('sets the environment variables named in ENV', () => {
    const env = (p: Record<string, unknown>) =>
      Object.keys((p.Environment as { Variables: Record<string, unknown> }).Variables);
    const set = new Set([
      ...env(fnByPrefix('CompactorFunction')),
      ...env(fnByPrefix('StreamProcessorFunction')),
    ]);
    // Every variable except the emulator-only path-style switch is set by the stack.
    const expected = Object.values(ENV).filter((name) => name !== ENV.s3ForcePathStyle);
    expect([...set].sort()).toEqual([...expected].sort());
  });
});
