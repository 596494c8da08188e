/**
 * One compaction of one collection: lock → pointer → checkout → open → deltas →
 * apply → guard → close → publish → swap → latest.json → cache commit → release.
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
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ChromaStore } from '@compaction/chroma-core';
import { METRIC } from '@compaction/contracts';
import type {
  CompactCollectionInput,
  CompactionResult,
  FaultPhase,
  Phase,
  ShadowComparison,
} from './compact-types.js';
import { DEFAULT_MAX_VECTOR_LOSS_SHARE, checkVectorLoss } from './guard.js';
import {
  MetricUnit,
  count,
  type MetricsSink,
  LeaseLock,
  LockBusyError,
  SwapConflictError,
  mirrorPointer,
  type LockHandle,
  type Pointer,
  MANIFEST_FORMAT_VERSION,
  newVersionId,
} from '@compaction/snapshot-store';
import { runShadow } from './shadow.js';
import { applyBatched } from './apply/batched.js';
import { applyLegacy } from './apply/legacy.js';
import { loadDeltas } from './apply/delta-loader.js';
import { KV } from './apply/entity-state.js';
import { EMPTY_COLLECTION, collectionIfPresent, type ApplyStore } from './apply/store-port.js';
import type { ApplyFn } from './apply/types.js';

export type * from './compact-types.js';

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
  const { logger, metrics } = deps;
  const durationsMs: Partial<Record<Phase, number>> = {};
  const t0 = performance.now();
  const timed: Timed = async (phase, fn) => {
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
    clock: deps.clock,
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
  } finally {
    metrics.add(METRIC.compactionLockWait, MetricUnit.Milliseconds, durationsMs.lock ?? 0);
  }

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
    // The lock counts CompactionLockLost itself and the repository
    // CompactionCorruptSnapshots (both write to this collection's sink); the guard
    // counts where it trips.
    if (err instanceof SwapConflictError) count(metrics, METRIC.compactionSwapConflicts);
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
  #store: ChromaStore | undefined;
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
    const timed = this.#timed;
    const pointer = await deps.pointers.read(collection);
    const parentVersion = pointer?.version ?? null;
    await this.#fault('afterLock', parentVersion);

    // Warm for batched (reuse the cached directory when it is exactly the pointer's
    // version); cold for legacy and shadow, whose reference behaviour downloads every
    // time. Either way the repository verifies every byte before anything opens it.
    const checkout = await timed('checkout', () =>
      deps.cache.checkout(collection, pointer, { mode: path === 'batched' ? 'warm' : 'cold' }),
    );
    this.#dir = checkout.dir;
    if (path === 'shadow') this.#shadowDir = await deps.cache.copyForShadow(checkout.dir);

    const store = await timed('open', () =>
      ChromaStore.open(checkout.dir, {
        onIndexRebuilt: (event) => logger.warn('HNSW index rebuilt from SQLite', { ...event }),
        // SQLite's page-level check (≈ 6 ms/MB) and the index file's sha256 guard what
        // came from S3. A cached directory is exactly what this container verified,
        // published and closed (the cache's fingerprint proves it untouched since), so
        // both are skipped there, and its HNSW index is loaded only if vectors change.
        integrityCheck: !checkout.fromCache,
        // batched publishes re-read only the pages the apply wrote (see publish below).
        trackPageChanges: path === 'batched',
      }),
    );
    this.#store = store;

    // Deltas not merged yet, read before the (synchronous) apply transaction.
    this.#scratch = join(deps.workDir, 'scratch', `${collection}-${handle.token}-${process.pid}`);
    const loaded = await timed('deltas', () =>
      loadDeltas(messages, {
        seq: store.kv(KV.seq),
        repository: deps.repository,
        scratchDir: this.#scratch!,
        collection,
        logger,
      }),
    );
    const { deltas, failed } = loaded;
    const applicable = messages.filter((m) => !failed.has(m.messageId)).map((m) => m.message);

    // No collection yet: create it only when a delta brings vectors (which then fix
    // its dimension); without one there is nothing to hold vectors anyway.
    const target =
      (await collectionIfPresent(store, collection)) ??
      (applicable.some((m) => deltas.get(m)?.length)
        ? await store.getOrCreateCollection(collection)
        : undefined);
    const before = target ? target.countSync() : 0;
    const stats = await timed('apply', () =>
      this.#applier(path === 'batched' ? 'batched' : 'legacy')({
        store: store as ApplyStore,
        collection: target ?? EMPTY_COLLECTION,
        messages: applicable,
        deltas,
      }),
    );
    const after = target ? target.countSync() : 0;
    // The digest is a full scan (≈ 10 µs per record). Only the legacy reference path
    // (and shadow, which compares it) computes it; the batched path publishes no
    // storeDigest, and `snapshots verify` then checks counts and every sha256 only.
    const digest = path === 'batched' ? undefined : await timed('digest', () => store.digest());

    let shadow: ShadowComparison | undefined;
    if (path === 'shadow') {
      shadow = await timed('shadow', () =>
        runShadow({
          dir: this.#shadowDir!,
          collection,
          messages: applicable,
          deltas,
          legacyDigest: digest!,
          apply: this.#applier('batched'),
          logger,
        }),
      );
    }

    const maxLossShare = deps.maxVectorLossShare ?? DEFAULT_MAX_VECTOR_LOSS_SHARE;
    const tripped = checkVectorLoss({ collection, before, after, stats, maxLossShare });
    if (tripped) {
      count(metrics, METRIC.compactionVectorLossGuard);
      await deps.audit
        ?.append({
          action: 'guard',
          collection,
          actor: `compactor:${deps.owner}`,
          ...(parentVersion ? { from: parentVersion } : {}),
          reason: tripped.message,
          details: {
            before,
            expected: tripped.expected,
            after,
            maxLossShare,
            messages: messages.length,
          },
        })
        .catch((err: unknown) =>
          logger.error('could not audit the guard trip', { error: err as Error }),
        );
      throw tripped;
    }
    await timed('close', () => this.#closeStore());
    const written = store.pagesWrittenSinceOpen();
    if (path === 'batched' && written.changes === undefined)
      logger.info('written pages unknown; changed files are read whole', {
        reason: written.reason,
      });

    const common = {
      collection,
      path,
      parentVersion,
      fencingToken: handle.token,
      stats,
      failed,
      vectors: { before, after },
      bytesDownloaded: checkout.bytesDownloaded + loaded.bytesDownloaded,
      durationsMs: {},
      digest,
      ...(shadow ? { shadow } : {}),
    };

    if (stats.applied === 0) {
      // Everything was already applied (a redelivery, or a retry after a crash past the
      // swap): publish nothing. Repair latest.json in case that crash came before it.
      if (pointer) {
        await this.#repairLatest(pointer);
        await deps.cache.commit(collection, checkout.dir, pointer.version, checkout.manifest);
        this.#committed = true;
      }
      return { ...common, status: 'unchanged', version: pointer?.version, bytesUploaded: 0 };
    }

    const version = newVersionId(handle.token, clock);
    await this.#fault('afterApply', parentVersion, version);
    const published = await timed('publish', async () =>
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
          ...(digest !== undefined ? { storeDigest: digest } : {}),
          compactionPath: path,
        },
        // legacy (and shadow, which publishes legacy's result) is the reference path:
        // a full upload every time; batched reads only the files written since the
        // checkout — of those, only the pages the store wrote — and uploads only the
        // chunks S3 does not provably hold.
        uploadAll: path !== 'batched',
        ...(path === 'batched' && checkout.manifest
          ? {
              parent: {
                manifest: checkout.manifest,
                unchanged: await deps.cache.unchangedFiles(checkout),
                ...(written.changes ? { writtenPages: written.changes } : {}),
              },
            }
          : {}),
      }),
    );
    await this.#fault('afterUpload', parentVersion, version);

    const moved = await timed('swap', () => {
      // Last local check before the one that counts (the conditional swap itself):
      // a holder that knows it lost its lease stops here rather than racing its successor.
      handle.assertHeld();
      return deps.pointers.swap({
        collection,
        parentVersion,
        next: { version, manifestKey: published.manifestKey },
        fencingToken: handle.token,
      });
    });
    await this.#fault('afterSwap', parentVersion, version);
    await timed('commit', async () => {
      await mirrorPointer(deps, collection, moved);
      await deps.cache.commit(collection, checkout.dir, version, published.manifest);
    });
    this.#committed = true;
    return { ...common, status: 'published', version, bytesUploaded: published.bytesUploaded };
  }

  /** Closes the store and removes every directory this run did not commit. Never throws. */
  async cleanup(): Promise<void> {
    const { collection, deps } = this.#input;
    await this.#closeStore().catch((err: unknown) =>
      deps.logger.error('could not close the store', { error: err as Error }),
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

  async #closeStore(): Promise<void> {
    const store = this.#store;
    this.#store = undefined;
    await store?.close();
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

  async #repairLatest(pointer: Pointer): Promise<void> {
    const { collection, deps } = this.#input;
    const latest = await deps.repository.readLatest(collection);
    if (
      latest?.version !== pointer.version ||
      latest.manifestKey !== pointer.manifestKey ||
      latest.fencingToken !== pointer.fencingToken
    ) {
      deps.logger.warn('latest.json lagged behind the pointer; rewriting it', {
        collection,
        latest,
        pointer,
      });
      await mirrorPointer(deps, collection, pointer);
    }
  }
}
