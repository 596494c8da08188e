import { Metrics } from '@aws-lambda-powertools/metrics';
import { isSqsSafe, METRICS_NAMESPACE, sqsEntryBytes } from '@compaction/contracts';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError,
  EmfStreamMetrics,
  MetricTally,
  PublishFailedError,
  buildReject,
  buildRejectBody,
  MAX_REASON_CHARS,
  loadConfig,
  planRecord,
  type StreamReject,
} from '../src/index.js';
import { LABEL, PLACE, sk, streamRecord } from './fixtures.js';

describe('buildRejectBody', () => {
  const now = () => new Date('2026-11-24T18:00:00Z');

  it('carries the raw record, the reason and the record ids', () => {
    const record = streamRecord({
      eventName: 'INSERT',
      sk: sk.label,
      newImage: { ...LABEL, validation_status: 'MAYBE' },
    });
    const body = JSON.parse(
      buildRejectBody(record, { code: 'unknown-validation-status', reason: 'MAYBE' }, { now }),
    ) as StreamReject;
    expect(body).toMatchObject({
      kind: 'stream-reject',
      v: 1,
      reason: { code: 'unknown-validation-status', reason: 'MAYBE' },
      eventId: record.eventID,
      sequenceNumber: record.dynamodb!.SequenceNumber,
      eventName: 'INSERT',
      rejectedAt: '2026-11-24T18:00:00.000Z',
      recordTruncated: false,
    });
    expect(body.record).toEqual(record);
  });

  it('keeps the envelope and keys when the record is too large for SQS', () => {
    const record = streamRecord({
      eventName: 'MODIFY',
      sk: sk.place,
      oldImage: { ...PLACE, blob: 'x'.repeat(600_000) },
      newImage: { ...PLACE, blob: 'y'.repeat(600_000) },
    });
    const text = buildRejectBody(record, { code: 'malformed-image', reason: 'r' }, { now });
    expect(Buffer.byteLength(text)).toBeLessThan(1_048_576);
    const body = JSON.parse(text) as StreamReject;
    expect(body.recordTruncated).toBe(true);
    expect(body.record).toMatchObject({
      eventID: record.eventID,
      dynamodb: { Keys: record.dynamodb!.Keys, SequenceNumber: record.dynamodb!.SequenceNumber },
    });
  });

  it('never embeds a character SQS refuses, and parses back to the exact record', () => {
    const hostile = 'a\uFFFF b\uFFFE c\u0000 d\uD800 e\u{1F9FE}';
    const record = streamRecord({
      eventName: 'INSERT',
      sk: sk.label,
      newImage: { ...LABEL, validation_status: hostile, reasoning: hostile },
    });
    const text = buildRejectBody(record, { code: 'unknown-validation-status', reason: hostile });
    expect(isSqsSafe(text)).toBe(true);
    const body = JSON.parse(text) as StreamReject;
    expect(body.record).toEqual(record);
    expect(body.reason.reason).toBe(hostile);
  });

  it('fits the whole entry (body and attributes) into maxBytes, keeping the reason and ids', () => {
    const record = streamRecord({
      eventName: 'MODIFY',
      sk: sk.place,
      oldImage: { ...PLACE, blob: 'x'.repeat(3_000) },
      newImage: { ...PLACE, blob: 'y'.repeat(3_000) },
    });
    const entry = buildReject(
      record,
      { code: 'malformed-image', reason: 'NewImage.blob is bad' },
      { maxBytes: 4_000, now },
    );
    expect(sqsEntryBytes(entry)).toBeLessThanOrEqual(4_000);
    expect(entry.attributes).toEqual({ rejectCode: 'malformed-image', eventId: record.eventID });
    const body = JSON.parse(entry.body) as StreamReject;
    expect(body).toMatchObject({
      reason: { code: 'malformed-image', reason: 'NewImage.blob is bad' },
      eventId: record.eventID,
      sequenceNumber: record.dynamodb!.SequenceNumber,
      recordTruncated: true,
    });
  });

  it('cuts a reason that quotes a huge value, saying how much was cut', () => {
    const record = streamRecord({ eventName: 'INSERT', sk: sk.label, newImage: LABEL });
    const huge = `validation_status "${'M'.repeat(300_000)}" is not one of …`;
    const body = JSON.parse(
      buildReject(record, { code: 'unknown-validation-status', reason: huge }).body,
    ) as StreamReject;
    expect(body.reason.code).toBe('unknown-validation-status');
    expect(body.reason.reason.length).toBeLessThan(MAX_REASON_CHARS + 40);
    expect(body.reason.reason).toMatch(/… \(\d+ more characters\)$/);
  });

  it('leaves an SQS-unsafe event id out of the attributes (it stays, escaped, in the body)', () => {
    const record = streamRecord({
      eventName: 'INSERT',
      sk: sk.label,
      newImage: LABEL,
      eventId: 'ev\uFFFF',
    });
    const entry = buildReject(record, { code: 'malformed-record', reason: 'r' });
    expect(entry.attributes).toEqual({ rejectCode: 'malformed-record' });
    expect((JSON.parse(entry.body) as StreamReject).eventId).toBe('ev\uFFFF');
  });

  it('survives a record that is not an object', () => {
    const body = JSON.parse(
      buildRejectBody(null as never, {
        code: 'malformed-record',
        reason: 'record is not an object',
      }),
    ) as StreamReject;
    expect(body.reason.code).toBe('malformed-record');
    expect(body.record).toBeNull();
  });
});

describe('change message bodies', () => {
  it('never embed a character SQS refuses; the parsed value is the table string', () => {
    const hostile = 'Acme\uFFFF\uFFFE\u0001\uDC00\u{1F9FE}';
    const plan = planRecord(
      streamRecord({
        eventName: 'MODIFY',
        sk: sk.place,
        oldImage: PLACE,
        newImage: { ...PLACE, merchant_name: hostile },
      }),
    );
    if (plan.action !== 'send') throw new Error(`expected send, got ${plan.action}`);
    expect(plan.messages).toHaveLength(2);
    for (const { body, message } of plan.messages) {
      expect(isSqsSafe(body)).toBe(true);
      expect(body).not.toMatch(/[\uFFFE\uFFFF]/);
      expect(JSON.parse(body)).toEqual(message);
      expect(message.changes.merchant_name!.new).toBe(hostile);
    }
  });
});

describe('loadConfig', () => {
  const env = {
    LINES_QUEUE_URL: 'http://sqs/lines',
    WORDS_QUEUE_URL: 'http://sqs/words',
    REJECTS_QUEUE_URL: 'http://sqs/rejects',
  };

  it('reads the queue URLs named in contracts ENV', () => {
    expect(loadConfig(env)).toEqual({
      queueUrls: { lines: 'http://sqs/lines', words: 'http://sqs/words' },
      rejectsQueueUrl: 'http://sqs/rejects',
      deltaPrefixes: ['deltas/'],
    });
  });

  it('reads DELTA_PREFIX_ALLOW_LIST (comma-separated) and refuses an unusable entry', () => {
    expect(
      loadConfig({ ...env, DELTA_PREFIX_ALLOW_LIST: ' deltas/ , s3://partner/embeddings/ ' })
        .deltaPrefixes,
    ).toEqual(['deltas/', 's3://partner/embeddings/']);
    expect(loadConfig({ ...env, DELTA_PREFIX_ALLOW_LIST: ' ' }).deltaPrefixes).toEqual(['deltas/']);
    expect(() => loadConfig({ ...env, DELTA_PREFIX_ALLOW_LIST: 'deltas/,../' })).toThrow(
      /DELTA_PREFIX_ALLOW_LIST entry "..\/" has a \. or \.\. segment/,
    );
    expect(() => loadConfig({ ...env, DELTA_PREFIX_ALLOW_LIST: 'deltas/,' })).toThrow(ConfigError);
  });

  it('names the missing variable', () => {
    expect(() => loadConfig({ ...env, REJECTS_QUEUE_URL: ' ' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, WORDS_QUEUE_URL: undefined })).toThrow(/WORDS_QUEUE_URL/);
  });
});

describe('metrics', () => {
  afterEach(() => vi.restoreAllMocks());

  it('tallies by reason and by collection/kind', () => {
    const tally = new MetricTally();
    tally.recordIgnored('other-entity');
    tally.recordIgnored('other-entity');
    tally.recordRejected('missing-keys');
    tally.messagesSent('words', 'label', 2);
    tally.messagesSent('words', 'label', 1);
    tally.recordProcessed();
    expect(tally.take()).toEqual({
      processed: 1,
      ignored: 2,
      rejected: 1,
      sendFailures: 0,
      ignoredBy: { 'other-entity': 2 },
      rejectedBy: { 'missing-keys': 1 },
      sent: { 'words/label': 3 },
    });
    expect(tally.counts.ignored).toBe(0);
  });

  it('publishes EMF in the ReceiptCompaction namespace with collection and kind dimensions', () => {
    const lines: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    const metrics = new EmfStreamMetrics(
      new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'stream-processor' }),
    );
    metrics.recordProcessed();
    metrics.recordProcessed();
    metrics.recordRejected('malformed-image');
    metrics.messagesSent('lines', 'place', 1);
    metrics.messagesSent('words', 'place', 1);
    metrics.messagesSent('words', 'label', 4);
    metrics.publish();
    vi.restoreAllMocks();
    const emf = lines.map(
      (l) =>
        JSON.parse(l) as Record<string, unknown> & {
          _aws: {
            CloudWatchMetrics: Array<{
              Namespace: string;
              Dimensions: string[][];
              Metrics: Array<{ Name: string }>;
            }>;
          };
        },
    );
    expect(emf).toHaveLength(5);
    const [main, byReason, ...sent] = emf;
    expect(byReason).toMatchObject({
      reason: 'malformed-image',
      StreamProcessorRejectedRecords: 1,
    });
    expect(byReason!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'reason']]);
    expect(main!._aws.CloudWatchMetrics[0]!.Namespace).toBe('ReceiptCompaction');
    expect(main).toMatchObject({
      service: 'stream-processor',
      StreamProcessorProcessedRecords: 2,
      StreamProcessorIgnoredRecords: 0,
      StreamProcessorRejectedRecords: 1,
      StreamProcessorSendFailures: 0,
    });
    expect(sent.map((e) => [e.collection, e.kind, e.StreamProcessorMessagesSent])).toEqual([
      ['lines', 'place', 1],
      ['words', 'place', 1],
      ['words', 'label', 4],
    ]);
    expect(sent[0]!._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([
      ['service', 'collection', 'kind'],
    ]);
  });
});

describe('errors', () => {
  it('PublishFailedError names the record and the first failure', () => {
    const err = new PublishFailedError('123', [
      {
        index: 0,
        queueUrl: 'q',
        code: 'InternalError',
        message: 'boom',
        senderFault: false,
        attempts: 5,
      },
    ]);
    expect(err.message).toContain('record 123');
    expect(err.message).toContain('InternalError: boom after 5 attempt(s)');
  });
});
