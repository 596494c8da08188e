/**
 * @compaction/chroma-core — a Chroma-style local vector store (better-sqlite3 +
 * hnswlib-node) with a real `close()`. This file is the package's only public face.
 *
 * @example
 * import { ChromaStore, verifySnapshot } from '@compaction/chroma-core';
 *
 * const store = await ChromaStore.open(dir);
 * const words = await store.getOrCreateCollection('words', { space: 'cosine' });
 * await words.add({ ids: ['w1'], embeddings: [vector], metadatas: [{ label_status: 'pending' }] });
 * const manifest = await store.exportSnapshot(`${dir}.snapshot`);
 * await store.close();
 * await verifySnapshot(`${dir}.snapshot`);
 */
export { ChromaStore } from './store.js';
export { Collection } from './collection.js';
export { verifySnapshot, writeManifest } from './snapshot.js';
export {
  ChromaCoreError,
  CollectionNotFoundError,
  CorruptDatabaseError,
  DimensionMismatchError,
  DuplicateIdError,
  InvalidArgumentError,
  InvalidEmbeddingError,
  InvalidOperationError,
  InvalidWhereError,
  RecordNotFoundError,
  SnapshotIntegrityError,
  StoreClosedError,
  StoreLockedError,
  UnknownParameterError,
} from './errors.js';
export type { ChromaCoreErrorCode } from './errors.js';
export type { FilePageChanges, PageChanges } from './page-changes.js';
export {
  DEFAULT_SEARCH_EF,
  FORMAT_VERSION,
  MANIFEST_FILE,
  SQLITE_FILE,
  VECTORS_FILE,
} from './constants.js';
export type {
  AddParams,
  CollectionInfo,
  CollectionOptions,
  DeleteParams,
  Embedding,
  GetParams,
  GetResult,
  IncludeField,
  IndexRebuildReason,
  IndexRebuiltEvent,
  KeyValueStore,
  Metadata,
  MetadataValue,
  PeekParams,
  QueryParams,
  QueryResult,
  SnapshotCollectionEntry,
  SnapshotFileEntry,
  SnapshotManifest,
  Space,
  StoreOptions,
  UpdateMetadata,
  UpdateParams,
  UpsertParams,
  Where,
  WhereDocument,
  WhereOperators,
  WhereValue,
} from './types.js';
