/**
 * The time budget of a compaction: how long one will take, from what this container
 * measured, and whether the invocation has that much left.
 *
 * INVARIANT: a compaction starts only when the invocation's remaining time covers the
 * lock wait it is allowed, its estimate and a margin; otherwise it is not started at
 * all (nothing locked, nothing downloaded) and its messages fail back whole. A
 * compaction killed by the Lambda timeout mid-publish would spend their receive just
 * the same and leave an orphaned manifest and a lease to expire.
 */
import type { CollectionName } from '@compaction/contracts';
import type { TimeBudgetSettings } from './config.js';

/** Headroom on the last measured duration: the next batch may be larger. */
const GROWTH = 1.5;

/** Whether a compaction may start, and how long it may wait for its lock. */
export type BudgetPlan =
  | { start: true; lockWaitMs: number | undefined }
  | { start: false; neededMs: number; remainingMs: number };

/**
 * Per-container estimates of each collection's compaction, kept in memory (a container
 * compacts both collections; a new one starts from the configured default).
 *
 * @example
 * const budget = new TimeBudget({ estimateMs: 30_000, marginMs: 10_000 });
 * budget.plan('words', context.getRemainingTimeInMillis()); // { start: true, lockWaitMs: 260000 }
 * budget.record('words', 4_200);
 */
export class TimeBudget {
  readonly #settings: TimeBudgetSettings;
  readonly #measured = new Map<CollectionName, number>();

  constructor(settings: TimeBudgetSettings) {
    this.#settings = settings;
  }

  /** The estimate of `collection`'s next compaction (lock wait excluded), ms. */
  estimateMs(collection: CollectionName): number {
    const last = this.#measured.get(collection);
    return last === undefined ? this.#settings.estimateMs : Math.ceil(last * GROWTH);
  }

  /** Records a finished compaction's duration without its lock wait, ms. */
  record(collection: CollectionName, durationMs: number): void {
    if (Number.isFinite(durationMs) && durationMs >= 0) this.#measured.set(collection, durationMs);
  }

  /**
   * The plan for a compaction given the invocation's remaining time (`undefined`: no
   * deadline, e.g. a direct call): start with a lock wait of at most what is left after
   * the estimate and the margin, or do not start.
   */
  plan(collection: CollectionName, remainingMs: number | undefined): BudgetPlan {
    if (remainingMs === undefined) return { start: true, lockWaitMs: undefined };
    const neededMs = this.estimateMs(collection) + this.#settings.marginMs;
    const spare = remainingMs - neededMs;
    if (spare < 0) return { start: false, neededMs, remainingMs };
    return { start: true, lockWaitMs: Math.floor(spare) };
  }
}
