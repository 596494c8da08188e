import { processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { createStreamProcessor, type StreamProcessorRuntime } from './runtime.js';

/** The Lambda handler's signature (context is optional so local runners may omit it). */
export type StreamHandler = (
  event: DynamoDBStreamEvent,
  context?: Context,
) => Promise<DynamoDBBatchResponse>;

/**
 * Makes a handler around a runtime built on its first invocation and kept for the
 * container's life. `handler` below is `createHandler()`; tests pass a builder with a
 * different SQS client and otherwise run exactly this code.
 *
 * @example
 * const handler = createHandler(() => createStreamProcessor({ sqs: faultyClient }));
 */
export function createHandler(
  build: () => StreamProcessorRuntime = createStreamProcessor,
): StreamHandler {
  // Built lazily, so importing this module needs no environment variables; a failed
  // build (missing queue URL) throws, and is tried again on the next invocation.
  let runtime: StreamProcessorRuntime | undefined;
  return async (event, context) => {
    const sp = (runtime ??= build());
    return sp.instrument(event, context, () =>
      processPartialResponse(event, sp.recordHandler, sp.processor, context ? { context } : {}),
    );
  };
}

/**
 * Lambda entry point (DynamoDB stream of the receipts table, `reportBatchItemFailures`).
 * Returns the sequence numbers of records whose messages could not all be sent; Lambda
 * resumes the shard at the lowest of them.
 *
 * @example
 * const { batchItemFailures } = await handler(event, context);
 */
export const handler: StreamHandler = createHandler();
