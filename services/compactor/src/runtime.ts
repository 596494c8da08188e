/**
 * The long-lived parts of the compactor, built once per container: config, AWS
 * clients (default SDK configuration — locally the standard `AWS_ENDPOINT_URL_*`
 * variables point them at the emulators; path-style S3 when
 * `AWS_S3_FORCE_PATH_STYLE=true`), the snapshot repository, pointer store, local
 * cache, flags, logger and per-collection metrics.
 */
import { randomUUID } from 'node:crypto';
import { BatchProcessor, EventType } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSEvent } from 'aws-lambda';
import { METRICS_NAMESPACE, type CollectionName } from '@compaction/contracts';
import { compactRecords, type RecordOutcome } from './batch.js';
import {
  systemClock,
  type Clock,
  powertoolsSink,
  type MetricsSink,
  AuditLog,
  PointerStore,
  LocalCache,
  SnapshotRepository,
} from '@compaction/snapshot-store';
import { compactCollection, type CompactionFaults } from './compact.js';
import { loadConfig, type CompactorConfig } from './config.js';
import { DeadLetters } from './dead-letter.js';
import { Requeuer } from './requeue.js';
import { TimeBudget } from './time-budget.js';
import { FlagSource, type AppConfigFetcher } from './flags.js';
import type { ApplyFn } from './apply/types.js';

/** What the compactor logs through: Powertools' Logger, or anything with its level methods. */
export type CompactorLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'> &
  Partial<Pick<Logger, 'addContext' | 'setCorrelationId'>>;

/** The `service` dimension and log key of this function. */
export const SERVICE_NAME = 'compactor';

export interface CompactorRuntimeOptions {
  /** Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Overrides `loadConfig(env)`. */
  config?: CompactorConfig;
  ddb?: DynamoDBDocumentClient;
  s3?: S3Client;
  sqs?: SQSClient;
  clock?: Clock;
  /** Default: a Powertools logger (`service: compactor`). */
  logger?: CompactorLogger;
  /** Metrics sink per collection; default Powertools EMF metrics (flushed after each invocation). */
  metricsFor?: (collection: CollectionName | 'unknown') => MetricsSink;
  /** Test-only fault hooks (see `CompactionFaults`). */
  faults?: CompactionFaults;
  /** Test-only apply replacements (see `CompactionDeps.appliers`). */
  appliers?: Partial<Record<'legacy' | 'batched', ApplyFn>>;
  /** Replaces the AppConfig read (tests; there is no AppConfig emulator). */
  appConfigFetcher?: AppConfigFetcher;
  /** Default: a Powertools tracer (X-Ray; inactive outside Lambda), which wraps the default clients. */
  tracer?: Tracer;
}

export interface CompactorRuntime {
  readonly config: CompactorConfig;
  readonly logger: CompactorLogger;
  /** Powertools batch processor for SQS. */
  readonly processor: BatchProcessor;
  readonly pointers: PointerStore;
  /** The repository and local cache of one collection (each counts into that collection's metrics). */
  storage(collection: CollectionName): { repository: SnapshotRepository; cache: LocalCache };
  /** Runs the domain on one event: an outcome per message id. */
  run(event: SQSEvent, context?: Context): Promise<Map<string, RecordOutcome>>;
  /** Flushes the invocation's EMF metrics (no-op with a custom `metricsFor`). */
  publishMetrics(): void;
}

/**
 * Builds the compactor runtime. Throws `ConfigError` when a required variable is missing.
 *
 * @example
 * const rt = createCompactorRuntime();
 * const outcomes = await rt.run(event, context);
 */
export function createCompactorRuntime(options: CompactorRuntimeOptions = {}): CompactorRuntime {
  const config = options.config ?? loadConfig(options.env);
  const logger = options.logger ?? new Logger({ serviceName: SERVICE_NAME });
  const clock = options.clock ?? systemClock;
  const tracer = options.tracer ?? new Tracer({ serviceName: SERVICE_NAME });
  const ddb =
    options.ddb ??
    DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
      marshallOptions: { removeUndefinedValues: true },
    });
  const s3 =
    options.s3 ??
    tracer.captureAWSv3Client(new S3Client({ forcePathStyle: config.s3ForcePathStyle }));
  const sqs = options.sqs ?? tracer.captureAWSv3Client(new SQSClient({}));
  const pointers = new PointerStore({ ddb, table: config.stateTable, clock });
  const audit = new AuditLog({ ddb, table: config.stateTable, clock });
  const deadLetters = new DeadLetters({ sqs, urls: config.dlqUrls });
  const requeuer = new Requeuer({ sqs, delaySeconds: config.requeue.delaySeconds });
  // Measured compaction durations live as long as the container.
  const timeBudget = new TimeBudget(config.timeBudget);

  const emf = new Map<string, Metrics>();
  // ColdStart (dimension service), once per container, on its first invocation.
  const coldStart = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
  const metricsFor =
    options.metricsFor ??
    ((collection: CollectionName | 'unknown'): MetricsSink => {
      let m = emf.get(collection);
      if (!m) {
        m = new Metrics({
          namespace: METRICS_NAMESPACE,
          serviceName: SERVICE_NAME,
          defaultDimensions: { collection },
        });
        emf.set(collection, m);
      }
      return powertoolsSink(m);
    });

  const flags = new FlagSource({
    env: config.flags,
    appConfig: config.appConfig,
    logger,
    metrics: metricsFor('unknown'),
    ...(options.appConfigFetcher ? { fetch: options.appConfigFetcher } : {}),
  });

  const stores = new Map<CollectionName, { repository: SnapshotRepository; cache: LocalCache }>();
  const storage = (collection: CollectionName) => {
    let s = stores.get(collection);
    if (!s) {
      const repository = new SnapshotRepository({
        s3,
        bucket: config.snapshotBucket,
        logger,
        metrics: metricsFor(collection),
      });
      s = { repository, cache: new LocalCache({ workDir: config.workDir, repository }) };
      stores.set(collection, s);
    }
    return s;
  };

  return {
    config,
    logger,
    processor: new BatchProcessor(EventType.SQS),
    pointers,
    storage,
    async run(event, context) {
      if (context) logger.addContext?.(context);
      if (!options.metricsFor) coldStart.captureColdStartMetric();
      const requestId = context?.awsRequestId ?? randomUUID();
      // Every line of this invocation carries correlation_id; this one ties it to the
      // stream event ids the stream processor logged for each change.
      logger.setCorrelationId?.(requestId);
      logger.info('batch received', { correlationId: requestId, changes: changeIds(event) });
      return compactRecords(event.Records, {
        deadLetter: (rejections) => deadLetters.send(rejections),
        flags: () => flags.current(),
        logger,
        metricsFor,
        deltaPrefixes: config.deltaPrefixes,
        timeBudget,
        requeue: (items) => requeuer.send(items),
        maxRequeues: config.requeue.maxRequeues,
        ...(context ? { remainingMs: () => context.getRemainingTimeInMillis() } : {}),
        compact: ({ collection, messages, path, lockMaxWaitMs }) =>
          compactCollection({
            collection,
            messages,
            path,
            deps: {
              ddb,
              stateTable: config.stateTable,
              lock:
                lockMaxWaitMs === undefined
                  ? config.lock
                  : { ...config.lock, maxWaitMs: Math.min(config.lock.maxWaitMs, lockMaxWaitMs) },
              owner: `${requestId}:${collection}`,
              clock,
              logger,
              metrics: metricsFor(collection),
              ...storage(collection),
              pointers,
              audit,
              workDir: config.workDir,
              maxVectorLossShare: config.maxVectorLossShare,
              ...(options.faults ? { faults: options.faults } : {}),
              ...(options.appliers ? { appliers: options.appliers } : {}),
            },
          }),
      });
    },
    publishMetrics() {
      // Only collections that recorded something: an empty flush is Powertools'
      // "No application metrics to publish" warning on every invocation.
      for (const m of emf.values()) if (m.hasStoredMetrics()) m.publishStoredMetrics();
    },
  };
}

/** Message id and stream event id (`source.eventId`, when the body has one) of each record. */
function changeIds(event: SQSEvent): Array<{ messageId: string; eventId?: string }> {
  return (event.Records ?? []).map((record) => {
    let eventId: unknown;
    try {
      eventId = (JSON.parse(record.body) as { source?: { eventId?: unknown } })?.source?.eventId;
    } catch {
      eventId = undefined; // refused later, with its reason, by the batch domain
    }
    return typeof eventId === 'string'
      ? { messageId: record.messageId, eventId }
      : { messageId: record.messageId };
  });
}
