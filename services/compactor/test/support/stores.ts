/**
 * chroma-core stores for tests: build one from records, read one back.
 */
import { ChromaStore } from '@compaction/chroma-core';
import type { CollectionName } from '@compaction/contracts';
import type { DeltaRecord } from '../../src/apply/delta-records.js';

/** Creates (or extends) the store in `dir` with `records` in `collection`, then closes it. */
export async function buildStore(
  dir: string,
  collection: CollectionName,
  records: readonly DeltaRecord[],
): Promise<void> {
  const store = await ChromaStore.open(dir);
  try {
    const col = await store.getOrCreateCollection(collection, { space: 'cosine' });
    for (let i = 0; i < records.length; i += 1000) {
      const chunk = records.slice(i, i + 1000);
      col.addSync({
        ids: chunk.map((r) => r.id),
        embeddings: chunk.map((r) => r.embedding),
        metadatas: chunk.map((r) => r.metadata),
        documents: chunk.map((r) => r.document),
      });
    }
  } finally {
    await store.close();
  }
}

export interface StoredVector {
  metadata: Record<string, unknown>;
  document: string | null;
}

/** Every vector of `collection` (metadata and document), the kv namespaces asked for, and the digest. */
export async function readStore(
  dir: string,
  collection: CollectionName,
  kvNamespaces: readonly string[] = [],
): Promise<{
  vectors: Map<string, StoredVector>;
  kv: Record<string, Map<string, unknown>>;
  digest: string;
}> {
  const store = await ChromaStore.open(dir);
  try {
    const names = (await store.listCollections()).map((c) => c.name);
    const vectors = new Map<string, StoredVector>();
    if (names.includes(collection)) {
      const col = await store.getCollection(collection);
      const got = col.getSync({ include: ['metadatas', 'documents'] });
      got.ids.forEach((id, i) =>
        vectors.set(id, { metadata: got.metadatas[i] ?? {}, document: got.documents[i] ?? null }),
      );
    }
    const kv: Record<string, Map<string, unknown>> = {};
    for (const ns of kvNamespaces) kv[ns] = new Map(store.kv(ns).entries());
    return { vectors, kv, digest: store.digest() };
  } finally {
    await store.close();
  }
}
