import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  COLLECTIONS,
  ENV,
  RESOURCE_SETTINGS,
  resourceNames,
  type CollectionName,
  type ResourceNames,
} from '@compaction/contracts';

/** Test-only deviations from `RESOURCE_SETTINGS` (e.g. a 1 s visibility timeout). */
export interface ProvisionOverrides {
  collectionQueue?: {
    visibilityTimeoutSeconds?: number;
    retentionPeriodSeconds?: number;
    maxReceiveCount?: number;
  };
  deadLetterQueue?: { retentionPeriodSeconds?: number };
  rejectsQueue?: { retentionPeriodSeconds?: number; visibilityTimeoutSeconds?: number };
}

/** Options of {@link provisionResources}. */
export interface ProvisionOptions {
  /** The stage whose `resourceNames(stage)` are created (`dev`, or a test's unique stage). */
  stage: string;
  overrides?: ProvisionOverrides;
}

/** The settings actually applied: `RESOURCE_SETTINGS` with the overrides merged in. */
export interface EffectiveQueueSettings {
  collectionQueue: {
    visibilityTimeoutSeconds: number;
    retentionPeriodSeconds: number;
    maxReceiveCount: number;
  };
  deadLetterQueue: { retentionPeriodSeconds: number };
  rejectsQueue: { retentionPeriodSeconds: number; visibilityTimeoutSeconds: number | undefined };
}

/** One created queue. */
export interface ProvisionedQueue {
  name: string;
  url: string;
  arn: string;
}

/** Everything {@link provisionResources} created, with the identifiers handlers need. */
export interface ProvisionedResources {
  stage: string;
  names: ResourceNames;
  receiptsTable: { name: string; arn: string; streamArn: string };
  stateTable: { name: string; arn: string };
  queues: Record<CollectionName, { queue: ProvisionedQueue; deadLetterQueue: ProvisionedQueue }>;
  rejectsQueue: ProvisionedQueue;
  snapshotBucket: string;
  settings: EffectiveQueueSettings;
  /**
   * The Lambda environment for these resources (`LINES_QUEUE_URL`, `STATE_TABLE`, …, the
   * names in `ENV` from `@compaction/contracts`). Merge with `localAws.env` for a handler.
   */
  env: Record<string, string>;
}

/** The clients provisioning needs. */
export type ProvisionClients = { dynamodb: DynamoDBClient; sqs: SQSClient; s3: S3Client };

const QUEUE_ENV: Record<CollectionName, { queue: string; deadLetterQueue: string }> = {
  lines: { queue: ENV.linesQueueUrl, deadLetterQueue: ENV.linesDlqUrl },
  words: { queue: ENV.wordsQueueUrl, deadLetterQueue: ENV.wordsDlqUrl },
};

function effectiveSettings(overrides: ProvisionOverrides = {}): EffectiveQueueSettings {
  return {
    collectionQueue: {
      visibilityTimeoutSeconds:
        overrides.collectionQueue?.visibilityTimeoutSeconds ??
        RESOURCE_SETTINGS.collectionQueue.visibilityTimeoutSeconds,
      retentionPeriodSeconds:
        overrides.collectionQueue?.retentionPeriodSeconds ??
        RESOURCE_SETTINGS.collectionQueue.retentionPeriodSeconds,
      maxReceiveCount:
        overrides.collectionQueue?.maxReceiveCount ??
        RESOURCE_SETTINGS.collectionQueue.maxReceiveCount,
    },
    deadLetterQueue: {
      retentionPeriodSeconds:
        overrides.deadLetterQueue?.retentionPeriodSeconds ??
        RESOURCE_SETTINGS.deadLetterQueue.retentionPeriodSeconds,
    },
    rejectsQueue: {
      retentionPeriodSeconds:
        overrides.rejectsQueue?.retentionPeriodSeconds ??
        RESOURCE_SETTINGS.rejectsQueue.retentionPeriodSeconds,
      visibilityTimeoutSeconds: overrides.rejectsQueue?.visibilityTimeoutSeconds,
    },
  };
}

async function activeTable(
  dynamodb: DynamoDBClient,
  created: TableDescription | undefined,
  name: string,
) {
  let table = created;
  // DynamoDB Local creates tables ACTIVE at once; real DynamoDB (or a future version) may not.
  for (let i = 0; table?.TableStatus !== 'ACTIVE'; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    if (i > 100) throw new Error(`table ${name} did not become ACTIVE`);
    table = (await dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table;
  }
  return table;
}

async function createReceiptsTable(dynamodb: DynamoDBClient, name: string) {
  const { partitionKey, sortKey, streamViewType } = RESOURCE_SETTINGS.receiptsTable;
  const created = await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: partitionKey, AttributeType: 'S' },
        { AttributeName: sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ],
      StreamSpecification: { StreamEnabled: true, StreamViewType: streamViewType },
    }),
  );
  const table = await activeTable(dynamodb, created.TableDescription, name);
  if (!table.TableArn || !table.LatestStreamArn) throw new Error(`table ${name} has no stream`);
  return { name, arn: table.TableArn, streamArn: table.LatestStreamArn };
}

async function createStateTable(dynamodb: DynamoDBClient, name: string) {
  const { partitionKey, timeToLiveAttribute } = RESOURCE_SETTINGS.stateTable;
  const created = await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }],
    }),
  );
  const table = await activeTable(dynamodb, created.TableDescription, name);
  await dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { Enabled: true, AttributeName: timeToLiveAttribute },
    }),
  );
  if (!table.TableArn) throw new Error(`table ${name} has no ARN`);
  return { name, arn: table.TableArn };
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<ProvisionedQueue> {
  const { QueueUrl: url } = await sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
  );
  if (!url) throw new Error(`queue ${name} has no URL`);
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (!arn) throw new Error(`queue ${name} has no ARN`);
  return { name, url, arn };
}

async function createCollectionQueues(
  sqs: SQSClient,
  names: ResourceNames['queues'][CollectionName],
  settings: EffectiveQueueSettings,
) {
  const deadLetterQueue = await createQueue(sqs, names.deadLetterQueue, {
    MessageRetentionPeriod: String(settings.deadLetterQueue.retentionPeriodSeconds),
  });
  const queue = await createQueue(sqs, names.queue, {
    VisibilityTimeout: String(settings.collectionQueue.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(settings.collectionQueue.retentionPeriodSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetterQueue.arn,
      maxReceiveCount: settings.collectionQueue.maxReceiveCount,
    }),
  });
  return { queue, deadLetterQueue };
}

/**
 * Creates every resource of one stage from the shared description in
 * `@compaction/contracts` (`RESOURCE_SETTINGS`, `resourceNames(stage)`), which the CDK
 * app reads too: the receipts table (PK/SK, stream NEW_AND_OLD_IMAGES), the state table
 * (pk, TTL), one queue per collection with its dead-letter queue (redrive after
 * maxReceiveCount), the rejects queue and the snapshot bucket.
 *
 * @example
 * const res = await provisionResources(aws.clients, {
 *   stage: 'dev',
 *   overrides: { collectionQueue: { visibilityTimeoutSeconds: 1, maxReceiveCount: 2 } },
 * });
 * res.queues.words.queue.url; res.receiptsTable.streamArn; res.env.STATE_TABLE;
 */
export async function provisionResources(
  clients: ProvisionClients,
  options: ProvisionOptions,
): Promise<ProvisionedResources> {
  const names = resourceNames(options.stage);
  const settings = effectiveSettings(options.overrides);
  const [receiptsTable, stateTable, collectionQueues, rejectsQueue] = await Promise.all([
    createReceiptsTable(clients.dynamodb, names.receiptsTable),
    createStateTable(clients.dynamodb, names.stateTable),
    Promise.all(
      COLLECTIONS.map((c) => createCollectionQueues(clients.sqs, names.queues[c], settings)),
    ),
    createQueue(clients.sqs, names.rejectsQueue, {
      MessageRetentionPeriod: String(settings.rejectsQueue.retentionPeriodSeconds),
      ...(settings.rejectsQueue.visibilityTimeoutSeconds === undefined
        ? {}
        : { VisibilityTimeout: String(settings.rejectsQueue.visibilityTimeoutSeconds) }),
    }),
    clients.s3.send(new CreateBucketCommand({ Bucket: names.snapshotBucket })),
  ]);
  const queues = Object.fromEntries(COLLECTIONS.map((c, i) => [c, collectionQueues[i]])) as Record<
    CollectionName,
    { queue: ProvisionedQueue; deadLetterQueue: ProvisionedQueue }
  >;
  const env: Record<string, string> = {
    [ENV.rejectsQueueUrl]: rejectsQueue.url,
    [ENV.stateTable]: stateTable.name,
    [ENV.snapshotBucket]: names.snapshotBucket,
  };
  for (const c of COLLECTIONS) {
    env[QUEUE_ENV[c].queue] = queues[c].queue.url;
    env[QUEUE_ENV[c].deadLetterQueue] = queues[c].deadLetterQueue.url;
  }
  return {
    stage: options.stage,
    names,
    receiptsTable,
    stateTable,
    queues,
    rejectsQueue,
    snapshotBucket: names.snapshotBucket,
    settings,
    env,
  };
}

async function deleteTable(dynamodb: DynamoDBClient, name: string): Promise<void> {
  try {
    await dynamodb.send(new DeleteTableCommand({ TableName: name }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
}

async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
    const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
    if (keys.length === 0) break;
    await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }),
    );
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/**
 * Deletes what {@link provisionResources} created (objects included). For test cleanup.
 *
 * @example
 * await deprovisionResources(aws.clients, res);
 */
export async function deprovisionResources(
  clients: ProvisionClients,
  resources: ProvisionedResources,
): Promise<void> {
  const queueUrls = [
    resources.rejectsQueue.url,
    ...COLLECTIONS.flatMap((c) => [
      resources.queues[c].queue.url,
      resources.queues[c].deadLetterQueue.url,
    ]),
  ];
  const results = await Promise.allSettled([
    deleteTable(clients.dynamodb, resources.receiptsTable.name),
    deleteTable(clients.dynamodb, resources.stateTable.name),
    ...queueUrls.map((QueueUrl) => clients.sqs.send(new DeleteQueueCommand({ QueueUrl }))),
    deleteBucket(clients.s3, resources.snapshotBucket),
  ]);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
}
