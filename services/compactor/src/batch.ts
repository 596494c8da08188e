/**
 * The domain of one SQS batch: refuse what can never be applied (dead-letter it with
 * the reason), group the rest by collection, run ONE compaction per collection, and
 * say, per record, whether its effect is durably in a published snapshot.
 *
 * A message that fails on its own — unparseable, or a delta refused before the apply
 * (prefix outside the allow-list, unreachable, invalid, wrong dimension, a record of
 * another receipt) — is dead-lettered with its reason and costs nothing to the rest of
 * the batch. Every log line about a message carries its `eventId` (the stream record's,
 * `source.eventId`), and so does every DLQ entry.
 *
 * The result is an outcome per SQS message id; the handler turns it into the
 * `batchItemFailures` response through Powertools (see `create-handler.ts`).
 */
import type { SQSRecord } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  METRIC,
  deltaPrefixRefusal,
  type CollectionName,
  type CompactionPath,
} from '@compaction/contracts';
import type { CompactionResult, MessageItem } from './compact.js';
import type { Rejection } from './dead-letter.js';
import { performance } from 'node:perf_hooks';
import { DeltaInvalidError } from './errors.js';
import { requeueCount, type RequeueItem } from './requeue.js';
import type { TimeBudget } from './time-budget.js';
import { routeBatch, type CompactionFlags } from './flags.js';
import { LockBusyError, MetricUnit, count, type MetricsSink } from '@compaction/snapshot-store';
import { classifyBody, collectionOfQueue, eventIdOfBody, queueNameOfArn } from './routing.js';

/**
 * What happened to one record. `ok: false` records are reported as batch item failures;
 * `requeued` ones were re-sent delayed (lock contention) and are acknowledged.
 */
export type RecordOutcome =
  | { ok: true; disposition: 'applied' | 'dead-lettered' | 'requeued' }
  | { ok: false; reason: string };

export interface BatchDeps {
  /** Sends refused records to their DLQ; resolves to those it could not send. */
  deadLetter: (rejections: readonly Rejection[]) => Promise<Map<string, Error>>;
  flags: () => Promise<CompactionFlags>;
  /** Runs one collection's compaction (see `compactCollection`). */
  compact: (input: {
    collection: CollectionName;
    messages: MessageItem[];
    path: CompactionPath;
    /** Longest wait for the lock this invocation can afford (below the configured one). */
    lockMaxWaitMs?: number;
  }) => Promise<CompactionResult>;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Metrics of one collection (`unknown` for records from a queue that is no collection's). */
  metricsFor: (collection: CollectionName | 'unknown') => MetricsSink;
  /** Where a delta may be read from (`CompactorConfig.deltaPrefixes`). */
  deltaPrefixes: readonly string[];
  /** The invocation's remaining time, ms (Lambda `getRemainingTimeInMillis`); absent: no deadline. */
  remainingMs?: () => number;
  /** Estimates per collection; absent: every compaction starts, with the configured lock wait. */
  timeBudget?: TimeBudget;
  /**
   * Re-sends records delayed to their own queue (lock contention); resolves to those
   * NOT re-sent. Absent: a busy lock fails the batch back.
   */
  requeue?: (items: readonly RequeueItem[]) => Promise<Map<string, Error>>;
  /** Re-sends per message before contention fails it back. Default 20. */
  maxRequeues?: number;
}

/** A valid message with the SQS record it came in. */
interface Accepted extends MessageItem {
  record: SQSRecord;
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
  const valid = new Map<CollectionName, Accepted[]>();

  for (const record of records) {
    const queue = queueNameOfArn(record.eventSourceARN ?? '');
    const source = collectionOfQueue(queue);
    if (!source) {
      // No collection, so no DLQ of ours to send it to: fail it, and the queue's own
      // redrive policy dead-letters it after maxReceiveCount.
      count(deps.metricsFor('unknown'), METRIC.compactionRejectedMessages);
      deps.logger.error('record from a queue that is no collection queue', {
        messageId: record.messageId,
        eventId: eventIdOfBody(record.body),
        eventSourceARN: record.eventSourceARN,
      });
      outcomes.set(record.messageId, { ok: false, reason: `unknown source queue ${queue}` });
      continue;
    }
    const classified = classifyBody(record.body, source);
    if (!classified.ok) {
      rejections.push({
        record,
        collection: source,
        code: classified.code,
        reason: classified.reason,
        eventId: eventIdOfBody(record.body),
      });
      continue;
    }
    const message = classified.message;
    const refusal =
      message.kind === 'delta'
        ? deltaPrefixRefusal(message.delta.s3Prefix, deps.deltaPrefixes)
        : undefined;
    if (refusal !== undefined) {
      rejections.push({
        record,
        collection: source,
        code: 'delta-prefix-refused',
        reason: refusal,
        eventId: message.source.eventId,
      });
      continue;
    }
    const list = valid.get(source) ?? [];
    list.push({ messageId: record.messageId, message, record });
    valid.set(source, list);
  }

  if (rejections.length > 0) await deadLetterAll(rejections, deps, outcomes);

  if (valid.size > 0) {
    const flags = await deps.flags();
    await Promise.all(
      [...valid].map(([collection, accepted]) =>
        compactOne(collection, accepted, flags, deps, outcomes),
      ),
    );
  }
  return outcomes;
}

/** One collection's compaction, and the outcome of each of its messages. */
async function compactOne(
  collection: CollectionName,
  accepted: readonly Accepted[],
  flags: CompactionFlags,
  deps: BatchDeps,
  outcomes: Map<string, RecordOutcome>,
): Promise<void> {
  const metrics = deps.metricsFor(collection);
  const messages = accepted.map(({ messageId, message }) => ({ messageId, message }));
  const path = routeBatch(
    flags,
    messages.map((m) => m.messageId),
  );
  const remainingMs = deps.remainingMs?.();
  const plan = deps.timeBudget?.plan(collection, remainingMs);
  if (plan && !plan.start) {
    // Not started: nothing locked or downloaded; the batch comes back whole.
    count(metrics, METRIC.compactionTimeBudgetExceeded);
    const reason =
      `${collection} compaction not started: ${Math.round(plan.remainingMs)} ms left, ` +
      `${plan.neededMs} ms needed (estimate and margin)`;
    for (const { messageId } of messages) outcomes.set(messageId, { ok: false, reason });
    deps.logger.warn('compaction not started; messages failed back', {
      collection,
      reason,
      messageIds: messages.map((m) => m.messageId),
      eventIds: messages.map((m) => m.message.source.eventId),
    });
    return;
  }
  let result: CompactionResult;
  const started = performance.now();
  try {
    result = await deps.compact({
      collection,
      messages,
      path,
      ...(plan?.lockWaitMs !== undefined ? { lockMaxWaitMs: plan.lockWaitMs } : {}),
    });
  } catch (err) {
    if (err instanceof LockBusyError && deps.requeue) {
      await requeueAll(collection, accepted, err, deps, outcomes);
      return;
    }
    count(metrics, METRIC.compactionError);
    const reason = `${collection} compaction failed: ${(err as Error).message}`;
    for (const { messageId } of messages) outcomes.set(messageId, { ok: false, reason });
    deps.logger.warn('messages failed back to the queue', {
      collection,
      reason,
      messageIds: messages.map((m) => m.messageId),
      eventIds: messages.map((m) => m.message.source.eventId),
    });
    return;
  }
  count(metrics, METRIC.compactionSuccess);
  deps.timeBudget?.record(collection, performance.now() - started - (result.durationsMs.lock ?? 0));

  // Deltas refused on their own: by the loader (unreachable, invalid, foreign
  // receipt) in `failed`, by the apply (dimension) in `stats.refusedDeltas`.
  const refused: Rejection[] = [];
  const refusedByApply = result.stats.refusedDeltas;
  for (const item of accepted) {
    const failure = result.failed.get(item.messageId);
    const byApply = refusedByApply?.get(item.message);
    const eventId = item.message.source.eventId;
    if (failure instanceof DeltaInvalidError) {
      refused.push({
        record: item.record,
        collection,
        code: failure.refusal,
        reason: failure.message,
        eventId,
      });
    } else if (byApply) {
      const prefix = item.message.kind === 'delta' ? item.message.delta.s3Prefix : '?';
      refused.push({
        record: item.record,
        collection,
        code: byApply.code,
        reason: `delta ${prefix} (message ${item.messageId}) cannot be merged: ${byApply.reason}`,
        eventId,
      });
    } else if (failure) {
      outcomes.set(item.messageId, { ok: false, reason: failure.message });
      deps.logger.warn('message failed back to the queue', {
        collection,
        messageId: item.messageId,
        eventId,
        reason: failure.message,
      });
    } else {
      outcomes.set(item.messageId, { ok: true, disposition: 'applied' });
    }
  }
  if (refused.length > 0) await deadLetterAll(refused, deps, outcomes);
}

/**
 * The lock stayed busy for all the wait this invocation could afford: re-send the
 * messages delayed and acknowledge exactly those whose copy SQS accepted; the others
 * (copy refused, or re-sent `maxRequeues` times already) fail back to the queue.
 */
async function requeueAll(
  collection: CollectionName,
  accepted: readonly Accepted[],
  busy: LockBusyError,
  deps: BatchDeps,
  outcomes: Map<string, RecordOutcome>,
): Promise<void> {
  const maxRequeues = deps.maxRequeues ?? 20;
  const items: RequeueItem[] = [];
  for (const a of accepted) {
    if (requeueCount(a.record) >= maxRequeues) {
      outcomes.set(a.messageId, {
        ok: false,
        reason: `lock busy, and re-sent ${maxRequeues} times already: ${busy.message}`,
      });
    } else items.push({ record: a.record, eventId: a.message.source.eventId });
  }
  const unsent = items.length > 0 ? await deps.requeue!(items) : new Map<string, Error>();
  let resent = 0;
  for (const { record } of items) {
    const error = unsent.get(record.messageId);
    if (error) {
      outcomes.set(record.messageId, {
        ok: false,
        reason: `lock busy and not re-sent: ${error.message}`,
      });
    } else {
      resent++;
      outcomes.set(record.messageId, { ok: true, disposition: 'requeued' });
    }
  }
  count(deps.metricsFor(collection), METRIC.compactionLockContention, resent);
  deps.logger.warn('lock busy; messages re-sent with a delay', {
    collection,
    lock: busy.message,
    resent,
    failedBack: accepted.length - resent,
    messageIds: accepted.map((a) => a.messageId),
    eventIds: accepted.map((a) => a.message.source.eventId),
    ...(unsent.size > 0 ? { unsent: Object.fromEntries(unsent) } : {}),
  });
}

/** Dead-letters `rejections`, counting and logging each; a failed send fails its record back. */
async function deadLetterAll(
  rejections: readonly Rejection[],
  deps: BatchDeps,
  outcomes: Map<string, RecordOutcome>,
): Promise<void> {
  const unsent = await deps.deadLetter(rejections);
  for (const r of rejections) {
    const metrics = deps.metricsFor(r.collection);
    count(metrics, METRIC.compactionRejectedMessages);
    if (r.code.startsWith('delta-')) {
      metrics.add(METRIC.compactionDeltasRefused, MetricUnit.Count, 1, { reason: r.code });
    }
    const sendError = unsent.get(r.record.messageId);
    deps.logger.error('change message refused', {
      messageId: r.record.messageId,
      eventId: r.eventId,
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
