import { join } from 'node:path';
import { Duration, type RemovalPolicy, Size, Stage } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  COLLECTIONS,
  COMPACTOR_SETTINGS,
  DEFAULT_DELTA_PREFIXES,
  ENV,
} from '@compaction/contracts';
import type { ChangeQueues } from './change-queues.js';
import { COMPACTOR_IMAGE_CMD, stageCompactorImageContext } from './compactor-image.js';
import { LIVE_ALIAS } from './deploy-safety.js';
import { InfraConfigError } from './errors.js';
import { ExecutionRole } from './execution-role.js';
import { acknowledgeFinding, nagString } from './nag.js';
import type { CompactorFlags, RuntimeFlags } from './runtime-flags.js';

/** Lease-lock timing of the compactor, in milliseconds (`LOCK_*_MS`). */
export interface LockTiming {
  /** How long a lease lasts without a heartbeat. */
  readonly leaseMs: number;
  /** Heartbeat period; below `leaseMs`. */
  readonly heartbeatMs: number;
  /** Longest wait for a busy lock before the batch goes back to the queue. */
  readonly maxWaitMs: number;
}

/** Defaults of {@link CompactorProps}: the same values the compactor assumes when a variable is unset. */
export const COMPACTOR_DEFAULTS = {
  flags: COMPACTOR_SETTINGS.flags satisfies CompactorFlags,
  lock: COMPACTOR_SETTINGS.lock satisfies LockTiming,
  maxVectorLossShare: COMPACTOR_SETTINGS.maxVectorLossShare,
  workDir: COMPACTOR_SETTINGS.workDir,
  /*
   * Sizing for a 100k-vector collection (384-d float32):
   * - embeddings: 100k × 384 × 4 B ≈ 154 MB in SQLite, plus an HNSW index of about the
   *   same size, ≈ 350 MB per snapshot on disk.
   * - /tmp holds the warm cache of both collections (a warm container may serve `lines`
   *   and `words` alternately, 2 × 350 MB), the working copy or fresh download of the
   *   collection being compacted (350 MB) and, on the `shadow` path, the shadow copy
   *   (350 MB): ≈ 1.4–1.5 GB at peak. 4 GiB leaves room for SQLite's rollback journal and
   *   temp files during a big transaction and for collections growing past 100k; extra
   *   ephemeral storage costs next to nothing.
   * - memory: the open collection's HNSW index lives in memory (≈ 170 MB with graph
   *   links), the shadow path holds two, SQLite's page cache and the Node heap carry a
   *   1000-message batch and 8 MiB multipart upload parts. That is well under 1 GB; the
   *   rest buys CPU, which Lambda allocates in proportion to memory (≈ 1.7 vCPU at
   *   3008 MB): hashing 350 MB of files, HNSW inserts (~2 ms per vector) and a rebuild of
   *   a lost index are CPU-bound and must fit the timeout.
   */
  memorySize: 3008,
  ephemeralStorageSize: Size.gibibytes(4),
} as const;

export interface CompactorProps {
  /** The state table (lock, pointer, audit). */
  readonly stateTable: dynamodb.ITable;
  /** The snapshot bucket (blobs, manifests, `latest.json`, and by default the deltas). */
  readonly bucket: s3.IBucket;
  /** The collection queues the compactor consumes, and whose DLQs it dead-letters to. */
  readonly queues: ChangeQueues;
  /**
   * Buckets other than the snapshot bucket that hold delta snapshots (`s3://bucket/prefix`
   * in a `delta` message); read-only.
   * @default - deltas live in the snapshot bucket
   */
  readonly deltaBuckets?: s3.IBucket[];
  /** Flags in the environment. @default COMPACTOR_DEFAULTS.flags (`batched`, 100 %) */
  readonly flags?: CompactorFlags;
  /**
   * AppConfig source of the flags (read at run time, cached); the environment stays the fallback.
   * @default - flags come from the environment only
   */
  readonly runtimeFlags?: RuntimeFlags;
  /** @default COMPACTOR_DEFAULTS.lock */
  readonly lock?: LockTiming;
  /** @default COMPACTOR_DEFAULTS.maxVectorLossShare */
  readonly maxVectorLossShare?: number;
  /** @default COMPACTOR_DEFAULTS.memorySize (see the sizing note there) */
  readonly memorySize?: number;
  /** @default COMPACTOR_DEFAULTS.ephemeralStorageSize (see the sizing note there) */
  readonly ephemeralStorageSize?: Size;
  /** @default Duration.seconds(COMPACTOR_SETTINGS.timeoutSeconds) */
  readonly timeout?: Duration;
  /** Messages per invocation. @default COMPACTOR_SETTINGS.batchSize */
  readonly batchSize?: number;
  /** @default Duration.seconds(COMPACTOR_SETTINGS.maxBatchingWindowSeconds) */
  readonly maxBatchingWindow?: Duration;
  /** Concurrent invocations per queue. @default COMPACTOR_SETTINGS.maxConcurrency */
  readonly maxConcurrency?: number;
  /**
   * The handler module to bundle into the image.
   * @default services/compactor/src/handler.ts
   */
  readonly entry?: string;
  /**
   * Where the Docker build context is staged at synth time.
   * @default `<cloud assembly dir>/compactor-image-context`
   */
  readonly imageContextDir?: string;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** Removal policy of the log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/** State-table actions of the lock, pointer and audit code (`GetCommand`, `PutCommand`, `UpdateCommand`). */
export const STATE_TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];

/**
 * Snapshot-bucket object actions: download/verify and upload (multipart too). No
 * `s3:DeleteObject`: the compactor only adds content-addressed blobs and new manifests;
 * pruning is the operator CLI's job, under the operator's own permissions (README, Deploy).
 */
export const SNAPSHOT_OBJECT_ACTIONS = ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'];

/**
 * The compactor: a container-image Lambda (arm64) built from
 * `services/compactor/image/Dockerfile` on the AWS Lambda Node.js 22 base image, so its
 * native addons are installed for Lambda's platform. `cdk synth` only stages the build
 * context (no Docker); `cdk deploy` builds and pushes the image.
 *
 * Each collection queue feeds the `live` alias through its own event source mapping
 * (large batches with a batching window, partial batch responses, bounded concurrency);
 * the lock in the state table serializes the writers of a collection.
 *
 * @example
 * const compactor = new Compactor(stack, 'Compactor', {
 *   stateTable: store.stateTable,
 *   bucket: store.bucket,
 *   queues,
 * });
 * compactor.alias; // what CodeDeploy shifts traffic on
 */
export class Compactor extends Construct {
  public readonly function: lambda.DockerImageFunction;
  public readonly alias: lambda.Alias;
  /** The Docker build context staged for this synth. */
  public readonly imageContextDir: string;

  constructor(scope: Construct, id: string, props: CompactorProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.seconds(COMPACTOR_SETTINGS.timeoutSeconds);
    this.assertVisibilityTimeout(props.queues, timeout);

    const lock = props.lock ?? COMPACTOR_DEFAULTS.lock;
    const flags = props.flags ?? COMPACTOR_DEFAULTS.flags;
    const { collections } = props.queues;
    const { role, logGroup } = new ExecutionRole(this, 'Execution', {
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    const outdir = Stage.of(this)?.outdir;
    if (!props.imageContextDir && !outdir) {
      throw new InfraConfigError(this, 'must be inside a Stage or App, or get imageContextDir');
    }
    this.imageContextDir = props.imageContextDir ?? join(outdir!, 'compactor-image-context');
    const staged = stageCompactorImageContext({
      outDir: this.imageContextDir,
      ...(props.entry ? { entry: props.entry } : {}),
    });

    this.function = new lambda.DockerImageFunction(this, 'Function', {
      code: lambda.DockerImageCode.fromImageAsset(staged.directory, {
        // The image platform must match the function architecture: an amd64 image on an
        // arm64 function fails at the first invocation with an exec format error.
        platform: Platform.LINUX_ARM64,
        cmd: COMPACTOR_IMAGE_CMD,
      }),
      architecture: lambda.Architecture.ARM_64,
      // X-Ray: Powertools tracer in the service wraps its AWS SDK clients (runtime.ts).
      tracing: lambda.Tracing.ACTIVE,
      memorySize: props.memorySize ?? COMPACTOR_DEFAULTS.memorySize,
      ephemeralStorageSize: props.ephemeralStorageSize ?? COMPACTOR_DEFAULTS.ephemeralStorageSize,
      timeout,
      role,
      logGroup,
      environment: {
        [ENV.stateTable]: props.stateTable.tableName,
        [ENV.snapshotBucket]: props.bucket.bucketName,
        [ENV.compactionPath]: flags.path,
        [ENV.batchedPercent]: String(flags.batchedPercent),
        [ENV.workDir]: COMPACTOR_DEFAULTS.workDir,
        [ENV.lockLeaseMs]: String(lock.leaseMs),
        [ENV.lockHeartbeatMs]: String(lock.heartbeatMs),
        [ENV.lockMaxWaitMs]: String(lock.maxWaitMs),
        [ENV.lockRequeueDelaySeconds]: String(COMPACTOR_SETTINGS.requeue.delaySeconds),
        [ENV.lockMaxRequeues]: String(COMPACTOR_SETTINGS.requeue.maxRequeues),
        [ENV.compactionEstimateMs]: String(COMPACTOR_SETTINGS.timeBudget.estimateMs),
        [ENV.compactionMarginMs]: String(COMPACTOR_SETTINGS.timeBudget.marginMs),
        [ENV.deltaPrefixAllowList]: DEFAULT_DELTA_PREFIXES.join(','),
        [ENV.maxVectorLossShare]: String(
          props.maxVectorLossShare ?? COMPACTOR_DEFAULTS.maxVectorLossShare,
        ),
        [ENV.linesDlqUrl]: collections.lines.deadLetterQueue.queueUrl,
        [ENV.wordsDlqUrl]: collections.words.deadLetterQueue.queueUrl,
        ...(props.runtimeFlags?.environmentVariables ?? {}),
      },
    });

    // Least privilege: the exact calls the compactor makes, on its own resources only.
    props.stateTable.grant(this.function, ...STATE_TABLE_ACTIONS);
    const bucketGrants = s3.BucketGrants.fromBucket(props.bucket);
    bucketGrants.actionsOnObjectKeys(this.function, '*', ...SNAPSHOT_OBJECT_ACTIONS);
    // ListObjectsV2 (chunk inventory), and HeadObject answering 404, not 403, for a missing blob.
    bucketGrants.actionsOnBucketAndObjectKeys(this.function, undefined, 's3:ListBucket');
    for (const deltaBucket of props.deltaBuckets ?? []) {
      s3.BucketGrants.fromBucket(deltaBucket).actionsOnObjectKeys(
        this.function,
        '*',
        's3:GetObject',
      );
    }
    // Refused messages (invalid, unknown version) go straight to their queue's DLQ.
    for (const collection of COLLECTIONS) {
      collections[collection].deadLetterQueue.grantSendMessages(this.function);
      // Lock contention: a batch is re-sent, delayed, to its own queue (see requeue.ts).
      collections[collection].queue.grantSendMessages(this.function);
    }
    props.runtimeFlags?.grantRead(this.function);

    acknowledgeFinding(
      role,
      `AwsSolutions-IAM5[Resource::${nagString(this, props.bucket.arnForObjects('*'))}]`,
      'Object keys are content-addressed and versioned (<collection>/blobs/<sha256>, ' +
        '<collection>/snapshots/<version>/…) and deltas arrive under producer-chosen ' +
        "prefixes, so object actions need the bucket's key space; the actions are the " +
        "exact ones the compactor calls and the bucket is this service's own.",
    );
    for (const deltaBucket of props.deltaBuckets ?? []) {
      acknowledgeFinding(
        role,
        `AwsSolutions-IAM5[Resource::${nagString(this, deltaBucket.arnForObjects('*'))}]`,
        'Read-only (s3:GetObject) on a bucket where delta snapshots are produced under ' +
          'prefixes named in the messages.',
      );
    }
    acknowledgeFinding(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) have no ' +
        'resource-level permissions.',
    );
    if (props.runtimeFlags) {
      acknowledgeFinding(
        role,
        `AwsSolutions-IAM5[Resource::${nagString(this, props.runtimeFlags.readableConfigurationArn)}]`,
        'AppConfig read access (StartConfigurationSession, GetLatestConfiguration) to the ' +
          'flags profile of this one application; the environment is a wildcard because ' +
          'naming its id would make the compactor depend on the environment whose monitors ' +
          'watch the compactor (a cycle), and the application has one environment.',
      );
    }

    this.alias = new lambda.Alias(this, 'LiveAlias', {
      aliasName: LIVE_ALIAS,
      version: this.function.currentVersion,
    });

    for (const collection of COLLECTIONS) {
      this.alias.addEventSource(
        new SqsEventSource(collections[collection].queue, {
          batchSize: props.batchSize ?? COMPACTOR_SETTINGS.batchSize,
          maxBatchingWindow:
            props.maxBatchingWindow ??
            Duration.seconds(COMPACTOR_SETTINGS.maxBatchingWindowSeconds),
          reportBatchItemFailures: true,
          maxConcurrency: props.maxConcurrency ?? COMPACTOR_SETTINGS.maxConcurrency,
        }),
      );
    }
  }

  /**
   * AWS guidance for SQS event sources: the visibility timeout must be at least six times
   * the function timeout, or messages of a batch still being processed (or retried by the
   * poller after throttling) become visible again and are delivered twice.
   */
  private assertVisibilityTimeout(queues: ChangeQueues, timeout: Duration): void {
    const visibility = queues.visibilityTimeout.toSeconds();
    if (visibility < 6 * timeout.toSeconds()) {
      throw new InfraConfigError(
        this,
        `queue visibility timeout ${visibility}s is below 6 × the compactor timeout (${timeout.toSeconds()}s)`,
      );
    }
  }
}
