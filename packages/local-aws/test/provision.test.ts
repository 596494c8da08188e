import {
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { COLLECTIONS, ENV, RESOURCE_SETTINGS, resourceNames } from '@compaction/contracts';
import { describe, expect, inject, it } from 'vitest';
import {
  deprovisionResources,
  provisionResources,
  uniqueStage,
  useLocalAws,
} from '../src/index.js';
import { isProcessAlive } from '../src/process-tree.js';

const aws = await useLocalAws();

describe('the vitest harness', () => {
  it('uses the one emulator set the global setup started', () => {
    const provided = inject('localAws');
    expect(provided).toBeDefined();
    expect(aws.ownEmulators).toBe(false);
    expect(aws.emulators).toEqual(provided);
    // The vitest main process owns it (this worker's parent with the default `forks` pool).
    expect([process.ppid, process.pid]).toContain(aws.emulators.ownerPid);
    expect(isProcessAlive(aws.emulators.dynamodbPid)).toBe(true);
    expect(aws.emulators.startupMs).toBeGreaterThan(0);
  });

  it('gives every provision() its own resources', async () => {
    const [a, b] = await Promise.all([aws.provision(), aws.provision()]);
    expect(a.stage).not.toBe(b.stage);
    expect(a.names).toEqual(resourceNames(a.stage));
    expect(a.receiptsTable.name).not.toBe(b.receiptsTable.name);
    expect(uniqueStage()).toMatch(/^t-[a-z0-9]+-[a-z0-9]{6}$/);
  });
});

describe('provisionResources', () => {
  it('creates every resource from RESOURCE_SETTINGS and resourceNames(stage)', async () => {
    const res = await aws.provision();
    const { dynamodb, sqs, s3 } = aws.clients;

    const receipts = (
      await dynamodb.send(new DescribeTableCommand({ TableName: res.receiptsTable.name }))
    ).Table;
    expect(receipts?.KeySchema).toEqual([
      { AttributeName: RESOURCE_SETTINGS.receiptsTable.partitionKey, KeyType: 'HASH' },
      { AttributeName: RESOURCE_SETTINGS.receiptsTable.sortKey, KeyType: 'RANGE' },
    ]);
    expect(receipts?.StreamSpecification).toEqual({
      StreamEnabled: true,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    });
    expect(receipts?.LatestStreamArn).toBe(res.receiptsTable.streamArn);
    expect(receipts?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');

    const state = (
      await dynamodb.send(new DescribeTableCommand({ TableName: res.stateTable.name }))
    ).Table;
    expect(state?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    const ttl = await dynamodb.send(
      new DescribeTimeToLiveCommand({ TableName: res.stateTable.name }),
    );
    expect(ttl.TimeToLiveDescription).toMatchObject({
      TimeToLiveStatus: 'ENABLED',
      AttributeName: RESOURCE_SETTINGS.stateTable.timeToLiveAttribute,
    });

    for (const collection of COLLECTIONS) {
      const { queue, deadLetterQueue } = res.queues[collection];
      expect(queue.name).toBe(res.names.queues[collection].queue);
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['All'] }),
      );
      expect(Attributes?.VisibilityTimeout).toBe(
        String(RESOURCE_SETTINGS.collectionQueue.visibilityTimeoutSeconds),
      );
      expect(Attributes?.MessageRetentionPeriod).toBe(
        String(RESOURCE_SETTINGS.collectionQueue.retentionPeriodSeconds),
      );
      expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toEqual({
        deadLetterTargetArn: deadLetterQueue.arn,
        maxReceiveCount: RESOURCE_SETTINGS.collectionQueue.maxReceiveCount,
      });
      const dlq = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: deadLetterQueue.url, AttributeNames: ['All'] }),
      );
      expect(dlq.Attributes?.MessageRetentionPeriod).toBe(
        String(RESOURCE_SETTINGS.deadLetterQueue.retentionPeriodSeconds),
      );
    }
    const rejects = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: res.rejectsQueue.url, AttributeNames: ['All'] }),
    );
    expect(rejects.Attributes?.MessageRetentionPeriod).toBe(
      String(RESOURCE_SETTINGS.rejectsQueue.retentionPeriodSeconds),
    );
    await expect(
      s3.send(new HeadBucketCommand({ Bucket: res.snapshotBucket })),
    ).resolves.toBeDefined();

    expect(res.env).toEqual({
      [ENV.linesQueueUrl]: res.queues.lines.queue.url,
      [ENV.wordsQueueUrl]: res.queues.words.queue.url,
      [ENV.linesDlqUrl]: res.queues.lines.deadLetterQueue.url,
      [ENV.wordsDlqUrl]: res.queues.words.deadLetterQueue.url,
      [ENV.rejectsQueueUrl]: res.rejectsQueue.url,
      [ENV.stateTable]: res.stateTable.name,
      [ENV.snapshotBucket]: res.snapshotBucket,
    });
  });

  it('applies test overrides (short visibility timeout, maxReceiveCount)', async () => {
    const res = await aws.provision({
      overrides: { collectionQueue: { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 } },
    });
    const { Attributes } = await aws.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: res.queues.words.queue.url,
        AttributeNames: ['All'],
      }),
    );
    expect(Attributes?.VisibilityTimeout).toBe('1');
    expect(JSON.parse(Attributes?.RedrivePolicy ?? '{}')).toMatchObject({ maxReceiveCount: 2 });
    expect(res.settings.collectionQueue).toEqual({
      visibilityTimeoutSeconds: 1,
      maxReceiveCount: 2,
      retentionPeriodSeconds: RESOURCE_SETTINGS.collectionQueue.retentionPeriodSeconds,
    });
  });

  it('deprovisionResources deletes everything it created, objects included', async () => {
    const stage = uniqueStage('gone');
    const res = await provisionResources(aws.clients, { stage });
    await aws.clients.s3.send(
      new PutObjectCommand({ Bucket: res.snapshotBucket, Key: 'a/b', Body: 'x' }),
    );
    await deprovisionResources(aws.clients, res);

    const tables = (await aws.clients.dynamodb.send(new ListTablesCommand({}))).TableNames ?? [];
    expect(tables.filter((t) => t.startsWith(stage))).toEqual([]);
    const queues =
      (await aws.clients.sqs.send(new ListQueuesCommand({ QueueNamePrefix: stage }))).QueueUrls ??
      [];
    expect(queues).toEqual([]);
    await expect(
      aws.clients.s3.send(new HeadBucketCommand({ Bucket: res.snapshotBucket })),
    ).rejects.toThrow();
  });
});
