/**
 * How long the CLI waits for AWS, and what it says when it gives up.
 *
 * INVARIANT: no AWS call of the CLI waits forever. Every client it builds gets a
 * connection timeout, a timeout for the answer (headers) of each request, an idle
 * timeout for a response body that stops flowing, and a bounded number of attempts;
 * a request that times out on its last attempt ends the command with an
 * {@link EndpointTimeoutError} naming the endpoint it was sent to and the timeout.
 */
import type {
  FinalizeRequestMiddleware,
  HandlerExecutionContext,
  InitializeMiddleware,
  MiddlewareStack,
} from '@smithy/types';
import { AdminError, EXIT } from './errors.js';

/** The limits of every AWS request of one CLI run. */
export interface RequestLimits {
  /** Longest wait for a connection, ms. */
  connectionTimeoutMs: number;
  /** Longest wait for an answer to one request (and longest silence in a body), ms. */
  requestTimeoutMs: number;
  /** Attempts per call, the first included (the SDK retries throttling and timeouts). */
  maxAttempts: number;
}

/** Default: 5 s to connect, 30 s per answer, 3 attempts. `--timeout` sets the answer's. */
export const DEFAULT_REQUEST_LIMITS: RequestLimits = {
  connectionTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  maxAttempts: 3,
};

/** A request got no answer (or no connection) in time, on every attempt: exit code 1. */
export class EndpointTimeoutError extends AdminError {
  override readonly name = 'EndpointTimeoutError';
  constructor(
    readonly service: string,
    readonly endpoint: string,
    readonly limits: RequestLimits,
    readonly connecting: boolean,
  ) {
    const waited = connecting
      ? `could not connect within ${seconds(limits.connectionTimeoutMs)}`
      : `no answer within ${seconds(limits.requestTimeoutMs)}`;
    super(
      `${service} at ${endpoint}: ${waited} (--timeout), ${limits.maxAttempts} attempt(s); gave up`,
      connecting
        ? 'check --endpoint / AWS_ENDPOINT_URL_* (are the local emulators running?) and your network'
        : 'the endpoint accepts connections but does not answer: check --endpoint / AWS_ENDPOINT_URL_* ' +
            '(is it the right port?) and that the service is up; raise --timeout if it is only slow',
      EXIT.failed,
    );
  }
}

/** The client options that apply {@link RequestLimits} (spread into every client's config). */
export function clientLimits(limits: RequestLimits): {
  maxAttempts: number;
  requestHandler: {
    connectionTimeout: number;
    requestTimeout: number;
    throwOnRequestTimeout: boolean;
    socketTimeout: number;
  };
} {
  return {
    maxAttempts: limits.maxAttempts,
    requestHandler: {
      connectionTimeout: limits.connectionTimeoutMs,
      // Until the response's headers; without throwOnRequestTimeout the handler only warns.
      requestTimeout: limits.requestTimeoutMs,
      throwOnRequestTimeout: true,
      // A body (an S3 download) that stops flowing for this long fails too.
      socketTimeout: limits.requestTimeoutMs,
    },
  };
}

const ENDPOINT = Symbol('compaction-admin endpoint');
type Context = HandlerExecutionContext & { [ENDPOINT]?: string };

/**
 * Makes the timeouts of `stack`'s client end in an {@link EndpointTimeoutError}: the
 * URL each attempt goes to is remembered (finalize step, after the endpoint is
 * resolved), and a timeout that survives the retries (initialize step, outside them)
 * is replaced by the error naming it.
 *
 * @example
 * const s3 = new S3Client({ ...clientLimits(limits) });
 * explainTimeouts(s3.middlewareStack, 'S3', limits);
 */
export function explainTimeouts<I extends object, O extends object>(
  stack: MiddlewareStack<I, O>,
  service: string,
  limits: RequestLimits,
): void {
  const remember: FinalizeRequestMiddleware<I, O> = (next, context: Context) => (args) => {
    const request = args.request as { protocol?: string; hostname?: string; port?: number };
    if (request.hostname) {
      const port = request.port ? `:${request.port}` : '';
      context[ENDPOINT] = `${request.protocol ?? 'https:'}//${request.hostname}${port}`;
    }
    return next(args);
  };
  const explain: InitializeMiddleware<I, O> = (next, context: Context) => async (args) => {
    try {
      return await next(args);
    } catch (err) {
      if (!isTimeout(err)) throw err;
      const connecting = /establish a connection/.test((err as Error).message);
      throw new EndpointTimeoutError(
        service,
        context[ENDPOINT] ?? 'its default endpoint',
        limits,
        connecting,
      );
    }
  };
  stack.add(remember, { step: 'finalizeRequest', name: 'compactionAdminRememberEndpoint' });
  stack.add(explain, { step: 'initialize', name: 'compactionAdminExplainTimeout' });
}

function isTimeout(err: unknown): boolean {
  const e = err as { name?: string; code?: string } | undefined;
  return e?.name === 'TimeoutError' || e?.code === 'ETIMEDOUT';
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
