/**
 * The legacy (reference) apply path: messages in canonical order, folded and written
 * one by one — one store write call per message — in one transaction. Simple enough
 * to trust; the batched path must produce the same store (`digest()`), kv included.
 */
import { KvState } from './kv-state.js';
import { foldMessage, receiptKey, unhandledEffect } from './entity-state.js';
import { labelPatch, placePatch } from './overlay.js';
import { upsertExact } from './upsert.js';
import { canonicalOrder } from './ordering.js';
import { receiptVectorIds } from './receipt-where.js';
import { checkDeltaDimensions } from './delta-checks.js';
import { emptyStats, type ApplyFn, type ApplyStats } from './types.js';

/**
 * Applies messages one at a time.
 *
 * @example
 * const stats = applyLegacy({ store, collection, messages, deltas });
 * stats.applied; // messages that changed something
 */
export const applyLegacy: ApplyFn = (input) => {
  const { store, collection, deltas } = input;
  const { accepted: messages, refused } = checkDeltaDimensions(input);
  return store.transaction((): ApplyStats => {
    const stats = { ...emptyStats(), refusedDeltas: refused };
    const state = new KvState(store, { writeThrough: true });
    for (const message of canonicalOrder(messages)) {
      const effect = foldMessage(state, message, deltas.get(message));
      switch (effect.type) {
        case 'stale':
          stats.stale++;
          continue;
        case 'place': {
          stats.placeUpdates++;
          const ids = receiptVectorIds(collection, [effect.receipt]).get(
            receiptKey(effect.receipt),
          )!;
          if (ids.length === 0) {
            stats.pendingUpdates++;
            break;
          }
          const patch = placePatch(state.getPlace(receiptKey(effect.receipt)));
          collection.updateSync({ ids, metadatas: ids.map(() => patch) });
          stats.writeCalls++;
          break;
        }
        case 'label': {
          stats.labelUpdates++;
          const { ids } = collection.getSync({ ids: [effect.wordId], include: [] });
          if (ids.length === 0) {
            stats.pendingUpdates++;
            break;
          }
          collection.updateSync({ ids, metadatas: [labelPatch(state.getLabels(effect.wordId))] });
          stats.writeCalls++;
          break;
        }
        case 'delete': {
          stats.removals++;
          const ids = receiptVectorIds(collection, [effect.receipt]).get(
            receiptKey(effect.receipt),
          )!;
          if (ids.length > 0) {
            stats.deletedVectors += collection.deleteSync({ ids });
            stats.writeCalls++;
          }
          break;
        }
        case 'tombstone':
          stats.removals++;
          break;
        case 'upsert': {
          stats.deltasMerged++;
          stats.skippedDeltaVectors += effect.skipped;
          const carried = new Set(effect.records.map((r) => r.id));
          const gone = [...receiptVectorIds(collection, effect.receipts).values()]
            .flat()
            .filter((id) => !carried.has(id));
          if (gone.length > 0) {
            stats.deletedVectors += collection.deleteSync({ ids: gone });
            stats.writeCalls++;
          }
          const written = upsertExact(collection, state, effect.records);
          stats.newVectors += written.newVectors;
          stats.writeCalls += written.writeCalls;
          stats.upsertedVectors += effect.records.length;
          break;
        }
        default:
          return unhandledEffect(effect);
      }
      stats.applied++;
    }
    return stats;
  });
};
