/**
 * In-memory caches of the query path. A query spends ~100–150 µs in HNSW; reading its
 * ten result rows back from SQLite costs another 20–35 µs when the search has just
 * flushed the CPU caches (ten B-tree descents), and evaluating a 10 % `where` filter
 * costs ~300 µs at 10k records. Both are the difference between a store and a bare
 * index, so a read-mostly store keeps them in memory.
 *
 * Correctness rules (kept by `StoreCore`):
 * - Only reads outside a transaction fill or use the caches: inside one, SQLite holds
 *   uncommitted rows the caches must never see (a rolled-back insert's seq can be
 *   handed out again).
 * - Result rows are invalidated one by one by every statement that changes a row's
 *   id, document or metadata, or deletes it (`RecordTable` reports them), so the row
 *   cache survives unrelated writes. An invalidation that is then rolled back only
 *   costs a re-read.
 * - Filter results depend on every row of the collection, so any write call drops
 *   them all.
 */
import { LRUCache } from 'lru-cache';
import type { RecordRow } from './records.js';

/** Bytes a cached row is assumed to cost beyond its strings (object, cache entry). */
const ROW_OVERHEAD_BYTES = 120;

/** Rough heap cost of a cached row (V8 keeps ASCII strings at one byte per char). */
function rowBytes(row: RecordRow): number {
  return (
    ROW_OVERHEAD_BYTES + row.id.length + (row.document?.length ?? 0) + (row.metadata?.length ?? 0)
  );
}

/**
 * Result rows (id, document, metadata JSON) by seq, within a byte budget (lru-cache,
 * evicting the oldest inserted first, see `get`). The first query of a collection
 * warms it with one sequential scan, much cheaper per row than the random reads it
 * saves.
 */
export class ResultRowCache {
  readonly #rows: LRUCache<number, RecordRow> | undefined;
  readonly #warmed = new Set<number>();

  constructor(budgetBytes: number) {
    this.#rows =
      budgetBytes > 0
        ? new LRUCache<number, RecordRow>({ maxSize: budgetBytes, sizeCalculation: rowBytes })
        : undefined;
  }

  /** False when the budget is 0: every result row is read from SQLite. */
  get enabled(): boolean {
    return this.#rows !== undefined;
  }

  /**
   * The cached row. `peek`, not `get`: moving the entry up the recency list on every
   * hit costs ~0.5 µs per row on the query path (interleaved bench runs: unfiltered
   * queries 1.22–1.26× raw with `get`, 1.19× with `peek`), so eviction is by insertion
   * order.
   */
  get(seq: number): RecordRow | undefined {
    return this.#rows?.peek(seq);
  }

  /** Caches a row (a row bigger than the whole budget is not kept). */
  put(row: RecordRow): void {
    this.#rows?.set(row.seq, row);
  }

  /** True when `collection` has not been warmed yet (and the cache is on). */
  needsWarm(collection: number): boolean {
    return this.#rows !== undefined && !this.#warmed.has(collection);
  }

  /**
   * Fills the cache from `rows` (one collection, read sequentially) until the budget
   * is used; rows already cached are never evicted for it. Returns how many were added.
   */
  warm(collection: number, rows: Iterable<RecordRow>): number {
    const cache = this.#rows;
    if (!cache) return 0;
    this.#warmed.add(collection);
    let added = 0;
    for (const row of rows) {
      if (cache.calculatedSize + rowBytes(row) > cache.maxSize) break;
      if (cache.has(row.seq)) continue;
      cache.set(row.seq, row);
      added++;
    }
    return added;
  }

  /** Forgets rows that changed (`null`: everything, e.g. after a collection is deleted). */
  invalidate(seqs: readonly number[] | null): void {
    const cache = this.#rows;
    if (!cache) return;
    if (seqs === null) {
      cache.clear();
      this.#warmed.clear();
      return;
    }
    for (const seq of seqs) cache.delete(seq);
  }

  /** Approximate heap bytes held (for tests and diagnostics). */
  get size(): { rows: number; bytes: number } {
    return { rows: this.#rows?.size ?? 0, bytes: this.#rows?.calculatedSize ?? 0 };
  }
}

/** The records of one collection matching one `where`/`whereDocument`. */
export class FilterMatch {
  /** Matching seqs, ascending. */
  readonly seqs: number[];
  private bits: Uint32Array | undefined;

  constructor(seqs: number[]) {
    this.seqs = seqs;
  }

  /** Heap bytes this match holds once its bitmap is built. */
  get bytes(): number {
    return this.seqs.length * 8 + bitmapWords(this.seqs) * 4;
  }

  /**
   * A membership test for hnswlib's filter callback, which runs once per visited node:
   * a bit per seq up to the largest match (1M seqs: 128 KB) is cheaper to build and to
   * probe than a Set.
   */
  get allows(): (label: number) => boolean {
    if (this.bits === undefined) {
      const bits = new Uint32Array(bitmapWords(this.seqs));
      for (const seq of this.seqs) bits[seq >>> 5]! |= 1 << (seq & 31);
      this.bits = bits;
    }
    const bits = this.bits;
    return (label) => ((bits[label >>> 5] ?? 0) & (1 << (label & 31))) !== 0;
  }
}

function bitmapWords(ascending: readonly number[]): number {
  return ascending.length === 0 ? 0 : (ascending[ascending.length - 1]! >>> 5) + 1;
}

/** Heap budget of all cached filter results together. */
const FILTER_CACHE_BYTES = 32 * 1024 * 1024;
/** Most distinct filters held. */
const FILTER_CACHE_ENTRY_LIMIT = 64;

/** Filter results by collection and compiled SQL, dropped by every write call. */
export class FilterCache {
  readonly #entries: LRUCache<string, FilterMatch> | undefined;

  constructor(enabled: boolean) {
    this.#entries = enabled
      ? new LRUCache<string, FilterMatch>({
          max: FILTER_CACHE_ENTRY_LIMIT,
          maxSize: FILTER_CACHE_BYTES,
          sizeCalculation: (match) => Math.max(1, match.bytes),
        })
      : undefined;
  }

  /** The cached match of `key`, or the one `evaluate` computes (then cached if it fits). */
  resolve(key: string, evaluate: () => number[]): FilterMatch {
    const hit = this.#entries?.get(key);
    if (hit) return hit;
    const match = new FilterMatch(evaluate());
    this.#entries?.set(key, match);
    return match;
  }

  /** A match that is not cached (reads inside a transaction). */
  uncached(evaluate: () => number[]): FilterMatch {
    return new FilterMatch(evaluate());
  }

  clear(): void {
    this.#entries?.clear();
  }
}
