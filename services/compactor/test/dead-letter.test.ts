/**
 * Dead letters on the emulator: calls packed by bytes as well as count, an entry that
 * would not fit keeps its reason and identifiers (payload cut), every entry carries the
 * event id.
 */
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  DLQ_ATTRIBUTES,
  DeadLetters,
  deadLetterEntry,
  type Rejection,
} from '../src/dead-letter.js';
import { useCompactorFixture } from './support/fixture.js';
import { drainQueue, sqsRecord } from './support/handler-runtime.js';

const fx = await useCompactorFixture();

const rejection = (record: SQSRecord, eventId?: string): Rejection => ({
  record,
  collection: 'words',
  code: 'invalid',
  reason: `schema: ${record.messageId} is not a change message`,
  eventId,
});

/** A ~`kb` KB invalid body carrying an event id. */
const bigBody = (i: number, kb: number) =>
  JSON.stringify({ v: 1, source: { eventId: `evt-big-${i}` }, junk: 'x'.repeat(kb * 1024) });

describe('DeadLetters', () => {
  it('dead-letters ten ~150 KB invalid bodies, each with its reason (two calls, not one refused)', async () => {
    const sent: number[] = [];
    const sqs = fx.sqs;
    const counting = {
      send: (command: Parameters<typeof sqs.send>[0]) => {
        sent.push((command.input as { Entries?: unknown[] }).Entries?.length ?? 0);
        return sqs.send(command);
      },
    } as typeof sqs;
    const dlq = new DeadLetters({
      sqs: counting,
      urls: { words: fx.res.queues.words.deadLetterQueue.url },
    });
    const rejections = Array.from({ length: 10 }, (_, i) =>
      rejection(sqsRecord(fx, 'words', bigBody(i, 150), `big-${i}`), `evt-big-${i}`),
    );
    const failed = await dlq.send(rejections);
    expect(failed.size).toBe(0);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(sent.reduce((a, b) => a + b, 0)).toBe(10);

    const dead = await drainQueue(fx, fx.res.queues.words.deadLetterQueue.url);
    expect(dead).toHaveLength(10);
    for (const m of dead) {
      const id = m.MessageAttributes![DLQ_ATTRIBUTES.sourceMessageId]!.StringValue!;
      const i = Number(id.slice('big-'.length));
      expect(m.Body).toBe(bigBody(i, 150)); // the original: a redrive puts it back as it was
      expect(m.MessageAttributes![DLQ_ATTRIBUTES.reason]!.StringValue).toContain(id);
      expect(m.MessageAttributes![DLQ_ATTRIBUTES.eventId]!.StringValue).toBe(`evt-big-${i}`);
    }
  });

  it('an entry over the limit keeps its reason and ids in an envelope that fits', async () => {
    const record = sqsRecord(fx, 'words', `${bigBody(0, 80)}\uFFFF`, 'huge');
    const entry = deadLetterEntry(rejection(record, 'evt-huge'), 64 * 1024);
    expect(entry.truncated).toBe(true);
    const envelope = JSON.parse(entry.body) as Record<string, unknown>;
    expect(envelope).toMatchObject({
      kind: 'compactor-dead-letter',
      rejectionCode: 'invalid',
      eventId: 'evt-huge',
      sourceMessageId: 'huge',
      sourceQueue: fx.res.queues.words.queue.name,
      bodyTruncated: true,
    });
    expect(envelope['reason']).toContain('huge');
    expect(String(envelope['bodyHead']).length).toBeGreaterThan(1000);

    const dlq = new DeadLetters({
      sqs: fx.sqs,
      urls: { words: fx.res.queues.words.deadLetterQueue.url },
      maxMessageBytes: 64 * 1024,
    });
    expect((await dlq.send([rejection(record, 'evt-huge')])).size).toBe(0);
    const [dead] = await drainQueue(fx, fx.res.queues.words.deadLetterQueue.url);
    expect(dead!.Body).toBe(entry.body);
    expect(dead!.MessageAttributes![DLQ_ATTRIBUTES.eventId]!.StringValue).toBe('evt-huge');
  });

  it('a record without a DLQ, or one SQS refuses, is reported unsent', async () => {
    const dlq = new DeadLetters({
      sqs: fx.sqs,
      urls: { words: `${fx.res.queues.words.deadLetterQueue.url}-missing` },
    });
    const failed = await dlq.send([
      rejection(sqsRecord(fx, 'words', 'x', 'a')),
      { ...rejection(sqsRecord(fx, 'lines', 'y', 'b')), collection: 'lines' },
    ]);
    expect([...failed.keys()].sort()).toEqual(['a', 'b']);
    expect(failed.get('b')!.message).toMatch(/no DLQ URL configured for lines/);
  });
});
