/**
 * The SQLite database of a store: opening it, its schema, and the journal mode.
 *
 * Journal mode: WAL with `locking_mode = EXCLUSIVE` and `synchronous = NORMAL` while
 * open. WAL makes a commit an append without fsync, so the per-message (legacy)
 * compaction path is not dominated by fsyncs; EXCLUSIVE locking means SQLite never
 * creates a `-shm` file and no other connection (in this process or another) can open
 * the database while we hold it. On close we checkpoint (`wal_checkpoint(TRUNCATE)`)
 * and switch back to `journal_mode = DELETE`, which removes the `-wal` file and marks
 * the file as a plain rollback-journal database: the closed store is one
 * self-contained `chroma.sqlite3` that can be copied, tarred or opened read-only with
 * nothing beside it. Durability against power loss is not a goal here — the local
 * store is a working copy whose durable form is the uploaded snapshot.
 */
import Database from 'better-sqlite3';
import { SCHEMA_VERSION } from './constants.js';
import { CorruptDatabaseError, StoreLockedError } from './errors.js';

/** better-sqlite3 connection type. */
export type Db = Database.Database;

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

-- The float32 vectors, apart from the records so that filters and result hydration
-- read small rows (a 384-d vector is 1.5 KB; ids, documents and metadata stay dense).
CREATE TABLE vectors (
  seq       INTEGER PRIMARY KEY,
  embedding BLOB    NOT NULL
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

CREATE TABLE kv (
  namespace TEXT NOT NULL,
  key       TEXT NOT NULL,
  value     TEXT NOT NULL,
  PRIMARY KEY (namespace, key)
) STRICT, WITHOUT ROWID;
`;

const EXPECTED_TABLES = ['collections', 'embeddings', 'vectors', 'embedding_metadata', 'kv'];

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
 * Opens (creating if absent) the database at `file`, applies the pragmas and the
 * schema, and optionally runs `quick_check`. On any failure the connection is closed
 * before the error propagates, so no handle is left open.
 */
export function openDatabase(file: string, dir: string, integrityCheck: boolean): Db {
  const db = new Database(file, { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    // The switch only rewrites two header bytes and carries no data, so it needs no
    // fsync: after a power loss either mode is a valid state of the same content.
    db.pragma('synchronous = OFF');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal')
      throw new CorruptDatabaseError(file, `cannot switch to WAL (got ${String(mode)})`);
    db.pragma('synchronous = NORMAL');
    // 64 MiB page cache (the default is 2 MiB): query hydration reads random records.
    db.pragma('cache_size = -65536');
    ensureSchema(db, file);
    if (integrityCheck) {
      const result = db.pragma('quick_check', { simple: true });
      if (result !== 'ok') throw new CorruptDatabaseError(file, `quick_check: ${String(result)}`);
      const drift = db
        .prepare(
          'SELECT c.name FROM collections c WHERE c.count != (SELECT count(*) FROM embeddings e WHERE e.collection = c.key)',
        )
        .pluck()
        .all() as string[];
      if (drift.length > 0)
        throw new CorruptDatabaseError(file, `record counts disagree for ${drift.join(', ')}`);
    }
    return db;
  } catch (err) {
    db.close();
    if (err instanceof CorruptDatabaseError) throw err;
    if (isCorruption(err))
      throw new CorruptDatabaseError(file, (err as Error).message, { cause: err });
    if (isBusy(err)) throw new StoreLockedError(dir, { cause: err });
    throw err;
  }
}

function ensureSchema(db: Db, file: string): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  const tables = (
    db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[]
  ).filter((t) => !t.startsWith('sqlite_'));
  if (version === 0 && tables.length === 0) {
    db.transaction(() => {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
    return;
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
}

/**
 * Checkpoints the WAL into the main file, switches to a rollback journal and closes.
 * Afterwards the directory holds no `-wal`/`-shm`/`-journal` file. Always closes the
 * connection, even when the checkpoint fails (the error is rethrown after closing).
 */
export function closeDatabase(db: Db): void {
  let failure: unknown;
  try {
    // The checkpoint moves committed data into the main file and fsyncs it
    // (synchronous = NORMAL) before the WAL is emptied; the mode switch that follows
    // carries no data, so it runs without fsync like the one in openDatabase.
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('synchronous = OFF');
    db.pragma('journal_mode = DELETE');
  } catch (err) {
    failure = err;
  }
  db.close();
  if (failure !== undefined) throw failure;
}
