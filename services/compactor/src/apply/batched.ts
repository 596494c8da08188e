/**
 * The batched apply path: fold every message into the final entity state first
 * (same canonical order and rules as legacy), then write set-based — one delete, one
 * upsert per merged delta, one update with every other touched vector — in one
 * transaction. Produces the same store as legacy (`digest()`, kv included).
 *
 * Equivalence with legacy, in short: legacy rewrites a vector's place fields (or
 * label summary) every time the receipt's place state (or the word's labels) changes,
 * and builds every upserted vector from the state at that moment; so each vector ends
 * with the final state either way. Deletes and upserts are replayed here in fold order
 * (an upsert followed by a removal of its receipt is simply not written; neither is
 * one that a later delta of the same receipt no longer carries).
 */
import { KvState } from './kv-state.js';
import { foldMessage, receiptKey, unhandledEffect, type ReceiptRef } from './entity-state.js';
import type { DeltaRecord } from './delta-records.js';
import { labelPatch, placePatch, type MetadataPatch } from './overlay.js';
import { StandingUpserts } from './standing-upserts.js';
import { upsertExact } from './upsert.js';
import { canonicalOrder } from './ordering.js';
import { receiptVectorIds } from './receipt-where.js';
import { checkDeltaDimensions } from './delta-checks.js';
import { emptyStats, type ApplyFn, type ApplyStats } from './types.js';

/**
 * Applies messages set-based.
 *
 * @example
 * const stats = applyBatched({ store, collection, messages, deltas });
 * stats.writeCalls; // ≤ 2 + number of merged deltas
 */
export const applyBatched: ApplyFn = (input) => {
  const { store, collection, deltas } = input;
  const { accepted: messages, refused } = checkDeltaDimensions(input);
  return store.transaction((): ApplyStats => {
    const stats = { ...emptyStats(), refusedDeltas: refused };
    const state = new KvState(store, { writeThrough: false });

    // 1. Fold: final state, plus what the vectors need.
    const placeReceipts = new Map<string, ReceiptRef>();
    const labelWords = new Set<string>();
    const deleteReceipts = new Map<string, ReceiptRef>();
    /** Receipts whose vector set a delta replaced (see `foldDelta`). */
    const replacedReceipts = new Map<string, ReceiptRef>();
    const upserts = new StandingUpserts();
    let deltaIndex = 0;
    for (const message of canonicalOrder(messages)) {
      const effect = foldMessage(state, message, deltas.get(message));
      switch (effect.type) {
        case 'stale':
          stats.stale++;
          continue;
        case 'place':
          stats.placeUpdates++;
          placeReceipts.set(receiptKey(effect.receipt), effect.receipt);
          break;
        case 'label':
          stats.labelUpdates++;
          labelWords.add(effect.wordId);
          break;
        case 'delete': {
          stats.removals++;
          const key = receiptKey(effect.receipt);
          deleteReceipts.set(key, effect.receipt);
          // Vectors upserted earlier in the fold die with their receipt.
          upserts.dropReceipt(key);
          break;
        }
        case 'tombstone':
          stats.removals++;
          break;
        case 'upsert': {
          stats.deltasMerged++;
          stats.skippedDeltaVectors += effect.skipped;
          // The delta is now the whole vector set of its receipts: earlier upserts of
          // theirs that it lacks die, and so do their vectors from before the batch
          // (step 2) unless a later delta of the batch brings them back.
          const carried = new Set(effect.records.map((r) => r.id));
          for (const receipt of effect.receipts) {
            const key = receiptKey(receipt);
            replacedReceipts.set(key, receipt);
            upserts.dropReceipt(key, carried);
          }
          for (const record of effect.records) upserts.set(record, deltaIndex);
          deltaIndex++;
          break;
        }
        default:
          return unhandledEffect(effect);
      }
      stats.applied++;
    }
    state.flush();

    // 2. One delete, of the vectors as they were before the batch: every vector of a
    //    removed receipt, and those of a replaced receipt that no standing upsert
    //    brings back.
    if (deleteReceipts.size > 0 || replacedReceipts.size > 0) {
      const before = receiptVectorIds(collection, [
        ...deleteReceipts.values(),
        ...replacedReceipts.values(),
      ]);
      const ids = [...before].flatMap(([key, vectorIds]) =>
        deleteReceipts.has(key) ? vectorIds : vectorIds.filter((id) => !upserts.has(id)),
      );
      if (ids.length > 0) {
        stats.deletedVectors += collection.deleteSync({ ids });
        stats.writeCalls++;
      }
    }

    // 3. One upsert per delta, in fold order, with the final overlay.
    const byDelta = new Map<number, DeltaRecord[]>();
    for (const { record, delta } of upserts.values()) {
      let list = byDelta.get(delta);
      if (!list) byDelta.set(delta, (list = []));
      list.push(record);
    }
    for (const delta of [...byDelta.keys()].sort((a, b) => a - b)) {
      const records = byDelta.get(delta)!;
      const written = upsertExact(collection, state, records);
      stats.newVectors += written.newVectors;
      stats.writeCalls += written.writeCalls;
      stats.upsertedVectors += records.length;
    }

    // 4. One update: every surviving vector whose place or labels changed and that
    //    the upserts above did not already write.
    const patches = new Map<string, MetadataPatch>();
    const patch = (id: string, p: MetadataPatch): void => {
      if (upserts.has(id)) return;
      patches.set(id, { ...patches.get(id), ...p });
    };
    const placeIds = receiptVectorIds(collection, [...placeReceipts.values()]);
    for (const key of placeReceipts.keys()) {
      const ids = placeIds.get(key)!;
      if (ids.length === 0 && !upserts.hasReceipt(key)) stats.pendingUpdates++;
      const p = placePatch(state.getPlace(key));
      for (const id of ids) patch(id, p);
    }
    if (labelWords.size > 0) {
      const words = [...labelWords];
      const present = new Set(collection.getSync({ ids: words, include: [] }).ids);
      for (const id of words) {
        if (present.has(id)) patch(id, labelPatch(state.getLabels(id)));
        else if (!upserts.has(id)) stats.pendingUpdates++;
      }
    }
    if (patches.size > 0) {
      const ids = [...patches.keys()];
      collection.updateSync({ ids, metadatas: ids.map((id) => patches.get(id)!) });
      stats.writeCalls++;
    }
    return stats;
  });
};
