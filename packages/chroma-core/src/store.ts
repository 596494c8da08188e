/**
 * `ChromaStore`: a directory holding two SQLite databases (`chroma.sqlite3`: collections,
 * records, metadata, kv; `vectors.sqlite3`: the embeddings) and one rebuildable HNSW
 * index file per collection (`index/<uuid>.hnsw` + `.hnsw.json` sidecar).
 *
 * The close() guarantee: after `close()` returns (it does its work before its promise
 * is created, so even an un-awaited call counts), every file handle the store opened
 * is released, no `-wal`/`-shm`/`-journal` file is left, every index file matches
 * SQLite, and every further call on the store or its collections throws
 * {@link StoreClosedError}. The directory can be tarred, renamed or deleted at once.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Collection } from './collection.js';
import { DEFAULT_SPACE, SQLITE_FILE } from './constants.js';
import {
  DEFAULT_RESULT_CACHE_BYTES,
  StoreCore,
  canonicalDirectory,
  claimDirectory,
  parseMetadata,
  releaseDirectory,
} from './core.js';
import { closeDatabase, openDatabase } from './database.js';
import type { PageChanges } from './page-changes.js';
import { computeDigest } from './digest.js';
import { CollectionNotFoundError, InvalidArgumentError, InvalidOperationError } from './errors.js';
import { exportSnapshot } from './snapshot.js';
import type {
  CollectionInfo,
  CollectionOptions,
  KeyValueStore,
  Metadata,
  SnapshotManifest,
  Space,
  StoreOptions,
} from './types.js';
import { validateCount, validateMetadata, validateName } from './validation.js';
import { checkParams } from './params.js';

const SPACES: ReadonlySet<string> = new Set(['cosine', 'l2', 'ip']);

/**
 * A local, Chroma-style vector store with an explicit, idempotent `close()`.
 *
 * @example
 * const store = await ChromaStore.open('/tmp/compaction/lines');
 * try {
 *   const lines = await store.getOrCreateCollection('lines', { space: 'cosine' });
 *   await lines.upsert({ ids, embeddings, metadatas });
 * } finally {
 *   await store.close(); // every handle released; the directory can be uploaded now
 * }
 */
export class ChromaStore {
  /** Absolute, canonical path of the store directory. */
  readonly dir: string;
  private readonly core: StoreCore;

  private constructor(core: StoreCore) {
    this.core = core;
    this.dir = core.dir;
  }

  /**
   * Opens the store in `dir`, creating the directory and an empty store if absent.
   * Index files that are missing, damaged or older than SQLite are rebuilt from SQLite
   * and reported through `options.onIndexRebuilt`. A damaged database throws
   * {@link CorruptDatabaseError} with no handle left open; a directory already open
   * throws {@link StoreLockedError}.
   *
   * @example
   * const store = await ChromaStore.open(dir, {
   *   onIndexRebuilt: ({ collection, reason }) => log.warn('index rebuilt', { collection, reason }),
   * });
   */
  static async open(dir: string, options: StoreOptions = {}): Promise<ChromaStore> {
    checkStoreOptions(options);
    const cacheBytes =
      validateCount(options.resultCacheBytes, 'resultCacheBytes') ?? DEFAULT_RESULT_CACHE_BYTES;
    mkdirSync(resolve(dir), { recursive: true });
    const root = canonicalDirectory(resolve(dir));
    claimDirectory(root);
    try {
      const dbFile = join(root, SQLITE_FILE);
      const integrityCheck = options.integrityCheck ?? true;
      const { db, wroteSchema } = openDatabase(dbFile, root, integrityCheck);
      const core = new StoreCore(root, dbFile, db, options.onIndexRebuilt, cacheBytes, {
        track: options.trackPageChanges ?? false,
        unchangedByOpen: !wroteSchema,
      });
      try {
        // A directory trusted to skip quick_check is trusted for its index files too:
        // their sha256 is not checked, and they are read only when vectors are used.
        core.read(() => core.loadIndexes(!integrityCheck));
      } catch (err) {
        try {
          closeDatabase(db);
        } catch {
          // the original error matters more; the connection is closed either way
        }
        throw err;
      }
      return new ChromaStore(core);
    } catch (err) {
      releaseDirectory(root);
      throw err;
    }
  }

  /**
   * True once `close()` has run.
   *
   * @example
   * if (!store.closed) await store.close();
   */
  get closed(): boolean {
    return this.core.closed;
  }

  /**
   * The collection `name`, created if absent. A `dimension`/`space` that contradicts an
   * existing collection throws; `metadata` is used only at creation.
   *
   * @example
   * const words = await store.getOrCreateCollection('words', { space: 'cosine', dimension: 384 });
   */
  async getOrCreateCollection(name: string, options: CollectionOptions = {}): Promise<Collection> {
    return this.core.write(() => {
      checkParams('getOrCreateCollection options', options, true);
      validateName(name, 'collection name');
      const dimension = validateCount(options.dimension, 'dimension', 1) ?? null;
      const metadata: Metadata = validateMetadata(options.metadata, 'metadata') ?? {};
      const mdSpace = metadata['hnsw:space'];
      if (mdSpace !== undefined && (typeof mdSpace !== 'string' || !SPACES.has(mdSpace))) {
        throw new InvalidArgumentError(`metadata['hnsw:space'] must be cosine, l2 or ip`);
      }
      if (options.space !== undefined && !SPACES.has(options.space)) {
        throw new InvalidArgumentError(`space must be cosine, l2 or ip`);
      }
      if (options.space !== undefined && mdSpace !== undefined && options.space !== mdSpace) {
        throw new InvalidArgumentError(
          `space ${options.space} contradicts metadata['hnsw:space'] ${String(mdSpace)}`,
        );
      }
      const space = (options.space ?? mdSpace ?? undefined) as Space | undefined;
      const records = this.core.records;
      const existing = records.collectionByName(name);
      if (existing) {
        if (space !== undefined && space !== existing.space) {
          throw new InvalidArgumentError(
            `collection "${name}" has space ${existing.space}, not ${space}`,
          );
        }
        if (dimension !== null && existing.dimension !== null && dimension !== existing.dimension) {
          throw new InvalidArgumentError(
            `collection "${name}" has dimension ${existing.dimension}, not ${dimension}`,
          );
        }
        if (dimension !== null && existing.dimension === null)
          records.setDimension(existing.key, dimension);
        return new Collection(this.core, existing);
      }
      const key = records.insertCollection(
        randomUUID(),
        name,
        space ?? DEFAULT_SPACE,
        dimension,
        metadata,
      );
      return new Collection(this.core, records.collectionByKey(key)!);
    });
  }

  /**
   * The existing collection `name`; {@link CollectionNotFoundError} otherwise.
   *
   * @example
   * const lines = await store.getCollection('lines');
   */
  async getCollection(name: string): Promise<Collection> {
    return this.core.read(() => {
      const row = this.core.records.collectionByName(validateName(name, 'collection name'));
      if (!row) throw new CollectionNotFoundError(name);
      return new Collection(this.core, row);
    });
  }

  /**
   * Every collection, sorted by name.
   *
   * @example
   * for (const c of await store.listCollections()) console.log(c.name, c.count);
   */
  async listCollections(): Promise<CollectionInfo[]> {
    return this.core.read(() =>
      this.core.records.collections().map((c) => ({
        name: c.name,
        id: c.uuid,
        dimension: c.dimension,
        space: c.space,
        metadata: parseMetadata(c.metadata),
        count: c.count,
      })),
    );
  }

  /**
   * Deletes a collection, its records and its index file;
   * {@link CollectionNotFoundError} when absent.
   *
   * @example
   * await store.deleteCollection('scratch');
   */
  async deleteCollection(name: string): Promise<void> {
    this.core.write(() => {
      const row = this.core.records.collectionByName(validateName(name, 'collection name'));
      if (!row) throw new CollectionNotFoundError(name);
      this.core.records.deleteCollection(row.key);
      this.core.commitCollectionDeleted(row.uuid);
    });
  }

  /**
   * Runs `fn` in one SQLite transaction. If `fn` throws, SQLite rolls back and no
   * in-memory index change made inside survives (index changes are applied only after
   * the commit). `fn` must be synchronous: use the collections' `*Sync` methods and
   * `kv`. Nested calls are savepoints.
   *
   * @example
   * store.transaction(() => {
   *   words.updateSync({ ids, metadatas });
   *   store.kv('seq').set(entityKey, sequenceNumber);
   * });
   */
  transaction<T>(fn: () => T): T {
    if (typeof fn !== 'function') throw new InvalidArgumentError('transaction needs a function');
    return this.core.write(fn);
  }

  /**
   * A JSON key-value namespace stored in the same SQLite database, transactional with
   * everything else and carried inside every snapshot.
   *
   * @example
   * const seqs = store.kv('last-applied');
   * seqs.set('IMAGE#…#RECEIPT#00001#PLACE', '4950000000000001');
   * seqs.get('IMAGE#…#RECEIPT#00001#PLACE'); // '4950000000000001'
   */
  kv(namespace: string): KeyValueStore {
    this.core.assertOpen();
    const ns = validateName(namespace, 'kv namespace');
    const core = this.core;
    return {
      get: (key) => core.read(() => core.kv.get(ns, validateName(key, 'kv key'))),
      set: (key, value) => core.read(() => core.kv.set(ns, validateName(key, 'kv key'), value)),
      delete: (key) => core.read(() => core.kv.delete(ns, validateName(key, 'kv key'))),
      entries: () => core.read(() => core.kv.entries(ns)),
    };
  }

  /**
   * sha256 (hex) of the store's content — collections, records (id, document,
   * metadata, embedding bytes) and kv entries — independent of file layout and
   * insertion order. Equal digests mean equal stores.
   *
   * @example
   * expect(legacy.digest()).toBe(batched.digest());
   */
  digest(): string {
    return this.core.read(() => computeDigest(this.core.records, this.core.kv));
  }

  /**
   * Writes a consistent snapshot of the open store to `destDir` (absent or empty):
   * the store's files plus `manifest.json`. Returns the manifest.
   *
   * @example
   * const manifest = await store.exportSnapshot('/tmp/compaction/export-42');
   */
  async exportSnapshot(destDir: string): Promise<SnapshotManifest> {
    return exportSnapshot(this.core, destDir);
  }

  /**
   * The database pages this store has written since it was opened, per file
   * (`chroma.sqlite3`, `vectors.sqlite3`; 1-based page numbers), read from SQLite's
   * rollback journals at every commit — or `changes: undefined` with the reason when
   * they are not known (the store was not opened with `trackPageChanges: true`, the
   * schema was created or migrated at open, a write bypassed the tracked transactions). Never too few pages; possibly a few too many. Also
   * answers after `close()`. A caller holding the files as they were at open then
   * re-reads only these pages (and handles a file that got shorter) to know them now.
   *
   * @example
   * await store.close();
   * const { changes } = store.pagesWrittenSinceOpen();
   * changes?.get('chroma.sqlite3')?.pages; // e.g. Set { 1, 212, 4093 }
   */
  pagesWrittenSinceOpen(): { changes: PageChanges } | { changes: undefined; reason: string } {
    return this.core.pageChanges.changes();
  }

  /**
   * Writes indexes whose vectors changed, checkpoints SQLite and releases every file
   * handle — synchronously, before the returned promise exists. Idempotent.
   *
   * @example
   * await store.close();
   * await rename(store.dir, publishDir); // safe immediately
   */
  async close(): Promise<void> {
    if (this.core.closed) return;
    if (this.core.tx.active)
      throw new InvalidOperationError('close() cannot run inside store.transaction()');
    this.core.close();
  }
}

/** Refuses unknown keys and ill-typed values in the options of `ChromaStore.open`. */
function checkStoreOptions(options: StoreOptions): void {
  checkParams('ChromaStore.open options', options, true);
  if (options.onIndexRebuilt !== undefined && typeof options.onIndexRebuilt !== 'function')
    throw new InvalidArgumentError('onIndexRebuilt must be a function');
  if (options.integrityCheck !== undefined && typeof options.integrityCheck !== 'boolean')
    throw new InvalidArgumentError('integrityCheck must be true or false');
  if (options.trackPageChanges !== undefined && typeof options.trackPageChanges !== 'boolean')
    throw new InvalidArgumentError('trackPageChanges must be true or false');
}
