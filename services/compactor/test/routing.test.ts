import { describe, expect, it } from 'vitest';
import { resourceNames } from '@compaction/contracts';
import { classifyBody, collectionOfQueue, queueNameOfArn } from '../src/routing.js';
import { labelMessage, placeMessage } from './support/messages.js';

const R = { imageId: '99999999-9999-4999-8999-999999999999', receiptId: 1 };

describe('collectionOfQueue', () => {
  it('maps each stage’s change queues to their collection and nothing else', () => {
    for (const stage of ['dev', 'prod', 't-abc123-x9']) {
      const names = resourceNames(stage);
      expect(collectionOfQueue(names.queues.lines.queue)).toBe('lines');
      expect(collectionOfQueue(names.queues.words.queue)).toBe('words');
      expect(collectionOfQueue(names.queues.words.deadLetterQueue)).toBeUndefined();
      expect(collectionOfQueue(names.rejectsQueue)).toBeUndefined();
    }
    expect(collectionOfQueue('-words-changes')).toBeUndefined();
    expect(queueNameOfArn('arn:aws:sqs:us-east-1:123456789012:dev-words-changes')).toBe(
      'dev-words-changes',
    );
  });
});

describe('classifyBody', () => {
  const label = labelMessage({
    receipt: R,
    lineId: 1,
    wordId: 1,
    label: 'TOTAL',
    seq: 1,
    status: 'VALID',
  });

  it('accepts a valid message from its own collection’s queue', () => {
    expect(classifyBody(JSON.stringify(label), 'words')).toMatchObject({
      ok: true,
      message: { kind: 'label' },
    });
  });

  it.each([
    ['not JSON', '{', 'not-json'],
    ['another version', JSON.stringify({ ...label, v: 2 }), 'unsupported-version'],
    [
      'an unknown collection',
      JSON.stringify({ ...label, kind: 'place', collection: 'receipts' }),
      'unknown-collection',
    ],
    [
      'a failed validation',
      JSON.stringify({ ...label, receipt: { imageId: 'nope', receiptId: 1 } }),
      'invalid',
    ],
    [
      'a label change without a known new status',
      JSON.stringify({ ...label, changes: { validation_status: { new: 'MAYBE' } } }),
      'invalid',
    ],
  ])('refuses %s', (_what, body, code) => {
    const r = classifyBody(body, 'words');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.code).toBe(code);
    expect(!r.ok && r.reason.length).toBeGreaterThan(0);
  });

  it('refuses a message whose collection disagrees with its source queue', () => {
    const lines = placeMessage({
      receipt: R,
      collection: 'lines',
      seq: 2,
      fields: { merchant_name: 'x' },
    });
    expect(classifyBody(JSON.stringify(lines), 'words')).toMatchObject({
      ok: false,
      code: 'collection-mismatch',
    });
  });

  it('accepts a label REMOVE, whose status is only in `old`', () => {
    const removal = labelMessage({
      receipt: R,
      lineId: 1,
      wordId: 1,
      label: 'TOTAL',
      seq: 3,
      event: 'REMOVE',
    });
    expect(classifyBody(JSON.stringify(removal), 'words').ok).toBe(true);
  });
});
