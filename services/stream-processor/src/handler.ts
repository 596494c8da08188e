import { processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { createStreamProcessor, type StreamProcessorRuntime } from './runtime.js';

// Built once per container, on the first invocation (so importing this module needs no
// environment variables); a failed build (missing queue URL) is retried next time.
let runtime: StreamProcessorRuntime | undefined;
const streamProcessor = (): StreamProcessorRuntime => (runtime ??= createStreamProcessor());

/**
 * Lambda entry point (DynamoDB stream of the receipts table, `reportBatchItemFailures`).
 * Returns the sequence numbers of records whose messages could not all be sent; Lambda
 * resumes the shard at the lowest of them.
 *
 * @example
 * const { batchItemFailures } = await handler(event, context);
 */
export async function handler(
  event: DynamoDBStreamEvent,
  context?: Context,
): Promise<DynamoDBBatchResponse> {
  const sp = streamProcessor();
  return sp.instrument(context, () =>
    processPartialResponse(event, sp.recordHandler, sp.processor, context ? { context } : {}),
  );
}
