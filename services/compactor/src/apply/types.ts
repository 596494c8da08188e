/**
 * Inputs and results of the two apply paths (legacy and batched).
 */
import type { ChangeMessage } from '@compaction/contracts';
import type { DeltaRecord } from './delta-records.js';
import type { ApplyCollection, ApplyStore } from './store-port.js';

export interface ApplyInput {
  store: ApplyStore;
  /** The collection of `store` the messages are for. */
  collection: ApplyCollection;
  /** Valid messages of this collection, in any order, duplicates allowed. */
  messages: readonly ChangeMessage[];
  /** The content of every `delta` message in `messages` (by message object). */
  deltas: ReadonlyMap<ChangeMessage, readonly DeltaRecord[]>;
}

/** Why an apply refused a delta before folding it (see `delta-checks.ts`). */
export interface DeltaRefusal {
  code: 'delta-dimension-mismatch';
  reason: string;
}

/** What an apply did; counts feed the metrics and the vector-loss guard. */
export interface ApplyStats {
  /** Messages that changed state or vectors. */
  applied: number;
  /** Messages that were already applied (older or repeated), no-ops. */
  stale: number;
  /** Place / label messages applied. */
  placeUpdates: number;
  labelUpdates: number;
  /** Entity updates whose vectors do not exist (yet): kept in state for a later delta. */
  pendingUpdates: number;
  /** Receipt removals applied, and the vectors they deleted. */
  removals: number;
  deletedVectors: number;
  /** Deltas merged, vectors upserted from them, vectors skipped (older than a tombstone or newer delta). */
  deltasMerged: number;
  upsertedVectors: number;
  skippedDeltaVectors: number;
  /** Upserted ids that did not exist before: with `deletedVectors`, what explains the count change. */
  newVectors: number;
  /** Calls to store write methods (update/upsert/delete), for comparing the paths. */
  writeCalls: number;
  /**
   * Delta messages refused unapplied (their vectors' dimension is not the
   * collection's), by message object; the batch dead-letters exactly these.
   */
  refusedDeltas: Map<ChangeMessage, DeltaRefusal>;
}

/** An apply path: applies `messages` to the store in one transaction. */
export type ApplyFn = (input: ApplyInput) => ApplyStats;

export const emptyStats = (): ApplyStats => ({
  applied: 0,
  stale: 0,
  placeUpdates: 0,
  labelUpdates: 0,
  pendingUpdates: 0,
  removals: 0,
  deletedVectors: 0,
  deltasMerged: 0,
  upsertedVectors: 0,
  skippedDeltaVectors: 0,
  newVectors: 0,
  writeCalls: 0,
  refusedDeltas: new Map(),
});
