/**
 * What each kind of change does to the published snapshot, read back through the
 * reader contract — on both apply paths.
 */
import { describe, expect, it } from 'vitest';
import { wordVectorId, type CompactionPath } from '@compaction/contracts';
import { receiptKey } from '../src/apply/entity-state.js';
import { Rng, receiptRecords } from './support/workload.js';
import { useCompactorFixture } from './support/fixture.js';
import { deltaMessage, labelMessage, placeMessage, removalMessage } from './support/messages.js';

const fx = await useCompactorFixture();

const R1 = { imageId: '11111111-1111-4111-8111-111111111111', receiptId: 1 };
const R2 = { imageId: '22222222-2222-4222-8222-222222222222', receiptId: 1 };
const R3 = { imageId: '33333333-3333-4333-8333-333333333333', receiptId: 2 };
const PLACE = {
  merchant_name: 'OLD',
  canonical_merchant_name: 'old',
  merchant_category: 'grocery',
  address: '1 Main St',
  phone_number: '555',
  place_id: 'p1',
};
const shape = { linesPerReceipt: 2, wordsPerLine: 2, dimension: 8 };
const words = (r: typeof R1, rng = new Rng(1)) =>
  receiptRecords(rng, r, { collection: 'words', ...shape }, PLACE);
const lines = (r: typeof R1, rng = new Rng(1)) =>
  receiptRecords(rng, r, { collection: 'lines', ...shape }, PLACE);
const w = (r: typeof R1, lineId: number, wordId: number) => wordVectorId({ ...r, lineId, wordId });

let seq = 1000;
const next = () => ++seq;

describe.each<CompactionPath>(['legacy', 'batched'])('%s path', (path) => {
  it('a place change rewrites the place fields of every vector of the receipt, in both collections', async () => {
    await fx.seed('words', [...words(R1), ...words(R2)]);
    await fx.seed('lines', [...lines(R1), ...lines(R2)]);
    const c = fx.container();
    for (const collection of ['words', 'lines'] as const) {
      const change = placeMessage({
        receipt: R1,
        collection,
        seq: next(),
        fields: { merchant_name: 'NEW', address: undefined },
      });
      const result = await c.compact(collection, [change], path);
      expect(result.status).toBe('published');
      const snap = await fx.readPublished(collection);
      const r1 = [...snap.vectors].filter(([id]) => id.startsWith(`IMAGE#${R1.imageId}`));
      const r2 = [...snap.vectors].filter(([id]) => id.startsWith(`IMAGE#${R2.imageId}`));
      expect(r1).toHaveLength(collection === 'words' ? 4 : 2);
      for (const [, v] of r1) {
        expect(v.metadata['merchant_name']).toBe('NEW');
        expect(v.metadata).not.toHaveProperty('address');
        expect(v.metadata['phone_number']).toBe('555'); // untouched fields stay
      }
      for (const [, v] of r2) expect(v.metadata['merchant_name']).toBe('OLD');
      // legacy is the full-upload reference; batched skips the unchanged HNSW index.
      const snapshotBytes = snap.manifest.files.reduce((n, f) => n + f.size, 0);
      if (path === 'legacy') expect(result.bytesUploaded).toBe(snapshotBytes);
      else expect(result.bytesUploaded).toBeLessThan(snapshotBytes);
    }
  });

  it('label add, validate, invalidate and remove end as the right summary', async () => {
    await fx.seed('words', words(R1));
    const c = fx.container();
    const word = w(R1, 1, 1);
    const step = async (message: ReturnType<typeof labelMessage>) => {
      await c.compact('words', [message], path);
      return (await fx.readPublished('words')).vectors.get(word)!.metadata;
    };
    const label = (
      label: string,
      event: 'INSERT' | 'MODIFY' | 'REMOVE',
      status?: 'VALID' | 'INVALID' | 'PENDING',
      proposedBy?: string,
    ) =>
      labelMessage({
        receipt: R1,
        lineId: 1,
        wordId: 1,
        label,
        seq: next(),
        event,
        ...(status ? { status } : {}),
        ...(proposedBy ? { proposedBy } : {}),
      });

    expect(await step(label('TOTAL', 'INSERT', 'PENDING', 'llm'))).toMatchObject({
      valid_labels: '',
      invalid_labels: '',
      label_status: 'pending',
      label_proposed_by: 'llm',
    });
    expect(await step(label('TOTAL', 'MODIFY', 'VALID', 'human'))).toMatchObject({
      valid_labels: ',TOTAL,',
      label_status: 'validated',
      label_proposed_by: 'human',
    });
    expect(await step(label('TAX', 'INSERT', 'INVALID', 'llm'))).toMatchObject({
      valid_labels: ',TOTAL,',
      invalid_labels: ',TAX,',
      label_status: 'validated',
    });
    expect(await step(label('TOTAL', 'MODIFY', 'INVALID', 'human'))).toMatchObject({
      valid_labels: '',
      invalid_labels: ',TAX,TOTAL,',
      label_status: 'invalid',
    });
    expect(await step(label('TOTAL', 'REMOVE'))).toMatchObject({
      valid_labels: '',
      invalid_labels: ',TAX,',
    });
    const last = await step(label('TAX', 'REMOVE'));
    expect(last).toMatchObject({
      valid_labels: '',
      invalid_labels: '',
      label_status: 'none',
      label_proposed_by: '',
    });
    // Other words keep what their producer wrote.
    const snap = await fx.readPublished('words');
    expect(snap.vectors.get(w(R1, 2, 2))!.metadata['merchant_name']).toBe('OLD');
  });

  it('a receipt removal deletes every vector of the receipt and leaves a tombstone', async () => {
    await fx.seed('words', [...words(R1), ...words(R2)]);
    const c = fx.container();
    const removal = removalMessage({ receipt: R2, collection: 'words', seq: next() });
    const result = await c.compact('words', [removal], path);
    expect(result.stats.deletedVectors).toBe(4);
    const snap = await fx.readPublished('words');
    expect([...snap.vectors.keys()].every((id) => id.startsWith(`IMAGE#${R1.imageId}`))).toBe(true);
    expect(snap.vectors.size).toBe(4);
    expect(snap.kv['removed']!.get(receiptKey(R2))).toBe(removal.source.sequenceNumber);
    expect(c.metrics.sum('CompactionDeletes')).toBe(4);
  });

  it('a delta merges its vectors with the state that arrived before them (pending label and place)', async () => {
    await fx.seed('words', words(R1));
    const c = fx.container();
    // Labels and place for R3 arrive before its embeddings: kept in state, not lost.
    const early = [
      labelMessage({
        receipt: R3,
        lineId: 2,
        wordId: 1,
        label: 'TOTAL',
        seq: next(),
        status: 'VALID',
        proposedBy: 'human',
      }),
      placeMessage({
        receipt: R3,
        collection: 'words',
        seq: next(),
        fields: { merchant_name: 'LATE MERCHANT' },
      }),
    ];
    const pending = await c.compact('words', early, path);
    expect(pending.stats.pendingUpdates).toBeGreaterThan(0);
    expect(c.metrics.sum('CompactionPendingUpdates')).toBeGreaterThan(0);
    expect((await fx.readPublished('words')).vectors.has(w(R3, 2, 1))).toBe(false);

    await fx.uploadDelta('deltas/run-r3/', 'words', words(R3, new Rng(3)));
    const delta = deltaMessage({
      receipt: R3,
      collection: 'words',
      seq: next(),
      runId: 'run-r3',
      s3Prefix: 'deltas/run-r3/',
    });
    const merged = await c.compact('words', [delta], path);
    expect(merged.stats.deltasMerged).toBe(1);
    expect(merged.stats.newVectors).toBe(4);
    const snap = await fx.readPublished('words');
    expect(snap.vectors.size).toBe(8);
    const labelled = snap.vectors.get(w(R3, 2, 1))!;
    expect(labelled.metadata).toMatchObject({
      valid_labels: ',TOTAL,',
      label_status: 'validated',
      label_proposed_by: 'human',
      merchant_name: 'LATE MERCHANT',
      image_id: R3.imageId,
      receipt_id: R3.receiptId,
    });
    expect(snap.vectors.get(w(R3, 1, 1))!.metadata['merchant_name']).toBe('LATE MERCHANT');
    expect(c.metrics.sum('CompactionDeltaMerges')).toBe(1);
  });

  it('a delta older than its receipt’s removal is skipped; a newer one re-creates the receipt', async () => {
    await fx.seed('words', words(R1));
    const c = fx.container();
    const removalSeq = next();
    await fx.uploadDelta('deltas/old/', 'words', words(R2, new Rng(5)));
    await fx.uploadDelta('deltas/new/', 'words', words(R2, new Rng(6)));
    const late = deltaMessage({
      receipt: R2,
      collection: 'words',
      seq: removalSeq - 1,
      runId: 'old',
      s3Prefix: 'deltas/old/',
    });
    const removal = removalMessage({ receipt: R2, collection: 'words', seq: removalSeq });
    await c.compact('words', [removal], path);
    const skipped = await c.compact('words', [late], path);
    expect(skipped.stats.skippedDeltaVectors).toBe(4);
    expect((await fx.readPublished('words')).vectors.size).toBe(4);
    const recreated = deltaMessage({
      receipt: R2,
      collection: 'words',
      seq: next(),
      runId: 'new',
      s3Prefix: 'deltas/new/',
    });
    await c.compact('words', [recreated], path);
    expect((await fx.readPublished('words')).vectors.size).toBe(8);
  });
});
