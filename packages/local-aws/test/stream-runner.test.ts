import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { RunnerStoppedError, useLocalAws, type DiscardReport } from '../src/index.js';

const aws = await useLocalAws();

/** A handler that records every event it gets, answering with `respond`. */
function recorder(
  respond?: (event: DynamoDBStreamEvent, call: number) => DynamoDBBatchResponse | void,
) {
  const events: DynamoDBStreamEvent[] = [];
  const handler = async (event: DynamoDBStreamEvent) => {
    events.push(event);
    return respond?.(event, events.length);
  };
  return { events, handler, records: () => events.flatMap((e) => e.Records) };
}

const seq = (r: DynamoDBRecord | undefined) => r?.dynamodb?.SequenceNumber;
const pk = (r: DynamoDBRecord | undefined) => r?.dynamodb?.Keys?.PK?.S;

async function putItems(table: string, count: number, prefix = 'IMAGE#') {
  for (let i = 0; i < count; i++) {
    await aws.clients.documents.send(
      new PutCommand({ TableName: table, Item: { PK: `${prefix}${i}`, SK: 'RECEIPT#00001' } }),
    );
  }
}

describe('StreamRunner', () => {
  it('delivers INSERT, MODIFY and REMOVE with old and new images as a Lambda DynamoDBStreamEvent', async () => {
    const res = await aws.provision();
    const table = res.receiptsTable.name;
    const { handler, records } = recorder();
    const runner = await aws.startStreamRunner({ streamArn: res.receiptsTable.streamArn, handler });

    const key = { PK: 'IMAGE#3f2a9c1e', SK: 'RECEIPT#00001#PLACE' };
    const docs = aws.clients.documents;
    await docs.send(
      new PutCommand({
        TableName: table,
        Item: { ...key, merchant_name: 'Corner Shop', blob: new Uint8Array([1, 2, 3]) },
      }),
    );
    await docs.send(
      new UpdateCommand({
        TableName: table,
        Key: key,
        UpdateExpression: 'SET merchant_name = :m',
        ExpressionAttributeValues: { ':m': 'Corner Shop Ltd' },
      }),
    );
    await docs.send(new DeleteCommand({ TableName: table, Key: key }));
    await runner.waitForIdle();

    const [insert, modify, remove] = records();
    expect(records().map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'REMOVE']);
    for (const record of records()) {
      expect(record).toMatchObject({
        eventSource: 'aws:dynamodb',
        eventSourceARN: res.receiptsTable.streamArn,
        awsRegion: 'us-east-1',
        eventVersion: '1.1',
        dynamodb: {
          Keys: { PK: { S: key.PK }, SK: { S: key.SK } },
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
      });
      expect(record.eventID).toEqual(expect.any(String));
      expect(record.dynamodb?.SequenceNumber).toMatch(/^\d+$/);
      expect(record.dynamodb?.SizeBytes).toBeGreaterThan(0);
      // Epoch seconds. DynamoDB Local truncates it to the minute, so the write happened
      // in [t, t + 60) s: a "within N seconds of now" check fails near a minute boundary.
      const created = record.dynamodb?.ApproximateCreationDateTime ?? Number.NaN;
      const nowSeconds = Date.now() / 1000;
      expect(created).toBeGreaterThan(nowSeconds - 60 - 120);
      expect(created).toBeLessThanOrEqual(nowSeconds);
    }
    expect(insert?.dynamodb?.OldImage).toBeUndefined();
    expect(insert?.dynamodb?.NewImage).toEqual({
      ...{ PK: { S: key.PK }, SK: { S: key.SK } },
      merchant_name: { S: 'Corner Shop' },
      blob: { B: Buffer.from([1, 2, 3]).toString('base64') }, // base64, as in Lambda's JSON
    });
    expect(modify?.dynamodb?.OldImage?.merchant_name).toEqual({ S: 'Corner Shop' });
    expect(modify?.dynamodb?.NewImage?.merchant_name).toEqual({ S: 'Corner Shop Ltd' });
    expect(remove?.dynamodb?.OldImage?.merchant_name).toEqual({ S: 'Corner Shop Ltd' });
    expect(remove?.dynamodb?.NewImage).toBeUndefined();
    expect(runner.stats).toMatchObject({ records: 3, succeededRecords: 3, failedBatches: 0 });
  });

  it('splits records into batches of batchSize, in order', async () => {
    const res = await aws.provision();
    await putItems(res.receiptsTable.name, 5);
    const { events, handler } = recorder();
    const runner = await aws.startStreamRunner({
      streamArn: res.receiptsTable.streamArn,
      handler,
      batchSize: 2,
    });
    await runner.waitForIdle();
    expect(events.map((e) => e.Records.map(pk))).toEqual([
      ['IMAGE#0', 'IMAGE#1'],
      ['IMAGE#2', 'IMAGE#3'],
      ['IMAGE#4'],
    ]);
  });

  it('retries the whole batch when the handler throws', async () => {
    const res = await aws.provision();
    await putItems(res.receiptsTable.name, 3);
    const { events, handler } = recorder((_, call) => {
      if (call === 1) throw new Error('transient');
    });
    const runner = await aws.startStreamRunner({ streamArn: res.receiptsTable.streamArn, handler });
    const errors: unknown[] = [];
    runner.on('handlerError', (e) => errors.push(e));
    await runner.waitForIdle();

    expect(events).toHaveLength(2);
    expect(events[1]?.Records.map(seq)).toEqual(events[0]?.Records.map(seq));
    expect(errors).toEqual([new Error('transient')]);
    expect(runner.stats).toMatchObject({
      batches: 2,
      records: 6,
      failedBatches: 1,
      failedRecords: 3,
      succeededRecords: 3,
    });
  });

  it('honours batchItemFailures: checkpoints before the failed record and resumes from it', async () => {
    const res = await aws.provision();
    await putItems(res.receiptsTable.name, 4);
    const { events, handler } = recorder((event, call) =>
      call === 1
        ? {
            batchItemFailures: [
              { itemIdentifier: seq(event.Records[3])! },
              { itemIdentifier: seq(event.Records[1])! },
            ],
          }
        : undefined,
    );
    const runner = await aws.startStreamRunner({ streamArn: res.receiptsTable.streamArn, handler });
    await runner.waitForIdle();

    expect(events.map((e) => e.Records.map(pk))).toEqual([
      ['IMAGE#0', 'IMAGE#1', 'IMAGE#2', 'IMAGE#3'],
      ['IMAGE#1', 'IMAGE#2', 'IMAGE#3'], // from the lowest failed sequence number on
    ]);
    expect(runner.stats).toMatchObject({ succeededRecords: 4, failedRecords: 3, failedBatches: 1 });
  });

  it('treats an unknown itemIdentifier as a failure of the whole batch', async () => {
    const res = await aws.provision();
    await putItems(res.receiptsTable.name, 2);
    const { events, handler } = recorder((_, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: 'not-a-sequence-number' }] } : undefined,
    );
    const runner = await aws.startStreamRunner({ streamArn: res.receiptsTable.streamArn, handler });
    await runner.waitForIdle();
    expect(events.map((e) => e.Records.length)).toEqual([2, 2]);
  });

  it('discards a batch after retryAttempts and goes on with the next records', async () => {
    const res = await aws.provision();
    await putItems(res.receiptsTable.name, 3, 'BAD#');
    const { events, handler } = recorder((event) => {
      if (event.Records.some((r) => pk(r)?.startsWith('BAD#'))) throw new Error('poison');
    });
    const runner = await aws.startStreamRunner({
      streamArn: res.receiptsTable.streamArn,
      handler,
      retryAttempts: 2,
      retryBackoffMs: 1,
    });
    const discarded: DiscardReport[] = [];
    runner.on('discard', (report) => discarded.push(report));
    await runner.waitUntil((s) => s.discardedRecords === 3);
    await putItems(res.receiptsTable.name, 1, 'GOOD#');
    await runner.waitForIdle();

    expect(events.map((e) => e.Records.length)).toEqual([3, 3, 3, 1]); // first try + 2 retries, then the next record
    expect(discarded).toEqual([expect.objectContaining({ records: 3 })]);
    expect(pk(events.at(-1)?.Records[0])).toBe('GOOD#0');
  });

  it('bisects a failing batch when bisectBatchOnError is set', async () => {
    const res = await aws.provision();
    await putItems(res.receiptsTable.name, 4);
    const { events, handler } = recorder((event) => {
      if (event.Records.some((r) => pk(r) === 'IMAGE#3') && event.Records.length > 1)
        throw new Error('bad apple');
    });
    const runner = await aws.startStreamRunner({
      streamArn: res.receiptsTable.streamArn,
      handler,
      bisectBatchOnError: true,
      retryBackoffMs: 1,
    });
    await runner.waitForIdle();
    expect(events.map((e) => e.Records.map(pk))).toEqual([
      ['IMAGE#0', 'IMAGE#1', 'IMAGE#2', 'IMAGE#3'],
      ['IMAGE#0', 'IMAGE#1'],
      ['IMAGE#2', 'IMAGE#3'],
      ['IMAGE#2'],
      ['IMAGE#3'],
    ]);
  });

  it('starts after existing records with startingPosition LATEST', async () => {
    const res = await aws.provision();
    await putItems(res.receiptsTable.name, 2, 'OLD#');
    const { records, handler } = recorder();
    const runner = await aws.startStreamRunner({
      streamArn: res.receiptsTable.streamArn,
      handler,
      startingPosition: 'LATEST',
    });
    await putItems(res.receiptsTable.name, 1, 'NEW#');
    await runner.waitForIdle();
    expect(records().map(pk)).toEqual(['NEW#0']);
  });

  it('stop() waits for the batch in flight, then polls no more', async () => {
    const res = await aws.provision();
    await putItems(res.receiptsTable.name, 1);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    let finished = false;
    const runner = await aws.startStreamRunner({
      streamArn: res.receiptsTable.streamArn,
      handler: async () => {
        entered();
        await released;
        finished = true;
      },
    });
    await inHandler;
    const stopped = runner.stop();
    let stopResolved = false;
    void stopped.then(() => (stopResolved = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopResolved).toBe(false);
    release();
    await stopped;
    expect(finished).toBe(true);
    expect(runner.running).toBe(false);
    expect(runner.stats).toMatchObject({ batches: 1, succeededRecords: 1 });
    await putItems(res.receiptsTable.name, 1, 'AFTER#');
    await expect(runner.waitForIdle()).rejects.toBeInstanceOf(RunnerStoppedError);
    expect(runner.stats.batches).toBe(1);
  });
});
