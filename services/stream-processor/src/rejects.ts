import { toSqsJson } from '@compaction/contracts';
import type { DynamoDBRecord } from 'aws-lambda';
import { MAX_MESSAGE_BYTES } from './build-messages.js';
import type { RecordRejection } from './errors.js';

/**
 * The body of a message on the rejects queue (`REJECTS_QUEUE_URL`): a stream record
 * that can never become change messages, kept with the reason for a human to fix the
 * data (or the code) and replay it. Nothing consumes it automatically.
 */
export interface StreamReject {
  kind: 'stream-reject';
  v: 1;
  reason: RecordRejection;
  eventId?: string | undefined;
  sequenceNumber?: string | undefined;
  eventName?: string | undefined;
  eventSourceARN?: string | undefined;
  /** ISO time the stream processor rejected the record. */
  rejectedAt: string;
  /**
   * The record exactly as Lambda delivered it; when that would exceed the SQS limit,
   * its envelope and keys only (`recordTruncated: true`).
   */
  record: unknown;
  recordTruncated: boolean;
}

export interface RejectOptions {
  /** Largest body in bytes; default 256 KiB. */
  maxBytes?: number;
  now?: () => Date;
}

/**
 * Builds the rejects-queue body for a record. Never throws: a record that cannot be
 * serialised, or is too large (DynamoDB items reach 400 KB, a record carries two
 * images), is replaced by its envelope and keys.
 *
 * @example
 * const body = buildRejectBody(record, { code: 'missing-keys', reason: 'dynamodb.Keys is missing' });
 */
export function buildRejectBody(
  record: DynamoDBRecord,
  rejection: RecordRejection,
  options: RejectOptions = {},
): string {
  const maxBytes = options.maxBytes ?? MAX_MESSAGE_BYTES;
  const r = (typeof record === 'object' && record !== null ? record : {}) as DynamoDBRecord;
  const base: Omit<StreamReject, 'record' | 'recordTruncated'> = {
    kind: 'stream-reject',
    v: 1,
    reason: rejection,
    eventId: r.eventID,
    sequenceNumber: r.dynamodb?.SequenceNumber,
    eventName: r.eventName,
    eventSourceARN: r.eventSourceARN,
    rejectedAt: (options.now?.() ?? new Date()).toISOString(),
  };
  try {
    const full = toSqsJson({ ...base, record, recordTruncated: false } satisfies StreamReject);
    if (Buffer.byteLength(full, 'utf8') <= maxBytes) return full;
  } catch {
    // fall through to the envelope-only form
  }
  const envelope = {
    eventID: r.eventID,
    eventName: r.eventName,
    eventSourceARN: r.eventSourceARN,
    dynamodb: {
      Keys: r.dynamodb?.Keys,
      SequenceNumber: r.dynamodb?.SequenceNumber,
      ApproximateCreationDateTime: r.dynamodb?.ApproximateCreationDateTime,
      SizeBytes: r.dynamodb?.SizeBytes,
      StreamViewType: r.dynamodb?.StreamViewType,
    },
  };
  let truncated: string;
  try {
    truncated = toSqsJson({
      ...base,
      record: envelope,
      recordTruncated: true,
    } satisfies StreamReject);
  } catch {
    truncated = toSqsJson({
      ...base,
      record: null,
      recordTruncated: true,
    } satisfies StreamReject);
  }
  return truncated;
}
