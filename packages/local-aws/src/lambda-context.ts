import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { LOCAL_AWS_REGION } from './local-credentials.js';

/** What the local runners know about the "function" they invoke. */
export interface LambdaFunctionSettings {
  /** Default `local-function`. */
  functionName?: string;
  /** Reported by `context.getRemainingTimeInMillis()`; not enforced. Default 60 000 ms. */
  timeoutMs?: number;
  /** Default `us-east-1`. */
  region?: string;
}

/**
 * A Lambda `Context` for one local invocation: a fresh `awsRequestId` and a deadline
 * `timeoutMs` from now. Deprecated callback-style members are no-ops.
 *
 * @example
 * await handler(event, createLambdaContext({ functionName: 'compactor', timeoutMs: 300_000 }));
 */
export function createLambdaContext(settings: LambdaFunctionSettings = {}): Context {
  const functionName = settings.functionName ?? 'local-function';
  const region = settings.region ?? LOCAL_AWS_REGION;
  const deadline = Date.now() + (settings.timeoutMs ?? 60_000);
  const noop = (): void => undefined;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${process.pid}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: noop,
    fail: noop,
    succeed: noop,
  };
}
