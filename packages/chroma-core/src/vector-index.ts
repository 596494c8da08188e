/**
 * The HNSW index of one collection: an in-memory hnswlib-node index plus its file
 * `index/<uuid>.hnsw` and JSON sidecar `index/<uuid>.hnsw.json`.
 *
 * Invariant (kept here and in store.ts): the index file is trusted only when its
 * sidecar is intact, names the collection's current SQLite `generation`, and the
 * file's size and sha256 match the sidecar. Anything else is a rebuild from the
 * embeddings in SQLite. The sha256 check runs before hnswlib reads the file, so a
 * damaged file can never reach hnswlib's loader (which trusts its input).
 *
 * The file is (re)written only when the in-memory generation differs from the one on
 * disk, i.e. after vector mutations — never for metadata-only changes.
 *
 * A trusted directory (opened with `integrityCheck: false`: one whose bytes the caller
 * has verified itself) skips the sha256 check and loads the file into hnswlib only on
 * the index's first use, so a session that never touches vectors never reads it.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import hnswlib from 'hnswlib-node';
import type { HierarchicalNSW as HnswIndex } from 'hnswlib-node';
import {
  FORMAT_VERSION,
  HNSW_RANDOM_SEED,
  INDEX_DIR,
  INDEX_SUFFIX,
  INITIAL_INDEX_CAPACITY,
  SIDECAR_SUFFIX,
} from './constants.js';
import type { IndexRebuildReason, Space } from './types.js';

const { HierarchicalNSW } = hnswlib;

/** Construction parameters of an index. */
export interface HnswParams {
  space: Space;
  dimension: number;
  m: number;
  efConstruction: number;
}

/** What the sidecar records about its index file. */
interface Sidecar {
  formatVersion: typeof FORMAT_VERSION;
  collection: string;
  generation: number;
  space: Space;
  dimension: number;
  size: number;
  sha256: string;
}

/** Paths of a collection's index file and sidecar inside a store directory. */
export function indexPaths(dir: string, uuid: string): { index: string; sidecar: string } {
  return {
    index: join(dir, INDEX_DIR, uuid + INDEX_SUFFIX),
    sidecar: join(dir, INDEX_DIR, uuid + SIDECAR_SUFFIX),
  };
}

let chunk: Buffer | undefined;

/** sha256 (hex) of a file, read in 1 MiB chunks through one descriptor that is always closed. */
export function sha256File(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = (chunk ??= Buffer.allocUnsafe(1 << 20));
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Why a stored index cannot be used, or the loaded index. */
export type LoadOutcome = { index: VectorIndex } | { reason: IndexRebuildReason; detail: string };

/** One collection's HNSW index. */
export class VectorIndex {
  readonly params: HnswParams;
  /** The native index; undefined until `loader` has run (a lazily loaded file). */
  private loaded: HnswIndex | undefined;
  private loader: (() => HnswIndex) | undefined;
  /** SQLite generation the in-memory index reflects. */
  generation: number;
  /** Generation of the index file in the store directory (null: none trustworthy). */
  private persistedGeneration: number | null;
  /**
   * hnswlib's capacity and search ef, mirrored here so a query does not cross into
   * native code twice before it searches (each crossing costs more than it looks on
   * a ~100 µs query).
   */
  private capacity = 0;
  private ef = -1;

  private constructor(
    params: HnswParams,
    hnsw: HnswIndex | (() => HnswIndex),
    generation: number,
    persisted: number | null,
  ) {
    this.params = params;
    if (typeof hnsw === 'function') this.loader = hnsw;
    else this.adopt(hnsw);
    this.generation = generation;
    this.persistedGeneration = persisted;
  }

  private adopt(hnsw: HnswIndex): HnswIndex {
    this.loaded = hnsw;
    this.loader = undefined;
    this.capacity = hnsw.getMaxElements();
    return hnsw;
  }

  /** The native index, reading the file on first use when it was loaded lazily. */
  private get hnsw(): HnswIndex {
    return this.loaded ?? this.adopt(this.loader!());
  }

  /** True once the index is in memory (false for a lazily loaded file not used yet). */
  get inMemory(): boolean {
    return this.loaded !== undefined;
  }

  /** An empty index. */
  static create(
    params: HnswParams,
    generation: number,
    capacity = INITIAL_INDEX_CAPACITY,
  ): VectorIndex {
    const hnsw = new HierarchicalNSW(params.space, params.dimension);
    hnsw.initIndex({
      maxElements: Math.max(capacity, 1),
      m: params.m,
      efConstruction: params.efConstruction,
      randomSeed: HNSW_RANDOM_SEED,
      allowReplaceDeleted: true,
    });
    return new VectorIndex(params, hnsw, generation, null);
  }

  /**
   * Loads the index file of `uuid` if it is intact and of `generation`; otherwise says why not.
   */
  static load(
    dir: string,
    uuid: string,
    params: HnswParams,
    generation: number,
    options: { trusted?: boolean } = {},
  ): LoadOutcome {
    const paths = indexPaths(dir, uuid);
    if (!existsSync(paths.index)) return { reason: 'missing', detail: 'index file is missing' };
    if (!existsSync(paths.sidecar))
      return { reason: 'missing', detail: 'index sidecar is missing' };
    let sidecar: Sidecar;
    try {
      sidecar = JSON.parse(readFileSync(paths.sidecar, 'utf8')) as Sidecar;
    } catch (err) {
      return { reason: 'corrupt', detail: `unreadable sidecar: ${(err as Error).message}` };
    }
    if (
      typeof sidecar !== 'object' ||
      sidecar === null ||
      sidecar.formatVersion !== FORMAT_VERSION ||
      sidecar.collection !== uuid ||
      typeof sidecar.generation !== 'number' ||
      typeof sidecar.size !== 'number' ||
      typeof sidecar.sha256 !== 'string'
    ) {
      return { reason: 'corrupt', detail: 'malformed sidecar' };
    }
    if (sidecar.generation !== generation) {
      return {
        reason: 'stale',
        detail: `index generation ${sidecar.generation}, database generation ${generation}`,
      };
    }
    if (sidecar.space !== params.space || sidecar.dimension !== params.dimension) {
      return { reason: 'corrupt', detail: 'sidecar space/dimension differ from the collection' };
    }
    const size = statSync(paths.index).size;
    if (size !== sidecar.size)
      return {
        reason: 'corrupt',
        detail: `index file has ${size} bytes, sidecar says ${sidecar.size}`,
      };
    if (options.trusted) {
      // Read on first use; a file hnswlib cannot read then throws, and a write call's
      // failed index update is rebuilt from SQLite (core.ts, applyEffects).
      const read = (): HnswIndex => {
        const hnsw = new HierarchicalNSW(params.space, params.dimension);
        hnsw.readIndexSync(paths.index, true);
        if (hnsw.getNumDimensions() !== params.dimension)
          throw new Error(`index ${paths.index}: dimension differs from the collection`);
        return hnsw;
      };
      return { index: new VectorIndex(params, read, generation, generation) };
    }
    if (sha256File(paths.index) !== sidecar.sha256)
      return { reason: 'corrupt', detail: 'index file sha256 mismatch' };
    const hnsw = new HierarchicalNSW(params.space, params.dimension);
    try {
      hnsw.readIndexSync(paths.index, true);
    } catch (err) {
      return {
        reason: 'corrupt',
        detail: `hnswlib could not read the index: ${(err as Error).message}`,
      };
    }
    if (hnsw.getNumDimensions() !== params.dimension) {
      return { reason: 'corrupt', detail: 'index dimension differs from the collection' };
    }
    return { index: new VectorIndex(params, hnsw, generation, generation) };
  }

  /** Builds an index from `(label, vector)` pages (e.g. straight from SQLite). */
  static rebuild(
    params: HnswParams,
    generation: number,
    count: number,
    pages: Iterable<Array<{ label: number; vector: number[] }>>,
  ): VectorIndex {
    const index = VectorIndex.create(params, generation, Math.max(INITIAL_INDEX_CAPACITY, count));
    for (const page of pages) {
      for (const { label, vector } of page) index.hnsw.addPoint(vector, label, true);
    }
    return index;
  }

  /** True when the in-memory index differs from the file in the store directory. */
  get dirty(): boolean {
    return this.persistedGeneration !== this.generation;
  }

  /** Makes room for `extra` more elements (doubling, so growth is amortised). */
  private ensureCapacity(extra: number): void {
    const hnsw = this.hnsw;
    const needed = hnsw.getCurrentCount() + extra;
    const max = this.capacity;
    if (needed <= max) return;
    hnsw.resizeIndex(Math.max(needed, max * 2));
    this.capacity = hnsw.getMaxElements();
  }

  /** Adds new labels (never seen before: seqs are never reused). Reuses deleted slots. */
  addNew(items: ReadonlyArray<{ label: number; vector: number[] }>): void {
    this.ensureCapacity(items.length);
    for (const { label, vector } of items) this.hnsw.addPoint(vector, label, true);
  }

  /** Replaces the vector of existing labels in place (hnswlib updatePoint). */
  replace(items: ReadonlyArray<{ label: number; vector: number[] }>): void {
    for (const { label, vector } of items) this.hnsw.addPoint(vector, label, false);
  }

  /** Marks labels deleted; their slots are reused by later additions. */
  remove(labels: readonly number[]): void {
    for (const label of labels) this.hnsw.markDelete(label);
  }

  /** Nearest `k` labels (ef = max(ef, k)), optionally restricted by `filter`. */
  search(
    query: number[],
    k: number,
    ef: number,
    filter?: (label: number) => boolean,
  ): { labels: number[]; distances: number[] } {
    const hnsw = this.hnsw;
    const limit = Math.min(k, this.capacity);
    if (limit <= 0) return { labels: [], distances: [] };
    const searchEf = Math.max(ef, limit);
    if (searchEf !== this.ef) {
      hnsw.setEf(searchEf);
      this.ef = searchEf;
    }
    const result = filter ? hnsw.searchKnn(query, limit, filter) : hnsw.searchKnn(query, limit);
    return { labels: result.neighbors, distances: result.distances };
  }

  /**
   * Writes the index to `dir`'s index folder: file to a temp name then renamed, then
   * the sidecar the same way. A crash in between leaves a sidecar that does not match
   * the file, which the next open treats as corrupt and rebuilds.
   */
  persist(dir: string, uuid: string): void {
    const paths = indexPaths(dir, uuid);
    const tmpSuffix = `.tmp-${randomBytes(4).toString('hex')}`;
    const tmpIndex = paths.index + tmpSuffix;
    try {
      this.hnsw.writeIndexSync(tmpIndex);
      const sidecar: Sidecar = {
        formatVersion: FORMAT_VERSION,
        collection: uuid,
        generation: this.generation,
        space: this.params.space,
        dimension: this.params.dimension,
        size: statSync(tmpIndex).size,
        sha256: sha256File(tmpIndex),
      };
      renameSync(tmpIndex, paths.index);
      writeFileSync(paths.sidecar + tmpSuffix, JSON.stringify(sidecar, null, 2) + '\n');
      renameSync(paths.sidecar + tmpSuffix, paths.sidecar);
    } finally {
      rmSync(tmpIndex, { force: true });
      rmSync(paths.sidecar + tmpSuffix, { force: true });
    }
    this.persistedGeneration = this.generation;
  }
}

/** Removes a collection's index file and sidecar (no error when absent). */
export function removeIndexFiles(dir: string, uuid: string): void {
  const paths = indexPaths(dir, uuid);
  rmSync(paths.index, { force: true });
  rmSync(paths.sidecar, { force: true });
}
