/**
 * SQL over the store's tables: collections, records (id, document, float32 embedding)
 * and per-key metadata rows. Pure SQLite — the HNSW index is not touched here.
 *
 * A record's `seq` (INTEGER PRIMARY KEY AUTOINCREMENT) is its HNSW label. AUTOINCREMENT
 * guarantees a seq is never reused, so a label marked deleted in the index can never
 * come back as a different record.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.js';
import type { Metadata, MetadataValue, Space, UpdateMetadata } from './types.js';
import { ESTIMATE_CAP, type SqlCondition } from './where.js';

/** A row of `collections`. */
export interface CollectionRow {
  key: number;
  uuid: string;
  name: string;
  space: Space;
  dimension: number | null;
  metadata: string;
  generation: number;
  /** Number of records, maintained by every insert/delete (SQLite's count(*) is a scan). */
  count: number;
}

/** A record as read from `embeddings` (and `vectors`). */
export interface RecordRow {
  seq: number;
  id: string;
  document: string | null;
  /** Canonical metadata JSON, or null. */
  metadata: string | null;
  embedding?: Buffer;
}

/** An existing record found by id. */
export interface ExistingRecord {
  seq: number;
  metadata: string | null;
}

const STATEMENT_CACHE_LIMIT = 256;

/**
 * Told which records' id, document or metadata a statement changed or deleted (`null`:
 * possibly all of them), so in-memory copies can be dropped.
 */
export type RowsChangedListener = (seqs: readonly number[] | null) => void;

/** Prepared statements and small helpers over one connection. */
export class RecordTable {
  private readonly db: Db;
  private readonly cache = new Map<string, Statement>();
  private readonly s;
  private readonly rowsChanged: RowsChangedListener;

  constructor(db: Db, rowsChanged: RowsChangedListener = () => {}) {
    this.db = db;
    this.rowsChanged = rowsChanged;
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      collectionByName: p('SELECT * FROM collections WHERE name = ?'),
      collectionByKey: p('SELECT * FROM collections WHERE key = ?'),
      collections: p('SELECT * FROM collections ORDER BY name'),
      insertCollection: p(
        'INSERT INTO collections (uuid, name, space, dimension, metadata, generation) VALUES (?, ?, ?, ?, ?, 0)',
      ),
      deleteCollectionMetadata: p(
        'DELETE FROM embedding_metadata WHERE seq IN (SELECT seq FROM embeddings WHERE collection = ?)',
      ),
      deleteCollectionArrays: p(
        'DELETE FROM embedding_metadata_array WHERE seq IN (SELECT seq FROM embeddings WHERE collection = ?)',
      ),
      deleteCollectionVectors: p(
        'DELETE FROM vectors WHERE seq IN (SELECT seq FROM embeddings WHERE collection = ?)',
      ),
      deleteCollectionRecords: p('DELETE FROM embeddings WHERE collection = ?'),
      deleteCollection: p('DELETE FROM collections WHERE key = ?'),
      setDimension: p('UPDATE collections SET dimension = ? WHERE key = ?'),
      bumpGeneration: p('UPDATE collections SET generation = generation + 1 WHERE key = ?'),
      generation: p('SELECT generation FROM collections WHERE key = ?').pluck(),
      adjustCount: p('UPDATE collections SET count = count + ? WHERE key = ?'),
      lookup: p(
        'SELECT id, seq, metadata FROM embeddings WHERE collection = ? AND id IN (SELECT value FROM json_each(?))',
      ),
      insertRecord: p(
        'INSERT INTO embeddings (collection, id, document, metadata) VALUES (?, ?, ?, ?)',
      ),
      setRecordMetadata: p('UPDATE embeddings SET metadata = ? WHERE seq = ?'),
      insertVector: p('INSERT INTO vectors (seq, embedding) VALUES (?, ?)'),
      setEmbedding: p('UPDATE vectors SET embedding = ? WHERE seq = ?'),
      setDocument: p('UPDATE embeddings SET document = ? WHERE seq = ?'),
      putMetadata: p(
        `INSERT INTO embedding_metadata (seq, key, string_value, num_value, bool_value) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (seq, key) DO UPDATE SET
           string_value = excluded.string_value, num_value = excluded.num_value, bool_value = excluded.bool_value`,
      ),
      deleteMetadataKey: p('DELETE FROM embedding_metadata WHERE seq = ? AND key = ?'),
      putArrayElement: p(
        'INSERT INTO embedding_metadata_array (seq, key, string_value, num_value, bool_value) VALUES (?, ?, ?, ?, ?)',
      ),
      deleteArrayKey: p('DELETE FROM embedding_metadata_array WHERE seq = ? AND key = ?'),
      deleteArraysBySeqs: p(
        'DELETE FROM embedding_metadata_array WHERE seq IN (SELECT value FROM json_each(?))',
      ),
      deleteMetadataBySeqs: p(
        'DELETE FROM embedding_metadata WHERE seq IN (SELECT value FROM json_each(?))',
      ),
      deleteVectorsBySeqs: p('DELETE FROM vectors WHERE seq IN (SELECT value FROM json_each(?))'),
      deleteRecordsBySeqs: p(
        'DELETE FROM embeddings WHERE seq IN (SELECT value FROM json_each(?))',
      ),
      recordsBySeqs: p(
        'SELECT seq, id, document, metadata FROM embeddings WHERE seq IN (SELECT value FROM json_each(?))',
      ),
      recordsWithEmbeddingBySeqs: p(
        `SELECT e.seq, e.id, e.document, e.metadata, v.embedding FROM embeddings e JOIN vectors v ON v.seq = e.seq
         WHERE e.seq IN (SELECT value FROM json_each(?))`,
      ),
      embeddingsBySeqs: p(
        'SELECT seq, embedding FROM vectors WHERE seq IN (SELECT value FROM json_each(?))',
      ),
      embeddingsPage: p(
        `SELECT e.seq, v.embedding FROM embeddings e JOIN vectors v ON v.seq = e.seq
         WHERE e.collection = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`,
      ),
      collectionRecords: p(
        'SELECT seq, id, document, metadata FROM embeddings WHERE collection = ? ORDER BY seq',
      ),
      recordsPageById: p(
        `SELECT e.seq, e.id, e.document, e.metadata, v.embedding FROM embeddings e JOIN vectors v ON v.seq = e.seq
         WHERE e.collection = ? AND e.id > ? ORDER BY e.id LIMIT ?`,
      ),
    };
  }

  /** Prepares (and caches) a statement with generated SQL. */
  prepare(sql: string): Statement {
    let stmt = this.cache.get(sql);
    if (!stmt) {
      if (this.cache.size >= STATEMENT_CACHE_LIMIT) this.cache.clear();
      stmt = this.db.prepare(sql);
      this.cache.set(sql, stmt);
    }
    return stmt;
  }

  // ---- collections -------------------------------------------------------------

  collectionByName(name: string): CollectionRow | undefined {
    return this.s.collectionByName.get(name) as CollectionRow | undefined;
  }

  collectionByKey(key: number): CollectionRow | undefined {
    return this.s.collectionByKey.get(key) as CollectionRow | undefined;
  }

  collections(): CollectionRow[] {
    return this.s.collections.all() as CollectionRow[];
  }

  insertCollection(
    uuid: string,
    name: string,
    space: Space,
    dimension: number | null,
    metadata: Metadata,
  ): number {
    return Number(
      this.s.insertCollection.run(uuid, name, space, dimension, JSON.stringify(metadata))
        .lastInsertRowid,
    );
  }

  deleteCollection(key: number): void {
    this.rowsChanged(null);
    this.s.deleteCollectionMetadata.run(key);
    this.s.deleteCollectionArrays.run(key);
    this.s.deleteCollectionVectors.run(key);
    this.s.deleteCollectionRecords.run(key);
    this.s.deleteCollection.run(key);
  }

  setDimension(key: number, dimension: number): void {
    this.s.setDimension.run(dimension, key);
  }

  /** Marks a vector mutation: the index file on disk is stale until rewritten. */
  bumpGeneration(key: number): void {
    this.s.bumpGeneration.run(key);
  }

  generation(key: number): number {
    return this.s.generation.get(key) as number;
  }

  /** Keeps `collections.count` in step with inserts (+) and deletes (−). */
  adjustCount(key: number, delta: number): void {
    if (delta !== 0) this.s.adjustCount.run(delta, key);
  }

  // ---- records -----------------------------------------------------------------

  /** The existing records among `ids` (seq and metadata JSON by id). */
  lookup(key: number, ids: readonly string[]): Map<string, ExistingRecord> {
    const found = new Map<string, ExistingRecord>();
    if (ids.length === 0) return found;
    const rows = this.s.lookup.all(key, JSON.stringify(ids)) as Array<{
      id: string;
      seq: number;
      metadata: string | null;
    }>;
    for (const row of rows) found.set(row.id, { seq: row.seq, metadata: row.metadata });
    return found;
  }

  /** Inserts a record, its vector and its metadata (JSON column and indexed key rows). */
  insertRecord(
    key: number,
    id: string,
    document: string | null,
    metadata: Metadata | null,
    embedding: Buffer,
  ): number {
    const json = metadata ? metadataJson(metadata) : null;
    const seq = Number(this.s.insertRecord.run(key, id, document, json).lastInsertRowid);
    this.s.insertVector.run(seq, embedding);
    if (json !== null) this.putMetadataRows(seq, metadata!, null);
    return seq;
  }

  setEmbedding(seq: number, embedding: Buffer): void {
    this.s.setEmbedding.run(embedding, seq);
  }

  setDocument(seq: number, document: string): void {
    this.rowsChanged([seq]);
    this.s.setDocument.run(document, seq);
  }

  /**
   * Merges `patch` into a record's metadata (`current` is its JSON): given keys
   * overwrite, `null` removes. Rewrites the JSON column and touches only the patched
   * key rows.
   */
  mergeMetadata(seq: number, current: string | null, patch: UpdateMetadata): void {
    const before = current === null ? null : (JSON.parse(current) as Metadata);
    const merged: Record<string, MetadataValue> = { ...before };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete merged[k];
      else if (v !== undefined) merged[k] = v;
    }
    this.rowsChanged([seq]);
    this.s.setRecordMetadata.run(metadataJson(merged), seq);
    this.putMetadataRows(seq, patch, before);
  }

  /**
   * Writes metadata key rows of one record; a `null` value deletes the key. A scalar
   * is one embedding_metadata row, an array one embedding_metadata_array row per
   * distinct element; `previous` (the record's metadata before, null for a new
   * record) says which table held a key's old value.
   */
  private putMetadataRows(
    seq: number,
    metadata: Metadata | UpdateMetadata,
    previous: Metadata | null,
  ): void {
    for (const [key, value] of Object.entries(metadata)) {
      if (value === undefined) continue;
      const wasArray = Array.isArray(previous?.[key]);
      if (wasArray) this.s.deleteArrayKey.run(seq, key);
      if (value === null) {
        if (!wasArray) this.s.deleteMetadataKey.run(seq, key);
      } else if (Array.isArray(value)) {
        if (previous !== null && key in previous && !wasArray)
          this.s.deleteMetadataKey.run(seq, key);
        for (const element of new Set<string | number | boolean>(value)) {
          if (typeof element === 'string')
            this.s.putArrayElement.run(seq, key, element, null, null);
          else if (typeof element === 'number')
            this.s.putArrayElement.run(seq, key, null, element, null);
          else this.s.putArrayElement.run(seq, key, null, null, element ? 1 : 0);
        }
      } else if (typeof value === 'string') {
        this.s.putMetadata.run(seq, key, value, null, null);
      } else if (typeof value === 'number') {
        this.s.putMetadata.run(seq, key, null, value, null);
      } else {
        this.s.putMetadata.run(seq, key, null, null, value ? 1 : 0);
      }
    }
  }

  deleteRecords(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    this.rowsChanged(seqs);
    const list = JSON.stringify(seqs);
    this.s.deleteMetadataBySeqs.run(list);
    this.s.deleteArraysBySeqs.run(list);
    this.s.deleteVectorsBySeqs.run(list);
    this.s.deleteRecordsBySeqs.run(list);
  }

  /**
   * seqs of the records matching `condition` (and `ids` when given), in insertion
   * order; the first `limit` only when given.
   */
  selectSeqs(
    key: number,
    condition: SqlCondition | null,
    ids: readonly string[] | null,
    limit?: number,
  ): number[] {
    const { sql, params } = this.recordQuery('e.seq', key, condition, ids);
    if (limit !== undefined) params.push(limit);
    return this.prepare(`${sql} ORDER BY e.seq${limit === undefined ? '' : ' LIMIT ?'}`)
      .pluck()
      .all(...params) as number[];
  }

  /** Records matching `condition` (and `ids` when given), in insertion order. */
  selectRecords(
    key: number,
    condition: SqlCondition | null,
    ids: readonly string[] | null,
    withEmbedding: boolean,
    limit?: number,
    offset?: number,
  ): RecordRow[] {
    const columns = withEmbedding
      ? 'e.seq, e.id, e.document, e.metadata, v.embedding'
      : 'e.seq, e.id, e.document, e.metadata';
    const { sql, params } = this.recordQuery(columns, key, condition, ids, withEmbedding);
    let tail = ' ORDER BY e.seq';
    if (limit !== undefined || offset !== undefined) {
      tail += ' LIMIT ? OFFSET ?';
      params.push(limit ?? -1, offset ?? 0);
    }
    return this.prepare(sql + tail).all(...params) as RecordRow[];
  }

  private recordQuery(
    columns: string,
    key: number,
    condition: SqlCondition | null,
    ids: readonly string[] | null,
    joinVectors = false,
  ): { sql: string; params: Array<string | number> } {
    // SQLite's planner cannot know how selective a metadata sub-select is and prefers
    // scanning the collection's index. When the condition can drive (see
    // SqlCondition.drivable) and no ids are given, `+` keeps the collection test from
    // using an index, so the matching seqs are enumerated from the metadata indexes and
    // looked up by rowid: a filter matching 3 of 100k records reads ~3 rows, not 100k.
    const drive = condition?.drivable === true && !ids;
    const from = joinVectors ? 'embeddings e JOIN vectors v ON v.seq = e.seq' : 'embeddings e';
    let sql = `SELECT ${columns} FROM ${from} WHERE ${drive ? '+' : ''}e.collection = ?`;
    const params: Array<string | number> = [key];
    if (ids) {
      sql += ' AND e.id IN (SELECT value FROM json_each(?))';
      params.push(JSON.stringify(ids));
    }
    if (condition) {
      const rendered = drive ? this.withDriver(condition) : condition;
      sql += ` AND ${rendered.sql}`;
      params.push(...rendered.params);
    }
    return { sql, params };
  }

  /**
   * Renders an AND so that its most selective term drives. Left to itself SQLite turns
   * every `IN (sub-select)` term of an AND into a list of all its matches, so
   * `image_id = X AND receipt_id = 1` listed the third of a collection with receipt 1
   * to keep the ~30 rows of image X (3.4 ms at 100k records). When capped counts on the
   * metadata indexes (~1 µs per counted row) find a term with fewer than
   * {@link ESTIMATE_CAP} matches, it drives and every other term becomes a primary-key
   * probe of the candidate's own metadata (0.11 ms). When every term is big, probing
   * each candidate would cost more than SQLite's list intersection, which is kept.
   */
  private withDriver(condition: SqlCondition): { sql: string; params: Array<string | number> } {
    const terms = condition.conjuncts;
    if (!terms) return condition;
    let driver: SqlCondition | undefined;
    let fewest = ESTIMATE_CAP;
    for (const term of terms) {
      if (!term.drivable || !term.estimates) continue;
      let matches = 0;
      for (const e of term.estimates)
        matches += this.prepare(e.sql)
          .pluck()
          .get(...e.params) as number;
      if (matches < fewest) {
        fewest = matches;
        driver = term;
      }
    }
    if (!driver) return condition;
    const others = terms.filter((t) => t !== driver);
    return {
      sql: `(${[driver.sql, ...others.map((t) => t.probe ?? t.sql)].join(' AND ')})`,
      params: [driver, ...others].flatMap((t) => t.params),
    };
  }

  /**
   * Records by seq (any order); used to hydrate query results. Small lists bind their
   * seqs directly (`IN (?, ?, …)`, one cached statement per length), which is cheaper
   * than a JSON list on the query hot path.
   */
  recordsBySeqs(seqs: readonly number[], withEmbedding: boolean): Map<number, RecordRow> {
    const out = new Map<number, RecordRow>();
    if (seqs.length === 0) return out;
    let rows: RecordRow[];
    if (!withEmbedding && seqs.length <= 64) {
      const marks = seqs.length === 1 ? '?' : `?${',?'.repeat(seqs.length - 1)}`;
      rows = this.prepare(
        `SELECT seq, id, document, metadata FROM embeddings WHERE seq IN (${marks})`,
      ).all(...seqs) as RecordRow[];
    } else {
      const stmt = withEmbedding ? this.s.recordsWithEmbeddingBySeqs : this.s.recordsBySeqs;
      rows = stmt.all(JSON.stringify(seqs)) as RecordRow[];
    }
    for (const row of rows) out.set(row.seq, row);
    return out;
  }

  /** Embeddings by seq, for brute-force distance. */
  embeddingsBySeqs(seqs: readonly number[]): Array<{ seq: number; embedding: Buffer }> {
    if (seqs.length === 0) return [];
    return this.s.embeddingsBySeqs.all(JSON.stringify(seqs)) as Array<{
      seq: number;
      embedding: Buffer;
    }>;
  }

  /** One page of a collection's embeddings in seq order (index rebuilds, brute force). */
  embeddingsPage(
    key: number,
    afterSeq: number,
    limit: number,
  ): Array<{ seq: number; embedding: Buffer }> {
    return this.s.embeddingsPage.all(key, afterSeq, limit) as Array<{
      seq: number;
      embedding: Buffer;
    }>;
  }

  /** Every record of a collection (without embeddings), streamed in seq order. */
  collectionRecords(key: number): IterableIterator<RecordRow> {
    return this.s.collectionRecords.iterate(key) as IterableIterator<RecordRow>;
  }

  /** One page of a collection's records in id order (content digest). */
  recordsPageById(key: number, afterId: string, limit: number): Array<Required<RecordRow>> {
    return this.s.recordsPageById.all(key, afterId, limit) as Array<Required<RecordRow>>;
  }
}

/** Canonical (key-sorted) JSON of metadata; null when it has no keys. */
export function metadataJson(metadata: Metadata | Record<string, MetadataValue>): string | null {
  const keys = Object.keys(metadata).filter(
    (k) => metadata[k] !== undefined && metadata[k] !== null,
  );
  if (keys.length === 0) return null;
  keys.sort();
  const out: Record<string, MetadataValue> = {};
  for (const k of keys) out[k] = metadata[k]!;
  return JSON.stringify(out);
}

/** Parses a metadata JSON column. */
export function parseRecordMetadata(json: string | null): Metadata | null {
  return json === null ? null : (JSON.parse(json) as Metadata);
}
