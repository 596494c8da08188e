/**
 * The SQLite databases of a store: `chroma.sqlite3` (collections, records, metadata,
 * kv) with `vectors.sqlite3` (the float32 vectors) attached as schema `vec`; opening
 * them, their schema, and the journal mode.
 *
 * Why two files: vectors are most of a store's bytes (61 % at 100k × 384-d) and change
 * only when vectors do, while the compactor's usual work is metadata. A session that
 * writes no vector does not touch `vectors.sqlite3` at all, so a content-addressed
 * upload of the closed store skips it.
 *
 * Journal mode: a rollback journal (`DELETE`) for both, with `locking_mode =
 * EXCLUSIVE` and `synchronous = OFF`.
 * - Rollback, not WAL: a transaction over two attached files is atomic only with a
 *   rollback journal (SQLite commits both through a super-journal). WAL would also
 *   rewrite the vectors file's header on every open/close cycle (its change counter),
 *   so the file would never be byte-identical to the one uploaded before.
 * - `synchronous = OFF`: no fsync per commit (a single-record write costs ~25 µs, not
 *   ~450 µs). A process crash is still safe — the journal is written before the data
 *   and the OS keeps both. A power loss may damage the file; the local store is a
 *   working copy whose durable form is the uploaded snapshot, and `quick_check` on
 *   open turns such damage into a `CorruptDatabaseError`.
 * - EXCLUSIVE locking, taken at open with `BEGIN EXCLUSIVE`: no other connection, in
 *   this process or another, can read or write either file while the store is open.
 * A closed store is the two database files and nothing beside them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  OLDEST_MIGRATED_SCHEMA_VERSION,
  SCHEMA_VERSION,
  VECTORS_FILE,
  VECTORS_SCHEMA_VERSION,
} from './constants.js';
import { CorruptDatabaseError, StoreLockedError } from './errors.js';

/** better-sqlite3 connection type. */
export type Db = Database.Database;

/**
 * Array metadata values (schema 3): one row per distinct element, typed like
 * embedding_metadata, indexed per type on (key, value) so `$contains` is an index
 * lookup. The array itself is in `embeddings.metadata`; a key has rows here or in
 * embedding_metadata, never both (records.ts writes both tables per key).
 */
const ARRAY_SCHEMA = `
CREATE TABLE embedding_metadata_array (
  seq          INTEGER NOT NULL,
  key          TEXT    NOT NULL,
  string_value TEXT,
  num_value    REAL,
  bool_value   INTEGER
) STRICT;

CREATE INDEX embedding_metadata_array_seq    ON embedding_metadata_array (seq, key);
CREATE INDEX embedding_metadata_array_string ON embedding_metadata_array (key, string_value) WHERE string_value IS NOT NULL;
CREATE INDEX embedding_metadata_array_num    ON embedding_metadata_array (key, num_value)    WHERE num_value IS NOT NULL;
CREATE INDEX embedding_metadata_array_bool   ON embedding_metadata_array (key, bool_value)   WHERE bool_value IS NOT NULL;
`;

const SCHEMA = `
CREATE TABLE collections (
  key        INTEGER PRIMARY KEY,
  uuid       TEXT    NOT NULL UNIQUE,
  name       TEXT    NOT NULL UNIQUE,
  space      TEXT    NOT NULL,
  dimension  INTEGER,
  metadata   TEXT    NOT NULL,
  generation INTEGER NOT NULL DEFAULT 0,
  count      INTEGER NOT NULL DEFAULT 0
) STRICT;

-- metadata: the record's metadata as canonical (key-sorted) JSON, NULL when it has none.
-- It is what reads return; embedding_metadata holds the same keys one row each, with
-- indexes, for filtering. Both are written by the same statement sequence in one
-- transaction (records.ts), so they never disagree.
CREATE TABLE embeddings (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  collection INTEGER NOT NULL,
  id         TEXT    NOT NULL,
  document   TEXT,
  metadata   TEXT,
  UNIQUE (collection, id)
) STRICT;

CREATE TABLE embedding_metadata (
  seq          INTEGER NOT NULL,
  key          TEXT    NOT NULL,
  string_value TEXT,
  num_value    REAL,
  bool_value   INTEGER,
  PRIMARY KEY (seq, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX embedding_metadata_string ON embedding_metadata (key, string_value) WHERE string_value IS NOT NULL;
CREATE INDEX embedding_metadata_num    ON embedding_metadata (key, num_value)    WHERE num_value IS NOT NULL;
CREATE INDEX embedding_metadata_bool   ON embedding_metadata (key, bool_value)   WHERE bool_value IS NOT NULL;

${ARRAY_SCHEMA}
CREATE TABLE kv (
  namespace TEXT NOT NULL,
  key       TEXT NOT NULL,
  value     TEXT NOT NULL,
  PRIMARY KEY (namespace, key)
) STRICT, WITHOUT ROWID;
`;

/**
 * The float32 vectors, in the attached `vec` database, keyed by `embeddings.seq`: apart
 * from the records so that filters and hydration read small rows, and in their own
 * file (see the module comment).
 */
const VECTORS_SCHEMA = `
CREATE TABLE vec.vectors (
  seq       INTEGER PRIMARY KEY,
  embedding BLOB    NOT NULL
) STRICT;
`;

const EXPECTED_TABLES = [
  'collections',
  'embeddings',
  'embedding_metadata',
  'embedding_metadata_array',
  'kv',
];
const EXPECTED_VECTOR_TABLES = ['vectors'];

/** SQLite result codes that mean "the file is damaged or not a database". */
export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
  );
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
  );
}

/**
 * Opens (creating if absent) the store's databases — `file` and, attached as `vec`,
 * `vectors.sqlite3` beside it — applies the pragmas and the schema, takes the
 * exclusive lock, and optionally runs `quick_check`. On any failure the connection is
 * closed before the error propagates, so no handle is left open.
 */
export function openDatabase(
  file: string,
  dir: string,
  integrityCheck: boolean,
): { db: Db; wroteSchema: boolean } {
  const vectorsFile = join(dir, VECTORS_FILE);
  // Checked before ATTACH, which would create an empty file in place of a lost one.
  const vectorsExisted = existsSync(vectorsFile);
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE'); // also for databases attached later
    db.prepare('ATTACH DATABASE ? AS vec').run(vectorsFile);
    for (const schema of ['main', 'vec']) {
      const mode = db.pragma(`${schema}.journal_mode = DELETE`, { simple: true });
      if (mode !== 'delete')
        throw new CorruptDatabaseError(file, `cannot use a rollback journal (got ${String(mode)})`);
      db.pragma(`${schema}.synchronous = OFF`);
    }
    // 64 MiB page cache for records (the default is 2 MiB): hydration reads random rows.
    db.pragma('main.cache_size = -65536');
    db.pragma('vec.cache_size = -16384');
    // Holds both files' locks from now until close (EXCLUSIVE locking keeps them).
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    const wroteSchema = ensureSchema(db, file, vectorsFile, vectorsExisted);
    if (integrityCheck) {
      const result = db.pragma('quick_check', { simple: true }); // every attached database
      if (result !== 'ok') throw new CorruptDatabaseError(file, `quick_check: ${String(result)}`);
      const drift = db
        .prepare(
          'SELECT c.name FROM collections c WHERE c.count != (SELECT count(*) FROM embeddings e WHERE e.collection = c.key)',
        )
        .pluck()
        .all() as string[];
      if (drift.length > 0)
        throw new CorruptDatabaseError(file, `record counts disagree for ${drift.join(', ')}`);
      const records = db.prepare('SELECT count(*) FROM main.embeddings').pluck().get() as number;
      const vectors = db.prepare('SELECT count(*) FROM vec.vectors').pluck().get() as number;
      if (records !== vectors)
        throw new CorruptDatabaseError(
          vectorsFile,
          `${vectors} vectors for ${records} records (not the pair of this database?)`,
        );
    }
    return { db, wroteSchema };
  } catch (err) {
    db.close();
    if (err instanceof CorruptDatabaseError) throw err;
    if (isCorruption(err))
      throw new CorruptDatabaseError(file, (err as Error).message, { cause: err });
    if (isBusy(err)) throw new StoreLockedError(dir, { cause: err });
    throw err;
  }
}

function tablesOf(db: Db, schema: 'main' | 'vec'): string[] {
  return (
    db
      .prepare(`SELECT name FROM ${schema}.sqlite_schema WHERE type = 'table'`)
      .pluck()
      .all() as string[]
  ).filter((t) => !t.startsWith('sqlite_'));
}

/** Creates or migrates the schema when needed; true when it wrote. */
function ensureSchema(db: Db, file: string, vectorsFile: string, vectorsExisted: boolean): boolean {
  const tables = tablesOf(db, 'main');
  const vectorTables = tablesOf(db, 'vec');
  if (tables.length === 0) {
    if (vectorTables.length > 0)
      throw new CorruptDatabaseError(vectorsFile, `holds vectors but ${file} is empty`);
    // Both files in one transaction: SQLite commits attached files atomically.
    db.transaction(() => {
      db.exec(SCHEMA);
      db.exec(VECTORS_SCHEMA);
      db.pragma(`main.user_version = ${SCHEMA_VERSION}`);
      db.pragma(`vec.user_version = ${VECTORS_SCHEMA_VERSION}`);
    })();
    return true;
  }
  let version = db.pragma('main.user_version', { simple: true }) as number;
  let migrated = false;
  if (version === OLDEST_MIGRATED_SCHEMA_VERSION && tables.includes('embeddings')) {
    // 2 → 3: the array table is new and empty (version 2 had no array values). Only
    // chroma.sqlite3 changes; the vectors file is not touched.
    db.transaction(() => {
      db.exec(ARRAY_SCHEMA);
      db.pragma(`main.user_version = ${SCHEMA_VERSION}`);
    })();
    tables.push('embedding_metadata_array');
    version = SCHEMA_VERSION;
    migrated = true;
  }
  if (version !== SCHEMA_VERSION) {
    throw new CorruptDatabaseError(
      file,
      `schema version ${version}, expected ${SCHEMA_VERSION} (not a chroma-core database?)`,
    );
  }
  const missing = EXPECTED_TABLES.filter((t) => !tables.includes(t));
  if (missing.length > 0)
    throw new CorruptDatabaseError(file, `missing tables ${missing.join(', ')}`);
  if (!vectorsExisted) throw new CorruptDatabaseError(vectorsFile, 'missing');
  const vectorsVersion = db.pragma('vec.user_version', { simple: true }) as number;
  const missingVectors = EXPECTED_VECTOR_TABLES.filter((t) => !vectorTables.includes(t));
  if (vectorsVersion !== VECTORS_SCHEMA_VERSION || missingVectors.length > 0)
    throw new CorruptDatabaseError(
      vectorsFile,
      `not a chroma-core vectors database (schema version ${vectorsVersion}, tables ${vectorTables.join(', ') || 'none'})`,
    );
  return migrated;
}

/**
 * Closes the connection: both files are then complete rollback-journal databases with
 * no `-journal` beside them (each commit already removed its journal).
 */
export function closeDatabase(db: Db): void {
  db.close();
}
