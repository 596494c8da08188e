/**
 * Every error chroma-core throws on purpose. Each has a stable `code` so callers
 * (and metrics) can branch without `instanceof` across package copies.
 */

/** Stable error codes, one per error class. */
export type ChromaCoreErrorCode =
  | 'STORE_CLOSED'
  | 'STORE_LOCKED'
  | 'CORRUPT_DATABASE'
  | 'COLLECTION_NOT_FOUND'
  | 'DIMENSION_MISMATCH'
  | 'DUPLICATE_ID'
  | 'RECORD_NOT_FOUND'
  | 'INVALID_EMBEDDING'
  | 'INVALID_WHERE'
  | 'INVALID_ARGUMENT'
  | 'UNKNOWN_PARAMETER'
  | 'INVALID_OPERATION'
  | 'SNAPSHOT_INTEGRITY';

/**
 * Base class of every chroma-core error.
 *
 * @example
 * try { await col.add(batch); } catch (err) {
 *   if (err instanceof ChromaCoreError) metrics.addMetric(`chroma.${err.code}`, 1);
 *   throw err;
 * }
 */
export class ChromaCoreError extends Error {
  /** Stable machine-readable code. */
  readonly code: ChromaCoreErrorCode;

  constructor(code: ChromaCoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The store (or a collection of it) was used after `close()`.
 *
 * @example
 * await store.close();
 * expect(() => col.countSync()).toThrow(StoreClosedError);
 */
export class StoreClosedError extends ChromaCoreError {
  constructor(dir: string) {
    super('STORE_CLOSED', `chroma-core store at ${dir} is closed`);
  }
}

/**
 * The directory is already open by another `ChromaStore` (in this process or another one).
 *
 * @example
 * await expect(ChromaStore.open(dir)).rejects.toThrow(StoreLockedError); // while `dir` is open
 */
export class StoreLockedError extends ChromaCoreError {
  constructor(dir: string, options?: { cause?: unknown }) {
    super('STORE_LOCKED', `chroma-core store at ${dir} is already open`, options);
  }
}

/**
 * The SQLite database is not a readable chroma-core database (garbage bytes, a
 * truncated file, a failed integrity check, an unknown schema version).
 *
 * @example
 * await expect(ChromaStore.open(dirWithGarbage)).rejects.toThrow(CorruptDatabaseError);
 */
export class CorruptDatabaseError extends ChromaCoreError {
  constructor(file: string, detail: string, options?: { cause?: unknown }) {
    super('CORRUPT_DATABASE', `corrupt chroma-core database ${file}: ${detail}`, options);
  }
}

/**
 * No collection with that name (or it was deleted).
 *
 * @example
 * await expect(store.getCollection('nope')).rejects.toThrow(CollectionNotFoundError);
 */
export class CollectionNotFoundError extends ChromaCoreError {
  readonly collection: string;
  constructor(collection: string) {
    super('COLLECTION_NOT_FOUND', `collection "${collection}" does not exist`);
    this.collection = collection;
  }
}

/**
 * A vector's length differs from the collection's dimension (or from the other
 * vectors of the same call when the dimension is not fixed yet).
 *
 * @example
 * expect(() => col.addSync({ ids: ['a'], embeddings: [[1, 2]] })).toThrow(DimensionMismatchError);
 */
export class DimensionMismatchError extends ChromaCoreError {
  readonly expected: number;
  readonly actual: number;
  constructor(expected: number, actual: number, where: string) {
    super(
      'DIMENSION_MISMATCH',
      `expected a ${expected}-dimensional vector, got ${actual} (${where})`,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/**
 * An id repeats inside one call, or `add` names an id that already exists.
 *
 * @example
 * expect(() => col.addSync({ ids: ['a', 'a'], embeddings: [v, v] })).toThrow(DuplicateIdError);
 */
export class DuplicateIdError extends ChromaCoreError {
  readonly ids: string[];
  constructor(ids: string[], detail: string) {
    super('DUPLICATE_ID', `${detail}: ${preview(ids)}`);
    this.ids = ids;
  }
}

/**
 * `update` named ids that do not exist. Nothing was changed; `ids` lists the
 * missing ones so the caller can park them (e.g. as pending updates) and retry the rest.
 *
 * @example
 * try { col.updateSync({ ids, metadatas }); } catch (err) {
 *   if (err instanceof RecordNotFoundError) park(err.ids);
 * }
 */
export class RecordNotFoundError extends ChromaCoreError {
  readonly ids: string[];
  constructor(ids: string[]) {
    super('RECORD_NOT_FOUND', `no record with id ${preview(ids)}`);
    this.ids = ids;
  }
}

/**
 * A vector holds NaN, ±Infinity or a non-number, or is empty.
 *
 * @example
 * expect(() => col.addSync({ ids: ['a'], embeddings: [[NaN, 1]] })).toThrow(InvalidEmbeddingError);
 */
export class InvalidEmbeddingError extends ChromaCoreError {
  constructor(detail: string) {
    super('INVALID_EMBEDDING', `invalid embedding: ${detail}`);
  }
}

/**
 * A `where` / `whereDocument` filter uses an unknown operator or a value of the wrong type.
 *
 * @example
 * expect(() => col.getSync({ where: { a: { $like: 'x' } } })).toThrow(InvalidWhereError);
 */
export class InvalidWhereError extends ChromaCoreError {
  constructor(detail: string) {
    super('INVALID_WHERE', `invalid filter: ${detail}`);
  }
}

/**
 * Any other malformed argument: length mismatches, bad metadata values, bad names.
 *
 * @example
 * expect(() => col.addSync({ ids: ['a', 'b'], embeddings: [v] })).toThrow(InvalidArgumentError);
 */
export class InvalidArgumentError extends ChromaCoreError {
  constructor(detail: string) {
    super('INVALID_ARGUMENT', detail);
  }
}

/**
 * A parameter object has a key the method does not know (a typo, or a Chroma option
 * chroma-core does not implement). Nothing was changed; `accepted` lists the keys the
 * method takes. Raised instead of ignoring the key, so an option never silently vanishes.
 *
 * @example
 * expect(() => col.querySync({ queryEmbeddings: [v], n_results: 3 } as never)).toThrow(UnknownParameterError);
 */
export class UnknownParameterError extends ChromaCoreError {
  /** The method (e.g. `query`) or option object (e.g. `ChromaStore.open options`). */
  readonly method: string;
  /** The unknown key. */
  readonly key: string;
  /** Every key the method accepts. */
  readonly accepted: readonly string[];
  constructor(method: string, key: string, accepted: readonly string[], hint?: string) {
    super(
      'UNKNOWN_PARAMETER',
      `${method}: unknown parameter ${JSON.stringify(key)}${hint ? ` (${hint})` : ''}; accepted: ${accepted.join(', ')}`,
    );
    this.method = method;
    this.key = key;
    this.accepted = accepted;
  }
}

/**
 * A call that is not allowed in the current state, e.g. `close()` or
 * `exportSnapshot()` inside `store.transaction()`, or an async transaction body.
 *
 * @example
 * expect(() => store.transaction(() => store.close())).toThrow(InvalidOperationError);
 */
export class InvalidOperationError extends ChromaCoreError {
  constructor(detail: string) {
    super('INVALID_OPERATION', detail);
  }
}

/**
 * A snapshot directory does not match its `manifest.json` (missing, truncated,
 * modified or unlisted file, or a malformed manifest). `file` names the culprit.
 *
 * @example
 * try { await verifySnapshot(dir); } catch (err) {
 *   if (err instanceof SnapshotIntegrityError) log.error('bad snapshot file', { file: err.file });
 * }
 */
export class SnapshotIntegrityError extends ChromaCoreError {
  /** Path (relative to the snapshot directory) of the bad file, or `manifest.json`. */
  readonly file: string;
  constructor(file: string, detail: string) {
    super('SNAPSHOT_INTEGRITY', `snapshot file ${file}: ${detail}`);
    this.file = file;
  }
}

function preview(ids: string[]): string {
  const shown = ids.slice(0, 5).map((id) => JSON.stringify(id));
  return ids.length > 5 ? `${shown.join(', ')} and ${ids.length - 5} more` : shown.join(', ');
}
