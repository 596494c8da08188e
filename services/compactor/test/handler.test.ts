/**
 * The Lambda handler end to end on the emulators: SQS queues polled by the local
 * event-source runner (Lambda-shaped events, `batchItemFailures` honoured), clients
 * built from the standard endpoint variables, DLQ for refused messages.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV, wordVectorId, type CollectionName } from '@compaction/contracts';
import { createHandler } from '../src/create-handler.js';
import { DLQ_ATTRIBUTES } from '../src/dead-letter.js';
import { REQUEUE_ATTRIBUTES } from '../src/requeue.js';
import { drainQueue, handlerRuntime, sqsRecord } from './support/handler-runtime.js';
import { InjectedFaultError } from '../src/errors.js';
import { LeaseLock } from '@compaction/snapshot-store';
import { createCompactorRuntime, type CompactorRuntimeOptions } from '../src/runtime.js';
import { Rng, receiptRecords } from './support/workload.js';
import { TEST_LOCK, openFilesUnder, useCompactorFixture } from './support/fixture.js';
import { labelMessage, placeMessage } from './support/messages.js';
import { captureOutput, isEmfLine } from './support/output.js';

const fx = await useCompactorFixture();

beforeAll(() => {
  // What the local runners give a Lambda: the SDK's standard endpoint variables,
  // region, credentials and path-style S3. The handler builds its clients from them.
  Object.assign(process.env, fx.aws.env);
});

const R = { imageId: '88888888-8888-4888-8888-888888888888', receiptId: 1 };
const shape = { linesPerReceipt: 3, wordsPerLine: 3, dimension: 8 };
const seedBoth = async () => {
  await fx.seed(
    'words',
    receiptRecords(new Rng(1), R, { collection: 'words', ...shape }, { merchant_name: 'OLD' }),
  );
  await fx.seed(
    'lines',
    receiptRecords(new Rng(1), R, { collection: 'lines', ...shape }, { merchant_name: 'OLD' }),
  );
};
let seq = 30_000;

/** A runtime on this test's resources, in its own container directory. */
const runtimeOptions = (
  extra: Partial<CompactorRuntimeOptions> = {},
  env: Record<string, string> = {},
) => handlerRuntime(fx, extra, env);

async function send(collection: CollectionName, body: string): Promise<void> {
  await fx.sqs.send(
    new SendMessageCommand({ QueueUrl: fx.res.queues[collection].queue.url, MessageBody: body }),
  );
}

async function drain(url: string): Promise<Message[]> {
  const out: Message[] = [];
  for (;;) {
    const got = await fx.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
      }),
    );
    if (!got.Messages?.length) return out;
    out.push(...got.Messages);
  }
}

async function queueDepth(url: string): Promise<number> {
  const out = await fx.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

describe('handler over SQS', () => {
  it('dead-letters a malformed message and one for an unknown collection with a reason; applies the rest', async () => {
    await seedBoth();
    const rt = await runtimeOptions();
    const valid = labelMessage({
      receipt: R,
      lineId: 1,
      wordId: 1,
      label: 'TOTAL',
      seq: ++seq,
      status: 'VALID',
    });
    await send('words', JSON.stringify(valid));
    await send('words', '{ not json');
    await send('words', JSON.stringify({ ...valid, v: 2 }));
    await send('words', JSON.stringify({ ...valid, kind: 'place', collection: 'receipts' }));
    await send(
      'words',
      JSON.stringify({
        ...placeMessage({
          receipt: R,
          collection: 'lines',
          seq: ++seq,
          fields: { merchant_name: 'X' },
        }),
      }),
    );

    const runner = await fx.aws.startSqsRunner({
      queueUrl: fx.res.queues.words.queue.url,
      handler: createHandler(() => createCompactorRuntime(rt.options)),
      batchSize: 100,
      maxBatchingWindowMs: 200,
    });
    await runner.waitUntil((s) => s.succeededRecords >= 5);
    await runner.stop();
    expect(runner.stats.failedRecords).toBe(0);
    expect(openFilesUnder(rt.workDir)).toEqual([]);

    const snap = await fx.readPublished('words');
    expect(
      snap.vectors.get(wordVectorId({ ...R, lineId: 1, wordId: 1 }))!.metadata['valid_labels'],
    ).toBe(',TOTAL,');

    const dead = await drain(fx.res.queues.words.deadLetterQueue.url);
    const reasons = dead.map((m) => m.MessageAttributes?.[DLQ_ATTRIBUTES.code]?.StringValue).sort();
    expect(reasons).toEqual([
      'collection-mismatch',
      'not-json',
      'unknown-collection',
      'unsupported-version',
    ]);
    for (const m of dead) {
      expect(m.MessageAttributes?.[DLQ_ATTRIBUTES.reason]?.StringValue?.length).toBeGreaterThan(5);
      expect(m.MessageAttributes?.[DLQ_ATTRIBUTES.sourceQueue]?.StringValue).toBe(
        fx.res.queues.words.queue.name,
      );
    }
    expect(dead.find((m) => m.Body === '{ not json')).toBeDefined();
    expect(rt.metricsOf('words').sum('CompactionRejectedMessages')).toBe(4);
    expect(rt.metricsOf('words').sum('CompactionLambdaSuccess')).toBe(1);
    expect(rt.logger.find('change message refused')).toHaveLength(4);
    expect(await queueDepth(fx.res.queues.words.queue.url)).toBe(0);
  });

  it('a crash after the swap but before the SQS delete: redelivered, converges, applied once', async () => {
    fx.res = await fx.aws.provision({
      overrides: { collectionQueue: { visibilityTimeoutSeconds: 1 } },
    });
    await seedBoth();
    let crashes = 0;
    const rt = await runtimeOptions({
      faults: {
        afterSwap: () => {
          if (crashes++ === 0) throw new InjectedFaultError('afterSwap');
        },
      },
    });
    const messages = [1, 2, 3].map((wordId) =>
      labelMessage({ receipt: R, lineId: 2, wordId, label: 'TAX', seq: ++seq, status: 'INVALID' }),
    );
    for (const m of messages) await send('words', JSON.stringify(m));

    const runner = await fx.aws.startSqsRunner({
      queueUrl: fx.res.queues.words.queue.url,
      handler: createHandler(() => createCompactorRuntime(rt.options)),
      batchSize: 10,
      maxBatchingWindowMs: 300,
    });
    await runner.waitUntil((s) => s.succeededRecords >= 3, { timeoutMs: 30_000 });
    await runner.stop();
    expect(crashes).toBe(1); // the retry had nothing to swap: it found every message applied
    expect(runner.stats.failedRecords).toBe(3);
    const words = rt.metricsOf('words');
    expect(words.sum('CompactionLambdaError')).toBe(1);
    expect(words.sum('CompactionStaleChanges')).toBe(3);

    const snap = await fx.readPublished('words');
    const pointer = await fx.container().pointers.read('words');
    expect(snap.version).toBe(pointer!.version); // latest.json repaired by the retry
    for (const wordId of [1, 2, 3]) {
      expect(
        snap.vectors.get(wordVectorId({ ...R, lineId: 2, wordId }))!.metadata['invalid_labels'],
      ).toBe(',TAX,');
    }
    expect(await drain(fx.res.queues.words.deadLetterQueue.url)).toHaveLength(0);
  });
});

describe('handler, one event', () => {
  const record = (collection: CollectionName | 'other', body: string, id: string): SQSRecord =>
    sqsRecord(fx, collection, body, id);

  it('runs one compaction per collection and fails back exactly the messages not published', async () => {
    await seedBoth();
    const rt = await runtimeOptions();
    const handler = createHandler(() => createCompactorRuntime(rt.options));
    const place = (collection: CollectionName) =>
      JSON.stringify(
        placeMessage({
          receipt: R,
          collection,
          seq: ++seq,
          fields: { merchant_name: `N-${collection}` },
        }),
      );
    const label = (wordId: number) =>
      JSON.stringify(
        labelMessage({
          receipt: R,
          lineId: 3,
          wordId,
          label: 'DATE',
          seq: ++seq,
          status: 'PENDING',
        }),
      );

    // Another holder keeps the lines lock: lines messages fail back, words go through.
    const blocker = await new LeaseLock({
      ...TEST_LOCK,
      ddb: fx.ddb,
      table: fx.table,
      collection: 'lines',
      owner: 'blocker',
    }).acquire();
    const busy = await runtimeOptions(
      {},
      { [ENV.lockMaxWaitMs]: '200', [ENV.lockRequeueDelaySeconds]: '1' },
    );
    const busyHandler = createHandler(() => createCompactorRuntime(busy.options));
    const response = await busyHandler({
      Records: [
        record('words', label(1), 'w1'),
        record('lines', place('lines'), 'l1'),
        record('words', place('words'), 'w2'),
        record('lines', place('lines'), 'l2'),
        record('other', place('words'), 'x1'),
      ],
    });
    await blocker.release();
    // The busy lines lock spends no receive: l1 and l2 are re-sent delayed to their
    // queue and acknowledged; only the record of a foreign queue fails back.
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['x1']);
    expect(busy.metricsOf('lines').sum('CompactionLockBusy')).toBe(1);
    expect(busy.metricsOf('lines').sum('CompactionLockContention')).toBe(2);
    expect(busy.metricsOf('lines').sum('CompactionLambdaError')).toBe(0);
    const copies = await drainQueue(fx, fx.res.queues.lines.queue.url, { atLeast: 2 });
    expect(
      copies
        .map((m) => m.MessageAttributes?.[REQUEUE_ATTRIBUTES.originalMessageId]?.StringValue)
        .sort(),
    ).toEqual(['l1', 'l2']);
    expect(
      copies.every((m) => m.MessageAttributes?.[REQUEUE_ATTRIBUTES.requeues]?.StringValue === '1'),
    ).toBe(true);
    expect(busy.metricsOf('words').sum('CompactionLambdaSuccess')).toBe(1);
    expect(busy.metricsOf('unknown').sum('CompactionRejectedMessages')).toBe(1);
    expect(
      (await fx.readPublished('words')).vectors.get(wordVectorId({ ...R, lineId: 1, wordId: 1 }))!
        .metadata['merchant_name'],
    ).toBe('N-words');

    // Both collections in one event: one compaction each.
    const both = await handler({
      Records: [
        record('lines', place('lines'), 'l3'),
        record('words', label(2), 'w3'),
        record('lines', place('lines'), 'l4'),
      ],
    });
    expect(both.batchItemFailures).toEqual([]);
    expect(rt.metricsOf('lines').sum('CompactionLambdaSuccess')).toBe(1);
    expect(rt.metricsOf('words').sum('CompactionLambdaSuccess')).toBe(1);
    expect(rt.metricsOf('lines').sum('CompactionMetadataUpdates')).toBe(2);
  });

  it('a refused message whose DLQ send fails is reported as a failure (redrive takes it there)', async () => {
    await seedBoth();
    const rt = await runtimeOptions(
      {},
      { [ENV.wordsDlqUrl]: `${fx.res.queues.words.queue.url}-missing` },
    );
    const handler = createHandler(() => createCompactorRuntime(rt.options));
    const ok = JSON.stringify(
      labelMessage({ receipt: R, lineId: 1, wordId: 2, label: 'TAX', seq: ++seq, status: 'VALID' }),
    );
    const response = await handler({
      Records: [record('words', 'garbage', 'bad'), record('words', ok, 'good')],
    });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'bad' }]);
    expect(rt.logger.find('change message refused')[0]!.attributes).toMatchObject({
      deadLettered: false,
      rejectionCode: 'not-json',
    });
  });

  it('the exported handler builds everything from the environment on first use', async () => {
    await seedBoth();
    const workDir = await mkdtemp(join(tmpdir(), 'compactor-handler-'));
    const saved = { ...process.env };
    Object.assign(process.env, fx.res.env, {
      [ENV.workDir]: workDir,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
    });
    // Its own Logger is silent and its Metrics disabled, but Metrics still warns when a
    // collection's metrics are empty; kept, and printed only if the test fails.
    const output = captureOutput();
    try {
      const { handler } = await import('../src/handler.js');
      const body = JSON.stringify(
        placeMessage({
          receipt: R,
          collection: 'lines',
          seq: ++seq,
          fields: { place_id: 'from-env' },
        }),
      );
      const response = await handler({ Records: [record('lines', body, 'e1')] });
      expect(response.batchItemFailures).toEqual([]);
      const snap = await fx.readPublished('lines');
      expect([...snap.vectors.values()].every((v) => v.metadata['place_id'] === 'from-env')).toBe(
        true,
      );
      expect(openFilesUnder(workDir)).toEqual([]);
      expect(output.lines.filter(isEmfLine)).toEqual([]);
    } finally {
      process.env = saved;
      await rm(workDir, { recursive: true, force: true });
    }
  });
});
