import { processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { RecordFailedError } from './errors.js';
import { createCompactorRuntime, type CompactorRuntime } from './runtime.js';

/** The Lambda handler's signature (context is optional so local runners may omit it). */
export type CompactorHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/**
 * Makes a handler around a runtime built on its first invocation and kept for the
 * container's life (built lazily, so importing needs no environment). The compactions
 * run first, as domain code, producing an outcome per message; Powertools then
 * builds the partial response from a record handler that throws for every record
 * whose effect is not durably published.
 *
 * @example
 * const handler = createHandler(() => createCompactorRuntime({ env, faults }));
 * const { batchItemFailures } = await handler(event);
 */
export function createHandler(
  build: () => CompactorRuntime = createCompactorRuntime,
): CompactorHandler {
  let runtime: CompactorRuntime | undefined;
  return async (event, context) => {
    const rt = (runtime ??= build());
    try {
      const outcomes = await rt.run(event, context);
      const recordHandler = (record: SQSRecord): void => {
        const outcome = outcomes.get(record.messageId);
        if (!outcome?.ok) {
          throw new RecordFailedError(record.messageId, outcome?.reason ?? 'no outcome');
        }
      };
      // Not throwing on a full failure: the response lists every record, which
      // retries them just the same without turning the invocation into an error.
      return await processPartialResponse(event, recordHandler, rt.processor, {
        ...(context ? { context } : {}),
        throwOnFullBatchFailure: false,
      });
    } finally {
      rt.publishMetrics();
    }
  };
}
