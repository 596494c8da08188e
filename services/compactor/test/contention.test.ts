/**
 * Issue 15: lock contention never spends a valid message's receives, and a compaction
 * that cannot finish in the invocation's remaining time is not started. Through the
 * real handler on the emulators.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV, wordVectorId } from '@compaction/contracts';
import { createHandler } from '../src/create-handler.js';
import { createCompactorRuntime } from '../src/runtime.js';
import { useCompactorFixture } from './support/fixture.js';
import { drainQueue, handlerRuntime, sendMessages, sqsRecord } from './support/handler-runtime.js';
import { labelMessage } from './support/messages.js';
import { Rng, receiptRecords } from './support/workload.js';

const fx = await useCompactorFixture();

beforeAll(() => {
  Object.assign(process.env, fx.aws.env);
});

const R = { imageId: '66666666-6666-4666-8666-666666666666', receiptId: 1 };
const shape = { collection: 'words' as const, linesPerReceipt: 4, wordsPerLine: 5, dimension: 8 };
let seq = 70_000;

/** Visible, in-flight and delayed messages of a queue. */
async function backlog(url: string): Promise<number> {
  const { Attributes: a = {} } = await fx.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return (
    Number(a.ApproximateNumberOfMessages ?? 0) +
    Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

const context = (remainingMs: number): Context =>
  ({
    awsRequestId: `req-${Math.random()}`,
    getRemainingTimeInMillis: () => remainingMs,
  }) as unknown as Context;

describe('lock contention and the time budget', () => {
  it('two pollers over a backlog, compactions slower than the lock wait: every message applied, DLQ empty', async () => {
    fx.res = await fx.aws.provision({
      overrides: { collectionQueue: { visibilityTimeoutSeconds: 5 } },
    });
    await fx.seed('words', receiptRecords(new Rng(1), R, shape, {}));
    const messages = [];
    for (let line = 1; line <= shape.linesPerReceipt; line++) {
      for (let word = 1; word <= shape.wordsPerLine; word++) {
        for (const label of ['TOTAL', 'TAX']) {
          messages.push(
            labelMessage({
              receipt: R,
              lineId: line,
              wordId: word,
              label,
              seq: ++seq,
              status: 'VALID',
            }),
          );
        }
      }
    }
    await sendMessages(fx, 'words', messages);

    // Each compaction holds the lock 1.5 s; a poller waits 0.3 s for it, then re-sends.
    const env = { [ENV.lockMaxWaitMs]: '300', [ENV.lockRequeueDelaySeconds]: '1' };
    const slow = { faults: { afterLock: () => sleep(1_500) } };
    const pollers = await Promise.all(
      [0, 1].map(async () => {
        const rt = await handlerRuntime(fx, slow, env);
        const runner = await fx.aws.startSqsRunner({
          queueUrl: fx.res.queues.words.queue.url,
          handler: createHandler(() => createCompactorRuntime(rt.options)),
          batchSize: 10,
          timeoutMs: 300_000,
        });
        return { rt, runner };
      }),
    );
    // ~8 s on an idle machine; a loaded 2-core one may need all 90 s (the test's own
    // timeout leaves room for them and for the checks after).
    const deadline = Date.now() + 90_000;
    while ((await backlog(fx.res.queues.words.queue.url)) > 0) {
      expect(Date.now(), 'backlog not drained in 90 s').toBeLessThan(deadline);
      await sleep(250);
    }
    for (const { runner } of pollers) await runner.stop();

    const snap = await fx.readPublished('words');
    for (let line = 1; line <= shape.linesPerReceipt; line++) {
      for (let word = 1; word <= shape.wordsPerLine; word++) {
        const v = snap.vectors.get(wordVectorId({ ...R, lineId: line, wordId: word }))!;
        expect(v.metadata['valid_labels'], `${line}/${word}`).toMatch(/^,(TAX,TOTAL|TOTAL,TAX),$/);
      }
    }
    expect(await drainQueue(fx, fx.res.queues.words.deadLetterQueue.url)).toEqual([]);
    const sum = (name: Parameters<ReturnType<(typeof pollers)[0]['rt']['metricsOf']>['sum']>[0]) =>
      pollers.reduce((s, p) => s + p.rt.metricsOf('words').sum(name), 0);
    const failed = pollers.reduce((s, p) => s + p.runner.stats.failedRecords, 0);
    const figures = {
      tried: messages.length,
      requeued: sum('CompactionLockContention'),
      lockBusy: sum('CompactionLockBusy'),
      compactions: sum('CompactionLambdaSuccess'),
      failedBack: failed,
      deadLettered: 0,
    };
    const report = `contention figures ${JSON.stringify(figures)}`;
    expect(figures.lockBusy, report).toBeGreaterThan(0); // the contention really happened
    expect(figures.requeued, report).toBeGreaterThan(0);
    expect(failed, report).toBe(0); // no receive spent by contention
    expect(sum('CompactionLambdaError'), report).toBe(0);
  }, 150_000);

  it('a compaction that would exceed the remaining time is not started; the batch fails back', async () => {
    await fx.seed('words', receiptRecords(new Rng(1), R, shape, {}));
    const before = await fx.container().pointers.read('words');
    const rt = await handlerRuntime(fx, {}, { [ENV.compactionEstimateMs]: '20000' });
    const handler = createHandler(() => createCompactorRuntime(rt.options));
    const body = (wordId: number) =>
      JSON.stringify(
        labelMessage({ receipt: R, lineId: 1, wordId, label: 'DATE', seq: ++seq, status: 'VALID' }),
      );
    // 25 s left < 20 s estimate + 10 s margin.
    const refused = await handler(
      { Records: [sqsRecord(fx, 'words', body(1), 'a'), sqsRecord(fx, 'words', body(2), 'b')] },
      context(25_000),
    );
    expect(refused.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['a', 'b']);
    expect(rt.metricsOf('words').sum('CompactionTimeBudgetExceeded')).toBe(1);
    expect(rt.metricsOf('words').sum('CompactionLockWaitMs')).toBe(0); // no lock attempt
    expect((await fx.container().pointers.read('words'))!.version).toBe(before!.version);
    expect(
      rt.logger.find('compaction not started; messages failed back')[0]!.attributes,
    ).toMatchObject({ messageIds: ['a', 'b'] });

    // Enough time: it runs, and its measured duration replaces the default estimate.
    const ok = await handler({ Records: [sqsRecord(fx, 'words', body(3), 'c')] }, context(60_000));
    expect(ok.batchItemFailures).toEqual([]);
    const measured = await handler(
      { Records: [sqsRecord(fx, 'words', body(4), 'd')] },
      context(25_000),
    );
    expect(measured.batchItemFailures).toEqual([]);
    expect(rt.metricsOf('words').sum('CompactionTimeBudgetExceeded')).toBe(1);
  });
});
