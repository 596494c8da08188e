import { describe, expect, it } from 'vitest';
import {
  compareSequenceNumbers,
  decodeLabelList,
  encodeLabelList,
  entityKey,
  labelSk,
  lineVectorId,
  malformedKeyReason,
  parseChangeMessage,
  parseTableKey,
  parseVectorId,
  placeSk,
  receiptPk,
  resourceNames,
  summarizeLabels,
  wordVectorId,
  type ChangeMessageInput,
} from '../src/index.js';

const IMAGE = '3f2a9c1e-0b7d-4e5f-9a8b-1c2d3e4f5a6b';
const source = {
  eventId: 'e1',
  sequenceNumber: '4000000000001234567890',
  approximateCreationTime: 1,
};

const label: ChangeMessageInput = {
  v: 1,
  kind: 'label',
  collection: 'words',
  event: 'MODIFY',
  receipt: { imageId: IMAGE.toUpperCase(), receiptId: 1 },
  word: { lineId: 2, wordId: 3, label: 'TOTAL' },
  changes: { validation_status: { old: 'PENDING', new: 'VALID' } },
  source,
};

describe('change message v1', () => {
  it('accepts each kind and normalises the image id', () => {
    const messages: ChangeMessageInput[] = [
      label,
      {
        ...label,
        kind: 'place',
        collection: 'lines',
        word: undefined,
        changes: { merchant_name: { old: 'A', new: 'B' } },
      } as ChangeMessageInput,
      {
        v: 1,
        kind: 'receipt-removed',
        collection: 'lines',
        event: 'REMOVE',
        receipt: { imageId: IMAGE, receiptId: 1 },
        changes: {},
        source,
      },
      {
        v: 1,
        kind: 'delta',
        collection: 'words',
        event: 'INSERT',
        receipt: { imageId: IMAGE, receiptId: 1 },
        changes: {},
        delta: { runId: 'r1', s3Prefix: 'deltas/r1/words/' },
        source,
      },
    ].map((m) => JSON.parse(JSON.stringify(m)) as ChangeMessageInput);
    for (const m of messages) {
      const r = parseChangeMessage(JSON.stringify(m));
      expect(r.ok, JSON.stringify(r)).toBe(true);
      if (r.ok) expect(r.message.receipt.imageId).toBe(IMAGE);
    }
  });

  it('refuses non-JSON, other versions and invalid shapes with a reason', () => {
    const notJson = parseChangeMessage('{nope');
    expect(notJson).toMatchObject({ ok: false, rejection: { code: 'not-json' } });
    const v2 = parseChangeMessage(JSON.stringify({ ...label, v: 2 }));
    expect(v2).toMatchObject({ ok: false, rejection: { code: 'unsupported-version' } });
    const wordsOnly = parseChangeMessage(JSON.stringify({ ...label, collection: 'lines' }));
    expect(wordsOnly).toMatchObject({ ok: false, rejection: { code: 'invalid' } });
    const unknownCollection = parseChangeMessage(
      JSON.stringify({ ...label, collection: 'images' }),
    );
    expect(unknownCollection.ok).toBe(false);
    const badSeq = parseChangeMessage(
      JSON.stringify({ ...label, source: { ...source, sequenceNumber: 'x' } }),
    );
    expect(badSeq.ok).toBe(false);
    if (!badSeq.ok) expect(badSeq.rejection.reason).toContain('sequenceNumber');
    const deltaWithoutPrefix = parseChangeMessage(
      JSON.stringify({ ...label, kind: 'delta', word: undefined, event: 'INSERT' }),
    );
    expect(deltaWithoutPrefix.ok).toBe(false);
  });

  it('keys ordering by entity and compares sequence numbers numerically', () => {
    const r = parseChangeMessage(JSON.stringify(label));
    expect(r.ok && entityKey(r.message)).toBe(`label#${IMAGE}#1#2#3#TOTAL`);
    expect(compareSequenceNumbers('900', '1000')).toBe(-1);
    expect(compareSequenceNumbers('4000000000001234567890', '4000000000001234567890')).toBe(0);
    expect(compareSequenceNumbers('4000000000001234567891', '4000000000001234567890')).toBe(1);
  });
});

describe('table keys and vector ids', () => {
  it('round-trips the entities the stream processor classifies', () => {
    expect(parseTableKey(receiptPk(IMAGE), placeSk(7))).toEqual({
      type: 'place',
      imageId: IMAGE,
      receiptId: 7,
      legacyMetadataKey: false,
    });
    expect(parseTableKey(receiptPk(IMAGE), 'RECEIPT#00007#METADATA')).toMatchObject({
      type: 'place',
      legacyMetadataKey: true,
    });
    expect(parseTableKey(receiptPk(IMAGE), labelSk(1, 2, 3, 'GRAND_TOTAL'))).toEqual({
      type: 'label',
      imageId: IMAGE,
      receiptId: 1,
      lineId: 2,
      wordId: 3,
      label: 'GRAND_TOTAL',
    });
    expect(parseTableKey(receiptPk(IMAGE), 'RECEIPT#00001')).toEqual({
      type: 'receipt',
      imageId: IMAGE,
      receiptId: 1,
    });
    expect(parseTableKey(receiptPk(IMAGE), 'RECEIPT#00001#COMPACTION_RUN#run-1')).toMatchObject({
      type: 'compaction-run',
      runId: 'run-1',
    });
    expect(parseTableKey(receiptPk(IMAGE), 'RECEIPT#00001#LINE#00002')).toEqual({ type: 'other' });
    expect(parseTableKey('IMAGE#not-a-uuid', 'RECEIPT#00001')).toEqual({ type: 'other' });
  });

  it('builds and parses vector ids', () => {
    const line = lineVectorId({ imageId: IMAGE, receiptId: 1, lineId: 2 });
    expect(line).toBe(`IMAGE#${IMAGE}#RECEIPT#00001#LINE#00002`);
    const word = wordVectorId({ imageId: IMAGE, receiptId: 1, lineId: 2, wordId: 3 });
    expect(word).toBe(`${line}#WORD#00003`);
    expect(parseVectorId(word)).toEqual({
      kind: 'word',
      imageId: IMAGE,
      receiptId: 1,
      lineId: 2,
      wordId: 3,
    });
    expect(parseVectorId(line)).toEqual({ kind: 'line', imageId: IMAGE, receiptId: 1, lineId: 2 });
    expect(parseVectorId('nope')).toBeUndefined();
  });
});

describe('label summary', () => {
  it('decides status by precedence, independent of insertion order', () => {
    const a = summarizeLabels({
      TAX: { status: 'INVALID', proposedBy: 'rules' },
      TOTAL: { status: 'VALID', proposedBy: 'llm' },
    });
    const b = summarizeLabels({
      TOTAL: { status: 'VALID', proposedBy: 'llm' },
      TAX: { status: 'INVALID', proposedBy: 'rules' },
    });
    expect(a).toEqual(b);
    expect(a).toEqual({
      valid_labels: ',TOTAL,',
      invalid_labels: ',TAX,',
      label_status: 'validated',
      label_proposed_by: 'llm',
    });
    expect(summarizeLabels({ TAX: { status: 'NEEDS_REVIEW' } }).label_status).toBe('pending');
    expect(summarizeLabels({ TAX: { status: 'INVALID', proposedBy: 'x' } })).toMatchObject({
      label_status: 'invalid',
      label_proposed_by: 'x',
    });
    expect(summarizeLabels({})).toEqual({
      valid_labels: '',
      invalid_labels: '',
      label_status: 'none',
      label_proposed_by: '',
    });
  });

  it('encodes delimited lists for $contains filters', () => {
    expect(encodeLabelList(['TAX', 'TOTAL', 'TAX'])).toBe(',TAX,TOTAL,');
    expect(decodeLabelList(',TAX,TOTAL,')).toEqual(['TAX', 'TOTAL']);
    expect(decodeLabelList('')).toEqual([]);
  });
});

describe('resource names', () => {
  it('derives every name from the stage and refuses bad stages', () => {
    const names = resourceNames('Dev');
    expect(names.queues.words).toEqual({
      queue: 'dev-words-changes',
      deadLetterQueue: 'dev-words-changes-dlq',
    });
    expect(names.snapshotBucket).toBe('dev-receipt-vector-snapshots');
    expect(() => resourceNames('bad stage!')).toThrow(/stage/);
  });
});

describe('malformedKeyReason', () => {
  const pk = receiptPk(IMAGE);

  it('names what is wrong with a key shaped like a known entity', () => {
    const cases: Array<[string, string, RegExp]> = [
      [pk, 'RECEIPT#0000X#PLACE', /place key, but RECEIPT id "0000X" is not 5 digits/],
      [pk, 'RECEIPT#00001#LINE#0000A#WORD#00001#LABEL#TOTAL', /label key, but LINE id "0000A"/],
      [pk, 'RECEIPT#00001#LINE#00002#WORD#00003#LABEL#total', /label "total" is not upper-case/],
      [pk, 'RECEIPT#00001#LINE#00002#LABEL#TOTAL', /label key, but it is not RECEIPT#/],
      [pk, 'RECEIPT#00001#COMPACTION_RUN#', /compaction run key/],
      [pk, 'RECEIPT#00001#COMPACTION_RUN#a#b', /compaction run key/],
      [pk, 'RECEIPT#1', /receipt key, but RECEIPT id "1" is not 5 digits/],
      [pk, 'RECEIPT#00001#METADATA#x', /place key/],
      ['IMAGE#not-a-uuid', placeSk(1), /PK "IMAGE#not-a-uuid" of a place key is not IMAGE#<uuid>/],
    ];
    for (const [p, s, reason] of cases) {
      expect(parseTableKey(p, s).type, s).toBe('other');
      expect(malformedKeyReason(p, s), s).toMatch(reason);
    }
  });

  it('is undefined for valid keys and truly foreign rows', () => {
    for (const [p, s] of [
      [pk, placeSk(1)],
      [pk, labelSk(1, 2, 3, 'TOTAL')],
      [pk, 'RECEIPT#00001#LINE#00002'],
      [pk, 'RECEIPT#00001#LINE#00002#WORD#00003'],
      [pk, 'RECEIPT#0000X#LINE#00002'], // a line: not an entity the service acts on
      [pk, 'IMAGE'],
      ['JOB#1', 'RECEIPT#0000X#PLACE'],
    ] as const) {
      expect(malformedKeyReason(p, s), `${p} ${s}`).toBeUndefined();
    }
  });
});
