/**
 * Dead-lettering of refused records: the compactor sends a record it can never apply
 * to the DLQ of the queue it came from, with the reason as message attributes, so it
 * is never silently dropped. A record whose send fails is reported as a batch item
 * failure instead, and reaches the same DLQ by redrive after maxReceiveCount.
 *
 * The body is the record's own body whenever the entry fits SQS's limits (so a DLQ
 * redrive puts the very message back on its queue; a change message carries its
 * `source.eventId`). An entry that would not fit — the body plus attributes over
 * 1 MiB — gets a {@link DeadLetterEnvelope} body instead, written with `toSqsJson`: the
 * reason and identifiers kept, the payload cut. Calls are packed by bytes as well as
 * count (contracts `chunkEntries`), so ten large bodies are two calls, not one SQS
 * refuses whole.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import {
  SQS_LIMITS,
  chunkEntries,
  isSqsSafe,
  sqsEntryBytes,
  toSqsJson,
  utf8Bytes,
  type CollectionName,
} from '@compaction/contracts';
import type { RejectionCode } from './errors.js';
import { queueNameOfArn } from './routing.js';
import { toMessageAttributes } from './sqs-attributes.js';

/** A refused record and why. */
export interface Rejection {
  record: SQSRecord;
  collection: CollectionName;
  code: RejectionCode;
  reason: string;
  /** The change message's `source.eventId`, when its body has one. */
  eventId?: string | undefined;
}

/** Message attributes a dead-lettered record carries. */
export const DLQ_ATTRIBUTES = {
  code: 'rejectionCode',
  reason: 'rejectionReason',
  sourceQueue: 'sourceQueue',
  sourceMessageId: 'sourceMessageId',
  /** The stream record's event id (`source.eventId`), when the body had one. */
  eventId: 'eventId',
} as const;

/**
 * The body of a dead letter whose own body did not fit next to its attributes (the
 * payload is cut to what fits; `bodyBytes` is its full size).
 */
export interface DeadLetterEnvelope {
  kind: 'compactor-dead-letter';
  v: 1;
  rejectionCode: RejectionCode;
  reason: string;
  eventId: string | undefined;
  sourceQueue: string;
  sourceMessageId: string;
  bodyBytes: number;
  /** The beginning of the original body. */
  bodyHead: string;
  bodyTruncated: true;
}

/** Reasons are for humans; keep attributes small. */
const MAX_REASON = 1024;
/** Longest attribute value copied from input (ids); longer ones stay in the body only. */
const MAX_ID_CHARS = 256;

export interface DeadLetterOptions {
  sqs: SQSClient;
  /** DLQ URL per collection; a collection without one cannot dead-letter (its records fail instead). */
  urls: Partial<Record<CollectionName, string>>;
  /** Largest entry, body and attributes (default SQS's 1 MiB); lower in tests. */
  maxMessageBytes?: number;
  /** Largest call (default SQS's 1 MiB). */
  maxBatchBytes?: number;
}

/** One DLQ entry of a rejection. */
export interface DeadLetterEntry {
  body: string;
  attributes: Record<string, string>;
  /** The body is a {@link DeadLetterEnvelope} (the original did not fit). */
  truncated: boolean;
}

/**
 * The DLQ entry of `r`: the record's body and the attributes, or, when they would
 * exceed `maxBytes`, an envelope that fits.
 *
 * @example
 * const { body, attributes } = deadLetterEntry(rejection);
 * attributes.rejectionCode; // 'not-json'
 */
export function deadLetterEntry(
  r: Rejection,
  maxBytes: number = SQS_LIMITS.messageBytes,
): DeadLetterEntry {
  const sourceQueue = queueNameOfArn(r.record.eventSourceARN ?? '');
  const attributes: Record<string, string> = {
    [DLQ_ATTRIBUTES.code]: r.code,
    [DLQ_ATTRIBUTES.reason]: truncate(r.reason),
    [DLQ_ATTRIBUTES.sourceQueue]: sourceQueue,
    [DLQ_ATTRIBUTES.sourceMessageId]: r.record.messageId,
  };
  if (r.eventId !== undefined && usableId(r.eventId))
    attributes[DLQ_ATTRIBUTES.eventId] = r.eventId;
  for (const [name, value] of Object.entries(attributes)) {
    if (!isSqsSafe(value) || value === '') attributes[name] = toSqsJson(value);
  }
  const original = r.record.body === '' ? '(empty body)' : r.record.body;
  if (isSqsSafe(original) && sqsEntryBytes({ body: original, attributes }) <= maxBytes) {
    return { body: original, attributes, truncated: false };
  }
  const room = maxBytes - sqsEntryBytes({ body: '', attributes });
  const envelope = (bodyHead: string): string =>
    toSqsJson({
      kind: 'compactor-dead-letter',
      v: 1,
      rejectionCode: r.code,
      reason: truncate(r.reason),
      eventId: r.eventId,
      sourceQueue,
      sourceMessageId: r.record.messageId,
      bodyBytes: utf8Bytes(r.record.body),
      bodyHead,
      bodyTruncated: true,
    } satisfies DeadLetterEnvelope);
  // The escaped head grows by at most 6 bytes per character (\uXXXX): halve until it fits.
  let head = r.record.body.slice(0, Math.max(0, room));
  let body = envelope(head);
  while (utf8Bytes(body) > room && head.length > 0) {
    head = head.slice(0, Math.floor(head.length / 2));
    body = envelope(head);
  }
  return { body, attributes, truncated: true };
}

const usableId = (id: string): boolean => id !== '' && id.length <= MAX_ID_CHARS;

/**
 * Sends refused records to their collection's DLQ.
 *
 * @example
 * const dlq = new DeadLetters({ sqs, urls: config.dlqUrls });
 * const failed = await dlq.send(rejections); // messageId → why it could not be sent
 */
export class DeadLetters {
  readonly #o: DeadLetterOptions;

  constructor(options: DeadLetterOptions) {
    this.#o = options;
  }

  /** Sends every rejection; resolves to the records that could NOT be sent, with the error. */
  async send(rejections: readonly Rejection[]): Promise<Map<string, Error>> {
    const failed = new Map<string, Error>();
    const maxMessageBytes = Math.min(
      this.#o.maxMessageBytes ?? SQS_LIMITS.messageBytes,
      SQS_LIMITS.messageBytes,
    );
    const maxBytes = Math.min(
      this.#o.maxBatchBytes ?? SQS_LIMITS.batchBytes,
      SQS_LIMITS.batchBytes,
    );
    const items: {
      queueUrl: string;
      bytes: number;
      rejection: Rejection;
      entry: DeadLetterEntry;
    }[] = [];
    for (const r of rejections) {
      const url = this.#o.urls[r.collection];
      if (!url) {
        failed.set(r.record.messageId, new Error(`no DLQ URL configured for ${r.collection}`));
        continue;
      }
      const entry = deadLetterEntry(r, Math.min(maxMessageBytes, maxBytes));
      items.push({ queueUrl: url, bytes: sqsEntryBytes(entry), rejection: r, entry });
    }
    const { chunks, oversize } = chunkEntries(items, {
      maxEntries: SQS_LIMITS.batchEntries,
      maxBytes,
      maxMessageBytes,
    });
    for (const item of oversize) {
      failed.set(
        item.rejection.record.messageId,
        new Error(`DLQ entry of ${item.bytes} bytes exceeds ${maxMessageBytes}`),
      );
    }
    for (const chunk of chunks) {
      try {
        const out = await this.#o.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: chunk[0]!.queueUrl,
            Entries: chunk.map(({ entry }, j) => ({
              Id: String(j),
              MessageBody: entry.body,
              MessageAttributes: toMessageAttributes(entry.attributes),
            })),
          }),
        );
        const ok = new Set((out.Successful ?? []).map((s) => s.Id));
        const refused = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
        chunk.forEach((item, j) => {
          const f = refused.get(String(j));
          if (f || !ok.has(String(j))) {
            failed.set(
              item.rejection.record.messageId,
              new Error(
                f
                  ? `DLQ send refused: ${f.Code ?? '?'} ${f.Message ?? ''}`
                  : 'DLQ send: entry absent from the response',
              ),
            );
          }
        });
      } catch (err) {
        for (const item of chunk) failed.set(item.rejection.record.messageId, err as Error);
      }
    }
    return failed;
  }
}

function truncate(reason: string): string {
  const text = reason === '' ? '(no reason)' : reason;
  return text.length <= MAX_REASON ? text : `${text.slice(0, MAX_REASON - 1)}…`;
}
