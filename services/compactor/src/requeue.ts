/**
 * Lock contention without spending receives: when a collection's lock stays busy for
 * the whole wait the invocation can afford, its messages are sent again to their own
 * queue with a delay and the originals are acknowledged, so each starts over with a
 * fresh receive count instead of moving one receive closer to the DLQ.
 *
 * INVARIANT: a message is acknowledged only after its copy was accepted by SQS; a copy
 * that could not be sent leaves its original failed back to the queue (the at-least-once
 * path). A copy and its original may both survive a crash in between: the compactor
 * is idempotent per entity, so a duplicate is a stale no-op.
 */
import { GetQueueUrlCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { SQS_LIMITS, chunkEntries, isSqsSafe, sqsEntryBytes } from '@compaction/contracts';
import { queueNameOfArn } from './routing.js';
import { toMessageAttributes } from './sqs-attributes.js';

/** Attributes a re-sent message carries (its original ones are kept too). */
export const REQUEUE_ATTRIBUTES = {
  /** SQS message id of the first message of the chain (the one the queue first delivered). */
  originalMessageId: 'originalMessageId',
  /** How often the message was re-sent for lock contention. */
  requeues: 'lockRequeues',
  /** The stream record's event id (`source.eventId`). */
  eventId: 'eventId',
} as const;

/** A record to re-send, with its event id (for the attribute). */
export interface RequeueItem {
  record: SQSRecord;
  eventId?: string | undefined;
}

/** How often `record` was already re-sent for lock contention. */
export function requeueCount(record: SQSRecord): number {
  const value = Number(record.messageAttributes?.[REQUEUE_ATTRIBUTES.requeues]?.stringValue);
  return Number.isInteger(value) && value > 0 ? value : 0;
}

/** The attributes of the copy of `item.record`. */
export function requeueAttributes(item: RequeueItem): Record<string, string> {
  const { record } = item;
  const attributes: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.messageAttributes ?? {})) {
    if (value.dataType === 'String' && typeof value.stringValue === 'string') {
      attributes[name] = value.stringValue;
    }
  }
  attributes[REQUEUE_ATTRIBUTES.originalMessageId] ??= record.messageId;
  attributes[REQUEUE_ATTRIBUTES.requeues] = String(requeueCount(record) + 1);
  if (item.eventId && isSqsSafe(item.eventId) && item.eventId.length <= 256) {
    attributes[REQUEUE_ATTRIBUTES.eventId] = item.eventId;
  }
  return attributes;
}

export interface RequeuerOptions {
  sqs: SQSClient;
  /** `DelaySeconds` of every copy (0–900). */
  delaySeconds: number;
}

/**
 * Re-sends records to the queue they came from (found by `GetQueueUrl` from the
 * record's `eventSourceARN`, cached), delayed.
 *
 * @example
 * const requeuer = new Requeuer({ sqs, delaySeconds: 30 });
 * const unsent = await requeuer.send(items); // messageId → why its copy was not sent
 */
export class Requeuer {
  readonly #o: RequeuerOptions;
  readonly #urls = new Map<string, Promise<string>>();

  constructor(options: RequeuerOptions) {
    this.#o = options;
  }

  /** Sends a delayed copy of every item; resolves to the records whose copy was NOT sent. */
  async send(items: readonly RequeueItem[]): Promise<Map<string, Error>> {
    const failed = new Map<string, Error>();
    const sized: {
      queueUrl: string;
      bytes: number;
      item: RequeueItem;
      attributes: Record<string, string>;
    }[] = [];
    for (const item of items) {
      try {
        const queueUrl = await this.#queueUrl(item.record.eventSourceARN);
        const attributes = requeueAttributes(item);
        const bytes = sqsEntryBytes({ body: item.record.body, attributes });
        sized.push({ queueUrl, bytes, item, attributes });
      } catch (err) {
        failed.set(item.record.messageId, err as Error);
      }
    }
    const { chunks, oversize } = chunkEntries(sized, {
      maxEntries: SQS_LIMITS.batchEntries,
      maxBytes: SQS_LIMITS.batchBytes,
      maxMessageBytes: SQS_LIMITS.messageBytes,
    });
    for (const s of oversize) {
      failed.set(
        s.item.record.messageId,
        new Error(`copy of ${s.bytes} bytes exceeds the SQS limit`),
      );
    }
    const delaySeconds = Math.min(SQS_LIMITS.maxDelaySeconds, Math.max(0, this.#o.delaySeconds));
    for (const chunk of chunks) {
      try {
        const out = await this.#o.sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: chunk[0]!.queueUrl,
            Entries: chunk.map((s, i) => ({
              Id: String(i),
              MessageBody: s.item.record.body,
              DelaySeconds: delaySeconds,
              MessageAttributes: toMessageAttributes(s.attributes),
            })),
          }),
        );
        const ok = new Set((out.Successful ?? []).map((e) => e.Id));
        chunk.forEach((s, i) => {
          if (!ok.has(String(i))) {
            const f = out.Failed?.find((e) => e.Id === String(i));
            failed.set(
              s.item.record.messageId,
              new Error(`re-send refused: ${f?.Code ?? 'no result'} ${f?.Message ?? ''}`),
            );
          }
        });
      } catch (err) {
        for (const s of chunk) failed.set(s.item.record.messageId, err as Error);
      }
    }
    return failed;
  }

  #queueUrl(arn: string): Promise<string> {
    let url = this.#urls.get(arn);
    if (!url) {
      url = this.#o.sqs
        .send(new GetQueueUrlCommand({ QueueName: queueNameOfArn(arn) }))
        .then((out) => {
          if (!out.QueueUrl) throw new Error(`no URL for queue ${arn}`);
          return out.QueueUrl;
        });
      url.catch(() => this.#urls.delete(arn));
      this.#urls.set(arn, url);
    }
    return url;
  }
}
