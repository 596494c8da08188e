/**
 * The shadow comparison: the batched path replayed on a copy of the store the legacy
 * path just changed the original of, and the two `digest()`s compared. The copy is
 * never uploaded, and nothing here may fail the compaction: an error counts as a
 * mismatch.
 */
import { ChromaStore } from '@compaction/chroma-core';
import type { ChangeMessage, CollectionName } from '@compaction/contracts';
import type { CompactionDeps, ShadowComparison } from './compact-types.js';
import type { DeltaRecord } from './apply/delta-records.js';
import { EMPTY_COLLECTION, collectionIfPresent, type ApplyStore } from './apply/store-port.js';
import type { ApplyFn } from './apply/types.js';

/**
 * Applies `messages` with `apply` to the store copy in `dir` and compares its digest
 * with `legacyDigest`. Closes the copy whatever happens.
 *
 * @example
 * const shadow = await runShadow({ dir: copy, collection: 'words', messages, deltas, legacyDigest, apply: applyBatched, logger });
 * shadow.match; // true when both paths built the same store
 */
export async function runShadow(args: {
  dir: string;
  collection: CollectionName;
  messages: readonly ChangeMessage[];
  deltas: ReadonlyMap<ChangeMessage, readonly DeltaRecord[]>;
  legacyDigest: string;
  apply: ApplyFn;
  logger: CompactionDeps['logger'];
}): Promise<ShadowComparison> {
  const { dir, collection, messages, deltas, legacyDigest, apply, logger } = args;
  let store: ChromaStore | undefined;
  try {
    store = await ChromaStore.open(dir);
    const existing = await collectionIfPresent(store, collection);
    const target =
      existing ??
      (messages.some((m) => deltas.get(m)?.length)
        ? await store.getOrCreateCollection(collection)
        : undefined);
    apply({ store: store as ApplyStore, collection: target ?? EMPTY_COLLECTION, messages, deltas });
    const batchedDigest = store.digest();
    const match = batchedDigest === legacyDigest;
    if (!match) {
      logger.error('shadow mismatch: batched and legacy stores differ', {
        collection,
        legacyDigest,
        batchedDigest,
        messages: messages.length,
      });
    }
    return { legacyDigest, batchedDigest, match };
  } catch (err) {
    logger.error('shadow run failed (counted as a mismatch)', { collection, error: err as Error });
    return { legacyDigest, batchedDigest: undefined, match: false, error: (err as Error).message };
  } finally {
    await store?.close();
  }
}
