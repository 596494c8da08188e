/**
 * The per-message delta checks without S3: which S3 answers refuse only the message,
 * the receipt rule, and the dimension rule shared by both apply paths.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeltaChangeMessage } from '@compaction/contracts';
import { SnapshotNotFoundError } from '@compaction/snapshot-store';
import { checkDeltaDimensions } from '../../src/apply/delta-checks.js';
import { foreignRecords, loadDeltas } from '../../src/apply/delta-loader.js';
import { EMPTY_COLLECTION, type ApplyCollection } from '../../src/apply/store-port.js';
import { DeltaInvalidError } from '../../src/errors.js';
import { deltaMessage } from '../support/messages.js';
import { Rng, receiptRecords } from '../support/workload.js';
import { RecordingLogger } from '../support/logger.js';

const R = { imageId: '11111111-1111-4111-8111-111111111111', receiptId: 1 };
const R2 = { imageId: '22222222-2222-4222-8222-222222222222', receiptId: 2 };
const shape = { collection: 'words' as const, linesPerReceipt: 1, wordsPerLine: 2, dimension: 8 };
let seq = 1_000;
const delta = (receipt = R, prefix = `deltas/${seq}/`) =>
  deltaMessage({
    receipt,
    collection: 'words',
    seq: ++seq,
    runId: `run-${seq}`,
    s3Prefix: prefix,
  }) as DeltaChangeMessage;

let scratch: string;
beforeEach(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'delta-checks-'));
});
afterEach(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('loadDeltas: what fails only its message', () => {
  const load = (error: unknown) =>
    loadDeltas([{ messageId: 'm1', message: delta() }], {
      seq: { get: () => undefined },
      repository: {
        downloadDelta: () => Promise.reject(error),
      },
      scratchDir: scratch,
      collection: 'words',
      logger: new RecordingLogger(),
    });

  it.each([
    [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, /AccessDenied \(403\)/],
    [{ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }, /NoSuchBucket/],
    [{ name: 'Whatever', $metadata: { httpStatusCode: 403 } }, /Whatever \(403\)/],
    [new SnapshotNotFoundError('s3://b/deltas/x/manifest.json'), /does not exist/],
  ])('%o is delta-unreachable', async (error, reason) => {
    const { failed, deltas } = await load(error);
    const err = failed.get('m1');
    expect(err).toBeInstanceOf(DeltaInvalidError);
    expect((err as DeltaInvalidError).refusal).toBe('delta-unreachable');
    expect(err!.message).toMatch(reason);
    expect(deltas.size).toBe(0);
  });

  it('a throttle, a 5xx or a network error fails the batch (retried), not the message', async () => {
    for (const error of [
      { name: 'SlowDown', $metadata: { httpStatusCode: 503 } },
      { name: 'InternalError', $metadata: { httpStatusCode: 500 } },
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    ]) {
      await expect(load(error)).rejects.toBe(error);
    }
  });
});

describe('foreignRecords', () => {
  it('finds records of another receipt by id or by metadata, and records with no vector id', () => {
    const own = receiptRecords(new Rng(1), R, shape, {});
    const other = receiptRecords(new Rng(2), R2, shape, {})[0]!;
    const relabelled = { ...own[0]!, metadata: { ...own[0]!.metadata, receipt_id: 2 } };
    const noId = { ...own[1]!, id: 'not-a-vector-id' };
    expect(foreignRecords(delta(), own)).toEqual([]);
    expect(foreignRecords(delta(), [...own, other, relabelled, noId]).map((r) => r.id)).toEqual([
      other.id,
      relabelled.id,
      'not-a-vector-id',
    ]);
  });
});

describe('checkDeltaDimensions', () => {
  const records = (dimension: number, receipt = R) =>
    receiptRecords(new Rng(dimension), receipt, { ...shape, dimension }, {});
  const collection = (dimension: number | null): ApplyCollection => ({
    ...EMPTY_COLLECTION,
    dimension,
  });

  it("refuses deltas whose dimension is not the collection's", () => {
    const [a, b] = [delta(), delta(R2)];
    const deltas = new Map([
      [a, records(8)],
      [b, records(4, R2)],
    ]);
    const { accepted, refused } = checkDeltaDimensions({
      collection: collection(8),
      messages: [a, b],
      deltas,
    });
    expect(accepted).toEqual([a]);
    expect(refused.get(b)).toEqual({
      code: 'delta-dimension-mismatch',
      reason: 'vectors have dimension 4, the collection 8',
    });
  });

  it('a new collection takes the first delta in canonical order, whatever the arrival order', () => {
    const first = delta(R);
    const second = delta(R2);
    const deltas = new Map([
      [first, records(8)],
      [second, records(4, R2)],
    ]);
    for (const messages of [
      [first, second],
      [second, first],
    ]) {
      const { accepted, refused } = checkDeltaDimensions({
        collection: EMPTY_COLLECTION,
        messages,
        deltas,
      });
      expect(accepted).toEqual([first]);
      expect(refused.get(second)?.reason).toMatch(/dimension 4, the first delta .* 8/);
    }
  });

  it('an empty (already merged) delta and other messages pass untouched', () => {
    const stale = delta();
    const { accepted, refused } = checkDeltaDimensions({
      collection: collection(8),
      messages: [stale],
      deltas: new Map([[stale, []]]),
    });
    expect(accepted).toEqual([stale]);
    expect(refused.size).toBe(0);
  });
});
