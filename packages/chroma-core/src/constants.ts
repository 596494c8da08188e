/**
 * File names, format versions and tuning defaults of chroma-core.
 */
import type { Space } from './types.js';

/**
 * Schema version of {@link SQLITE_FILE} (`PRAGMA user_version`) this code writes.
 * 3 added `embedding_metadata_array` (array metadata values); a version-2 file is
 * migrated on open (database.ts).
 */
export const SCHEMA_VERSION = 3;

/** The oldest schema version of {@link SQLITE_FILE} that open migrates. */
export const OLDEST_MIGRATED_SCHEMA_VERSION = 2;

/**
 * Schema version of {@link VECTORS_FILE}. Kept apart from {@link SCHEMA_VERSION} so a
 * metadata schema change never rewrites the vectors file.
 */
export const VECTORS_SCHEMA_VERSION = 2;

/** Version of `manifest.json` and of the index sidecar files (2: vectors in their own file). */
export const FORMAT_VERSION = 2 as const;

/** The SQLite database inside a store directory: collections, records, metadata, kv. */
export const SQLITE_FILE = 'chroma.sqlite3';

/**
 * The vectors' SQLite database, attached to {@link SQLITE_FILE} as schema `vec`. Kept
 * apart so that a session which changes only metadata leaves this file — most of a
 * store's bytes — untouched, and a content-addressed upload can skip it.
 */
export const VECTORS_FILE = 'vectors.sqlite3';

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
 * uses 10, which gives poor recall on 384-d data. Measured at 10k × 384-d (bench/run.ts):
 * recall@10 is 1.0 on embedding-like (clustered) data at ef 100, but only 0.52 on i.i.d.
 * uniform vectors, which need ef ≈ 800 (recall 0.986, ~1 ms per query).
 */
export const DEFAULT_SEARCH_EF = 100;

/** Capacity of a new HNSW index; it doubles (resizeIndex) whenever it fills up. */
export const INITIAL_INDEX_CAPACITY = 1024;

/** Seed of hnswlib's level generator, fixed so rebuilds are reproducible. */
export const HNSW_RANDOM_SEED = 100;
