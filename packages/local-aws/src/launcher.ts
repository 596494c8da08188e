import {
  createLocalAwsClients,
  destroyLocalAwsClients,
  localAwsEnv,
  type LocalAwsClients,
  type LocalAwsEndpoints,
} from './clients.js';
import {
  startDynamoDbLocal,
  type DynamoDbLocal,
  type DynamoDbLocalOptions,
} from './dynamodb-local.js';
import { startFauxqsServer, type FauxqsServer } from './fauxqs-server.js';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from './local-credentials.js';

/** Clients and settings for emulators that run somewhere (this process or another one). */
export interface LocalAwsConnection {
  readonly endpoints: LocalAwsEndpoints;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** See {@link localAwsEnv}: endpoint variables, region, credentials, path-style S3. */
  readonly env: Readonly<Record<string, string>>;
  readonly clients: LocalAwsClients;
  /** Closes the clients' sockets (the emulators keep running). Idempotent. */
  close(): void;
}

/** A running emulator set owned by this process. */
export interface LocalAws extends LocalAwsConnection {
  /** Wall time from `startLocalAws()` until every service answered, in ms. */
  readonly startupMs: number;
  /** Pid of DynamoDB Local's JVM (the only child process of the set). */
  readonly dynamodbPid: number;
  /** DynamoDB Local's version, e.g. `3.3.1`. */
  readonly dynamodbVersion: string | undefined;
  /** Stops both emulators and closes the clients; resolves when the JVM has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startLocalAws}. */
export interface StartLocalAwsOptions {
  dynamodb?: DynamoDbLocalOptions;
}

/**
 * Connects to emulators started elsewhere (e.g. by the vitest global setup).
 *
 * @example
 * const aws = connectLocalAws(endpoints);
 * await aws.clients.sqs.send(new ListQueuesCommand({}));
 * aws.close();
 */
export function connectLocalAws(endpoints: LocalAwsEndpoints): LocalAwsConnection {
  const clients = createLocalAwsClients(endpoints);
  let closed = false;
  return {
    endpoints: { ...endpoints },
    region: LOCAL_AWS_REGION,
    credentials: LOCAL_AWS_CREDENTIALS,
    env: localAwsEnv(endpoints),
    clients,
    close: () => {
      if (closed) return;
      closed = true;
      destroyLocalAwsClients(clients);
    },
  };
}

/**
 * Starts the local AWS emulators on free loopback ports: AWS's DynamoDB Local (a JVM,
 * which dies with this process whatever happens — see `process-guard.ts`) for DynamoDB
 * and DynamoDB Streams, and `fauxqs` in this process for SQS and S3. Resolves when each
 * service has answered a request.
 *
 * @throws {JavaNotFoundError} when Java is missing (with install instructions).
 * @throws {EmulatorStartError} when an emulator does not come up.
 * @example
 * const aws = await startLocalAws();
 * console.log(`emulators ready in ${aws.startupMs} ms`, aws.endpoints);
 * await aws.clients.s3.send(new CreateBucketCommand({ Bucket: 'my-bucket' }));
 * await aws.stop();
 */
export async function startLocalAws(options: StartLocalAwsOptions = {}): Promise<LocalAws> {
  const startedAt = performance.now();
  const [dynamodb, fauxqs] = await Promise.allSettled([
    startDynamoDbLocal(options.dynamodb),
    startFauxqsServer(),
  ]);
  if (dynamodb.status === 'rejected' || fauxqs.status === 'rejected') {
    await Promise.allSettled([
      dynamodb.status === 'fulfilled' ? dynamodb.value.stop() : undefined,
      fauxqs.status === 'fulfilled' ? fauxqs.value.stop() : undefined,
    ]);
    throw dynamodb.status === 'rejected'
      ? dynamodb.reason
      : (fauxqs as PromiseRejectedResult).reason;
  }
  return ownedLocalAws(dynamodb.value, fauxqs.value, Math.round(performance.now() - startedAt));
}

function ownedLocalAws(dynamodb: DynamoDbLocal, fauxqs: FauxqsServer, startupMs: number): LocalAws {
  const connection = connectLocalAws({
    dynamodb: dynamodb.endpoint,
    sqs: fauxqs.endpoint,
    s3: fauxqs.endpoint,
  });
  let stopping: Promise<void> | undefined;
  return {
    ...connection,
    startupMs,
    dynamodbPid: dynamodb.pid,
    dynamodbVersion: dynamodb.version,
    stop: () =>
      (stopping ??= (async () => {
        connection.close();
        const results = await Promise.allSettled([dynamodb.stop(), fauxqs.stop()]);
        const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failure) throw failure.reason;
      })()),
  };
}
