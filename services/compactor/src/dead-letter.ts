/**
 * Dead-lettering of refused records: the compactor sends a record it can never apply
 * to the DLQ of the queue it came from, with the reason as message attributes, so it
 * is never silently dropped. A record whose send fails is reported as a batch item
 * failure instead, and reaches the same DLQ by redrive after maxReceiveCount.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import type { CollectionName } from '@compaction/contracts';
import type { RejectionCode } from './errors.js';
import { queueNameOfArn } from './routing.js';

/** A refused record and why. */
export interface Rejection {
  record: SQSRecord;
  collection: CollectionName;
  code: RejectionCode;
  reason: string;
}

/** Message attributes a dead-lettered record carries. */
export const DLQ_ATTRIBUTES = {
  code: 'rejectionCode',
  reason: 'rejectionReason',
  sourceQueue: 'sourceQueue',
  sourceMessageId: 'sourceMessageId',
} as const;

/** SQS caps a batch send at 10 entries. */
const SQS_BATCH = 10;
/** Reasons are for humans; keep attributes small. */
const MAX_REASON = 1024;

export interface DeadLetterOptions {
  sqs: SQSClient;
  /** DLQ URL per collection; a collection without one cannot dead-letter (its records fail instead). */
  urls: Partial<Record<CollectionName, string>>;
}

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
    const byCollection = new Map<CollectionName, Rejection[]>();
    for (const r of rejections) {
      const list = byCollection.get(r.collection) ?? [];
      list.push(r);
      byCollection.set(r.collection, list);
    }
    for (const [collection, list] of byCollection) {
      const url = this.#o.urls[collection];
      if (!url) {
        for (const r of list)
          failed.set(r.record.messageId, new Error(`no DLQ URL configured for ${collection}`));
        continue;
      }
      for (let i = 0; i < list.length; i += SQS_BATCH) {
        const chunk = list.slice(i, i + SQS_BATCH);
        try {
          const out = await this.#o.sqs.send(
            new SendMessageBatchCommand({
              QueueUrl: url,
              Entries: chunk.map((r, j) => ({
                Id: String(j),
                MessageBody: r.record.body === '' ? '(empty body)' : r.record.body,
                MessageAttributes: {
                  [DLQ_ATTRIBUTES.code]: { DataType: 'String', StringValue: r.code },
                  [DLQ_ATTRIBUTES.reason]: { DataType: 'String', StringValue: truncate(r.reason) },
                  [DLQ_ATTRIBUTES.sourceQueue]: {
                    DataType: 'String',
                    StringValue: queueNameOfArn(r.record.eventSourceARN),
                  },
                  [DLQ_ATTRIBUTES.sourceMessageId]: {
                    DataType: 'String',
                    StringValue: r.record.messageId,
                  },
                },
              })),
            }),
          );
          for (const f of out.Failed ?? []) {
            const r = chunk[Number(f.Id)];
            if (r)
              failed.set(
                r.record.messageId,
                new Error(`DLQ send refused: ${f.Code ?? '?'} ${f.Message ?? ''}`),
              );
          }
        } catch (err) {
          for (const r of chunk) failed.set(r.record.messageId, err as Error);
        }
      }
    }
    return failed;
  }
}

function truncate(reason: string): string {
  const text = reason === '' ? '(no reason)' : reason;
  return text.length <= MAX_REASON ? text : `${text.slice(0, MAX_REASON - 1)}…`;
}
