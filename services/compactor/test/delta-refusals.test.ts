/**
 * Issue 15, deltas: a delta that fails a check fails only its own message. Through the
 * real handler on the emulators (SQS runner, S3, DynamoDB): each bad delta is
 * dead-lettered with its reason, the rest of the batch is published.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ENV,
  entityKey,
  lineVectorId,
  wordVectorId,
  type ChangeMessage,
} from '@compaction/contracts';
import { createHandler } from '../src/create-handler.js';
import { DLQ_ATTRIBUTES } from '../src/dead-letter.js';
import { createCompactorRuntime } from '../src/runtime.js';
import { openFilesUnder, useCompactorFixture } from './support/fixture.js';
import { drainQueue, handlerRuntime, queueDepth, sendMessages } from './support/handler-runtime.js';
import { deltaMessage, labelMessage } from './support/messages.js';
import { Rng, receiptRecords } from './support/workload.js';

const fx = await useCompactorFixture();

beforeAll(() => {
  // What the local runners give a Lambda: the SDK's standard endpoint variables,
  // region, credentials and path-style S3. The handler builds its clients from them.
  Object.assign(process.env, fx.aws.env);
});

const R = { imageId: '11111111-1111-4111-8111-111111111111', receiptId: 1 };
const R2 = { imageId: '22222222-2222-4222-8222-222222222222', receiptId: 2 };
const R3 = { imageId: '33333333-3333-4333-8333-333333333333', receiptId: 3 };
const R4 = { imageId: '44444444-4444-4444-8444-444444444444', receiptId: 4 };
const R5 = { imageId: '55555555-5555-4555-8555-555555555555', receiptId: 5 };
const shape = { collection: 'words' as const, linesPerReceipt: 2, wordsPerLine: 2, dimension: 8 };
const MISSING_BUCKET = 'no-such-bucket-issue-15';
let seq = 90_000;

const delta = (receipt: typeof R, prefix: string): ChangeMessage =>
  deltaMessage({ receipt, collection: 'words', seq: ++seq, runId: prefix, s3Prefix: prefix });

describe('delta refusals through the handler', () => {
  it('dead-letters exactly the wrong-dimension, unreachable and cross-receipt deltas; publishes the rest', async () => {
    await fx.seed('words', [
      ...receiptRecords(new Rng(1), R, shape, { merchant_name: 'A' }),
      ...receiptRecords(new Rng(2), R2, shape, { merchant_name: 'B' }),
    ]);
    // A valid new receipt, a wrong dimension (4 instead of 8), and R4's delta carrying
    // one vector of R2 (which would have replaced R2's whole vector set).
    await fx.uploadDelta('deltas/good/', 'words', receiptRecords(new Rng(3), R3, shape, {}));
    await fx.uploadDelta(
      'deltas/dim4/',
      'words',
      receiptRecords(new Rng(4), R5, { ...shape, dimension: 4 }, {}),
    );
    const r2Vector = receiptRecords(new Rng(2), R2, shape, { merchant_name: 'B' })[0]!;
    await fx.uploadDelta('deltas/cross/', 'words', [
      ...receiptRecords(new Rng(5), R4, shape, {}),
      r2Vector,
    ]);

    const good = delta(R3, 'deltas/good/');
    const wrongDimension = delta(R5, 'deltas/dim4/');
    const unreachable = delta(R5, `s3://${MISSING_BUCKET}/deltas/x/`);
    const crossReceipt = delta(R4, 'deltas/cross/');
    const labels = [1, 2].map((wordId) =>
      labelMessage({ receipt: R, lineId: 1, wordId, label: 'TOTAL', seq: ++seq, status: 'VALID' }),
    );
    const valid = [good, ...labels];
    const bad = new Map<string, string>([
      [wrongDimension.source.eventId, 'delta-dimension-mismatch'],
      [unreachable.source.eventId, 'delta-unreachable'],
      [crossReceipt.source.eventId, 'delta-foreign-receipt'],
    ]);
    await sendMessages(fx, 'words', [
      labels[0]!,
      wrongDimension,
      good,
      unreachable,
      crossReceipt,
      labels[1]!,
    ]);

    const rt = await handlerRuntime(
      fx,
      {},
      { [ENV.deltaPrefixAllowList]: `deltas/,s3://${MISSING_BUCKET}/deltas/` },
    );
    const runner = await fx.aws.startSqsRunner({
      queueUrl: fx.res.queues.words.queue.url,
      handler: createHandler(() => createCompactorRuntime(rt.options)),
      batchSize: 100,
      maxBatchingWindowMs: 300,
    });
    await runner.waitUntil((s) => s.succeededRecords >= 6, { timeoutMs: 30_000 });
    await runner.stop();
    expect(runner.stats.failedRecords).toBe(0);
    expect(runner.stats.batches).toBe(1);
    expect(openFilesUnder(rt.workDir)).toEqual([]);

    const snap = await fx.readPublished('words');
    expect(snap.vectors.has(wordVectorId({ ...R3, lineId: 1, wordId: 1 }))).toBe(true);
    for (const wordId of [1, 2]) {
      expect(
        snap.vectors.get(wordVectorId({ ...R, lineId: 1, wordId }))!.metadata['valid_labels'],
      ).toBe(',TOTAL,');
    }
    // R2 keeps all its vectors; nothing of R4 or R5 arrived.
    const ofReceipt = (r: typeof R) =>
      [...snap.vectors.values()].filter(
        (v) => v.metadata['image_id'] === r.imageId && v.metadata['receipt_id'] === r.receiptId,
      ).length;
    expect(ofReceipt(R2)).toBe(4);
    expect(ofReceipt(R4)).toBe(0);
    expect(ofReceipt(R5)).toBe(0);
    // Refused deltas left no trace in the state: a redrive after a fix is not stale.
    for (const m of [crossReceipt, wrongDimension]) {
      expect(snap.kv['seq']!.has(entityKey(m)), entityKey(m)).toBe(false);
    }
    expect(snap.kv['seq']!.has(entityKey(good))).toBe(true);

    const dead = await drainQueue(fx, fx.res.queues.words.deadLetterQueue.url);
    expect(dead).toHaveLength(3);
    for (const m of dead) {
      const eventId = m.MessageAttributes?.[DLQ_ATTRIBUTES.eventId]?.StringValue;
      expect(bad.get(eventId!), eventId).toBe(
        m.MessageAttributes?.[DLQ_ATTRIBUTES.code]?.StringValue,
      );
      expect(m.Body).toContain(eventId);
      const reason = m.MessageAttributes?.[DLQ_ATTRIBUTES.reason]?.StringValue ?? '';
      expect(reason).toMatch(/cannot be merged/);
    }
    const reasonOf = (code: string) =>
      dead.find((m) => m.MessageAttributes?.[DLQ_ATTRIBUTES.code]?.StringValue === code)!
        .MessageAttributes![DLQ_ATTRIBUTES.reason]!.StringValue!;
    expect(reasonOf('delta-dimension-mismatch')).toMatch(/dimension 4, the collection 8/);
    expect(reasonOf('delta-unreachable')).toMatch(/unreachable/);
    expect(reasonOf('delta-foreign-receipt')).toContain(r2Vector.id);

    const words = rt.metricsOf('words');
    expect(words.sum('CompactionRejectedMessages')).toBe(3);
    expect(
      words.entries
        .filter((e) => e.name === 'CompactionDeltasRefused')
        .map((e) => e.dimensions['reason'])
        .sort(),
    ).toEqual([...bad.values()].sort());
    expect(words.sum('CompactionLambdaSuccess')).toBe(1);
    const refusedLines = rt.logger.find('change message refused');
    expect(refusedLines.map((l) => l.attributes['eventId']).sort()).toEqual([...bad.keys()].sort());
    expect(valid.every((m) => !bad.has(m.source.eventId))).toBe(true);
    expect(await queueDepth(fx, fx.res.queues.words.queue.url)).toBe(0);
  });

  it('refuses a prefix outside the allow-list unread and a prefix without a manifest, per message', async () => {
    await fx.seed('lines', receiptRecords(new Rng(1), R, { ...shape, collection: 'lines' }, {}));
    const outside = deltaMessage({
      receipt: R2,
      collection: 'lines',
      seq: ++seq,
      runId: 'x',
      s3Prefix: 's3://someone-elses-bucket/deltas/x/',
    });
    const noManifest = deltaMessage({
      receipt: R2,
      collection: 'lines',
      seq: ++seq,
      runId: 'y',
      s3Prefix: 'deltas/never-uploaded/',
    });
    await fx.uploadDelta(
      'deltas/lines-good/',
      'lines',
      receiptRecords(new Rng(7), R3, { ...shape, collection: 'lines' }, {}),
    );
    const good = deltaMessage({
      receipt: R3,
      collection: 'lines',
      seq: ++seq,
      runId: 'z',
      s3Prefix: 'deltas/lines-good/',
    });
    await sendMessages(fx, 'lines', [outside, noManifest, good]);
    const rt = await handlerRuntime(fx);
    const runner = await fx.aws.startSqsRunner({
      queueUrl: fx.res.queues.lines.queue.url,
      handler: createHandler(() => createCompactorRuntime(rt.options)),
      batchSize: 100,
      maxBatchingWindowMs: 300,
    });
    await runner.waitUntil((s) => s.succeededRecords >= 3, { timeoutMs: 30_000 });
    await runner.stop();
    expect(runner.stats.failedRecords).toBe(0);

    const snap = await fx.readPublished('lines');
    expect(snap.vectors.has(lineVectorId({ ...R3, lineId: 2 }))).toBe(true);
    const dead = await drainQueue(fx, fx.res.queues.lines.deadLetterQueue.url);
    const codes = new Map(
      dead.map((m) => [
        m.MessageAttributes?.[DLQ_ATTRIBUTES.eventId]?.StringValue,
        m.MessageAttributes?.[DLQ_ATTRIBUTES.code]?.StringValue,
      ]),
    );
    expect(codes).toEqual(
      new Map([
        [outside.source.eventId, 'delta-prefix-refused'],
        [noManifest.source.eventId, 'delta-unreachable'],
      ]),
    );
  });
});
