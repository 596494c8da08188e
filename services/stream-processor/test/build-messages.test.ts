import { PLACE_FIELDS, parseChangeMessage, type ChangeMessageInput } from '@compaction/contracts';
import type { DynamoDBRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { finalizeMessages, planRecord, type RecordPlan } from '../src/index.js';
import { IMAGE, LABEL, PLACE, RUN_PENDING, sk, streamRecord } from './fixtures.js';

function sent(plan: RecordPlan) {
  if (plan.action !== 'send') throw new Error(`expected send, got ${JSON.stringify(plan)}`);
  // Every body is what goes on the queue: it must pass the consumer's own parser.
  for (const m of plan.messages)
    expect(parseChangeMessage(m.body)).toEqual({ ok: true, message: m.message });
  return plan.messages.map((m) => m.message);
}

function ignored(plan: RecordPlan): string {
  if (plan.action !== 'ignore') throw new Error(`expected ignore, got ${JSON.stringify(plan)}`);
  return plan.reason;
}

function rejected(plan: RecordPlan) {
  if (plan.action !== 'reject') throw new Error(`expected reject, got ${JSON.stringify(plan)}`);
  return plan.rejection;
}

describe('place rows (RECEIPT#<5d>#PLACE and legacy #METADATA)', () => {
  it('INSERT sends one place message per collection with every field new', () => {
    const record = streamRecord({ eventName: 'INSERT', sk: sk.place, newImage: PLACE });
    const messages = sent(planRecord(record));
    expect(messages.map((m) => [m.kind, m.collection, m.event])).toEqual([
      ['place', 'lines', 'INSERT'],
      ['place', 'words', 'INSERT'],
    ]);
    const first = messages[0]!;
    expect(Object.keys(first.changes)).toEqual([...PLACE_FIELDS]);
    expect(first.changes.merchant_name).toEqual({ new: 'Acme Market' });
    expect(first.receipt).toEqual({ imageId: IMAGE, receiptId: 1 });
    expect(first.source).toEqual({
      eventId: record.eventID,
      sequenceNumber: record.dynamodb!.SequenceNumber,
      approximateCreationTime: 1_764_000_000,
    });
  });

  it('MODIFY of one field sends the whole place (the changed field and the rest), to both collections', () => {
    const plan = planRecord(
      streamRecord({
        eventName: 'MODIFY',
        sk: sk.place,
        oldImage: PLACE,
        newImage: { ...PLACE, merchant_name: 'Acme Supermarket', updated_at: 'later' },
      }),
    );
    const messages = sent(plan);
    expect(messages).toHaveLength(2);
    for (const m of messages) {
      // Full state, so that an older message overtaken by this one loses nothing.
      expect(Object.keys(m.changes)).toEqual([...PLACE_FIELDS]);
      expect(m.changes.merchant_name).toEqual({ old: 'Acme Market', new: 'Acme Supermarket' });
      expect(m.changes.address).toEqual({ old: PLACE.address, new: PLACE.address });
    }
  });

  it('MODIFY that only touches irrelevant fields sends nothing', () => {
    const plan = planRecord(
      streamRecord({
        eventName: 'MODIFY',
        sk: sk.place,
        oldImage: PLACE,
        newImage: { ...PLACE, updated_at: 'x' },
      }),
    );
    expect(ignored(plan)).toBe('no-relevant-change');
  });

  it('a removed or added attribute is a change without old or new', () => {
    const { phone_number: _, ...withoutPhone } = PLACE;
    const messages = sent(
      planRecord(
        streamRecord({
          eventName: 'MODIFY',
          sk: sk.place,
          oldImage: PLACE,
          newImage: withoutPhone,
        }),
      ),
    );
    expect(messages[0]!.changes.phone_number).toEqual({ old: '+1 555 0100' });
    expect(messages[0]!.changes.merchant_name).toEqual({
      old: PLACE.merchant_name,
      new: PLACE.merchant_name,
    });
  });

  it('REMOVE turns every field old → absent', () => {
    const messages = sent(
      planRecord(streamRecord({ eventName: 'REMOVE', sk: sk.place, oldImage: PLACE })),
    );
    expect(messages.map((m) => m.collection)).toEqual(['lines', 'words']);
    expect(messages[0]!.event).toBe('REMOVE');
    expect(messages[0]!.changes.address).toEqual({ old: '1 Main St' });
    expect(Object.values(messages[0]!.changes).every((c) => !('new' in c))).toBe(true);
  });

  it('legacy #METADATA rows are place rows too', () => {
    const messages = sent(
      planRecord(
        streamRecord({
          eventName: 'MODIFY',
          sk: sk.legacyPlace,
          oldImage: PLACE,
          newImage: { ...PLACE, merchant_category: 'pharmacy' },
        }),
      ),
    );
    expect(messages.map((m) => m.kind)).toEqual(['place', 'place']);
  });

  it('an upper-case image id is normalised to lower case', () => {
    const record = streamRecord({
      eventName: 'INSERT',
      pk: `IMAGE#${IMAGE.toUpperCase()}`,
      sk: sk.place,
      newImage: PLACE,
    });
    expect(sent(planRecord(record))[0]!.receipt.imageId).toBe(IMAGE);
  });
});

describe('word label rows (…#LABEL#<LABEL>)', () => {
  it('INSERT sends one label message to words', () => {
    const messages = sent(
      planRecord(streamRecord({ eventName: 'INSERT', sk: sk.label, newImage: LABEL })),
    );
    expect(messages).toHaveLength(1);
    const m = messages[0]!;
    expect(m).toMatchObject({ kind: 'label', collection: 'words', event: 'INSERT' });
    expect(m.kind === 'label' && m.word).toEqual({ lineId: 2, wordId: 3, label: 'TOTAL' });
    expect(m.changes).toEqual({
      label: { new: 'TOTAL' },
      validation_status: { new: 'PENDING' },
      reasoning: { new: 'looks like a total' },
      label_proposed_by: { new: 'llm' },
    });
  });

  it('a status flip sends one message with the flip and the unchanged proposer', () => {
    const messages = sent(
      planRecord(
        streamRecord({
          eventName: 'MODIFY',
          sk: sk.label,
          oldImage: LABEL,
          newImage: { ...LABEL, validation_status: 'VALID' },
        }),
      ),
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]!.changes).toEqual({
      validation_status: { old: 'PENDING', new: 'VALID' },
      label_proposed_by: { old: 'llm', new: 'llm' },
    });
  });

  it('a reasoning change alone still carries status and proposer', () => {
    const messages = sent(
      planRecord(
        streamRecord({
          eventName: 'MODIFY',
          sk: sk.label,
          oldImage: LABEL,
          newImage: { ...LABEL, reasoning: 'sure' },
        }),
      ),
    );
    expect(Object.keys(messages[0]!.changes).sort()).toEqual([
      'label_proposed_by',
      'reasoning',
      'validation_status',
    ]);
  });

  it('MODIFY of irrelevant fields sends nothing', () => {
    const plan = planRecord(
      streamRecord({
        eventName: 'MODIFY',
        sk: sk.label,
        oldImage: LABEL,
        newImage: { ...LABEL, timestamp_added: 'now' },
      }),
    );
    expect(ignored(plan)).toBe('no-relevant-change');
  });

  it('REMOVE sends the old values so the consumer drops the label', () => {
    const messages = sent(
      planRecord(streamRecord({ eventName: 'REMOVE', sk: sk.label, oldImage: LABEL })),
    );
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ kind: 'label', event: 'REMOVE' });
    expect(messages[0]!.changes.validation_status).toEqual({ old: 'PENDING' });
  });

  it('label_consolidated_from as a string set becomes a sorted list; reordering is no change', () => {
    const old = { ...LABEL, label_consolidated_from: new Set(['TAX', 'SUBTOTAL']) };
    const insert = sent(
      planRecord(streamRecord({ eventName: 'INSERT', sk: sk.label, newImage: old })),
    );
    expect(insert[0]!.changes.label_consolidated_from).toEqual({ new: ['SUBTOTAL', 'TAX'] });
    const plan = planRecord(
      streamRecord({
        eventName: 'MODIFY',
        sk: sk.label,
        oldImage: old,
        newImage: { ...old, label_consolidated_from: new Set(['SUBTOTAL', 'TAX']) },
      }),
    );
    expect(ignored(plan)).toBe('no-relevant-change');
  });

  it('an unknown validation status is rejected', () => {
    const rejection = rejected(
      planRecord(
        streamRecord({
          eventName: 'INSERT',
          sk: sk.label,
          newImage: { ...LABEL, validation_status: 'MAYBE' },
        }),
      ),
    );
    expect(rejection.code).toBe('unknown-validation-status');
    expect(rejection.reason).toContain('"MAYBE"');
  });

  it('a missing validation status is rejected', () => {
    const { validation_status: _, ...noStatus } = LABEL;
    expect(
      rejected(planRecord(streamRecord({ eventName: 'INSERT', sk: sk.label, newImage: noStatus })))
        .code,
    ).toBe('unknown-validation-status');
  });

  it('a REMOVE whose last status is unknown is rejected too (the rule applies to the current image)', () => {
    const plan = planRecord(
      streamRecord({
        eventName: 'REMOVE',
        sk: sk.label,
        oldImage: { ...LABEL, validation_status: 'MAYBE' },
      }),
    );
    expect(rejected(plan).code).toBe('unknown-validation-status');
  });

  it('a fix of an unknown status is sent (only the new image must be known on MODIFY)', () => {
    const messages = sent(
      planRecord(
        streamRecord({
          eventName: 'MODIFY',
          sk: sk.label,
          oldImage: { ...LABEL, validation_status: 'MAYBE' },
          newImage: { ...LABEL, validation_status: 'INVALID' },
        }),
      ),
    );
    expect(messages[0]!.changes.validation_status).toEqual({ old: 'MAYBE', new: 'INVALID' });
  });
});

describe('receipt rows (RECEIPT#<5d>)', () => {
  it('REMOVE sends receipt-removed to both collections', () => {
    const messages = sent(
      planRecord(
        streamRecord({ eventName: 'REMOVE', sk: sk.receipt, oldImage: { receipt_id: 1 } }),
      ),
    );
    expect(messages.map((m) => [m.kind, m.collection, m.event])).toEqual([
      ['receipt-removed', 'lines', 'REMOVE'],
      ['receipt-removed', 'words', 'REMOVE'],
    ]);
    expect(messages[0]!.changes).toEqual({});
  });

  it('REMOVE needs no image (KEYS_ONLY is enough)', () => {
    expect(sent(planRecord(streamRecord({ eventName: 'REMOVE', sk: sk.receipt }))).length).toBe(2);
  });

  it.each(['INSERT', 'MODIFY'] as const)('%s is ignored', (eventName) => {
    const plan = planRecord(
      streamRecord({
        eventName,
        sk: sk.receipt,
        oldImage: { receipt_id: 1 },
        newImage: { receipt_id: 1, x: 2 },
      }),
    );
    expect(ignored(plan)).toBe('receipt-upsert');
  });
});

describe('compaction run rows (…#COMPACTION_RUN#<runId>)', () => {
  const completed = { ...RUN_PENDING, lines_state: 'COMPLETED', words_state: 'COMPLETED' };

  it('INSERT while pending sends nothing', () => {
    expect(
      ignored(planRecord(streamRecord({ eventName: 'INSERT', sk: sk.run, newImage: RUN_PENDING }))),
    ).toBe('run-not-completed');
  });

  it('INSERT already COMPLETED sends one delta per collection with its prefix', () => {
    const messages = sent(
      planRecord(streamRecord({ eventName: 'INSERT', sk: sk.run, newImage: completed })),
    );
    expect(
      messages.map((m) => [
        m.kind,
        m.collection,
        m.event,
        m.kind === 'delta' ? m.delta : undefined,
      ]),
    ).toEqual([
      ['delta', 'lines', 'INSERT', { runId: 'run-1', s3Prefix: 'deltas/run-1/lines/' }],
      ['delta', 'words', 'INSERT', { runId: 'run-1', s3Prefix: 'deltas/run-1/words/' }],
    ]);
    expect(messages[0]!.changes).toEqual({
      lines_state: { new: 'COMPLETED' },
      lines_delta_prefix: { new: 'deltas/run-1/lines/' },
    });
  });

  it('MODIFY completing both states sends both deltas', () => {
    const messages = sent(
      planRecord(
        streamRecord({
          eventName: 'MODIFY',
          sk: sk.run,
          oldImage: RUN_PENDING,
          newImage: completed,
        }),
      ),
    );
    expect(messages.map((m) => m.collection)).toEqual(['lines', 'words']);
    expect(messages[1]!.changes).toEqual({ words_state: { old: 'PENDING', new: 'COMPLETED' } });
  });

  it('MODIFY completing one state sends that collection only; completing the other later sends the other', () => {
    const half = { ...RUN_PENDING, lines_state: 'COMPLETED' };
    const first = sent(
      planRecord(
        streamRecord({ eventName: 'MODIFY', sk: sk.run, oldImage: RUN_PENDING, newImage: half }),
      ),
    );
    expect(first.map((m) => m.collection)).toEqual(['lines']);
    const second = sent(
      planRecord(
        streamRecord({ eventName: 'MODIFY', sk: sk.run, oldImage: half, newImage: completed }),
      ),
    );
    expect(second.map((m) => m.collection)).toEqual(['words']);
  });

  it('MODIFY after completion sends nothing', () => {
    const plan = planRecord(
      streamRecord({
        eventName: 'MODIFY',
        sk: sk.run,
        oldImage: completed,
        newImage: { ...completed, note: 'x' },
      }),
    );
    expect(ignored(plan)).toBe('run-not-completed');
  });

  it('a FAILED state sends nothing', () => {
    const plan = planRecord(
      streamRecord({
        eventName: 'MODIFY',
        sk: sk.run,
        oldImage: RUN_PENDING,
        newImage: { ...RUN_PENDING, lines_state: 'FAILED' },
      }),
    );
    expect(ignored(plan)).toBe('run-not-completed');
  });

  it('REMOVE is ignored', () => {
    expect(
      ignored(planRecord(streamRecord({ eventName: 'REMOVE', sk: sk.run, oldImage: completed }))),
    ).toBe('run-removed');
  });

  it.each([
    ['another bucket', 's3://someone-elses-bucket/../../', /\. or \.\. segment/],
    ['another bucket, clean path', 's3://someone-elses-bucket/deltas/run-1/', /not inside/],
    ['a .. escape from the delta area', 'deltas/../words/blobs/', /\. or \.\. segment/],
    ['the delta area itself', 'deltas/', /not inside an allowed location \(deltas\/\)/],
    ['a key outside the delta area', 'words/snapshots/7/', /not inside/],
  ])('a completed run whose prefix is %s rejects the record', (_, prefix, reason) => {
    const rejection = rejected(
      planRecord(
        streamRecord({
          eventName: 'INSERT',
          sk: sk.run,
          newImage: { ...completed, words_delta_prefix: prefix },
        }),
      ),
    );
    expect(rejection.code).toBe('delta-prefix-refused');
    expect(rejection.reason).toMatch(/^words_delta_prefix: delta prefix /);
    expect(rejection.reason).toMatch(reason);
  });

  it('a prefix in a configured location is forwarded', () => {
    const prefix = 's3://partner-bucket/embeddings/run-1/words/';
    const messages = sent(
      planRecord(
        streamRecord({
          eventName: 'INSERT',
          sk: sk.run,
          newImage: { ...completed, words_delta_prefix: prefix },
        }),
        { deltaPrefixes: ['deltas/', 's3://partner-bucket/embeddings/'] },
      ),
    );
    expect(messages.map((m) => m.kind === 'delta' && m.delta.s3Prefix)).toEqual([
      'deltas/run-1/lines/',
      prefix,
    ]);
  });

  it('a COMPLETED state without a prefix rejects the record (no partial send)', () => {
    const { words_delta_prefix: _, ...noWordsPrefix } = completed;
    const rejection = rejected(
      planRecord(streamRecord({ eventName: 'INSERT', sk: sk.run, newImage: noWordsPrefix })),
    );
    expect(rejection.code).toBe('missing-delta-prefix');
    expect(rejection.reason).toContain('words_delta_prefix');
  });
});

describe('keys nobody cares about', () => {
  it.each([
    ['a line', sk.line],
    ['a word', sk.word],
    ['an unknown receipt child', 'RECEIPT#00001#SOMETHING_ELSE'],
    ['an image row', 'IMAGE'],
  ])('%s is ignored', (_, sortKey) => {
    const plan = planRecord(
      streamRecord({ eventName: 'MODIFY', sk: sortKey, oldImage: { a: 1 }, newImage: { a: 2 } }),
    );
    expect(ignored(plan)).toBe('other-entity');
  });

  it('a non-IMAGE partition key is ignored', () => {
    const plan = planRecord(
      streamRecord({ eventName: 'INSERT', pk: 'USER#42', sk: sk.place, newImage: PLACE }),
    );
    expect(ignored(plan)).toBe('other-entity');
  });

  it('a malformed image on an ignored row does not matter (images are not read)', () => {
    const record = streamRecord({ eventName: 'INSERT', sk: sk.word, newImage: { text: 'x' } });
    record.dynamodb!.NewImage = { text: {} } as never;
    expect(ignored(planRecord(record))).toBe('other-entity');
  });
});

describe('near-miss keys and states are rejected with a reason, not ignored', () => {
  it.each([
    ['a place with a malformed receipt id', 'RECEIPT#0000X#PLACE', /RECEIPT id "0000X"/],
    [
      'a label with a malformed line id',
      'RECEIPT#00001#LINE#0000A#WORD#00001#LABEL#TOTAL',
      /LINE id "0000A"/,
    ],
    ['a lower-case label', 'RECEIPT#00001#LINE#00002#WORD#00003#LABEL#total', /label "total"/],
    ['a run without a run id', 'RECEIPT#00001#COMPACTION_RUN#', /compaction run key/],
    ['a receipt with a short id', 'RECEIPT#1', /RECEIPT id "1"/],
  ])('%s', (_, sortKey, reason) => {
    const rejection = rejected(
      planRecord(streamRecord({ eventName: 'INSERT', sk: sortKey, newImage: PLACE })),
    );
    expect(rejection.code).toBe('malformed-key');
    expect(rejection.reason).toMatch(reason);
  });

  it('a place under an IMAGE# partition key that is not a uuid', () => {
    const rejection = rejected(
      planRecord(
        streamRecord({ eventName: 'INSERT', pk: 'IMAGE#42', sk: sk.place, newImage: PLACE }),
      ),
    );
    expect(rejection).toMatchObject({
      code: 'malformed-key',
      reason: expect.stringContaining('IMAGE#42'),
    });
  });

  it.each(['completed', 'COMPLETED ', ' Completed'])(
    'a run state %j (COMPLETED but for case or spaces) rejects the record',
    (state) => {
      const rejection = rejected(
        planRecord(
          streamRecord({
            eventName: 'MODIFY',
            sk: sk.run,
            oldImage: RUN_PENDING,
            newImage: { ...RUN_PENDING, words_state: state },
          }),
        ),
      );
      expect(rejection.code).toBe('malformed-run-state');
      expect(rejection.reason).toContain(`words_state ${JSON.stringify(state)}`);
    },
  );
});

describe('records that can never be parsed are rejected with a reason', () => {
  const base = () => streamRecord({ eventName: 'INSERT', sk: sk.place, newImage: PLACE });
  const cases: Array<[string, (r: DynamoDBRecord) => void, string, string]> = [
    ['no Keys', (r) => delete r.dynamodb!.Keys, 'missing-keys', 'Keys'],
    ['SK not a string', (r) => (r.dynamodb!.Keys!.SK = { N: '1' }), 'missing-keys', 'SK'],
    ['no eventID', (r) => delete r.eventID, 'malformed-record', 'eventID'],
    [
      'unknown eventName',
      (r) => ((r as { eventName: string }).eventName = 'UPSERT'),
      'malformed-record',
      'UPSERT',
    ],
    [
      'no SequenceNumber',
      (r) => delete r.dynamodb!.SequenceNumber,
      'malformed-record',
      'SequenceNumber',
    ],
    [
      'no creation time',
      (r) => delete r.dynamodb!.ApproximateCreationDateTime,
      'malformed-record',
      'ApproximateCreationDateTime',
    ],
    ['no dynamodb', (r) => delete r.dynamodb, 'malformed-record', 'dynamodb'],
    ['INSERT without NewImage', (r) => delete r.dynamodb!.NewImage, 'missing-image', 'NewImage'],
    [
      'image not a map',
      (r) => ((r.dynamodb as Record<string, unknown>).NewImage = 'oops'),
      'malformed-image',
      'NewImage',
    ],
    [
      'attribute without a type',
      (r) => (r.dynamodb!.NewImage!.address = {} as never),
      'malformed-image',
      'address',
    ],
    [
      'attribute of an unknown type',
      (r) => (r.dynamodb!.NewImage!.address = { X: '1' } as never),
      'malformed-image',
      'address',
    ],
    [
      'number that is not a number',
      (r) => (r.dynamodb!.NewImage!.phone_number = { N: 'abc' }),
      'malformed-image',
      'phone_number',
    ],
    [
      'number beyond double precision',
      (r) => (r.dynamodb!.NewImage!.place_id = { N: '123456789012345678901234567' }),
      'malformed-image',
      'place_id',
    ],
    [
      'map where a string belongs',
      (r) => (r.dynamodb!.NewImage!.address = { M: { street: { S: '1 Main' } } }),
      'malformed-image',
      'address',
    ],
  ];
  it.each(cases)('%s', (_, mutate, code, mention) => {
    const record = base();
    mutate(record);
    const rejection = rejected(planRecord(record));
    expect(rejection.code).toBe(code);
    expect(rejection.reason).toContain(mention);
  });

  it('MODIFY without OldImage cannot be diffed', () => {
    const record = streamRecord({ eventName: 'MODIFY', sk: sk.label, newImage: LABEL });
    expect(rejected(planRecord(record)).code).toBe('missing-image');
  });

  it('a message over the SQS limit is rejected, not sent', () => {
    const huge = { ...LABEL, reasoning: 'x'.repeat(300_000) };
    const rejection = rejected(
      planRecord(streamRecord({ eventName: 'INSERT', sk: sk.label, newImage: huge })),
    );
    expect(rejection.code).toBe('message-too-large');
  });

  it('a built message the schema refuses is never sent (invalid-message)', () => {
    const bad = {
      v: 1,
      kind: 'label',
      collection: 'lines', // labels go to words only
      event: 'INSERT',
      receipt: { imageId: IMAGE, receiptId: 1 },
      word: { lineId: 2, wordId: 3, label: 'TOTAL' },
      changes: {},
      source: { eventId: 'e', sequenceNumber: '1', approximateCreationTime: 0 },
    } as unknown as ChangeMessageInput;
    const out = finalizeMessages([bad]);
    expect(Array.isArray(out)).toBe(false);
    expect(out).toMatchObject({ code: 'invalid-message' });
  });
});
