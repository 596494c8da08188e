/**
 * The entity-state rules (pure: no store). They are what makes the compactor
 * idempotent and order-safe, so each rule is pinned here on its own.
 */
import { describe, expect, it } from 'vitest';
import { wordVectorId } from '@compaction/contracts';
import { foldMessage, receiptKey } from '../../src/apply/entity-state.js';
import type { DeltaRecord } from '../../src/apply/delta-records.js';
import { MemoryState } from '../support/memory-state.js';
import { deltaMessage, labelMessage, placeMessage, removalMessage } from '../support/messages.js';

const receipt = { imageId: '3f2a0000-0000-4000-8000-000000000001', receiptId: 1 };
const rk = receiptKey(receipt);
const word = wordVectorId({ ...receipt, lineId: 2, wordId: 3 });

function record(id: string, r = receipt): DeltaRecord {
  return {
    id,
    embedding: [0, 1],
    metadata: { image_id: r.imageId, receipt_id: r.receiptId },
    document: null,
    receiptKey: receiptKey(r),
  };
}

describe('place state', () => {
  it('treats each field as its own register, so an older message still sets the fields a newer one did not touch', () => {
    const s = new MemoryState();
    const newer = placeMessage({
      receipt,
      collection: 'lines',
      seq: 7,
      fields: { phone_number: '555' },
    });
    const older = placeMessage({
      receipt,
      collection: 'lines',
      seq: 5,
      fields: { merchant_name: 'A', phone_number: '111' },
    });
    expect(foldMessage(s, newer).type).toBe('place');
    expect(foldMessage(s, older).type).toBe('place');
    expect(s.place.get(rk)).toEqual({
      phone_number: { value: '555', seq: '7' },
      merchant_name: { value: 'A', seq: '5' },
    });
    // A repeated delivery changes nothing.
    expect(foldMessage(s, older)).toEqual({ type: 'stale' });
    expect(foldMessage(s, newer)).toEqual({ type: 'stale' });
  });

  it('INSERT sets every place field (absent ones to null) and REMOVE nulls them all', () => {
    const s = new MemoryState();
    foldMessage(
      s,
      placeMessage({
        receipt,
        collection: 'lines',
        seq: 1,
        event: 'INSERT',
        fields: { merchant_name: 'A' },
      }),
    );
    const afterInsert = s.place.get(rk)!;
    expect(afterInsert.merchant_name).toEqual({ value: 'A', seq: '1' });
    expect(afterInsert.place_id).toEqual({ value: null, seq: '1' });
    expect(Object.keys(afterInsert)).toHaveLength(6);
    foldMessage(
      s,
      placeMessage({
        receipt,
        collection: 'lines',
        seq: 2,
        event: 'REMOVE',
        fields: { merchant_name: undefined },
      }),
    );
    expect(Object.values(s.place.get(rk)!).every((f) => f?.value === null && f.seq === '2')).toBe(
      true,
    );
  });

  it('a MODIFY removing a field records null for it', () => {
    const s = new MemoryState();
    foldMessage(
      s,
      placeMessage({ receipt, collection: 'words', seq: 3, fields: { address: undefined } }),
    );
    expect(s.place.get(rk)).toEqual({ address: { value: null, seq: '3' } });
  });
});

describe('label state', () => {
  it('is last-writer-wins per label item, REMOVE included, in any order', () => {
    const add = labelMessage({
      receipt,
      lineId: 2,
      wordId: 3,
      label: 'TOTAL',
      seq: 10,
      status: 'PENDING',
    });
    const validate = labelMessage({
      receipt,
      lineId: 2,
      wordId: 3,
      label: 'TOTAL',
      seq: 11,
      event: 'MODIFY',
      status: 'VALID',
      proposedBy: 'human',
    });
    const remove = labelMessage({
      receipt,
      lineId: 2,
      wordId: 3,
      label: 'TOTAL',
      seq: 12,
      event: 'REMOVE',
    });
    const other = labelMessage({
      receipt,
      lineId: 2,
      wordId: 3,
      label: 'TAX',
      seq: 9,
      status: 'INVALID',
    });
    const orders = [
      [add, validate, remove, other],
      [remove, other, validate, add],
      [other, validate, add, remove],
    ];
    const finals = orders.map((order) => {
      const s = new MemoryState();
      for (const m of order) foldMessage(s, m);
      return s.snapshot();
    });
    expect(finals[1]).toEqual(finals[0]);
    expect(finals[2]).toEqual(finals[0]);
    const s = new MemoryState();
    for (const m of orders[0]!) foldMessage(s, m);
    expect(s.labels.get(word)).toEqual({ TAX: { status: 'INVALID', proposedBy: 'llm' } });
  });

  it('keeps the state of a word that has no vector yet (applied when it arrives)', () => {
    const s = new MemoryState();
    const effect = foldMessage(
      s,
      labelMessage({ receipt, lineId: 2, wordId: 3, label: 'TOTAL', seq: 1, status: 'VALID' }),
    );
    expect(effect).toEqual({ type: 'label', wordId: word });
    expect(s.labels.get(word)).toEqual({ TOTAL: { status: 'VALID', proposedBy: 'llm' } });
  });

  it('keeps an empty record after the last label is removed (it overrides a delta’s summary)', () => {
    const s = new MemoryState();
    foldMessage(
      s,
      labelMessage({ receipt, lineId: 2, wordId: 3, label: 'TOTAL', seq: 1, event: 'REMOVE' }),
    );
    expect(s.labels.get(word)).toEqual({});
  });
});

describe('receipt removal and deltas', () => {
  const delta = (seq: number, runId: string) =>
    deltaMessage({ receipt, collection: 'lines', seq, runId, s3Prefix: `deltas/${runId}/` });

  it('a delta older than the tombstone is skipped; a newer one re-creates the receipt', () => {
    const s = new MemoryState();
    expect(foldMessage(s, removalMessage({ receipt, collection: 'lines', seq: 20 }))).toEqual({
      type: 'delete',
      receipt,
    });
    expect(s.removed.get(rk)).toBe('20');
    expect(foldMessage(s, delta(15, 'old'), [record('a')])).toEqual({
      type: 'upsert',
      records: [],
      skipped: 1,
      receipts: [],
    });
    const newer = foldMessage(s, delta(25, 'new'), [record('b')]);
    // The newer run replaces the receipt's whole vector set.
    expect(newer).toMatchObject({ type: 'upsert', skipped: 0, receipts: [receipt] });
    expect(s.merged.get(rk)).toBe('25');
  });

  it('a removal older than a merged delta only records the tombstone', () => {
    const s = new MemoryState();
    foldMessage(s, delta(30, 'r1'), [record('a')]);
    expect(foldMessage(s, removalMessage({ receipt, collection: 'lines', seq: 20 }))).toEqual({
      type: 'tombstone',
      receipt,
    });
  });

  it('an older embedding run arriving after a newer one is skipped for that receipt', () => {
    const s = new MemoryState();
    foldMessage(s, delta(30, 'new'), [record('a')]);
    expect(foldMessage(s, delta(20, 'old'), [record('a'), record('b')])).toMatchObject({
      records: [],
      skipped: 2,
    });
  });

  it('gates records per receipt: another receipt in the same delta is merged', () => {
    const s = new MemoryState();
    const other = { ...receipt, receiptId: 2 };
    foldMessage(s, removalMessage({ receipt, collection: 'lines', seq: 50 }));
    const effect = foldMessage(s, delta(40, 'mixed'), [record('a'), record('b', other)]);
    expect(effect).toMatchObject({ type: 'upsert', skipped: 1 });
    expect(effect.type === 'upsert' && effect.records.map((r) => r.id)).toEqual(['b']);
  });

  it('records every delta in `merged`, even one a newer removal skipped (order-independent register)', () => {
    const removalFirst = new MemoryState();
    foldMessage(removalFirst, removalMessage({ receipt, collection: 'lines', seq: 50 }));
    expect(foldMessage(removalFirst, delta(40, 'late'), [record('a')])).toMatchObject({
      skipped: 1,
      receipts: [],
    });
    const deltaFirst = new MemoryState();
    foldMessage(deltaFirst, delta(40, 'late'), [record('a')]);
    foldMessage(deltaFirst, removalMessage({ receipt, collection: 'lines', seq: 50 }));
    for (const s of [removalFirst, deltaFirst]) {
      expect(s.merged.get(rk)).toBe('40');
      expect(s.removed.get(rk)).toBe('50');
    }
  });

  it('a delta is merged once: a redelivery is stale', () => {
    const s = new MemoryState();
    foldMessage(s, delta(30, 'r1'), [record('a')]);
    expect(foldMessage(s, delta(30, 'r1'), [record('a')])).toEqual({ type: 'stale' });
  });
});
