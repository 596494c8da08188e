/**
 * The internal state of an open store, shared by `ChromaStore` and its `Collection`s:
 * the SQLite connection, the transaction runner, the HNSW indexes, and the closed flag.
 * Not exported from the package.
 */
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_CONSTRUCTION_EF,
  DEFAULT_M,
  DEFAULT_SEARCH_EF,
  INDEX_DIR,
  INDEX_SUFFIX,
  SIDECAR_SUFFIX,
  SQLITE_FILE,
  VECTORS_FILE,
} from './constants.js';
import { type Db, closeDatabase, isCorruption } from './database.js';
import { fromBlob, toArray } from './embedding.js';
import {
  CollectionNotFoundError,
  CorruptDatabaseError,
  StoreClosedError,
  StoreLockedError,
} from './errors.js';
import { KvTable } from './kv.js';
import { registerRegexFunction } from './regex.js';
import { FilterCache, type FilterMatch, ResultRowCache } from './read-cache.js';
import { type CollectionRow, type RecordRow, RecordTable } from './records.js';
import type { SqlCondition } from './where.js';
import { type DeferredEffect, TransactionRunner } from './transaction.js';
import { PageChangeTracker } from './page-changes.js';
import type { IndexRebuildReason, IndexRebuiltEvent, Metadata } from './types.js';
import { type HnswParams, VectorIndex, removeIndexFiles } from './vector-index.js';

/** A vector to put in an index under `label` (the record's seq). */
export interface LabelledVector {
  label: number;
  vector: number[];
}

/** The vector side of one write call. */
export interface VectorChange {
  added?: LabelledVector[];
  replaced?: LabelledVector[];
  removed?: number[];
}

const REBUILD_PAGE = 2048;

/** Default budget of the query-result row cache (see read-cache.ts). */
export const DEFAULT_RESULT_CACHE_BYTES = 64 * 1024 * 1024;

/**
 * Directories (real paths) with an open store in this process. SQLite's exclusive lock
 * already keeps a second connection out; this makes the in-process case immediate
 * and lets `writeManifest` refuse an open store.
 */
const openDirectories = new Set<string>();

/** The canonical path of an existing directory. */
export function canonicalDirectory(dir: string): string {
  return realpathSync(dir);
}

/** True when a store is open on `dir` in this process. */
export function isOpenDirectory(dir: string): boolean {
  return existsSync(dir) && openDirectories.has(canonicalDirectory(dir));
}

/** Marks `dir` (canonical) as open; {@link StoreLockedError} when it already is. */
export function claimDirectory(dir: string): void {
  if (openDirectories.has(dir)) throw new StoreLockedError(dir);
  openDirectories.add(dir);
}

/** Forgets that `dir` (canonical) is open. */
export function releaseDirectory(dir: string): void {
  openDirectories.delete(dir);
}

/** Shared state of one open store. */
export class StoreCore {
  readonly dir: string;
  readonly dbFile: string;
  readonly db: Db;
  readonly records: RecordTable;
  readonly kv: KvTable;
  readonly tx: TransactionRunner;
  /** The database pages written since open (see page-changes.ts). */
  readonly pageChanges: PageChangeTracker;
  /** HNSW index per collection uuid; absent for collections without vectors. */
  readonly indexes = new Map<string, VectorIndex>();
  private readonly onIndexRebuilt: ((event: IndexRebuiltEvent) => void) | undefined;
  private isClosed = false;

  /** Query-result rows, see read-cache.ts. */
  private readonly resultRows: ResultRowCache;
  /** Filter results, see read-cache.ts; dropped by every write call. */
  private readonly filters: FilterCache;

  constructor(
    dir: string,
    dbFile: string,
    db: Db,
    onIndexRebuilt?: (event: IndexRebuiltEvent) => void,
    resultCacheBytes = DEFAULT_RESULT_CACHE_BYTES,
    pageTracking: { track: boolean; unchangedByOpen: boolean } = {
      track: false,
      unchangedByOpen: true,
    },
  ) {
    this.dir = dir;
    this.dbFile = dbFile;
    this.db = db;
    registerRegexFunction(db);
    this.resultRows = new ResultRowCache(resultCacheBytes);
    this.filters = new FilterCache(resultCacheBytes > 0);
    this.records = new RecordTable(db, (seqs) => this.resultRows.invalidate(seqs));
    this.kv = new KvTable(db);
    this.pageChanges = new PageChangeTracker(
      db,
      [
        { schema: 'main', name: SQLITE_FILE, path: dbFile },
        { schema: 'vec', name: VECTORS_FILE, path: join(dir, VECTORS_FILE) },
      ],
      pageTracking,
    );
    this.tx = new TransactionRunner(
      db,
      (effects) => this.applyEffects(effects),
      pageTracking.track ? this.pageChanges : undefined,
    );
    this.onIndexRebuilt = onIndexRebuilt;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Throws {@link StoreClosedError} once the store is closed. */
  assertOpen(): void {
    if (this.isClosed) throw new StoreClosedError(this.dir);
  }

  /** Runs a read (or a single-statement write): checks the store is open, maps corruption errors. */
  read<T>(fn: () => T): T {
    this.assertOpen();
    try {
      return fn();
    } catch (err) {
      if (isCorruption(err))
        throw new CorruptDatabaseError(this.dbFile, (err as Error).message, { cause: err });
      throw err;
    }
  }

  /** Runs a write call atomically (its own transaction, or a savepoint inside `store.transaction`). */
  write<T>(fn: () => T): T {
    try {
      return this.read(() => this.tx.run(fn));
    } finally {
      this.rowCache.clear();
      this.filters.clear();
    }
  }

  /**
   * Records for query results, aligned with `seqs` (undefined: no such record): id,
   * document, metadata, and the embedding only when asked, which always reads SQLite.
   * Outside transactions through the result-row cache, which the collection's first
   * query warms.
   */
  recordsForResults(
    collection: number,
    seqs: readonly number[],
    withEmbedding: boolean,
  ): Array<RecordRow | undefined> {
    const cache = this.resultRows;
    if (withEmbedding || this.tx.active || !cache.enabled) {
      const found = this.records.recordsBySeqs(seqs, withEmbedding);
      return seqs.map((seq) => found.get(seq));
    }
    if (cache.needsWarm(collection))
      cache.warm(collection, this.records.collectionRecords(collection));
    const out = new Array<RecordRow | undefined>(seqs.length);
    let missing: number[] | undefined;
    for (let i = 0; i < seqs.length; i++) {
      const hit = cache.get(seqs[i]!);
      if (hit === undefined) (missing ??= []).push(seqs[i]!);
      out[i] = hit;
    }
    if (missing) {
      const found = this.records.recordsBySeqs(missing, false);
      for (const row of found.values()) cache.put(row);
      for (let i = 0; i < seqs.length; i++) out[i] ??= found.get(seqs[i]!);
    }
    return out;
  }

  /**
   * The seqs of a collection matching `condition` (and among `ids` when given), cached
   * between write calls when no ids are given.
   */
  matching(
    collection: number,
    condition: SqlCondition | null,
    ids: readonly string[] | null = null,
  ): FilterMatch {
    const evaluate = () => this.records.selectSeqs(collection, condition, ids);
    if (this.tx.active || ids !== null || condition === null)
      return this.filters.uncached(evaluate);
    const key = `${collection}\u0000${condition.sql}\u0000${JSON.stringify(condition.params)}`;
    return this.filters.resolve(key, evaluate);
  }

  /**
   * Collection rows read outside transactions, cleared after every write call. Inside
   * a transaction rows are always read from SQLite (they change under the caller).
   * Saves a SQLite round trip on every query — which, right after an HNSW search has
   * flushed the CPU caches, costs more than it looks.
   */
  private readonly rowCache = new Map<number, CollectionRow>();

  /** The collection's current row; {@link CollectionNotFoundError} when it was deleted. */
  collectionRow(key: number, name: string): CollectionRow {
    const cached = this.tx.active ? undefined : this.rowCache.get(key);
    if (cached) return cached;
    const row = this.records.collectionByKey(key);
    if (!row) throw new CollectionNotFoundError(name);
    if (!this.tx.active) this.rowCache.set(key, row);
    return row;
  }

  private readonly metadataCache = new Map<string, { json: string; metadata: Metadata }>();

  /** A collection's parsed metadata (cached: it is read on every query). */
  collectionMetadata(row: CollectionRow): Metadata {
    const hit = this.metadataCache.get(row.uuid);
    if (hit && hit.json === row.metadata) return hit.metadata;
    const metadata = parseMetadata(row.metadata);
    this.metadataCache.set(row.uuid, { json: row.metadata, metadata });
    return metadata;
  }

  /** HNSW parameters of a collection (its dimension must be fixed). */
  hnswParams(row: CollectionRow, dimension = row.dimension): HnswParams {
    const md = this.collectionMetadata(row);
    return {
      space: row.space,
      dimension: dimension ?? 0,
      m: positiveInt(md['hnsw:M'], DEFAULT_M),
      efConstruction: positiveInt(md['hnsw:construction_ef'], DEFAULT_CONSTRUCTION_EF),
    };
  }

  /** Query-time ef of a collection. */
  searchEf(row: CollectionRow): number {
    return positiveInt(this.collectionMetadata(row)['hnsw:search_ef'], DEFAULT_SEARCH_EF);
  }

  /**
   * Records the vector side of a write call: bumps the collection's generation (in
   * the same SQLite transaction) and defers the index mutation to after commit.
   */
  commitVectors(row: CollectionRow, dimension: number, change: VectorChange): void {
    this.records.bumpGeneration(row.key);
    const generation = this.records.generation(row.key);
    const params = this.hnswParams(row, dimension);
    const uuid = row.uuid;
    this.tx.defer({
      collection: uuid,
      apply: () => {
        let index = this.indexes.get(uuid);
        if (!index) {
          index = VectorIndex.create(params, generation);
          this.indexes.set(uuid, index);
        }
        if (change.added?.length) index.addNew(change.added);
        if (change.replaced?.length) index.replace(change.replaced);
        if (change.removed?.length) index.remove(change.removed);
        index.generation = generation;
      },
    });
  }

  /** Defers dropping a deleted collection's index and files to after commit. */
  commitCollectionDeleted(uuid: string): void {
    this.tx.defer({
      collection: uuid,
      apply: () => {
        this.indexes.delete(uuid);
        removeIndexFiles(this.dir, uuid);
      },
    });
  }

  /**
   * Applies committed index effects in order. If one fails (hnswlib out of memory, a
   * bug), that collection's index no longer matches SQLite: it is rebuilt from SQLite,
   * which is committed and therefore right.
   */
  private applyEffects(effects: DeferredEffect[]): void {
    const failures = new Map<string, unknown>();
    for (const effect of effects) {
      if (failures.has(effect.collection)) continue;
      try {
        effect.apply();
      } catch (err) {
        failures.set(effect.collection, err);
        this.indexes.delete(effect.collection);
      }
    }
    for (const [uuid, err] of failures) {
      const row = this.records.collections().find((r) => r.uuid === uuid);
      if (row) this.rebuildIndex(row, 'corrupt', `index update failed: ${String(err)}`);
    }
  }

  /**
   * The collection's index, or null when it has no vectors. Rebuilds a missing index
   * (which only happens after an index update failed).
   */
  indexFor(row: CollectionRow): VectorIndex | null {
    const index = this.indexes.get(row.uuid);
    if (index) return index;
    if (row.dimension === null || row.count === 0) return null;
    return this.rebuildIndex(row, 'missing', 'no index in memory');
  }

  /**
   * Loads (or rebuilds, reporting why) the index of every collection. Used by `open`;
   * `trusted` (a directory opened with `integrityCheck: false`) loads files lazily
   * without their sha256 check (vector-index.ts).
   */
  loadIndexes(trusted = false): void {
    const rows = this.records.collections();
    const live = new Set(rows.map((r) => r.uuid));
    this.removeOrphanIndexFiles(live);
    for (const row of rows) {
      if (row.count === 0 || row.dimension === null) {
        removeIndexFiles(this.dir, row.uuid);
        continue;
      }
      const outcome = VectorIndex.load(this.dir, row.uuid, this.hnswParams(row), row.generation, {
        trusted,
      });
      if ('index' in outcome) {
        this.indexes.set(row.uuid, outcome.index);
      } else {
        this.rebuildIndex(row, outcome.reason, outcome.detail);
      }
    }
  }

  /** Builds a collection's index from the embeddings in SQLite and reports it. */
  rebuildIndex(row: CollectionRow, reason: IndexRebuildReason, detail: string): VectorIndex {
    const records = this.records;
    function* pages(): Generator<LabelledVector[]> {
      let after = 0;
      for (;;) {
        const page = records.embeddingsPage(row.key, after, REBUILD_PAGE);
        if (page.length === 0) return;
        after = page[page.length - 1]!.seq;
        yield page.map((r) => ({ label: r.seq, vector: toArray(fromBlob(r.embedding)) }));
      }
    }
    const index = VectorIndex.rebuild(this.hnswParams(row), row.generation, row.count, pages());
    this.indexes.set(row.uuid, index);
    this.onIndexRebuilt?.({ collection: row.name, reason, detail });
    return index;
  }

  /**
   * Writes every index whose file is out of date (vectors changed since it was
   * written) and removes the files of collections that have no vectors.
   */
  persistIndexes(): void {
    mkdirSync(join(this.dir, INDEX_DIR), { recursive: true });
    for (const row of this.records.collections()) {
      if (row.dimension === null || row.count === 0) {
        removeIndexFiles(this.dir, row.uuid);
        continue;
      }
      let index = this.indexFor(row)!;
      if (index.generation !== row.generation) {
        // Cannot happen while the invariant in transaction.ts holds; never persist a
        // mismatched index, rebuild it from SQLite instead.
        index = this.rebuildIndex(
          row,
          'stale',
          `in-memory generation ${index.generation} ≠ ${row.generation}`,
        );
      }
      if (index.dirty) index.persist(this.dir, row.uuid);
    }
  }

  private removeOrphanIndexFiles(live: ReadonlySet<string>): void {
    const folder = join(this.dir, INDEX_DIR);
    if (!existsSync(folder)) return;
    for (const file of readdirSync(folder)) {
      const uuid = file.endsWith(SIDECAR_SUFFIX)
        ? file.slice(0, -SIDECAR_SUFFIX.length)
        : file.endsWith(INDEX_SUFFIX)
          ? file.slice(0, -INDEX_SUFFIX.length)
          : null;
      if (uuid === null || !live.has(uuid))
        rmSync(join(folder, file), { force: true, recursive: true });
    }
  }

  /**
   * Persists dirty indexes, then closes SQLite. The connection is closed even when
   * persisting fails; the first error is rethrown afterwards.
   */
  close(): void {
    if (this.isClosed) return;
    let failure: unknown;
    try {
      this.persistIndexes();
    } catch (err) {
      failure = err;
    }
    this.pageChanges.beforeBegin(); // the last chance to notice an untracked write
    this.isClosed = true;
    this.indexes.clear();
    try {
      closeDatabase(this.db);
    } catch (err) {
      failure ??= err;
    } finally {
      releaseDirectory(this.dir);
    }
    if (failure !== undefined) throw failure;
  }
}

/** Parses a collection's metadata JSON. */
export function parseMetadata(json: string): Metadata {
  return JSON.parse(json) as Metadata;
}

function positiveInt(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : fallback;
}
