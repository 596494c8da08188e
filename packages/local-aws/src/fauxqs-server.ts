import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildApp, type BuildAppOptions } from 'fauxqs';
import { LOCAL_AWS_REGION } from './local-credentials.js';

type FauxqsStores = NonNullable<BuildAppOptions['stores']>;

/**
 * fauxqs names queues `http://sqs.<region>.localhost:<port>/…` unless its SQS store's
 * `host` is empty, in which case it uses the request's host (`127.0.0.1:<port>`).
 * `*.localhost` does not resolve everywhere (not here), and an SDK client configured only
 * through `AWS_ENDPOINT_URL_SQS` sends each request to its QueueUrl's host, so we need
 * the second form. The store classes are not in fauxqs's `exports`, hence the file import
 * (fauxqs is pinned to ~1.9.2).
 */
async function loopbackStores(): Promise<FauxqsStores> {
  const lookup = createRequire(import.meta.url).resolve.paths('fauxqs') ?? [];
  const root = lookup
    .map((dir) => join(dir, 'fauxqs'))
    .find((dir) => existsSync(join(dir, 'package.json')));
  if (!root) throw new Error('fauxqs is not installed');
  const load = (path: string): Promise<Record<string, new () => unknown>> =>
    import(pathToFileURL(join(root, 'dist', path)).href) as Promise<
      Record<string, new () => unknown>
    >;
  const [sqs, sns, s3] = await Promise.all([
    load('sqs/sqsStore.js'),
    load('sns/snsStore.js'),
    load('s3/s3Store.js'),
  ]);
  const stores = {
    sqsStore: new sqs.SqsStore!(),
    snsStore: new sns.SnsStore!(),
    s3Store: new s3.S3Store!(),
  } as FauxqsStores;
  stores.sqsStore.host = '';
  return stores;
}

/** The in-process SQS + S3 emulator. */
export interface FauxqsServer {
  /** `http://127.0.0.1:<port>`, for both SQS and S3 (S3 path-style). */
  readonly endpoint: string;
  readonly port: number;
  /** Milliseconds until it listened. */
  readonly startupMs: number;
  /** Closes the server and its connections. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `fauxqs` (SQS and S3) in this process, on a free port bound to 127.0.0.1 only.
 * (`startFauxqs()` binds 0.0.0.0; we build its app and listen on loopback ourselves.)
 * Queue URLs it hands out are `<endpoint>/000000000000/<name>`.
 *
 * @example
 * const fauxqs = await startFauxqsServer();
 * const sqs = new SQSClient({ endpoint: fauxqs.endpoint, region: LOCAL_AWS_REGION, credentials: LOCAL_AWS_CREDENTIALS });
 * await fauxqs.stop();
 */
export async function startFauxqsServer(): Promise<FauxqsServer> {
  const startedAt = performance.now();
  const app = buildApp({
    logger: false,
    defaultRegion: LOCAL_AWS_REGION,
    stores: await loopbackStores(),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string')
    throw new Error('fauxqs did not report a TCP address');
  const port = address.port;
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    startupMs: Math.round(performance.now() - startedAt),
    stop: () => (stopping ??= app.close().then(() => undefined)),
  };
}
