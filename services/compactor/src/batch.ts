/**
 * The domain of one SQS batch: refuse what can never be applied (dead-letter it with
 * the reason), group the rest by collection, run ONE compaction per collection, and
 * say, per record, whether its effect is durably in a published snapshot.
 *
 * The result is an outcome per SQS message id; the handler turns it into the
 * `batchItemFailures` response through Powertools (see `create-handler.ts`).
 */
import type { SQSRecord } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import { METRIC, type CollectionName, type CompactionPath } from '@compaction/contracts';
import type { CompactionResult, MessageItem } from './compact.js';
import type { Rejection } from './dead-letter.js';
import { routeBatch, type CompactionFlags } from './flags.js';
import { count, type MetricsSink } from '@compaction/snapshot-store';
import { classifyBody, collectionOfQueue, queueNameOfArn } from './routing.js';

/** What happened to one record. `ok: false` records are reported as batch item failures. */
export type RecordOutcome =
  { ok: true; disposition: 'applied' | 'dead-lettered' } | { ok: false; reason: string };

export interface BatchDeps {
  /** Sends refused records to their DLQ; resolves to those it could not send. */
  deadLetter: (rejections: readonly Rejection[]) => Promise<Map<string, Error>>;
  flags: () => Promise<CompactionFlags>;
  /** Runs one collection's compaction (see `compactCollection`). */
  compact: (input: {
    collection: CollectionName;
    messages: MessageItem[];
    path: CompactionPath;
  }) => Promise<CompactionResult>;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Metrics of one collection (`unknown` for records from a queue that is no collection's). */
  metricsFor: (collection: CollectionName | 'unknown') => MetricsSink;
}

/**
 * Processes one batch of SQS records.
 *
 * @example
 * const outcomes = await compactRecords(event.Records, deps);
 * outcomes.get(record.messageId); // { ok: true, disposition: 'applied' }
 */
export async function compactRecords(
  records: readonly SQSRecord[],
  deps: BatchDeps,
): Promise<Map<string, RecordOutcome>> {
  const outcomes = new Map<string, RecordOutcome>();
  const rejections: Rejection[] = [];
  const valid = new Map<CollectionName, MessageItem[]>();

  for (const record of records) {
    const queue = queueNameOfArn(record.eventSourceARN ?? '');
    const source = collectionOfQueue(queue);
    if (!source) {
      // No collection, so no DLQ of ours to send it to: fail it, and the queue's own
      // redrive policy dead-letters it after maxReceiveCount.
      count(deps.metricsFor('unknown'), METRIC.compactionRejectedMessages);
      deps.logger.error('record from a queue that is no collection queue', {
        messageId: record.messageId,
        eventSourceARN: record.eventSourceARN,
      });
      outcomes.set(record.messageId, { ok: false, reason: `unknown source queue ${queue}` });
      continue;
    }
    const classified = classifyBody(record.body, source);
    if (classified.ok) {
      const list = valid.get(source) ?? [];
      list.push({ messageId: record.messageId, message: classified.message });
      valid.set(source, list);
    } else {
      rejections.push({
        record,
        collection: source,
        code: classified.code,
        reason: classified.reason,
      });
    }
  }

  if (rejections.length > 0) {
    const unsent = await deps.deadLetter(rejections);
    for (const r of rejections) {
      count(deps.metricsFor(r.collection), METRIC.compactionRejectedMessages);
      const sendError = unsent.get(r.record.messageId);
      deps.logger.error('change message refused', {
        messageId: r.record.messageId,
        collection: r.collection,
        rejectionCode: r.code,
        reason: r.reason,
        deadLettered: !sendError,
        ...(sendError ? { dlqError: sendError } : {}),
      });
      outcomes.set(
        r.record.messageId,
        sendError
          ? { ok: false, reason: `refused (${r.code}) and not dead-lettered: ${sendError.message}` }
          : { ok: true, disposition: 'dead-lettered' },
      );
    }
  }

  if (valid.size > 0) {
    const flags = await deps.flags();
    await Promise.all(
      [...valid].map(async ([collection, messages]) => {
        const metrics = deps.metricsFor(collection);
        const path = routeBatch(
          flags,
          messages.map((m) => m.messageId),
        );
        try {
          const result = await deps.compact({ collection, messages, path });
          count(metrics, METRIC.compactionSuccess);
          for (const { messageId } of messages) {
            const failure = result.failed.get(messageId);
            outcomes.set(
              messageId,
              failure
                ? { ok: false, reason: failure.message }
                : { ok: true, disposition: 'applied' },
            );
          }
        } catch (err) {
          count(metrics, METRIC.compactionError);
          const reason = `${collection} compaction failed: ${(err as Error).message}`;
          for (const { messageId } of messages) outcomes.set(messageId, { ok: false, reason });
        }
      }),
    );
  }
  return outcomes;
}
