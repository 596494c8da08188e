/**
 * File names, format versions and tuning defaults of chroma-core.
 */
import type { Space } from './types.js';

/** SQLite schema version (`PRAGMA user_version`) this code reads and writes. */
export const SCHEMA_VERSION = 1;

/** Version of `manifest.json` and of the index sidecar files. */
export const FORMAT_VERSION = 1 as const;

/** The SQLite database inside a store directory. */
export const SQLITE_FILE = 'chroma.sqlite3';

/** Folder of the per-collection HNSW index files inside a store directory. */
export const INDEX_DIR = 'index';

/** Suffix of an HNSW index file (`index/<collection uuid>.hnsw`). */
export const INDEX_SUFFIX = '.hnsw';

/** Suffix of the JSON sidecar written beside every index file. */
export const SIDECAR_SUFFIX = '.hnsw.json';

/** The manifest of a snapshot directory. */
export const MANIFEST_FILE = 'manifest.json';

/** Space used when neither `space` nor `metadata['hnsw:space']` is given (Chroma's default). */
export const DEFAULT_SPACE: Space = 'l2';

/** HNSW `M` (graph degree) unless `metadata['hnsw:M']` says otherwise (Chroma's default). */
export const DEFAULT_M = 16;

/** HNSW `efConstruction` unless `metadata['hnsw:construction_ef']` says otherwise (Chroma's default). */
export const DEFAULT_CONSTRUCTION_EF = 100;

/**
 * HNSW `ef` at query time unless `metadata['hnsw:search_ef']` says otherwise. Chroma
 * uses 10, which gives poor recall on 384-d data; 100 keeps recall@10 ≥ 0.95 on
 * embedding-like (clustered) data at ~0.1–0.3 ms per query (see bench/README in the
 * package README).
 */
export const DEFAULT_SEARCH_EF = 100;

/** Capacity of a new HNSW index; it doubles (resizeIndex) whenever it fills up. */
export const INITIAL_INDEX_CAPACITY = 1024;

/** Seed of hnswlib's level generator, fixed so rebuilds are reproducible. */
export const HNSW_RANDOM_SEED = 100;
