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
import type { SqlCondition } from './where.js';

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
  embedding?: Buffer;
}

const STATEMENT_CACHE_LIMIT = 256;

/** Prepared statements and small helpers over one connection. */
export class RecordTable {
  private readonly db: Db;
  private readonly cache = new Map<string, Statement>();
  private readonly s;

  constructor(db: Db) {
    this.db = db;
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
      deleteCollectionVectors: p('DELETE FROM vectors WHERE seq IN (SELECT seq FROM embeddings WHERE collection = ?)'),
      deleteCollectionRecords: p('DELETE FROM embeddings WHERE collection = ?'),
      deleteCollection: p('DELETE FROM collections WHERE key = ?'),
      setDimension: p('UPDATE collections SET dimension = ? WHERE key = ?'),
      bumpGeneration: p('UPDATE collections SET generation = generation + 1 WHERE key = ?'),
      generation: p('SELECT generation FROM collections WHERE key = ?').pluck(),
      count: p('SELECT count FROM collections WHERE key = ?').pluck(),
      adjustCount: p('UPDATE collections SET count = count + ? WHERE key = ?'),
      lookup: p('SELECT id, seq FROM embeddings WHERE collection = ? AND id IN (SELECT value FROM json_each(?))'),
      insertRecord: p('INSERT INTO embeddings (collection, id, document) VALUES (?, ?, ?)'),
      insertVector: p('INSERT INTO vectors (seq, embedding) VALUES (?, ?)'),
      setEmbedding: p('UPDATE vectors SET embedding = ? WHERE seq = ?'),
      setDocument: p('UPDATE embeddings SET document = ? WHERE seq = ?'),
      putMetadata: p(
        `INSERT INTO embedding_metadata (seq, key, string_value, num_value, bool_value) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (seq, key) DO UPDATE SET
           string_value = excluded.string_value, num_value = excluded.num_value, bool_value = excluded.bool_value`,
      ),
      deleteMetadataKey: p('DELETE FROM embedding_metadata WHERE seq = ? AND key = ?'),
      deleteMetadataBySeqs: p('DELETE FROM embedding_metadata WHERE seq IN (SELECT value FROM json_each(?))'),
      deleteVectorsBySeqs: p('DELETE FROM vectors WHERE seq IN (SELECT value FROM json_each(?))'),
      deleteRecordsBySeqs: p('DELETE FROM embeddings WHERE seq IN (SELECT value FROM json_each(?))'),
      metadataBySeqs: p(
        'SELECT seq, key, string_value, num_value, bool_value FROM embedding_metadata WHERE seq IN (SELECT value FROM json_each(?))',
      ).raw(),
      recordsWithMetadataBySeqs: p(
        `SELECT e.seq, e.id, e.document, m.key, m.string_value, m.num_value, m.bool_value
         FROM embeddings e LEFT JOIN embedding_metadata m ON m.seq = e.seq
         WHERE e.seq IN (SELECT value FROM json_each(?))`,
      ).raw(),
      recordsBySeqs: p('SELECT seq, id, document FROM embeddings WHERE seq IN (SELECT value FROM json_each(?))'),
      recordsWithEmbeddingBySeqs: p(
        `SELECT e.seq, e.id, e.document, v.embedding FROM embeddings e JOIN vectors v ON v.seq = e.seq
         WHERE e.seq IN (SELECT value FROM json_each(?))`,
      ),
      embeddingsBySeqs: p('SELECT seq, embedding FROM vectors WHERE seq IN (SELECT value FROM json_each(?))'),
      embeddingsPage: p(
        `SELECT e.seq, v.embedding FROM embeddings e JOIN vectors v ON v.seq = e.seq
         WHERE e.collection = ? AND e.seq > ? ORDER BY e.seq LIMIT ?`,
      ),
      recordsPageById: p(
        `SELECT e.seq, e.id, e.document, v.embedding FROM embeddings e JOIN vectors v ON v.seq = e.seq
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

  insertCollection(uuid: string, name: string, space: Space, dimension: number | null, metadata: Metadata): number {
    return Number(this.s.insertCollection.run(uuid, name, space, dimension, JSON.stringify(metadata)).lastInsertRowid);
  }

  deleteCollection(key: number): void {
    this.s.deleteCollectionMetadata.run(key);
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

  /** Number of records of a collection (O(1): a maintained column). */
  count(key: number): number {
    return (this.s.count.get(key) as number | undefined) ?? 0;
  }

  /** Keeps `collections.count` in step with inserts (+) and deletes (−). */
  adjustCount(key: number, delta: number): void {
    if (delta !== 0) this.s.adjustCount.run(delta, key);
  }

  // ---- records -----------------------------------------------------------------

  /** seq of each given id that exists in the collection. */
  lookup(key: number, ids: readonly string[]): Map<string, number> {
    const found = new Map<string, number>();
    if (ids.length === 0) return found;
    for (const row of this.s.lookup.all(key, JSON.stringify(ids)) as Array<{ id: string; seq: number }>) {
      found.set(row.id, row.seq);
    }
    return found;
  }

  insertRecord(key: number, id: string, document: string | null, embedding: Buffer): number {
    const seq = Number(this.s.insertRecord.run(key, id, document).lastInsertRowid);
    this.s.insertVector.run(seq, embedding);
    return seq;
  }

  setEmbedding(seq: number, embedding: Buffer): void {
    this.s.setEmbedding.run(embedding, seq);
  }

  setDocument(seq: number, document: string): void {
    this.s.setDocument.run(document, seq);
  }

  /** Writes metadata keys of one record; a `null` value deletes the key. */
  putMetadata(seq: number, metadata: Metadata | UpdateMetadata): void {
    for (const [key, value] of Object.entries(metadata)) {
      if (value === undefined) continue;
      if (value === null) {
        this.s.deleteMetadataKey.run(seq, key);
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
    const list = JSON.stringify(seqs);
    this.s.deleteMetadataBySeqs.run(list);
    this.s.deleteVectorsBySeqs.run(list);
    this.s.deleteRecordsBySeqs.run(list);
  }

  /** seqs of the records matching `condition` (and `ids` when given), in insertion order. */
  selectSeqs(key: number, condition: SqlCondition | null, ids: readonly string[] | null): number[] {
    const { sql, params } = this.recordQuery('e.seq', key, condition, ids);
    return this.prepare(`${sql} ORDER BY e.seq`).pluck().all(...params) as number[];
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
    const columns = withEmbedding ? 'e.seq, e.id, e.document, v.embedding' : 'e.seq, e.id, e.document';
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
      sql += ` AND ${condition.sql}`;
      params.push(...condition.params);
    }
    return { sql, params };
  }

  /** Records by seq (any order); used to hydrate query results. */
  recordsBySeqs(seqs: readonly number[], withEmbedding: boolean): Map<number, RecordRow> {
    const out = new Map<number, RecordRow>();
    if (seqs.length === 0) return out;
    const stmt = withEmbedding ? this.s.recordsWithEmbeddingBySeqs : this.s.recordsBySeqs;
    for (const row of stmt.all(JSON.stringify(seqs)) as RecordRow[]) out.set(row.seq, row);
    return out;
  }

  /** Embeddings by seq, for brute-force distance. */
  embeddingsBySeqs(seqs: readonly number[]): Array<{ seq: number; embedding: Buffer }> {
    if (seqs.length === 0) return [];
    return this.s.embeddingsBySeqs.all(JSON.stringify(seqs)) as Array<{ seq: number; embedding: Buffer }>;
  }

  /** One page of a collection's embeddings in seq order (index rebuilds, brute force). */
  embeddingsPage(key: number, afterSeq: number, limit: number): Array<{ seq: number; embedding: Buffer }> {
    return this.s.embeddingsPage.all(key, afterSeq, limit) as Array<{ seq: number; embedding: Buffer }>;
  }

  /** One page of a collection's records in id order (content digest). */
  recordsPageById(key: number, afterId: string, limit: number): Array<Required<RecordRow>> {
    return this.s.recordsPageById.all(key, afterId, limit) as Array<Required<RecordRow>>;
  }

  /** Metadata of each given record (records without metadata are absent). Keys are sorted. */
  metadataBySeqs(seqs: readonly number[]): Map<number, Metadata> {
    const out = new Map<number, Metadata>();
    if (seqs.length === 0) return out;
    for (const [seq, key, str, num, bool] of this.s.metadataBySeqs.all(JSON.stringify(seqs)) as MetadataTuple[]) {
      let md = out.get(seq);
      if (!md) {
        md = {};
        out.set(seq, md);
      }
      md[key] = metadataValue(str, num, bool);
    }
    return out;
  }

  /**
   * Records and (optionally) their metadata by seq, in as few statements as possible:
   * one join when no embeddings are wanted (the query hot path).
   */
  hydrate(
    seqs: readonly number[],
    withEmbedding: boolean,
    withMetadata: boolean,
  ): { records: Map<number, RecordRow>; metadata: Map<number, Metadata> | null } {
    if (!withMetadata || withEmbedding || seqs.length === 0) {
      return {
        records: this.recordsBySeqs(seqs, withEmbedding),
        metadata: withMetadata ? this.metadataBySeqs(seqs) : null,
      };
    }
    const records = new Map<number, RecordRow>();
    const metadata = new Map<number, Metadata>();
    const rows = this.s.recordsWithMetadataBySeqs.all(JSON.stringify(seqs)) as Array<
      [number, string, string | null, string | null, string | null, number | null, number | null]
    >;
    for (const [seq, id, document, key, str, num, bool] of rows) {
      if (!records.has(seq)) records.set(seq, { seq, id, document });
      if (key === null) continue;
      let md = metadata.get(seq);
      if (!md) {
        md = {};
        metadata.set(seq, md);
      }
      md[key] = metadataValue(str, num, bool);
    }
    return { records, metadata };
  }
}

type MetadataTuple = [number, string, string | null, number | null, number | null];

function metadataValue(str: string | null, num: number | null, bool: number | null): MetadataValue {
  if (str !== null) return str;
  if (num !== null) return num;
  return bool === 1;
}
