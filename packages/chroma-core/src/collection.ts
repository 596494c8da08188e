/**
 * A collection: Chroma's JS collection API (`add`, `upsert`, `update`, `get`, `query`,
 * `delete`, `count`, `peek`) plus synchronous variants for use inside
 * `store.transaction()`. The async methods do all their work synchronously and
 * return a settled promise.
 */
import {
  type CollectionRow,
  type ExistingRecord,
  type RecordRow,
  parseRecordMetadata,
} from './records.js';
import { type LabelledVector, type StoreCore, parseMetadata } from './core.js';
import {
  checkQueryVector,
  fromBlob,
  toArray,
  toBlob,
  toFloat32,
  toFloat32List,
} from './embedding.js';
import { DuplicateIdError, InvalidArgumentError, RecordNotFoundError } from './errors.js';
import { type Neighbours, bruteForce, preferBruteForce, prepareQuery } from './query-plan.js';
import type {
  AddParams,
  DeleteParams,
  GetParams,
  GetResult,
  IncludeField,
  Metadata,
  PeekParams,
  QueryParams,
  QueryResult,
  Space,
  UpdateMetadata,
  UpdateParams,
  UpsertParams,
} from './types.js';
import {
  validateCount,
  validateDocument,
  validateIdFilter,
  validateIds,
  validateInclude,
  validateMetadata,
  validateParallel,
  validateUpdateMetadata,
} from './validation.js';
import { andConditions, compileWhere, compileWhereDocument } from './where.js';
import { checkParams } from './params.js';

const GET_DEFAULT_INCLUDE: IncludeField[] = ['metadatas', 'documents'];
const QUERY_DEFAULT_INCLUDE: IncludeField[] = ['metadatas', 'documents', 'distances'];

/**
 * A named set of records (id, embedding, metadata, document) with an HNSW index.
 * Obtain one from `store.getOrCreateCollection` / `store.getCollection`.
 *
 * @example
 * const col = await store.getOrCreateCollection('words', { space: 'cosine' });
 * await col.add({ ids: ['w1'], embeddings: [[0.1, 0.2, 0.3]], metadatas: [{ label: 'TOTAL' }] });
 * const hits = await col.query({ queryEmbeddings: [[0.1, 0.2, 0.3]], nResults: 5 });
 */
export class Collection {
  /** Collection name. */
  readonly name: string;
  /** Stable collection id (a UUID; names the index file). */
  readonly id: string;
  private readonly core: StoreCore;
  private readonly key: number;

  /** @internal Created by `ChromaStore`. */
  constructor(core: StoreCore, row: CollectionRow) {
    this.core = core;
    this.key = row.key;
    this.name = row.name;
    this.id = row.uuid;
  }

  private row(): CollectionRow {
    return this.core.collectionRow(this.key, this.name);
  }

  /**
   * Collection metadata (including `hnsw:*` keys).
   *
   * @example
   * col.metadata['hnsw:space'];
   */
  get metadata(): Metadata {
    return this.core.read(() => parseMetadata(this.row().metadata));
  }

  /**
   * Distance space.
   *
   * @example
   * col.space; // 'cosine'
   */
  get space(): Space {
    return this.core.read(() => this.row().space);
  }

  /**
   * Vector dimension, or null until the first vector fixes it.
   *
   * @example
   * col.dimension; // 384
   */
  get dimension(): number | null {
    return this.core.read(() => this.row().dimension);
  }

  // ---- writes ------------------------------------------------------------------

  /**
   * Adds new records. Throws {@link DuplicateIdError} if an id repeats or already
   * exists; nothing is written then.
   *
   * @example
   * await col.add({ ids: ['a'], embeddings: [[1, 0]], metadatas: [{ kind: 'line' }], documents: ['TOTAL 9.99'] });
   */
  async add(params: AddParams): Promise<void> {
    this.addSync(params);
  }

  /**
   * Synchronous {@link add}.
   *
   * @example
   * store.transaction(() => col.addSync({ ids: ['a'], embeddings: [[1, 0]] }));
   */
  addSync(params: AddParams): void {
    this.core.write(() => {
      checkParams('add', params);
      const row = this.row();
      const { ids, vectors, dimension, metadatas, documents } = this.validateRecords(
        params,
        row,
        false,
      );
      const existing = this.core.records.lookup(row.key, ids);
      if (existing.size > 0) throw new DuplicateIdError([...existing.keys()], 'ids already exist');
      if (row.dimension === null) this.core.records.setDimension(row.key, dimension);
      const added: LabelledVector[] = [];
      for (let i = 0; i < ids.length; i++) {
        added.push(
          this.insert(row, ids[i]!, vectors[i]!, metadatas?.[i] ?? null, documents?.[i] ?? null),
        );
      }
      this.core.records.adjustCount(row.key, added.length);
      this.core.commitVectors(row, dimension, { added });
    });
  }

  /**
   * Adds new ids; for existing ids replaces the embedding, merges the metadata (a
   * `null` value removes the key) and replaces the document when one is given.
   *
   * @example
   * await col.upsert({ ids: ['a', 'b'], embeddings: [[1, 0], [0, 1]], metadatas: [{ v: 2 }, { v: 1 }] });
   */
  async upsert(params: UpsertParams): Promise<void> {
    this.upsertSync(params);
  }

  /**
   * Synchronous {@link upsert}.
   *
   * @example
   * store.transaction(() => col.upsertSync({ ids: ['a'], embeddings: [[1, 0]] }));
   */
  upsertSync(params: UpsertParams): void {
    this.core.write(() => {
      checkParams('upsert', params);
      const row = this.row();
      const { ids, vectors, dimension, metadatas, documents } = this.validateRecords(
        params,
        row,
        true,
      );
      const existing = this.core.records.lookup(row.key, ids);
      if (row.dimension === null) this.core.records.setDimension(row.key, dimension);
      const added: LabelledVector[] = [];
      const replaced: LabelledVector[] = [];
      for (let i = 0; i < ids.length; i++) {
        const found = existing.get(ids[i]!);
        if (found === undefined) {
          added.push(
            this.insert(row, ids[i]!, vectors[i]!, metadatas?.[i] ?? null, documents?.[i] ?? null),
          );
        } else {
          replaced.push(
            this.modify(found, vectors[i]!, metadatas?.[i] ?? null, documents?.[i] ?? null)!,
          );
        }
      }
      this.core.records.adjustCount(row.key, added.length);
      this.core.commitVectors(row, dimension, { added, replaced });
    });
  }

  /**
   * Updates existing records: embedding replaced, metadata merged (a `null` value
   * removes the key), document replaced — each only where given.
   *
   * Strict by design: if any id does not exist, nothing is changed and
   * {@link RecordNotFoundError} lists the missing ids (Chroma only warns), so callers
   * can detect updates that arrived before their record and park them.
   *
   * @example
   * await col.update({ ids: ['a'], metadatas: [{ label_status: 'validated', stale_key: null }] });
   */
  async update(params: UpdateParams): Promise<void> {
    this.updateSync(params);
  }

  /**
   * Synchronous {@link update}.
   *
   * @example
   * store.transaction(() => col.updateSync({ ids: ['a'], documents: ['new text'] }));
   */
  updateSync(params: UpdateParams): void {
    this.core.write(() => {
      checkParams('update', params);
      const row = this.row();
      const ids = validateIds(params.ids);
      const embeddings = validateParallel(params.embeddings, ids.length, 'embeddings');
      const metadatas = validateParallel(params.metadatas, ids.length, 'metadatas')?.map((m, i) =>
        validateUpdateMetadata(m, `metadatas[${i}]`),
      );
      const documents = validateParallel(params.documents, ids.length, 'documents')?.map((d, i) =>
        validateDocument(d, `documents[${i}]`),
      );
      let dimension = row.dimension;
      const vectors = embeddings?.map((e, i) => {
        if (e === null || e === undefined) return null;
        const v = toFloat32(e, dimension, `embeddings[${i}]`);
        dimension ??= v.length;
        return v;
      });
      const existing = this.core.records.lookup(row.key, ids);
      const missing = ids.filter((id) => !existing.has(id));
      if (missing.length > 0) throw new RecordNotFoundError(missing);
      const replaced: LabelledVector[] = [];
      for (let i = 0; i < ids.length; i++) {
        const changed = this.modify(
          existing.get(ids[i]!)!,
          vectors?.[i] ?? null,
          metadatas?.[i] ?? null,
          documents?.[i] ?? null,
        );
        if (changed) replaced.push(changed);
      }
      if (replaced.length > 0) this.core.commitVectors(row, dimension!, { replaced });
    });
  }

  /**
   * Deletes the records matching every given selector and returns how many were
   * deleted. At least one of `ids`, `where`, `whereDocument` is required. With
   * `limit` (only beside `where`/`whereDocument`, as in Chroma ≥ 1.5.3) at most that
   * many matches are deleted, oldest first; `limit: 0` deletes nothing.
   *
   * @example
   * const n = await col.delete({ where: { receipt: 'IMAGE#…#RECEIPT#00001' } });
   * await col.delete({ where: { stale: true }, limit: 1000 }); // at most 1,000
   */
  async delete(params: DeleteParams): Promise<number> {
    return this.deleteSync(params);
  }

  /**
   * Synchronous {@link delete}.
   *
   * @example
   * const n = store.transaction(() => col.deleteSync({ ids: ['a', 'b'] }));
   */
  deleteSync(params: DeleteParams): number {
    return this.core.write(() => {
      checkParams('delete', params);
      const row = this.row();
      const ids = params.ids === undefined ? null : validateIds(params.ids);
      const condition = andConditions(
        compileWhere(params.where),
        compileWhereDocument(params.whereDocument),
      );
      const limit = validateCount(params.limit, 'limit');
      if (limit !== undefined && params.where == null && params.whereDocument == null) {
        throw new InvalidArgumentError(
          'delete: limit can only be given with a where or whereDocument filter',
        );
      }
      if (ids === null && condition === null) {
        throw new InvalidArgumentError('delete needs ids, where or whereDocument');
      }
      if (limit === 0) return 0;
      const seqs = this.core.records.selectSeqs(row.key, condition, ids, limit);
      if (seqs.length === 0) return 0;
      this.core.records.deleteRecords(seqs);
      this.core.records.adjustCount(row.key, -seqs.length);
      this.core.commitVectors(row, row.dimension!, { removed: seqs });
      return seqs.length;
    });
  }

  // ---- reads -------------------------------------------------------------------

  /**
   * Records by id and/or filter.
   *
   * @example
   * const { ids, metadatas } = await col.get({ where: { label_status: 'pending' }, limit: 100 });
   */
  async get(params: GetParams = {}): Promise<GetResult> {
    return this.getSync(params);
  }

  /**
   * Synchronous {@link get}.
   *
   * @example
   * const existing = col.getSync({ ids, include: [] }).ids;
   */
  getSync(params: GetParams = {}): GetResult {
    return this.core.read(() => {
      checkParams('get', params, true);
      const row = this.row();
      const include = validateInclude(params.include, GET_DEFAULT_INCLUDE, ['distances']);
      const ids = params.ids === undefined ? null : validateIds(params.ids);
      const condition = andConditions(
        compileWhere(params.where),
        compileWhereDocument(params.whereDocument),
      );
      const limit = validateCount(params.limit, 'limit');
      const offset = validateCount(params.offset, 'offset');
      const withEmbeddings = include.has('embeddings');
      let rows: RecordRow[];
      if (ids === null) {
        rows = this.core.records.selectRecords(
          row.key,
          condition,
          null,
          withEmbeddings,
          limit,
          offset,
        );
      } else {
        const found = new Map(
          this.core.records
            .selectRecords(row.key, condition, ids, withEmbeddings)
            .map((r) => [r.id, r]),
        );
        rows = ids.map((id) => found.get(id)).filter((r): r is RecordRow => r !== undefined);
        const start = offset ?? 0;
        rows = rows.slice(start, limit === undefined ? undefined : start + limit);
      }
      const withMetadata = include.has('metadatas');
      const result: GetResult = {
        ids: rows.map((r) => r.id),
        metadatas: rows.map((r) => (withMetadata ? parseRecordMetadata(r.metadata) : null)),
        documents: rows.map((r) => (include.has('documents') ? r.document : null)),
        include: [...include],
      };
      if (withEmbeddings) result.embeddings = rows.map((r) => toArray(fromBlob(r.embedding!)));
      return result;
    });
  }

  /**
   * The k nearest records to each query vector, optionally among `ids` and those
   * matching `where`/`whereDocument` (exact when the candidates are few, see
   * query-plan.ts).
   *
   * @example
   * const r = await col.query({ queryEmbeddings: [v], nResults: 10, where: { merchant_name: 'ACME' } });
   * r.ids[0]; r.distances[0];
   * await col.query({ queryEmbeddings: [v], ids: ['w1', 'w7'], nResults: 1 }); // only among these
   */
  async query(params: QueryParams): Promise<QueryResult> {
    return this.querySync(params);
  }

  /**
   * Synchronous {@link query}.
   *
   * @example
   * const r = col.querySync({ queryEmbeddings: [v], nResults: 3, include: [] });
   */
  querySync(params: QueryParams): QueryResult {
    return this.core.read(() => {
      checkParams('query', params);
      const row = this.row();
      const include = validateInclude(params.include, QUERY_DEFAULT_INCLUDE);
      const ids = params.ids === undefined ? null : validateIdFilter(params.ids);
      const k = validateCount(params.nResults ?? 10, 'nResults', 1)!;
      if (!Array.isArray(params.queryEmbeddings))
        throw new InvalidArgumentError('queryEmbeddings must be an array of vectors');
      const condition = andConditions(
        compileWhere(params.where),
        compileWhereDocument(params.whereDocument),
      );
      // hnswlib takes plain arrays: the caller's arrays are validated in place, not copied.
      let dimension = row.dimension;
      const queries = params.queryEmbeddings.map((given: unknown, i) => {
        const array = checkQueryVector(given, dimension, `queryEmbeddings[${i}]`);
        dimension ??= array.length;
        return new QueryVector(array);
      });
      const neighbours =
        row.dimension === null
          ? queries.map(() => none())
          : this.search(row, queries, k, condition, ids);
      return this.hydrate(row.key, neighbours, include);
    });
  }

  private search(
    row: CollectionRow,
    queries: QueryVector[],
    k: number,
    condition: ReturnType<typeof andConditions>,
    ids: string[] | null,
  ): Neighbours[] {
    const records = this.core.records;
    const total = row.count;
    if (total === 0) return queries.map(() => none());
    // Inside a transaction with pending vector changes the index lags SQLite: be exact.
    const index = this.core.tx.hasPending(row.uuid) ? null : this.core.indexFor(row);
    const ef = this.core.searchEf(row);
    let candidates: Array<{ seq: number; embedding: Buffer }> | undefined;
    const exact = (q: QueryVector, seqs: () => number[]): Neighbours => {
      candidates ??= records.embeddingsBySeqs(seqs());
      return bruteForce(row.space, prepareQuery(q.f32), candidates, k);
    };

    if (condition === null && ids === null) {
      const all = () => records.selectSeqs(row.key, null, null);
      const wanted = Math.min(k, total);
      return queries.map((q) => {
        if (!index) return exact(q, all);
        const hits = index.search(q.array, wanted, ef);
        return hits.labels.length >= wanted ? hits : exact(q, all);
      });
    }

    // Filtered (and/or restricted to `ids`): the candidates are listed first, so a
    // small set is searched exactly and a large one by HNSW with a label filter.
    const match = this.core.matching(row.key, condition, ids);
    const matching = match.seqs;
    if (matching.length === 0) return queries.map(() => none());
    const wanted = Math.min(k, matching.length);
    if (!index || preferBruteForce(matching.length, total, ef)) {
      return queries.map((q) => exact(q, () => matching));
    }
    const filter = match.allows;
    return queries.map((q) => {
      const hits = index.search(q.array, wanted, ef, filter);
      return hits.labels.length >= wanted ? hits : exact(q, () => matching);
    });
  }

  /** Turns labels into result rows. A hot path: plain loops, no per-label closures. */
  private hydrate(
    collection: number,
    neighbours: Neighbours[],
    include: Set<IncludeField>,
  ): QueryResult {
    const withEmbeddings = include.has('embeddings');
    const withMetadata = include.has('metadatas');
    const withDocuments = include.has('documents');
    // One query (the usual case): rows come back aligned with its labels.
    const single = neighbours.length === 1;
    const seqs = single ? neighbours[0]!.labels : [...new Set(neighbours.flatMap((n) => n.labels))];
    const found = this.core.recordsForResults(collection, seqs, withEmbeddings);
    const bySeq = single ? null : new Map(seqs.map((seq, i) => [seq, found[i]]));
    const result: QueryResult = {
      ids: [],
      distances: [],
      metadatas: [],
      documents: [],
      include: [...include],
    };
    if (withEmbeddings) result.embeddings = [];
    for (const n of neighbours) {
      const ids: string[] = [];
      const distances: number[] = [];
      const metadatas: Array<Metadata | null> = [];
      const documents: Array<string | null> = [];
      const embeddings: number[][] = [];
      for (let i = 0; i < n.labels.length; i++) {
        const r = bySeq === null ? found[i] : bySeq.get(n.labels[i]!);
        if (r === undefined) continue; // cannot happen while index and SQLite agree; never return a ghost
        ids.push(r.id);
        distances.push(n.distances[i]!);
        metadatas.push(withMetadata ? parseRecordMetadata(r.metadata) : null);
        documents.push(withDocuments ? r.document : null);
        if (withEmbeddings) embeddings.push(toArray(fromBlob(r.embedding!)));
      }
      result.ids.push(ids);
      result.distances.push(distances);
      result.metadatas.push(metadatas);
      result.documents.push(documents);
      result.embeddings?.push(embeddings);
    }
    return result;
  }

  /**
   * Number of records.
   *
   * @example
   * await col.count(); // 10000
   */
  async count(): Promise<number> {
    return this.countSync();
  }

  /**
   * Synchronous {@link count}.
   *
   * @example
   * col.countSync();
   */
  countSync(): number {
    return this.core.read(() => this.row().count);
  }

  /**
   * The first `limit` (default 10) records with embeddings, metadata and documents.
   *
   * @example
   * const { ids, embeddings } = await col.peek({ limit: 3 });
   */
  async peek(params: PeekParams = {}): Promise<GetResult> {
    return this.peekSync(params);
  }

  /**
   * Synchronous {@link peek}.
   *
   * @example
   * col.peekSync();
   */
  peekSync(params: PeekParams = {}): GetResult {
    this.core.assertOpen();
    checkParams('peek', params, true);
    return this.getSync({
      limit: params.limit ?? 10,
      include: ['embeddings', 'metadatas', 'documents'],
    });
  }

  // ---- helpers -----------------------------------------------------------------

  private validateRecords(
    params: AddParams | UpsertParams,
    row: CollectionRow,
    forUpdate: boolean,
  ) {
    const ids = validateIds(params.ids);
    if (params.embeddings === undefined || params.embeddings === null) {
      throw new InvalidArgumentError('embeddings are required');
    }
    const embeddings = validateParallel(params.embeddings, ids.length, 'embeddings')!;
    const metadatas = validateParallel<unknown>(params.metadatas, ids.length, 'metadatas')?.map(
      (m, i) =>
        forUpdate
          ? validateUpdateMetadata(m, `metadatas[${i}]`)
          : validateMetadata(m, `metadatas[${i}]`),
    );
    const documents = validateParallel<unknown>(params.documents, ids.length, 'documents')?.map(
      (d, i) => validateDocument(d, `documents[${i}]`),
    );
    const { vectors, dimension } = toFloat32List(embeddings, row.dimension, 'embeddings');
    return { ids, vectors, dimension: dimension ?? 0, metadatas, documents };
  }

  private insert(
    row: CollectionRow,
    id: string,
    vector: Float32Array,
    metadata: Metadata | Record<string, unknown> | null,
    document: string | null,
  ): LabelledVector {
    const seq = this.core.records.insertRecord(
      row.key,
      id,
      document,
      stripNulls(metadata),
      toBlob(vector),
    );
    return { label: seq, vector: toArray(vector) };
  }

  /** Applies an update to one record; returns the new vector when the embedding changed. */
  private modify(
    record: ExistingRecord,
    vector: Float32Array | null,
    metadata: Record<string, unknown> | null,
    document: string | null,
  ): LabelledVector | null {
    const records = this.core.records;
    const seq = record.seq;
    if (vector) records.setEmbedding(seq, toBlob(vector));
    if (metadata) records.mergeMetadata(seq, record.metadata, metadata as UpdateMetadata);
    if (document !== null) records.setDocument(seq, document);
    return vector ? { label: seq, vector: toArray(vector) } : null;
  }
}

function none(): Neighbours {
  return { labels: [], distances: [] };
}

/** Metadata for a new record: `null` values (allowed by upsert) mean "no such key". */
function stripNulls(metadata: Record<string, unknown> | null): Metadata | null {
  if (!metadata) return null;
  const out: Metadata = {};
  for (const [k, v] of Object.entries(metadata))
    if (v !== null && v !== undefined) out[k] = v as Metadata[string];
  return out;
}

/** A validated query vector: the array for hnswlib, float32 for brute force (made on demand). */
class QueryVector {
  readonly array: number[];
  private float32: Float32Array | undefined;
  constructor(array: number[]) {
    this.array = array;
  }
  get f32(): Float32Array {
    return (this.float32 ??= Float32Array.from(this.array));
  }
}
