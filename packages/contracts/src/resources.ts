import type { CollectionName } from './collections.js';
import { COLLECTIONS } from './collections.js';

/**
 * The one description of the service's AWS resources. The CDK app (`lib/`) and the
 * local-AWS provisioning (`@compaction/local-aws`) both read it, so the emulators in
 * tests and the deployed stack cannot drift apart.
 */

const MINUTE = 60;
const DAY = 24 * 60 * MINUTE;

/** Compactor Lambda settings; the queue visibility timeout is derived from the timeout. */
export const COMPACTOR_SETTINGS = {
  timeoutSeconds: 5 * MINUTE,
  /** SQS → compactor event source mapping. */
  batchSize: 1000,
  maxBatchingWindowSeconds: 5,
  maxConcurrency: 2,
  /** A batch whose lock stays busy is re-sent delayed (s), at most this often per message. */
  requeue: { delaySeconds: 30, maxRequeues: 20 },
  /**
   * Time budget (ms): a compaction's estimate before the container measured one, and the
   * margin kept free of the invocation's remaining time.
   */
  timeBudget: { estimateMs: 30_000, marginMs: 10_000 },
  /**
   * Lease lock (ms): a lease lasts `leaseMs` without a heartbeat, the holder renews every
   * `heartbeatMs`, and a busy lock is waited for at most `maxWaitMs` (the admin CLI's
   * `--lock-wait` default too).
   */
  lock: { leaseMs: 60_000, heartbeatMs: 15_000, maxWaitMs: 90_000 },
  /** Refuse to publish when more than this share of vectors disappears unexplained. */
  maxVectorLossShare: 0.05,
  /** Root of the compactor's local cache and scratch directories. */
  workDir: '/tmp/compaction',
  /** Env-level flags, before AppConfig. */
  flags: { path: 'batched', batchedPercent: 100 },
} as const;

/** Stream processor Lambda and its DynamoDB Streams event source mapping. */
export const STREAM_PROCESSOR_SETTINGS = {
  timeoutSeconds: 60,
  batchSize: 100,
  maxBatchingWindowSeconds: 1,
  retryAttempts: 10,
  maxRecordAgeSeconds: DAY,
  bisectBatchOnError: true,
} as const;

export const RESOURCE_SETTINGS = {
  receiptsTable: {
    partitionKey: 'PK',
    sortKey: 'SK',
    streamViewType: 'NEW_AND_OLD_IMAGES',
  },
  stateTable: {
    partitionKey: 'pk',
    /** Items with this epoch-seconds attribute expire (used for nothing critical). */
    timeToLiveAttribute: 'expiresAt',
  },
  collectionQueue: {
    /** AWS guidance: at least 6 × the consuming function's timeout. */
    visibilityTimeoutSeconds: 6 * COMPACTOR_SETTINGS.timeoutSeconds,
    retentionPeriodSeconds: 4 * DAY,
    /**
     * Receives before a message is moved to its dead-letter queue. AWS guidance for a
     * Lambda SQS event source: at least 5, so throttles and retries of a healthy message
     * do not dead-letter it. Lock contention spends none (the compactor re-sends the
     * batch with a delay instead, see the compactor README).
     */
    maxReceiveCount: 5,
  },
  deadLetterQueue: {
    retentionPeriodSeconds: 14 * DAY,
  },
  rejectsQueue: {
    /** Stream records that can never be parsed, with the reason; kept for a human. */
    retentionPeriodSeconds: 14 * DAY,
  },
} as const;

export interface CollectionQueueNames {
  queue: string;
  deadLetterQueue: string;
}

/** Physical names of every resource for one stage (`dev`, `prod`, or a test's unique prefix). */
export interface ResourceNames {
  receiptsTable: string;
  stateTable: string;
  snapshotBucket: string;
  rejectsQueue: string;
  queues: Record<CollectionName, CollectionQueueNames>;
}

/**
 * Names all resources of one stage. Lower-case, so the bucket name is valid.
 *
 * @example
 * resourceNames('dev').queues.words.queue // 'dev-words-changes'
 */
export function resourceNames(stage: string): ResourceNames {
  const prefix = stage.toLowerCase();
  if (!/^[a-z0-9][a-z0-9-]{1,40}$/.test(prefix)) {
    throw new Error(`stage "${stage}" must be 2–41 characters of a-z, 0-9 and -`);
  }
  const queues = Object.fromEntries(
    COLLECTIONS.map((c) => [
      c,
      { queue: `${prefix}-${c}-changes`, deadLetterQueue: `${prefix}-${c}-changes-dlq` },
    ]),
  ) as Record<CollectionName, CollectionQueueNames>;
  return {
    receiptsTable: `${prefix}-receipts`,
    stateTable: `${prefix}-compaction-state`,
    snapshotBucket: `${prefix}-receipt-vector-snapshots`,
    rejectsQueue: `${prefix}-stream-rejects`,
    queues,
  };
}

/** Environment variables the Lambdas read; the CDK app sets them, the local runners too. */
export const ENV = {
  linesQueueUrl: 'LINES_QUEUE_URL',
  wordsQueueUrl: 'WORDS_QUEUE_URL',
  rejectsQueueUrl: 'REJECTS_QUEUE_URL',
  /**
   * Comma-separated locations a delta prefix must lie inside (`deltas/` = the snapshot
   * bucket's delta area, or `s3://<bucket>/<prefix>/`); default `DEFAULT_DELTA_PREFIXES`.
   */
  deltaPrefixAllowList: 'DELTA_PREFIX_ALLOW_LIST',
  /** Where the compactor sends a message it refuses (invalid, unknown version), with the reason. */
  linesDlqUrl: 'LINES_DLQ_URL',
  wordsDlqUrl: 'WORDS_DLQ_URL',
  stateTable: 'STATE_TABLE',
  snapshotBucket: 'SNAPSHOT_BUCKET',
  compactionPath: 'COMPACTION_PATH',
  batchedPercent: 'COMPACTION_BATCHED_PERCENT',
  workDir: 'WORK_DIR',
  /** Lease length, heartbeat period and the longest wait for a busy lock, in ms. */
  lockLeaseMs: 'LOCK_LEASE_MS',
  lockHeartbeatMs: 'LOCK_HEARTBEAT_MS',
  lockMaxWaitMs: 'LOCK_MAX_WAIT_MS',
  /** Delay (s) of a batch re-sent because its lock stayed busy, and how often one message may be. */
  lockRequeueDelaySeconds: 'LOCK_REQUEUE_DELAY_SECONDS',
  lockMaxRequeues: 'LOCK_MAX_REQUEUES',
  /**
   * Time budget: a compaction's estimate before one was measured in the container, and
   * the margin kept free of the invocation's remaining time, in ms.
   */
  compactionEstimateMs: 'COMPACTION_ESTIMATE_MS',
  compactionMarginMs: 'COMPACTION_MARGIN_MS',
  /** Refuse to publish when a batch loses more than this share of vectors unexplained (0.05). */
  maxVectorLossShare: 'MAX_VECTOR_LOSS_SHARE',
  /** Optional AWS AppConfig source of the flags (read through Powertools parameters). */
  appConfigApplication: 'APPCONFIG_APPLICATION',
  appConfigEnvironment: 'APPCONFIG_ENVIRONMENT',
  appConfigFlagsProfile: 'APPCONFIG_FLAGS_PROFILE',
  /** `true` makes S3 clients path-style (the local emulator needs it). */
  s3ForcePathStyle: 'AWS_S3_FORCE_PATH_STYLE',
} as const;

/** Values of `COMPACTION_PATH`: see design.md, "Feature flags". */
export const COMPACTION_PATHS = ['legacy', 'batched', 'shadow'] as const;
export type CompactionPath = (typeof COMPACTION_PATHS)[number];
