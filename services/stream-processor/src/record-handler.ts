import type { DynamoDBRecord } from 'aws-lambda';
import { planRecord, type IgnoreReason, type PlanOptions } from './build-messages.js';
import type { StreamProcessorConfig } from './config.js';
import { PublishFailedError, type RejectCode } from './errors.js';
import type { StreamMetrics } from './metrics.js';
import type { Publisher } from './publisher.js';
import { buildReject } from './rejects.js';

/** The logger surface the domain code uses; Powertools `Logger` satisfies it. */
export interface StreamLogger {
  debug(message: string, attributes: Record<string, unknown>): void;
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

/** Everything the record handler needs, passed in (the handler file builds it once). */
export interface RecordHandlerDeps {
  config: StreamProcessorConfig;
  publisher: Publisher;
  logger: StreamLogger;
  metrics: StreamMetrics;
  /** Planning options; `deltaPrefixes` defaults to `config.deltaPrefixes`. */
  plan?: PlanOptions;
  /** Clock for reject bodies; default `new Date()`. */
  now?: () => Date;
}

/** How a record ended (the record handler's result; failures throw instead). */
export type RecordOutcome =
  | { action: 'sent'; messages: number }
  | { action: 'ignored'; reason: IgnoreReason }
  | { action: 'rejected'; code: RejectCode };

/**
 * Creates the per-record handler that Powertools `processPartialResponse` calls for
 * each stream record (`EventType.DynamoDBStreams`):
 *
 * - plan the record ({@link planRecord}: parse, classify, diff, build, validate);
 * - ignored → counted, nothing sent;
 * - send → publish every message to its collection's queue;
 * - reject → publish the raw record and the reason to the rejects queue, count it.
 *
 * The record succeeds only when every one of its messages (or its reject) was
 * accepted by SQS. Otherwise it throws {@link PublishFailedError}, the batch processor
 * puts its sequence number in `batchItemFailures`, and Lambda retries from there — a
 * record is never dropped. Every reject and failure is logged with the record's
 * `eventId` and `sequenceNumber`.
 *
 * @example
 * const recordHandler = createRecordHandler({ config, publisher, logger, metrics });
 * export const handler = (event, context) =>
 *   processPartialResponse(event, recordHandler, new BatchProcessor(EventType.DynamoDBStreams), { context });
 */
export function createRecordHandler(
  deps: RecordHandlerDeps,
): (record: DynamoDBRecord) => Promise<RecordOutcome> {
  const { config, publisher, logger, metrics } = deps;
  const planOptions: PlanOptions = { deltaPrefixes: config.deltaPrefixes, ...deps.plan };

  return async function handleRecord(record: DynamoDBRecord): Promise<RecordOutcome> {
    // Everything up to publish() is synchronous, so all records of an invocation are
    // queued in the publisher before its flush (see SqsBatchPublisher).
    const plan = planRecord(record, planOptions);
    const ids = {
      eventId: record?.eventID,
      sequenceNumber: record?.dynamodb?.SequenceNumber,
    };

    if (plan.action === 'ignore') {
      metrics.recordIgnored(plan.reason);
      metrics.recordProcessed();
      logger.debug('record ignored', { ...ids, reason: plan.reason });
      return { action: 'ignored', reason: plan.reason };
    }

    if (plan.action === 'reject') {
      const reject = buildReject(record, plan.rejection, deps.now ? { now: deps.now } : {});
      const result = await publisher.publish([
        { queueUrl: config.rejectsQueueUrl, ...reject, eventId: ids.eventId },
      ]);
      if (result.failures.length > 0) {
        metrics.sendFailures(result.failures.length);
        logger.error('reject could not be published; record will be retried', {
          ...ids,
          rejection: plan.rejection,
          failures: result.failures,
        });
        throw new PublishFailedError(ids.sequenceNumber, result.failures);
      }
      metrics.recordRejected(plan.rejection.code);
      metrics.recordProcessed();
      logger.warn('record rejected', {
        ...ids,
        code: plan.rejection.code,
        reason: plan.rejection.reason,
      });
      return { action: 'rejected', code: plan.rejection.code };
    }

    const entries = plan.messages.map((m) => ({
      queueUrl: config.queueUrls[m.message.collection],
      body: m.body,
      eventId: ids.eventId,
    }));
    const result = await publisher.publish(entries);
    if (result.failures.length === 0) {
      for (const m of plan.messages) metrics.messagesSent(m.message.collection, m.message.kind, 1);
      metrics.recordProcessed();
      logger.debug('record sent', {
        ...ids,
        messages: plan.messages.map((m) => `${m.message.collection}/${m.message.kind}`),
      });
      return { action: 'sent', messages: plan.messages.length };
    }
    // Entries that were accepted are counted as sent: they are on the queue, and the
    // retry sends them again (the compactor drops the repeat by sequence number).
    const failed = new Set(result.failures.map((f) => f.index));
    plan.messages.forEach((m, i) => {
      if (!failed.has(i)) metrics.messagesSent(m.message.collection, m.message.kind, 1);
    });
    metrics.sendFailures(result.failures.length);
    logger.error('record failed: messages not sent; Lambda will retry from it', {
      ...ids,
      messages: plan.messages.length,
      sent: plan.messages.length - failed.size,
      failures: result.failures,
    });
    throw new PublishFailedError(ids.sequenceNumber, result.failures);
  };
}
