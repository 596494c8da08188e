import { createHandler, type CompactorHandler } from './create-handler.js';

/**
 * Lambda entry point (SQS change queues of both collections, `reportBatchItemFailures`).
 * Returns the message ids whose effect is not durably in a published snapshot.
 *
 * @example
 * const { batchItemFailures } = await handler(event, context);
 */
export const handler: CompactorHandler = createHandler();
