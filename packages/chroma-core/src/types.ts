/**
 * Public types of chroma-core, shaped like Chroma's JS client.
 */

/**
 * A metadata value: a string, a finite number (integers and floats share one numeric
 * type) or a boolean, or (as in Chroma ≥ 1.5) a non-empty list of one of those types,
 * matched by `$contains` / `$not_contains` in `where`.
 */
export type MetadataValue = string | number | boolean | string[] | number[] | boolean[];

/** Metadata of one record or collection. */
export type Metadata = Record<string, MetadataValue>;

/** Metadata as given to `update`/`upsert`: a key set to `null` is removed. */
export type UpdateMetadata = Record<string, MetadataValue | null>;

/** A vector. Returned vectors are always `number[]` (float32 precision). */
export type Embedding = number[] | Float32Array;

/** Distance function of a collection, as in hnswlib: `l2` is squared L2, `ip` is `1 - a·b`, `cosine` is `1 - cos(a, b)`. */
export type Space = 'cosine' | 'l2' | 'ip';

/** Fields `get`/`query` can return. */
export type IncludeField = 'embeddings' | 'metadatas' | 'documents' | 'distances';

/** A scalar a `where` filter compares against. */
export type WhereValue = string | number | boolean;

/** Operators of one metadata key. Several operators on one key are AND-ed. */
export interface WhereOperators {
  $eq?: WhereValue;
  /** Matches records whose value differs, including records without the key. */
  $ne?: WhereValue;
  /** Numbers only (as in Chroma): any other operand throws `InvalidWhereError`. */
  $gt?: number;
  $gte?: number;
  $lt?: number;
  $lte?: number;
  /** A non-empty list of one type: all strings, all numbers or all booleans. */
  $in?: WhereValue[];
  /** Matches records whose value is none of these, including records without the key. */
  $nin?: WhereValue[];
  /** Matches records whose array value (see {@link MetadataValue}) holds this element. */
  $contains?: WhereValue;
  /**
   * Matches records whose array value does not hold this element, including records
   * without the key (or with a scalar value under it).
   */
  $not_contains?: WhereValue;
}

/**
 * A metadata filter: `{ key: value }` (equality), `{ key: { $op: value } }` with the
 * operators of {@link WhereOperators}, `{ $and: [...] }`, `{ $or: [...] }`. Several
 * keys in one object are AND-ed; `{}` matches everything.
 *
 * Typed loosely on purpose (filters are often built dynamically): the filter is
 * validated when used, and an unknown operator or ill-typed value throws
 * `InvalidWhereError`.
 *
 * @example
 * const where: Where = { $and: [{ merchant_name: 'ACME' }, { total: { $gte: 10 } }] };
 */
export type Where = Record<string, unknown>;

/**
 * A document filter: `{ $contains: 'text' }`, `{ $not_contains: 'text' }` (case-sensitive
 * substring tests), `{ $regex: 'pattern' }`, `{ $not_regex: 'pattern' }` (Chroma's
 * dialect: no look-around, no backreferences, inline flags only at the start),
 * `{ $and: [...] }`, `{ $or: [...] }`. Validated when used like {@link Where}.
 *
 * @example
 * const whereDocument: WhereDocument = { $or: [{ $contains: 'TOTAL' }, { $contains: 'TAX' }] };
 */
export type WhereDocument = Record<string, unknown>;

/** Arguments of `add`. */
export interface AddParams {
  ids: string[];
  embeddings: Embedding[];
  metadatas?: Array<Metadata | null | undefined>;
  documents?: Array<string | null | undefined>;
}

/**
 * Arguments of `upsert`: new ids are added; existing ids get the new embedding,
 * their metadata merged (a `null` value removes the key) and the document replaced
 * when one is given.
 */
export interface UpsertParams {
  ids: string[];
  embeddings: Embedding[];
  metadatas?: Array<UpdateMetadata | null | undefined>;
  documents?: Array<string | null | undefined>;
}

/**
 * Arguments of `update`. Per record, an omitted (`null`/`undefined`) embedding,
 * metadata or document is left as it is; given metadata is merged key by key and a
 * key set to `null` is removed.
 */
export interface UpdateParams {
  ids: string[];
  embeddings?: Array<Embedding | null | undefined>;
  metadatas?: Array<UpdateMetadata | null | undefined>;
  documents?: Array<string | null | undefined>;
}

/** Arguments of `get`. Without `ids`/`where`/`whereDocument` every record matches. */
export interface GetParams {
  ids?: string[];
  where?: Where;
  whereDocument?: WhereDocument;
  limit?: number;
  offset?: number;
  /** Default `['metadatas', 'documents']`; `distances` is refused (as in Chroma). */
  include?: IncludeField[];
}

/**
 * Result of `get`. Records come in the order of `ids` when ids were given (missing ids
 * are skipped), otherwise in insertion order. Fields not in `include` are `null`
 * per record (`metadatas`, `documents`) or absent (`embeddings`).
 */
export interface GetResult {
  ids: string[];
  embeddings?: number[][];
  metadatas: Array<Metadata | null>;
  documents: Array<string | null>;
  include: IncludeField[];
}

/** Arguments of `query`. */
export interface QueryParams {
  queryEmbeddings: Embedding[];
  /**
   * Only these records are candidates (AND-ed with `where`/`whereDocument`); unknown
   * ids are ignored, an empty list matches nothing. When they are few the search is
   * exact over them.
   */
  ids?: string[];
  /** Default 10. Fewer are returned when fewer records match. */
  nResults?: number;
  where?: Where;
  whereDocument?: WhereDocument;
  /** Default `['metadatas', 'documents', 'distances']`. */
  include?: IncludeField[];
}

/**
 * Result of `query`, one row per query vector, nearest first. `distances` is always
 * filled (every query computes it); `metadatas`/`documents` are `null` per record when
 * not included; `embeddings` is present only when included.
 */
export interface QueryResult {
  ids: string[][];
  distances: number[][];
  metadatas: Array<Array<Metadata | null>>;
  documents: Array<Array<string | null>>;
  embeddings?: number[][][];
  include: IncludeField[];
}

/** Arguments of `delete`: at least one selector; given selectors are AND-ed. */
export interface DeleteParams {
  ids?: string[];
  where?: Where;
  whereDocument?: WhereDocument;
  /**
   * Delete at most this many matches, the oldest first (Chroma ≥ 1.5.3); `0` deletes
   * nothing. Only with `where` or `whereDocument`, otherwise `InvalidArgumentError`.
   */
  limit?: number;
}

/** Arguments of `peek`. */
export interface PeekParams {
  /** Default 10. */
  limit?: number;
}

/**
 * Options of `getOrCreateCollection`. Chroma's HNSW metadata keys are honoured when the
 * collection is created: `hnsw:space`, `hnsw:M` (16), `hnsw:construction_ef` (100),
 * `hnsw:search_ef` (default {@link DEFAULT_SEARCH_EF}).
 */
export interface CollectionOptions {
  /** Fixed vector length; when omitted the first `add`/`upsert` fixes it. */
  dimension?: number;
  /** Default `'l2'` (Chroma's default), or `metadata['hnsw:space']`. */
  space?: Space;
  metadata?: Metadata;
}

/** One entry of `listCollections()`. */
export interface CollectionInfo {
  name: string;
  id: string;
  dimension: number | null;
  space: Space;
  metadata: Metadata;
  count: number;
}

/** Why an HNSW index file was rebuilt from SQLite on open. */
export type IndexRebuildReason = 'missing' | 'corrupt' | 'stale';

/** Passed to `StoreOptions.onIndexRebuilt`. */
export interface IndexRebuiltEvent {
  collection: string;
  reason: IndexRebuildReason;
  /** Human-readable detail (which check failed). */
  detail: string;
}

/** Options of `ChromaStore.open`. */
export interface StoreOptions {
  /** Called (synchronously, during `open`) for every index rebuilt from SQLite. */
  onIndexRebuilt?: (event: IndexRebuiltEvent) => void;
  /**
   * Run SQLite's `PRAGMA quick_check` on open so damage anywhere in the file is a
   * `CorruptDatabaseError` up front (about 2–3 ms per MB). Default `true`.
   */
  integrityCheck?: boolean;
  /**
   * Heap budget of the query-result cache: the id, document and metadata of result
   * rows, so queries do not read them back from SQLite. A collection's first query
   * fills it with one sequential scan (~1 µs per record). Filter results are cached
   * too, until the next write call. `0` turns both off. Default 64 MiB (roughly
   * 150k records of receipt lines).
   */
  resultCacheBytes?: number;
  /**
   * Record which database pages each transaction writes (from SQLite's rollback
   * journals), for `store.pagesWrittenSinceOpen()`: what a caller holding the files as
   * they were at open needs to re-read, and nothing else. Costs a few reads of the
   * journal and the freelist per outermost transaction. Default `false`.
   */
  trackPageChanges?: boolean;
}

/** A tiny JSON key-value namespace inside the store's SQLite database (see `store.kv`). */
export interface KeyValueStore {
  /** The stored value (a fresh copy), or `undefined`. */
  get(key: string): unknown;
  /** Stores any JSON-serialisable value except `undefined`. */
  set(key: string, value: unknown): void;
  /** Removes the key (no error when absent). */
  delete(key: string): void;
  /** Every entry, sorted by key. */
  entries(): Array<[string, unknown]>;
}

/** One file of a snapshot manifest. `path` is relative, `/`-separated. */
export interface SnapshotFileEntry {
  path: string;
  size: number;
  sha256: string;
}

/** One collection of a snapshot manifest. */
export interface SnapshotCollectionEntry {
  name: string;
  count: number;
  dimension: number | null;
  space: Space;
}

/** `manifest.json` of a snapshot directory. */
export interface SnapshotManifest {
  formatVersion: 2;
  createdAt: string;
  files: SnapshotFileEntry[];
  collections: SnapshotCollectionEntry[];
}
