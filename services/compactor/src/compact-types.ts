/**
 * Types of one compaction: its input and dependencies, the test-only fault hooks,
 * and its result.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { ChangeMessage, CollectionName, CompactionPath } from '@compaction/contracts';
import {
  type Clock,
  type MetricsSink,
  type AuditLog,
  type PointerStore,
  type LocalCache,
  type SnapshotRepository,
} from '@compaction/snapshot-store';
import type { LockSettings } from './config.js';
import type { ApplyFn, ApplyStats } from './apply/types.js';

/** A change message with the SQS message id it arrived as. */
export interface MessageItem {
  messageId: string;
  message: ChangeMessage;
}

/**
 * Test-only fault hooks, called at phase boundaries with the run's context. A hook
 * may throw (simulating a crash at that point: the run fails exactly as if the
 * process had died there, minus the leaked lease) or wait (simulating a pause).
 *
 * - `afterLock`     lock held, pointer read, nothing checked out yet
 * - `afterApply`    store applied and closed, nothing uploaded
 * - `afterUpload`   new version's blobs and manifest in S3, pointer not moved
 * - `afterSwap`     pointer moved; `latest.json` not written, cache not committed,
 *                   messages not yet acknowledged (a crash here = "after the swap,
 *                   before the SQS delete")
 */
export type FaultPhase = 'afterLock' | 'afterApply' | 'afterUpload' | 'afterSwap';

export interface FaultContext {
  collection: CollectionName;
  phase: FaultPhase;
  fencingToken: number;
  /** The version this run started from (null before the first). */
  parentVersion: string | null;
  /** The version being published (from `afterApply` on). */
  version?: string;
}

export type CompactionFaults = Partial<
  Record<FaultPhase, (ctx: FaultContext) => void | Promise<void>>
>;

/** Everything a compaction needs; one set per container, shared by invocations. */
export interface CompactionDeps {
  ddb: DynamoDBDocumentClient;
  /** State table holding the lock and pointer items. */
  stateTable: string;
  lock: LockSettings;
  /** Lock owner, unique per attempt (the Lambda request id plus the collection). */
  owner: string;
  clock: Clock;
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /** This collection's metrics. */
  metrics: MetricsSink;
  /** This collection's repository (built with `metrics`, so it counts corrupt downloads). */
  repository: SnapshotRepository;
  pointers: PointerStore;
  cache: LocalCache;
  /** Records vector-loss guard trips, when given. */
  audit?: AuditLog;
  /** Scratch space (deltas); the cache has its own root. */
  workDir: string;
  /** Default 0.05. */
  maxVectorLossShare?: number;
  /** Test-only: see {@link CompactionFaults}. */
  faults?: CompactionFaults;
  /**
   * Test-only seam: replace an apply path (e.g. a deliberately broken `batched` to see
   * the shadow comparison catch it). Production never sets it.
   */
  appliers?: Partial<Record<'legacy' | 'batched', ApplyFn>>;
  /** How the lock waits between attempts (tests with a manual clock advance it here). */
  lockSleep?: (ms: number) => Promise<void>;
}

export interface CompactCollectionInput {
  collection: CollectionName;
  /** Valid messages of this collection (already routed and checked). */
  messages: readonly MessageItem[];
  path: CompactionPath;
  deps: CompactionDeps;
}

/** Phases timed in {@link CompactionResult.durationsMs} (wall time, ms). */
export type Phase =
  | 'lock'
  | 'checkout'
  | 'open'
  | 'deltas'
  | 'apply'
  | 'digest'
  | 'shadow'
  | 'close'
  | 'publish'
  | 'swap'
  | 'commit'
  | 'total';

export interface ShadowComparison {
  legacyDigest: string;
  batchedDigest: string | undefined;
  match: boolean;
  /** Set when the batched run itself failed. */
  error?: string;
}

export interface CompactionResult {
  collection: CollectionName;
  path: CompactionPath;
  /** `published`: a new version is live; `unchanged`: every message was already applied. */
  status: 'published' | 'unchanged';
  /** The live version after this run. */
  version: string | undefined;
  parentVersion: string | null;
  fencingToken: number;
  stats: ApplyStats;
  /** Messages that failed on their own (an unreadable delta); every other message is durable. */
  failed: Map<string, Error>;
  vectors: { before: number; after: number };
  bytesDownloaded: number;
  bytesUploaded: number;
  durationsMs: Partial<Record<Phase, number>>;
  /**
   * `store.digest()` of the live version, on the legacy and shadow paths (the batched
   * path skips the full scan).
   */
  digest?: string;
  shadow?: ShadowComparison;
}
