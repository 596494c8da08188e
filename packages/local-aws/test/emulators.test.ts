import { createHash, randomBytes } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  ListTablesCommand,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { DescribeStreamCommand, DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { Upload } from '@aws-sdk/lib-storage';
import { ENV } from '@compaction/contracts';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useLocalAws } from '../src/index.js';

const aws = await useLocalAws();

describe('the emulators, through the real SDK clients', () => {
  it('round-trips a 20 MB object uploaded in parts (lib-storage Upload) byte for byte', async () => {
    const res = await aws.provision();
    const body = randomBytes(20 * 1024 * 1024);
    const upload = new Upload({
      client: aws.clients.s3,
      params: { Bucket: res.snapshotBucket, Key: 'words/blobs/big', Body: body },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    const parts: number[] = [];
    upload.on('httpUploadProgress', (p) => p.part !== undefined && parts.push(p.part));
    const done = await upload.done();
    expect(done.ETag).toMatch(/-4"?$/); // a multipart ETag: 4 parts

    const got = await aws.clients.s3.send(
      new GetObjectCommand({ Bucket: res.snapshotBucket, Key: 'words/blobs/big' }),
    );
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(bytes.length).toBe(body.length);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      createHash('sha256').update(body).digest('hex'),
    );
    expect(bytes.equals(body)).toBe(true);
    expect(new Set(parts).size).toBe(4);
  });

  it('refuses a conditional update on the state table whose condition fails', async () => {
    const res = await aws.provision();
    const docs = aws.clients.documents;
    const TableName = res.stateTable.name;
    await docs.send(
      new PutCommand({ TableName, Item: { pk: 'LOCK#words', owner: 'a', fencingToken: 1 } }),
    );

    const steal = docs.send(
      new UpdateCommand({
        TableName,
        Key: { pk: 'LOCK#words' },
        UpdateExpression: 'SET #owner = :me, fencingToken = fencingToken + :one',
        ConditionExpression: 'attribute_not_exists(pk) OR #owner = :me',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':me': 'b', ':one': 1 },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    await expect(steal).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    const error = (await steal.catch((e: unknown) => e)) as ConditionalCheckFailedException;
    expect(error.Item?.owner).toEqual({ S: 'a' });
    const item = await docs.send(new GetCommand({ TableName, Key: { pk: 'LOCK#words' } }));
    expect(item.Item).toEqual({ pk: 'LOCK#words', owner: 'a', fencingToken: 1 });
  });

  it('applies a transaction atomically: a failing condition leaves nothing written', async () => {
    const res = await aws.provision();
    const docs = aws.clients.documents;
    const TableName = res.stateTable.name;
    await docs.send(new PutCommand({ TableName, Item: { pk: 'POINTER#words', version: 7 } }));

    const swap = docs.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName, Item: { pk: 'AUDIT#1', what: 'swap' } } },
          {
            Update: {
              TableName,
              Key: { pk: 'POINTER#words' },
              UpdateExpression: 'SET version = :next',
              ConditionExpression: 'version = :parent',
              ExpressionAttributeValues: { ':next': 9, ':parent': 8 }, // stale parent: must fail
            },
          },
        ],
      }),
    );
    await expect(swap).rejects.toBeInstanceOf(TransactionCanceledException);
    const reasons = ((await swap.catch((e: unknown) => e)) as TransactionCanceledException)
      .CancellationReasons;
    expect(reasons?.map((r) => r.Code)).toEqual(['None', 'ConditionalCheckFailed']);
    expect(
      (await docs.send(new GetCommand({ TableName, Key: { pk: 'AUDIT#1' } }))).Item,
    ).toBeUndefined();
    expect(
      (await docs.send(new GetCommand({ TableName, Key: { pk: 'POINTER#words' } }))).Item?.version,
    ).toBe(7);

    await docs.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName, Item: { pk: 'AUDIT#1', what: 'swap' } } },
          {
            Update: {
              TableName,
              Key: { pk: 'POINTER#words' },
              UpdateExpression: 'SET version = :next',
              ConditionExpression: 'version = :parent',
              ExpressionAttributeValues: { ':next': 8, ':parent': 7 },
            },
          },
        ],
      }),
    );
    expect(
      (await docs.send(new GetCommand({ TableName, Key: { pk: 'AUDIT#1' } }))).Item,
    ).toBeDefined();
    expect(
      (await docs.send(new GetCommand({ TableName, Key: { pk: 'POINTER#words' } }))).Item?.version,
    ).toBe(8);
  });
});

describe('localAws.env', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('is all an SDK client built with no endpoint needs to reach the emulators', async () => {
    const res = await aws.provision();
    for (const name of [
      'AWS_PROFILE',
      'AWS_ENDPOINT_URL',
      'AWS_SESSION_TOKEN',
      'AWS_DEFAULT_REGION',
    ]) {
      vi.stubEnv(name, undefined);
    }
    for (const [name, value] of Object.entries({ ...aws.env, ...res.env })) vi.stubEnv(name, value);

    // Exactly what a service does: no endpoint, no region, no credentials in code.
    const dynamodb = new DynamoDBClient({});
    const streams = new DynamoDBStreamsClient({});
    const sqs = new SQSClient({});
    const s3 = new S3Client({ forcePathStyle: process.env[ENV.s3ForcePathStyle] === 'true' });
    try {
      const tables = (await dynamodb.send(new ListTablesCommand({}))).TableNames;
      expect(tables).toContain(res.stateTable.name);
      const docs = DynamoDBDocumentClient.from(dynamodb);
      await docs.send(
        new PutCommand({ TableName: process.env[ENV.stateTable], Item: { pk: 'env' } }),
      );
      expect(
        (
          await aws.clients.documents.send(
            new GetCommand({ TableName: res.stateTable.name, Key: { pk: 'env' } }),
          )
        ).Item,
      ).toEqual({ pk: 'env' });

      const stream = await streams.send(
        new DescribeStreamCommand({ StreamArn: res.receiptsTable.streamArn }),
      );
      expect(stream.StreamDescription?.StreamStatus).toBe('ENABLED');

      const QueueUrl = process.env[ENV.wordsQueueUrl];
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'via env' }));
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 0 }),
      );
      expect(Messages?.map((m) => m.Body)).toEqual(['via env']);

      const Bucket = process.env[ENV.snapshotBucket];
      await s3.send(new PutObjectCommand({ Bucket, Key: 'words/latest.json', Body: '{}' }));
      const head = await aws.clients.s3.send(
        new HeadObjectCommand({ Bucket: res.snapshotBucket, Key: 'words/latest.json' }),
      );
      expect(head.ContentLength).toBe(2);
      expect(await s3.config.region()).toBe('us-east-1');
      expect((await s3.config.credentials()).accessKeyId).toBe('local');
    } finally {
      for (const client of [dynamodb, streams, sqs, s3]) client.destroy();
    }
  });
});
