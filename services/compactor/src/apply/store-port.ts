/**
 * The part of a chroma-core store the apply paths use. Kept narrow so the rules are
 * readable (and the broken-apply test seam easy to write); chroma-core's
 * `ChromaStore` and its collections satisfy it.
 */
import type { MetadataScalar } from './entity-state.js';

/** Metadata as a write argument: `null` removes a key on update. */
export type MetadataArg = Record<string, MetadataScalar | null>;

/** A `where` filter (Chroma JS shape). */
export type Where = Record<string, unknown>;

export interface KvNamespace {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  delete(key: string): unknown;
}

export interface ApplyCollection {
  /** Vector dimension; null (or absent) while the collection holds no vector. */
  readonly dimension?: number | null;
  getSync(args: {
    ids?: string[];
    where?: Where;
    include?: ('metadatas' | 'documents' | 'embeddings')[];
  }): {
    ids: string[];
    metadatas?: (Record<string, unknown> | null)[];
    documents?: (string | null)[];
  };
  updateSync(args: { ids: string[]; metadatas: MetadataArg[] }): unknown;
  upsertSync(args: {
    ids: string[];
    embeddings: number[][];
    metadatas: MetadataArg[];
    documents: (string | null)[];
  }): unknown;
  deleteSync(args: { ids?: string[]; where?: Where }): number;
  countSync(): number;
}

export interface ApplyStore {
  kv(namespace: string): KvNamespace;
  transaction<T>(fn: () => T): T;
}

/** Stands in for a collection the store does not have yet: no vectors, nothing to write. */
export const EMPTY_COLLECTION: ApplyCollection = {
  dimension: null,
  getSync: () => ({ ids: [], metadatas: [], documents: [] }),
  countSync: () => 0,
  deleteSync: () => 0,
  updateSync: () => {
    throw new Error('update on a collection that does not exist');
  },
  upsertSync: () => {
    throw new Error('upsert on a collection that does not exist');
  },
};

/** The collection `name` of `store` if it exists (never creates one). */
export async function collectionIfPresent<C>(
  store: {
    listCollections(): Promise<{ name: string }[]>;
    getCollection(name: string): Promise<C>;
  },
  name: string,
): Promise<C | undefined> {
  const names = (await store.listCollections()).map((c) => c.name);
  return names.includes(name) ? store.getCollection(name) : undefined;
}
