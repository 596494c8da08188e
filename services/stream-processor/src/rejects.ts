import { SQS_LIMITS, isSqsSafe, sqsEntryBytes, toSqsJson } from '@compaction/contracts';
import type { DynamoDBRecord } from 'aws-lambda';
import type { RecordRejection } from './errors.js';
import type { OutboundEntry } from './publisher.js';

/**
 * The body of a message on the rejects queue (`REJECTS_QUEUE_URL`): a stream record
 * that can never become change messages, kept with the reason for a human to fix the
 * data (or the code) and replay it. Nothing consumes it automatically.
 */
export interface StreamReject {
  kind: 'stream-reject';
  v: 1;
  /** Why; `reason.reason` is cut to {@link MAX_REASON_CHARS} characters. */
  reason: RecordRejection;
  /** The stream record's `eventID`: the correlation id of its log lines and messages. */
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

/** Longest `reason.reason` a reject carries (a reason may quote a hostile value). */
export const MAX_REASON_CHARS = 2_000;
/** Longest `eventId` message attribute; a longer or SQS-unsafe id is left to the body. */
const MAX_ATTRIBUTE_CHARS = 256;

export interface RejectOptions {
  /** Largest entry (body and attributes) in bytes; default SQS's 1 MiB. */
  maxBytes?: number;
  now?: () => Date;
}

/** A rejects-queue message: its body and its message attributes. */
export type RejectEntry = Required<Pick<OutboundEntry, 'body' | 'attributes'>>;

/**
 * Builds the rejects-queue message for a record: the {@link StreamReject} body and the
 * attributes `rejectCode` and `eventId` (to find a record's reject without parsing
 * bodies). Never throws, and the entry always fits `maxBytes`: a record that cannot be
 * serialised or is too large (DynamoDB items reach 400 KB, a record carries two images)
 * is replaced by its envelope and keys; the reason and the identifiers always stay. The
 * body is written with `toSqsJson`, so it holds no character SQS refuses.
 *
 * @example
 * const { body, attributes } = buildReject(record, { code: 'missing-keys', reason: 'dynamodb.Keys is missing' });
 */
export function buildReject(
  record: DynamoDBRecord,
  rejection: RecordRejection,
  options: RejectOptions = {},
): RejectEntry {
  const r = (typeof record === 'object' && record !== null ? record : {}) as DynamoDBRecord;
  const attributes: Record<string, string> = { rejectCode: rejection.code };
  if (typeof r.eventID === 'string' && r.eventID.length <= MAX_ATTRIBUTE_CHARS) {
    if (r.eventID !== '' && isSqsSafe(r.eventID)) attributes.eventId = r.eventID;
  }
  const maxBody =
    (options.maxBytes ?? SQS_LIMITS.messageBytes) - sqsEntryBytes({ body: '', attributes });
  const fits = (body: string) => Buffer.byteLength(body, 'utf8') <= maxBody;
  const reason: RecordRejection =
    rejection.reason.length <= MAX_REASON_CHARS
      ? rejection
      : {
          code: rejection.code,
          reason: `${rejection.reason.slice(0, MAX_REASON_CHARS)}… (${rejection.reason.length - MAX_REASON_CHARS} more characters)`,
        };
  const base: Omit<StreamReject, 'record' | 'recordTruncated'> = {
    kind: 'stream-reject',
    v: 1,
    reason,
    eventId: r.eventID,
    sequenceNumber: r.dynamodb?.SequenceNumber,
    eventName: r.eventName,
    eventSourceARN: r.eventSourceARN,
    rejectedAt: (options.now?.() ?? new Date()).toISOString(),
  };
  const attempt = (reject: StreamReject): string | undefined => {
    try {
      const body = toSqsJson(reject);
      return fits(body) ? body : undefined;
    } catch {
      return undefined;
    }
  };
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
  const body =
    attempt({ ...base, record, recordTruncated: false }) ??
    attempt({ ...base, record: envelope, recordTruncated: true }) ??
    toSqsJson({ ...base, record: null, recordTruncated: true } satisfies StreamReject);
  return { body, attributes };
}

/**
 * The body of {@link buildReject}.
 *
 * @example
 * const body = buildRejectBody(record, { code: 'missing-keys', reason: 'dynamodb.Keys is missing' });
 */
export function buildRejectBody(
  record: DynamoDBRecord,
  rejection: RecordRejection,
  options: RejectOptions = {},
): string {
  return buildReject(record, rejection, options).body;
}
