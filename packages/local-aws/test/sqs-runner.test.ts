import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { useLocalAws } from '../src/index.js';
import { waitFor } from './support/wait-for.js';

const aws = await useLocalAws();
const sqs = aws.clients.sqs;

async function send(queueUrl: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
      }),
    );
  }
}

async function counts(queueUrl: string) {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes?.ApproximateNumberOfMessages),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible),
  };
}

function recorder(
  respond?: (
    event: SQSEvent,
    call: number,
  ) => Promise<SQSBatchResponse | void> | SQSBatchResponse | void,
) {
  const events: SQSEvent[] = [];
  const handler = async (event: SQSEvent) => {
    events.push(event);
    return respond?.(event, events.length);
  };
  return { events, handler };
}

describe('SqsRunner', () => {
  it('gathers a batch larger than 10 as a Lambda SQSEvent and deletes what succeeded', async () => {
    const res = await aws.provision();
    const { queue } = res.queues.words;
    const bodies = Array.from({ length: 35 }, (_, i) => `message ${i}`);
    await send(queue.url, bodies);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queue.url,
        MessageBody: 'with attributes',
        MessageAttributes: {
          kind: { DataType: 'String', StringValue: 'label' },
          raw: { DataType: 'Binary', BinaryValue: new Uint8Array([7, 8]) },
        },
      }),
    );
    const { events, handler } = recorder();
    const runner = await aws.startSqsRunner({ queueUrl: queue.url, handler, batchSize: 1000 });
    await runner.waitForIdle();

    expect(events).toHaveLength(1);
    const records = events[0]!.Records;
    expect(records).toHaveLength(36);
    expect(new Set(records.map((r) => r.body))).toEqual(new Set([...bodies, 'with attributes']));
    for (const record of records) {
      expect(record).toMatchObject({
        eventSource: 'aws:sqs',
        eventSourceARN: queue.arn,
        awsRegion: 'us-east-1',
        attributes: { ApproximateReceiveCount: '1' },
      });
      expect(Number(record.attributes.SentTimestamp)).toBeGreaterThan(Date.now() - 60_000);
      expect(record.messageId).toEqual(expect.any(String));
      expect(record.receiptHandle).toEqual(expect.any(String));
      expect(record.md5OfBody).toMatch(/^[0-9a-f]{32}$/);
    }
    const withAttributes = records.find((r) => r.body === 'with attributes');
    expect(withAttributes?.messageAttributes).toEqual({
      kind: {
        dataType: 'String',
        stringValue: 'label',
        stringListValues: [],
        binaryListValues: [],
      },
      raw: {
        dataType: 'Binary',
        binaryValue: Buffer.from([7, 8]).toString('base64'),
        stringListValues: [],
        binaryListValues: [],
      },
    });
    expect(await counts(queue.url)).toEqual({ visible: 0, inFlight: 0 });
    expect(runner.stats).toMatchObject({
      batches: 1,
      records: 36,
      succeededRecords: 36,
      failedRecords: 0,
    });
  });

  it('respects batchSize', async () => {
    const res = await aws.provision();
    await send(
      res.rejectsQueue.url,
      Array.from({ length: 25 }, (_, i) => `m${i}`),
    );
    const { events, handler } = recorder();
    const runner = await aws.startSqsRunner({
      queueUrl: res.rejectsQueue.url,
      handler,
      batchSize: 12,
    });
    await runner.waitForIdle();
    expect(events.map((e) => e.Records.length)).toEqual([12, 12, 1]);
  });

  it('keeps gathering during the batching window', async () => {
    const res = await aws.provision();
    const { url } = res.queues.lines.queue;
    await send(url, ['a', 'b', 'c']);
    const { events, handler } = recorder();
    const runner = await aws.startSqsRunner({
      queueUrl: url,
      handler,
      batchSize: 1000,
      maxBatchingWindowMs: 800,
    });
    await runner.waitUntil((s) => s.polls >= 2); // it has messages in hand and is gathering more
    await send(url, ['d', 'e']);
    await runner.waitUntil((s) => s.batches === 1);
    expect(events[0]?.Records.map((r) => r.body).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('redelivers what the handler reports failed, then the queue moves it to the DLQ after maxReceiveCount', async () => {
    const maxReceiveCount = 2;
    const res = await aws.provision({
      overrides: { collectionQueue: { visibilityTimeoutSeconds: 1, maxReceiveCount } },
    });
    const { queue, deadLetterQueue } = res.queues.words;
    await send(queue.url, ['ok 1', 'poison', 'ok 2']);
    const poisonReceiveCounts: string[] = [];
    const { handler } = recorder((event) => ({
      batchItemFailures: event.Records.filter((r) => r.body === 'poison').map((r) => {
        poisonReceiveCounts.push(r.attributes.ApproximateReceiveCount);
        return { itemIdentifier: r.messageId };
      }),
    }));
    const runner = await aws.startSqsRunner({ queueUrl: queue.url, handler, batchSize: 10 });

    // Nobody consumes the DLQ: look into it until the message is there (bounded).
    const dead = await waitFor(
      async () => {
        const { Messages } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: deadLetterQueue.url,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 0,
          }),
        );
        return Messages?.length ? Messages : undefined;
      },
      { timeoutMs: 45_000, intervalMs: 100, what: 'the poison message in the DLQ' },
    );
    expect(dead.map((m: Message) => m.Body)).toEqual(['poison']);
    expect(poisonReceiveCounts).toEqual(['1', '2']);
    await runner.waitForIdle();
    expect(runner.stats).toMatchObject({ succeededRecords: 2, failedRecords: 2, failedBatches: 2 });
    expect(await counts(queue.url)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('fails the whole batch when the handler throws: every message comes back', async () => {
    const res = await aws.provision({
      overrides: { collectionQueue: { visibilityTimeoutSeconds: 1 } },
    });
    const { url } = res.queues.lines.queue;
    await send(url, ['x', 'y']);
    const { events, handler } = recorder((_, call) => {
      if (call === 1) throw new Error('boom');
    });
    const runner = await aws.startSqsRunner({ queueUrl: url, handler });
    await runner.waitUntil((s) => s.succeededRecords === 2);

    expect(events.map((e) => e.Records.map((r) => r.body).sort())).toEqual([
      ['x', 'y'],
      ['x', 'y'],
    ]);
    expect(events[1]?.Records.map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['2', '2']);
    expect(runner.stats).toMatchObject({ failedBatches: 1, failedRecords: 2 });
  });

  it('treats an unknown itemIdentifier as a failure of the whole batch', async () => {
    const res = await aws.provision({
      overrides: { collectionQueue: { visibilityTimeoutSeconds: 1 } },
    });
    const { url } = res.queues.lines.queue;
    await send(url, ['x', 'y']);
    const { events, handler } = recorder((_, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: '' }] } : undefined,
    );
    const runner = await aws.startSqsRunner({ queueUrl: url, handler });
    await runner.waitUntil((s) => s.succeededRecords === 2);
    expect(events.map((e) => e.Records.length)).toEqual([2, 2]);
  });

  it('runs up to maxConcurrency batches at the same time', async () => {
    const res = await aws.provision();
    const { url } = res.queues.words.queue;
    await send(
      url,
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    let active = 0;
    let maxActive = 0;
    let bothIn!: () => void;
    const together = new Promise<void>((resolve) => (bothIn = resolve));
    const runner = await aws.startSqsRunner({
      queueUrl: url,
      batchSize: 10,
      maxConcurrency: 2,
      handler: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        if (active === 2) bothIn();
        await Promise.race([together, new Promise((resolve) => setTimeout(resolve, 2000))]);
        active--;
      },
    });
    await runner.waitUntil((s) => s.succeededRecords === 20);
    expect(maxActive).toBe(2);
  });

  it('stop() waits for the batch in flight and deletes its messages', async () => {
    const res = await aws.provision();
    const { url } = res.queues.words.queue;
    await send(url, ['only']);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const runner = await aws.startSqsRunner({
      queueUrl: url,
      handler: async () => {
        entered();
        await released;
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
    expect(runner.stats).toMatchObject({ batches: 1, succeededRecords: 1 });
    expect(await counts(url)).toEqual({ visible: 0, inFlight: 0 });
  });
});
