/**
 * One compaction of one collection: lock → pointer → checkout → open → apply →
 * guard → close → publish → swap → latest.json → cache commit → release.
 *
 * INVARIANT (the reason for the order): the pointer is the only thing that makes a
 * version live, and it moves only by `PointerStore.swap` from the version this run
 * read, under this run's fencing token, after every byte of the new version is in S3
 * and the lock is verified still held. A failure anywhere before the swap publishes
 * nothing a reader can see (an unreferenced manifest at worst, which pruning removes),
 * discards the local directory, and fails the messages back to the queue; a failure
 * after the swap is repaired by the retry (its messages are then stale no-ops and
 * `latest.json` is rewritten from the pointer).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import { ChromaStore } from '@compaction/chroma-core';
import {
  METRIC,
  compareSequenceNumbers,
  entityKey,
  type ChangeMessage,
  type CollectionName,
  type CompactionPath,
} from '@compaction/contracts';
import type { Clock } from './clock.js';
import type { LockSettings } from './config.js';
import { DeltaInvalidError, VectorLossGuardError } from './errors.js';
import { MetricUnit, count, type MetricsSink } from './metrics.js';
import { applyBatched } from './apply/batched.js';
import { applyLegacy } from './apply/legacy.js';
import { loadDelta } from './apply/delta-loader.js';
import { KV } from './apply/entity-state.js';
import type { DeltaRecord } from './apply/delta-records.js';
import type { ApplyCollection, ApplyStore } from './apply/store-port.js';
import type { ApplyFn, ApplyStats } from './apply/types.js';
import {
  LeaseLock,
  LockBusyError,
  SwapConflictError,
  type AuditLog,
  type LockHandle,
  type Pointer,
  type PointerStore,
} from './state/index.js';
import {
  MANIFEST_FORMAT_VERSION,
  newVersionId,
  type LocalCache,
  type SnapshotRepository,
} from './snapshots/index.js';

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

/** Phases timed in {@link CompactionResult.durationsMs}. */
export type Phase =
  'lock' | 'checkout' | 'deltas' | 'apply' | 'shadow' | 'publish' | 'swap' | 'total';

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
  /** `store.digest()` of the live version (when this run opened it). */
  digest: string;
  shadow?: ShadowComparison;
}

/**
 * Runs one compaction. Resolves when the messages' effects are durably in the live
 * version (or already were); rejects — with nothing published — otherwise, and the
 * caller fails the messages back. Per-message failures (an unreadable delta) are in
 * `result.failed`; the rest of the batch is applied without them.
 *
 * @example
 * const result = await compactCollection({ collection: 'words', messages, path: 'batched', deps });
 * result.status; // 'published'
 * result.version; // '000000000007-20250301T101500Z-0b1e'
 */
export async function compactCollection(input: CompactCollectionInput): Promise<CompactionResult> {
  const { collection, messages, path, deps } = input;
  const { logger, metrics, clock } = deps;
  const durationsMs: Partial<Record<Phase, number>> = {};
  const t0 = performance.now();
  const timed = async <T>(phase: Phase, fn: () => Promise<T> | T): Promise<T> => {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      durationsMs[phase] = (durationsMs[phase] ?? 0) + (performance.now() - start);
    }
  };

  const lock = new LeaseLock({
    ddb: deps.ddb,
    table: deps.stateTable,
    collection,
    owner: deps.owner,
    ...deps.lock,
    clock,
    logger,
    metrics,
    ...(deps.lockSleep ? { sleep: deps.lockSleep } : {}),
  });
  let handle: LockHandle;
  try {
    handle = await timed('lock', () => lock.acquire());
  } catch (err) {
    if (err instanceof LockBusyError) count(metrics, METRIC.compactionLockBusy);
    throw err;
  }
  metrics.add(METRIC.compactionLockWait, MetricUnit.Milliseconds, durationsMs.lock ?? 0);

  const run = new Run(input, handle, timed);
  try {
    const result = await run.execute();
    durationsMs.total = performance.now() - t0;
    emitResultMetrics(metrics, result, durationsMs);
    logger.info('compaction done', {
      collection,
      path,
      status: result.status,
      version: result.version,
      parentVersion: result.parentVersion,
      messages: messages.length,
      failedMessages: result.failed.size,
      stats: result.stats,
      vectors: result.vectors,
      bytesDownloaded: result.bytesDownloaded,
      bytesUploaded: result.bytesUploaded,
      durationsMs,
      ...(result.shadow ? { shadow: result.shadow } : {}),
    });
    return { ...result, durationsMs };
  } catch (err) {
    countFailure(metrics, err);
    logger.error('compaction failed; its messages go back to the queue', {
      collection,
      path,
      messages: messages.length,
      fencingToken: handle.token,
      error: err as Error,
    });
    throw err;
  } finally {
    await run.cleanup();
    await handle.release();
  }
}

/**
 * Counts what only this level sees. The lock counts `CompactionLockLost` itself, the
 * repository `CompactionCorruptSnapshots` (both get this collection's sink), and the
 * guard counts where it trips.
 */
function countFailure(metrics: MetricsSink, err: unknown): void {
  if (err instanceof SwapConflictError) count(metrics, METRIC.compactionSwapConflicts);
}

function emitResultMetrics(
  metrics: MetricsSink,
  result: CompactionResult,
  durationsMs: Partial<Record<Phase, number>>,
): void {
  const s = result.stats;
  count(metrics, METRIC.compactionMetadataUpdates, s.placeUpdates);
  count(metrics, METRIC.compactionLabelUpdates, s.labelUpdates);
  count(metrics, METRIC.compactionDeletes, s.deletedVectors);
  count(metrics, METRIC.compactionDeltaMerges, s.deltasMerged);
  count(metrics, METRIC.compactionStaleChanges, s.stale);
  count(metrics, METRIC.compactionPendingUpdates, s.pendingUpdates);
  metrics.add(METRIC.compactionBytesDownloaded, MetricUnit.Bytes, result.bytesDownloaded);
  metrics.add(METRIC.compactionBytesUploaded, MetricUnit.Bytes, result.bytesUploaded);
  for (const [phase, ms] of Object.entries(durationsMs)) {
    metrics.add(METRIC.compactionDuration, MetricUnit.Milliseconds, ms, { phase });
  }
  if (result.shadow && !result.shadow.match) count(metrics, METRIC.compactionShadowMismatches);
}

type Timed = <T>(phase: Phase, fn: () => Promise<T> | T) => Promise<T>;

/** The state of one run, so `cleanup()` can undo whatever step it failed at. */
class Run {
  readonly #input: CompactCollectionInput;
  readonly #handle: LockHandle;
  readonly #timed: Timed;
  #dir: string | undefined;
  #committed = false;
  #stores: ChromaStore[] = [];
  #scratch: string | undefined;
  #shadowDir: string | undefined;

  constructor(input: CompactCollectionInput, handle: LockHandle, timed: Timed) {
    this.#input = input;
    this.#handle = handle;
    this.#timed = timed;
  }

  async execute(): Promise<CompactionResult> {
    const { collection, messages, path, deps } = this.#input;
    const { clock, metrics, logger } = deps;
    const handle = this.#handle;
    const pointer = await deps.pointers.read(collection);
    const parentVersion = pointer?.version ?? null;
    await this.#fault('afterLock', parentVersion);

    // Checkout: warm for batched (reuse the cached directory when it is exactly the
    // pointer's version), cold for legacy and shadow (the reference downloads every time).
    const checkout = await this.#timed('checkout', () =>
      deps.cache.checkout(collection, pointer, { mode: path === 'batched' ? 'warm' : 'cold' }),
    );
    this.#dir = checkout.dir;
    if (path === 'shadow') this.#shadowDir = await deps.cache.copyForShadow(checkout.dir);

    const store = await this.#open(checkout.dir);
    const col = await existingCollection(store, collection);

    // Deltas not applied yet, read before the (synchronous) apply transaction.
    const {
      deltas,
      failed,
      bytesDownloaded: deltaBytes,
    } = await this.#timed('deltas', () => this.#loadDeltas(store, messages));
    const applicable = messages.filter((m) => !failed.has(m.messageId)).map((m) => m.message);

    let target = col;
    if (!target) {
      const first = applicable.find((m) => deltas.get(m)?.length);
      // No collection yet: create it only when a delta brings vectors (its dimension
      // then comes from them); without one there is nothing to hold vectors anyway.
      if (first) target = await store.getOrCreateCollection(collection);
    }
    const apply = this.#applier(path === 'batched' ? 'batched' : 'legacy');
    const before = target ? target.countSync() : 0;
    const stats = await this.#timed('apply', () =>
      apply({
        store: store as ApplyStore,
        collection: target ?? EMPTY_COLLECTION,
        messages: applicable,
        deltas,
      }),
    );
    const after = target ? target.countSync() : 0;
    const digest = await store.digest();

    let shadow: ShadowComparison | undefined;
    if (path === 'shadow') {
      shadow = await this.#timed('shadow', () => this.#shadow(applicable, deltas, digest));
    }

    const maxLoss = deps.maxVectorLossShare ?? 0.05;
    const expected = before + stats.newVectors - stats.deletedVectors;
    if (expected - after > maxLoss * before) {
      count(metrics, METRIC.compactionVectorLossGuard);
      const error = new VectorLossGuardError(collection, before, expected, after, maxLoss);
      await deps.audit
        ?.append({
          action: 'guard',
          collection,
          actor: `compactor:${deps.owner}`,
          ...(parentVersion ? { from: parentVersion } : {}),
          reason: error.message,
          details: { before, expected, after, maxLossShare: maxLoss, messages: messages.length },
        })
        .catch((err: unknown) =>
          logger.error('could not audit the guard trip', { error: err as Error }),
        );
      throw error;
    }
    await this.#closeStores();

    const base = {
      collection,
      path,
      parentVersion,
      fencingToken: handle.token,
      stats,
      failed,
      vectors: { before, after },
      bytesDownloaded: checkout.bytesDownloaded + deltaBytes,
      durationsMs: {},
      digest,
      ...(shadow ? { shadow } : {}),
    };

    if (stats.applied === 0) {
      // Everything was already applied (a redelivery, or a retry after a crash past the
      // swap): publish nothing. Repair latest.json in case that crash came before it.
      if (pointer) {
        await this.#repairLatest(pointer);
        await deps.cache.commit(collection, checkout.dir, pointer.version);
        this.#committed = true;
      }
      return { ...base, status: 'unchanged', version: pointer?.version, bytesUploaded: 0 };
    }

    const version = newVersionId(handle.token, clock);
    await this.#fault('afterApply', parentVersion, version);
    const published = await this.#timed('publish', () =>
      deps.repository.publish({
        collection,
        dir: checkout.dir,
        manifest: {
          formatVersion: MANIFEST_FORMAT_VERSION,
          collection,
          version,
          parentVersion,
          fencingToken: handle.token,
          createdAt: new Date(clock.now()).toISOString(),
          counts: { vectors: after },
          messagesApplied: stats.applied,
          storeDigest: digest,
          compactionPath: path,
        },
      }),
    );
    await this.#fault('afterUpload', parentVersion, version);

    await this.#timed('swap', async () => {
      // Last local check before the one that counts (the conditional swap itself):
      // a holder that lost its lease stops here rather than racing its successor.
      handle.assertHeld();
      await deps.pointers.swap({
        collection,
        parentVersion,
        next: { version, manifestKey: published.manifestKey },
        fencingToken: handle.token,
      });
    });
    await this.#fault('afterSwap', parentVersion, version);
    await deps.repository.writeLatest(collection, { version, manifestKey: published.manifestKey });
    await deps.cache.commit(collection, checkout.dir, version);
    this.#committed = true;
    return { ...base, status: 'published', version, bytesUploaded: published.bytesUploaded };
  }

  /** Closes stores and removes every directory this run did not commit. Never throws. */
  async cleanup(): Promise<void> {
    const { collection, deps } = this.#input;
    await this.#closeStores().catch((err: unknown) =>
      deps.logger.error('could not close a store', { error: err as Error }),
    );
    const drop = async (dir: string | undefined): Promise<void> => {
      if (!dir) return;
      await deps.cache
        .discard(collection, dir)
        .catch((err: unknown) =>
          deps.logger.error('could not discard a directory', { dir, error: err as Error }),
        );
    };
    await drop(this.#shadowDir);
    if (!this.#committed) await drop(this.#dir);
    if (this.#scratch) await rm(this.#scratch, { recursive: true, force: true });
  }

  async #open(dir: string): Promise<ChromaStore> {
    const store = await ChromaStore.open(dir, {
      onIndexRebuilt: (event) =>
        this.#input.deps.logger.warn('HNSW index rebuilt from SQLite', { ...event }),
    });
    this.#stores.push(store);
    return store;
  }

  async #closeStores(): Promise<void> {
    const stores = this.#stores;
    this.#stores = [];
    for (const s of stores) await s.close();
  }

  #applier(which: 'legacy' | 'batched'): ApplyFn {
    return this.#input.deps.appliers?.[which] ?? (which === 'legacy' ? applyLegacy : applyBatched);
  }

  async #fault(phase: FaultPhase, parentVersion: string | null, version?: string): Promise<void> {
    const hook = this.#input.deps.faults?.[phase];
    if (!hook) return;
    await hook({
      collection: this.#input.collection,
      phase,
      fencingToken: this.#handle.token,
      parentVersion,
      ...(version ? { version } : {}),
    });
  }

  /** Downloads the deltas the store has not merged yet (by the `seq` ledger). */
  async #loadDeltas(
    store: ChromaStore,
    messages: readonly MessageItem[],
  ): Promise<{
    deltas: Map<ChangeMessage, DeltaRecord[]>;
    failed: Map<string, Error>;
    bytesDownloaded: number;
  }> {
    const { collection, deps } = this.#input;
    const seq = store.kv(KV.seq);
    const deltas = new Map<ChangeMessage, DeltaRecord[]>();
    const failed = new Map<string, Error>();
    let bytesDownloaded = 0;
    this.#scratch ??= join(
      deps.workDir,
      'scratch',
      `${collection}-${this.#handle.token}-${process.pid}`,
    );
    await mkdir(this.#scratch, { recursive: true });
    for (const { messageId, message } of messages) {
      if (message.kind !== 'delta') continue;
      const recorded = seq.get(entityKey(message)) as string | undefined;
      if (
        recorded !== undefined &&
        compareSequenceNumbers(message.source.sequenceNumber, recorded) <= 0
      ) {
        deltas.set(message, []); // stale: the fold will skip it without looking
        continue;
      }
      try {
        const loaded = await loadDelta(message, {
          repository: deps.repository,
          scratchDir: this.#scratch,
          collection,
          messageId,
        });
        deltas.set(message, loaded.records);
        bytesDownloaded += loaded.bytesDownloaded;
      } catch (err) {
        if (!(err instanceof DeltaInvalidError)) throw err;
        deps.logger.error('delta refused; only its message fails', { messageId, error: err });
        failed.set(messageId, err);
      }
    }
    return { deltas, failed, bytesDownloaded };
  }

  /** Runs the batched path on a copy and compares digests. Never throws: the shadow must not affect production. */
  async #shadow(
    messages: readonly ChangeMessage[],
    deltas: ReadonlyMap<ChangeMessage, readonly DeltaRecord[]>,
    legacyDigest: string,
  ): Promise<ShadowComparison> {
    const { collection, deps } = this.#input;
    let store: ChromaStore | undefined;
    try {
      store = await ChromaStore.open(this.#shadowDir!);
      const existing = await existingCollection(store, collection);
      const target =
        existing ??
        (messages.some((m) => deltas.get(m)?.length)
          ? await store.getOrCreateCollection(collection)
          : undefined);
      this.#applier('batched')({
        store: store as ApplyStore,
        collection: target ?? EMPTY_COLLECTION,
        messages,
        deltas,
      });
      const batchedDigest = await store.digest();
      const match = batchedDigest === legacyDigest;
      if (!match) {
        deps.logger.error('shadow mismatch: batched and legacy stores differ', {
          collection,
          legacyDigest,
          batchedDigest,
          messages: messages.length,
        });
      }
      return { legacyDigest, batchedDigest, match };
    } catch (err) {
      deps.logger.error('shadow run failed (counted as a mismatch)', {
        collection,
        error: err as Error,
      });
      return {
        legacyDigest,
        batchedDigest: undefined,
        match: false,
        error: (err as Error).message,
      };
    } finally {
      await store?.close();
    }
  }

  async #repairLatest(pointer: Pointer): Promise<void> {
    const { collection, deps } = this.#input;
    const latest = await deps.repository.readLatest(collection);
    if (latest?.version !== pointer.version || latest.manifestKey !== pointer.manifestKey) {
      deps.logger.warn('latest.json lagged behind the pointer; rewriting it', {
        collection,
        latest,
        pointer,
      });
      await deps.repository.writeLatest(collection, {
        version: pointer.version,
        manifestKey: pointer.manifestKey,
      });
    }
  }
}

/** The collection if the store has it (never creates one). */
async function existingCollection(store: ChromaStore, name: CollectionName) {
  const names = (await store.listCollections()).map((c) => c.name);
  return names.includes(name) ? store.getOrCreateCollection(name) : undefined;
}

/** Stands in for a collection the store does not have yet: no vectors, nothing to write. */
const EMPTY_COLLECTION: ApplyCollection = {
  getSync: () => ({ ids: [], metadatas: [] }),
  countSync: () => 0,
  deleteSync: () => 0,
  updateSync: () => {
    throw new Error('update on a collection that does not exist');
  },
  upsertSync: () => {
    throw new Error('upsert on a collection that does not exist');
  },
};
