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
import type { RecordRow } from './records.js';

/** Bytes a cached row is assumed to cost beyond its strings (object, Map entry). */
const ROW_OVERHEAD_BYTES = 120;

/** Rough heap cost of a cached row (V8 keeps ASCII strings at one byte per char). */
function rowBytes(row: RecordRow): number {
  return (
    ROW_OVERHEAD_BYTES + row.id.length + (row.document?.length ?? 0) + (row.metadata?.length ?? 0)
  );
}

/**
 * Result rows (id, document, metadata JSON) by seq, within a byte budget. The first
 * query of a collection warms it with one sequential scan (much cheaper per row than
 * the random reads it saves); past the budget the oldest rows are evicted first.
 */
export class ResultRowCache {
  private readonly rows = new Map<number, RecordRow>();
  private readonly warmed = new Set<number>();
  private bytes = 0;

  constructor(private readonly budgetBytes: number) {}

  /** False when the budget is 0: every result row is read from SQLite. */
  get enabled(): boolean {
    return this.budgetBytes > 0;
  }

  get(seq: number): RecordRow | undefined {
    return this.rows.get(seq);
  }

  /** Caches a row, evicting the oldest rows to stay within the budget. */
  put(row: RecordRow): void {
    if (!this.enabled) return;
    this.drop(row.seq);
    const size = rowBytes(row);
    if (size > this.budgetBytes) return;
    while (this.bytes + size > this.budgetBytes) this.drop(this.rows.keys().next().value!);
    this.rows.set(row.seq, row);
    this.bytes += size;
  }

  /** True when `collection` has not been warmed yet (and the cache is on). */
  needsWarm(collection: number): boolean {
    return this.enabled && !this.warmed.has(collection);
  }

  /**
   * Fills the cache from `rows` (one collection, read sequentially) until the budget
   * is used; rows already cached are never evicted for it. Returns how many were added.
   */
  warm(collection: number, rows: Iterable<RecordRow>): number {
    this.warmed.add(collection);
    let added = 0;
    for (const row of rows) {
      const size = rowBytes(row);
      if (this.bytes + size > this.budgetBytes) break;
      if (this.rows.has(row.seq)) continue;
      this.rows.set(row.seq, row);
      this.bytes += size;
      added++;
    }
    return added;
  }

  /** Forgets rows that changed (`null`: everything, e.g. after a collection is deleted). */
  invalidate(seqs: readonly number[] | null): void {
    if (seqs === null) {
      this.rows.clear();
      this.warmed.clear();
      this.bytes = 0;
      return;
    }
    for (const seq of seqs) this.drop(seq);
  }

  /** Approximate heap bytes held (for tests and diagnostics). */
  get size(): { rows: number; bytes: number } {
    return { rows: this.rows.size, bytes: this.bytes };
  }

  private drop(seq: number): void {
    const row = this.rows.get(seq);
    if (row === undefined) return;
    this.rows.delete(seq);
    this.bytes -= rowBytes(row);
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
  private readonly entries = new Map<string, FilterMatch>();
  private bytes = 0;

  constructor(private readonly enabled: boolean) {}

  /** The cached match of `key`, or the one `evaluate` computes (then cached if it fits). */
  resolve(key: string, evaluate: () => number[]): FilterMatch {
    const hit = this.entries.get(key);
    if (hit) return hit;
    const match = new FilterMatch(evaluate());
    const size = match.bytes;
    if (!this.enabled || size > FILTER_CACHE_BYTES) return match;
    while (
      this.entries.size > 0 &&
      (this.entries.size >= FILTER_CACHE_ENTRY_LIMIT || this.bytes + size > FILTER_CACHE_BYTES)
    ) {
      const [oldest, evicted] = this.entries.entries().next().value!;
      this.entries.delete(oldest);
      this.bytes -= evicted.bytes;
    }
    this.entries.set(key, match);
    this.bytes += size;
    return match;
  }

  /** A match that is not cached (reads inside a transaction). */
  uncached(evaluate: () => number[]): FilterMatch {
    return new FilterMatch(evaluate());
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
