/**
 * Where the CLI's commands get their clients, resource names and the shared state and
 * snapshot objects from.
 *
 * Names: `--stage` gives every name through `resourceNames(stage)` (the one resource
 * description the CDK app and the emulators also use); `--state-table`, `--bucket`,
 * `--receipts-table` name single resources and win over the stage; the environment
 * (`STATE_TABLE`, `SNAPSHOT_BUCKET`, the queue URL variables the Lambdas read) comes
 * last. Endpoints: `--endpoint` sends every client to one URL with path-style S3;
 * otherwise the SDK's standard `AWS_ENDPOINT_URL[_<SERVICE>]`, `AWS_REGION` and
 * credential chain apply, exactly as in the Lambdas.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { hostname as osHostname, userInfo } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  COLLECTIONS,
  COMPACTOR_SETTINGS,
  ENV,
  isCollectionName,
  resourceNames,
  type CollectionName,
  type ResourceNames,
} from '@compaction/contracts';
import { Option, type Command, type OptionValueSource } from 'commander';
import {
  systemClock,
  type Clock,
  AuditLog,
  LeaseLock,
  PointerStore,
  SnapshotRepository,
} from '@compaction/snapshot-store';
import { UsageError } from './errors.js';
import {
  DEFAULT_REQUEST_LIMITS,
  clientLimits,
  explainTimeouts,
  type RequestLimits,
} from './request-limits.js';

/** The process the CLI talks to: streams, environment and (for tests) the clock. */
export interface AdminIO {
  stdout: Writable & { isTTY?: boolean; columns?: number };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  stdin: Readable & { isTTY?: boolean };
  /** Environment variables (default `process.env`). */
  env: Readonly<Record<string, string | undefined>>;
  /** Default: the system clock. */
  clock?: Clock;
  /**
   * Test-only seam: called once a command holds a collection lock, before it changes
   * anything (a test pauses a rollback there to show a compaction waiting for it).
   */
  onLockHeld?: (collection: CollectionName, fencingToken: number) => Promise<void>;
  /**
   * Ctrl-C and SIGTERM (see `main.ts`): `signal` is aborted, with the signal's name as
   * reason, while a command is inside an `enter()` … leave section (waiting for or
   * holding a collection lock), so it can stop at a safe point and release the lock.
   * Outside such a section the process ends at once. Absent: never interrupted.
   */
  interrupt?: Interrupt;
}

/** See {@link AdminIO.interrupt}. */
export interface Interrupt {
  readonly signal: AbortSignal;
  /** Marks a section that must clean up before the process ends; returns the leave function. */
  enter(): () => void;
}

/** The connection options every command accepts (see {@link addConnectionOptions}). */
export interface ConnectionOptions {
  stage?: string;
  stateTable?: string;
  bucket?: string;
  receiptsTable?: string;
  endpoint?: string;
  region?: string;
  actor?: string;
  /** Seconds to wait for an answer to one AWS request (see `request-limits.ts`). */
  timeout?: string;
}

/** Where a value came from (commander's option value source), for "explicit option > stage > environment". */
export type OptionSource = OptionValueSource | undefined;

/** A queue to look at: its URL when known, else its name (resolved with GetQueueUrl). */
export interface QueueRef {
  name?: string;
  url?: string;
}

export interface CollectionQueues {
  queue: QueueRef | undefined;
  deadLetterQueue: QueueRef | undefined;
}

/** Everything a command needs. Build with {@link createAdminContext}; `close()` when done. */
export interface AdminContext {
  readonly io: AdminIO;
  readonly clock: Clock;
  /** Who acts, for the audit trail and the lock owner. */
  readonly actor: string;
  readonly stage: string | undefined;
  readonly names: ResourceNames | undefined;
  readonly ddb: DynamoDBClient;
  readonly documents: DynamoDBDocumentClient;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  /** The arguments the operator typed after the program name (for the `--yes` hint). */
  readonly commandLine: readonly string[];
  /** The timeouts and attempts of every AWS request of this run. */
  readonly limits: RequestLimits;
  /** Endpoints in use (undefined = the SDK's default for the region), for messages. */
  readonly endpoints: { dynamodb?: string; s3?: string; sqs?: string };
  /** The state table, or a usage error saying how to name it. */
  stateTable(): string;
  /** The snapshot bucket, or a usage error saying how to name it. */
  bucket(): string;
  /** The receipts table when named (stage or option). */
  receiptsTable(): string | undefined;
  queues(collection: CollectionName): CollectionQueues;
  rejectsQueue(): QueueRef | undefined;
  /** URL of a queue reference (GetQueueUrl for a name). */
  queueUrl(ref: QueueRef): Promise<string>;
  pointers(): PointerStore;
  audit(): AuditLog;
  repository(): SnapshotRepository;
  /**
   * The collection's lease lock, owned by this CLI run, waiting at most `maxWaitMs`.
   * Lease and heartbeat are the compactor's defaults, so a paused CLI is replaced as
   * quickly as a paused Lambda.
   */
  lock(collection: CollectionName, maxWaitMs: number): LeaseLock;
  /** Closes every client's sockets. */
  close(): void;
}

/**
 * Adds the connection options to a command, in their own help group ("Connection:"),
 * so every command's `--help` lists them.
 *
 * @example
 * addConnectionOptions(program.command('health')).action(async (opts) => { … });
 */
export function addConnectionOptions(command: Command): Command {
  const options = [
    new Option(
      '--stage <stage>',
      'stage whose resources to use (every name from resourceNames(stage), e.g. dev, prod)',
    ),
    new Option('--state-table <name>', 'state table (lock, pointer, audit)').env(ENV.stateTable),
    new Option('--bucket <name>', 'snapshot bucket').env(ENV.snapshotBucket),
    new Option('--receipts-table <name>', 'receipts table (health only)'),
    new Option(
      '--endpoint <url>',
      'one URL for every AWS client, with path-style S3 (default: AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL)',
    ),
    new Option('--region <region>', 'AWS region (default: AWS_REGION, then your profile)'),
    new Option('--actor <who>', 'who is acting, for the audit trail (default: $USER@hostname)'),
    new Option(
      '--timeout <seconds>',
      `longest wait for AWS to answer one request (default ${DEFAULT_REQUEST_LIMITS.requestTimeoutMs / 1000}; ` +
        `${DEFAULT_REQUEST_LIMITS.maxAttempts} attempts, ${DEFAULT_REQUEST_LIMITS.connectionTimeoutMs / 1000} s to connect)`,
    ),
  ];
  for (const option of options) command.addOption(option.helpGroup('Connection:'));
  return command;
}

/**
 * Builds clients and the shared state/snapshot objects for one CLI run.
 *
 * @example
 * const ctx = createAdminContext(io, opts, (key) => cmd.getOptionValueSource(key));
 * try { await ctx.pointers().read('words'); } finally { ctx.close(); }
 */
export function createAdminContext(
  io: AdminIO,
  options: ConnectionOptions,
  sourceOf: (key: keyof ConnectionOptions) => OptionSource = () => 'cli',
  commandLine: readonly string[] = [],
): AdminContext {
  const env = io.env;
  const clock = io.clock ?? systemClock;
  let names: ResourceNames | undefined;
  if (options.stage !== undefined) {
    try {
      names = resourceNames(options.stage);
    } catch (err) {
      throw new UsageError(
        (err as Error).message,
        'pass the stage the stack was deployed with, e.g. --stage dev',
      );
    }
  }
  // Explicit option > stage > environment (commander fills env values in as 'env').
  const pick = (
    key: 'stateTable' | 'bucket',
    fromStage: string | undefined,
  ): string | undefined => {
    const value = options[key];
    if (value !== undefined && sourceOf(key) === 'cli') return value;
    return fromStage ?? value;
  };
  const stateTable = pick('stateTable', names?.stateTable);
  const bucket = pick('bucket', names?.snapshotBucket);
  const receiptsTable = options.receiptsTable ?? names?.receiptsTable;

  const endpoints = {
    dynamodb: options.endpoint ?? env['AWS_ENDPOINT_URL_DYNAMODB'] ?? env['AWS_ENDPOINT_URL'],
    s3: options.endpoint ?? env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'],
    sqs: options.endpoint ?? env['AWS_ENDPOINT_URL_SQS'] ?? env['AWS_ENDPOINT_URL'],
  };
  const region = options.region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  const sessionToken = env['AWS_SESSION_TOKEN'];
  // The endpoint and keys are read from `io.env` (not left to the SDK's own reading of
  // process.env) so a run with an injected environment behaves like a child process
  // started with it. Without keys, the SDK's default chain (profiles, SSO, roles) applies.
  const limits = requestLimits(options.timeout);
  const common = {
    ...(region ? { region } : {}),
    ...(accessKeyId && secretAccessKey
      ? { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } }
      : {}),
    // Never hang an operator's terminal: every request is bounded (request-limits.ts).
    ...clientLimits(limits),
  };
  const ddb = new DynamoDBClient({
    ...common,
    ...(endpoints.dynamodb ? { endpoint: endpoints.dynamodb } : {}),
  });
  const documents = DynamoDBDocumentClient.from(ddb, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const forcePathStyle =
    options.endpoint !== undefined || (env[ENV.s3ForcePathStyle] ?? '').toLowerCase() === 'true';
  const s3 = new S3Client({
    ...common,
    ...(endpoints.s3 ? { endpoint: endpoints.s3 } : {}),
    forcePathStyle,
  });
  const sqs = new SQSClient({ ...common, ...(endpoints.sqs ? { endpoint: endpoints.sqs } : {}) });
  // The document client shares the DynamoDB client's middleware stack.
  explainTimeouts(ddb.middlewareStack, 'DynamoDB', limits);
  explainTimeouts(s3.middlewareStack, 'S3', limits);
  explainTimeouts(sqs.middlewareStack, 'SQS', limits);

  const actor = options.actor ?? defaultActor(env);
  const requireStateTable = (): string => {
    if (!stateTable) {
      throw new UsageError(
        'no state table given',
        `pass --stage <stage> or --state-table <name>, or set ${ENV.stateTable}`,
      );
    }
    return stateTable;
  };
  const requireBucket = (): string => {
    if (!bucket) {
      throw new UsageError(
        'no snapshot bucket given',
        `pass --stage <stage> or --bucket <name>, or set ${ENV.snapshotBucket}`,
      );
    }
    return bucket;
  };

  let pointers: PointerStore | undefined;
  let audit: AuditLog | undefined;
  let repository: SnapshotRepository | undefined;
  const queueEnv: Record<CollectionName, { queue: string; deadLetterQueue: string }> = {
    lines: { queue: ENV.linesQueueUrl, deadLetterQueue: ENV.linesDlqUrl },
    words: { queue: ENV.wordsQueueUrl, deadLetterQueue: ENV.wordsDlqUrl },
  };
  const ref = (name: string | undefined, urlVariable: string): QueueRef | undefined => {
    // With a stage the names are authoritative; the environment fills in without one.
    if (name) return { name };
    const url = env[urlVariable];
    return url ? { url } : undefined;
  };

  return {
    io,
    clock,
    actor,
    stage: options.stage,
    names,
    ddb,
    documents,
    s3,
    sqs,
    commandLine,
    limits,
    endpoints,
    stateTable: requireStateTable,
    bucket: requireBucket,
    receiptsTable: () => receiptsTable,
    queues: (collection) => ({
      queue: ref(names?.queues[collection].queue, queueEnv[collection].queue),
      deadLetterQueue: ref(
        names?.queues[collection].deadLetterQueue,
        queueEnv[collection].deadLetterQueue,
      ),
    }),
    rejectsQueue: () => ref(names?.rejectsQueue, ENV.rejectsQueueUrl),
    async queueUrl(queue) {
      if (queue.url) return queue.url;
      const out = await sqs.send(new GetQueueUrlCommand({ QueueName: queue.name }));
      if (!out.QueueUrl) throw new Error(`queue ${queue.name} has no URL`);
      return out.QueueUrl;
    },
    pointers: () =>
      (pointers ??= new PointerStore({ ddb: documents, table: requireStateTable(), clock })),
    audit: () => (audit ??= new AuditLog({ ddb: documents, table: requireStateTable(), clock })),
    repository: () => (repository ??= new SnapshotRepository({ s3, bucket: requireBucket() })),
    lock: (collection, maxWaitMs) =>
      new LeaseLock({
        ddb: documents,
        table: requireStateTable(),
        collection,
        // Unique per attempt (the lock's contract), recognisable in `health` output.
        owner: `admin:${actor}:${randomBytes(3).toString('hex')}`,
        leaseMs: COMPACTOR_SETTINGS.lock.leaseMs,
        heartbeatMs: COMPACTOR_SETTINGS.lock.heartbeatMs,
        maxWaitMs,
        clock,
        // Ctrl-C while waiting ends the wait between two attempts (never during one).
        sleep: (ms) => delay(ms, undefined, io.interrupt ? { signal: io.interrupt.signal } : {}),
      }),
    close() {
      documents.destroy();
      ddb.destroy();
      s3.destroy();
      sqs.destroy();
    },
  };
}

/** The request limits of a run: {@link DEFAULT_REQUEST_LIMITS} with `--timeout` applied. */
function requestLimits(timeout: string | undefined): RequestLimits {
  if (timeout === undefined) return DEFAULT_REQUEST_LIMITS;
  const seconds = Number(timeout);
  if (!/^\d+(\.\d+)?$/.test(timeout.trim()) || !(seconds > 0)) {
    throw new UsageError(
      `--timeout "${timeout}" is not a positive number of seconds`,
      'e.g. --timeout 60',
    );
  }
  const ms = Math.round(seconds * 1000);
  return {
    ...DEFAULT_REQUEST_LIMITS,
    requestTimeoutMs: ms,
    connectionTimeoutMs: Math.min(DEFAULT_REQUEST_LIMITS.connectionTimeoutMs, ms),
  };
}

/** `$USER@hostname`, the default actor of the audit trail. */
export function defaultActor(env: Readonly<Record<string, string | undefined>>): string {
  let user = env['USER'] ?? env['LOGNAME'];
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${osHostname()}`;
}

/** Validates a `<collection>` argument (a usage error names the valid ones). */
export function parseCollection(value: string): CollectionName {
  if (!isCollectionName(value)) {
    throw new UsageError(`unknown collection "${value}"`, `use one of: ${COLLECTIONS.join(', ')}`);
  }
  return value;
}
