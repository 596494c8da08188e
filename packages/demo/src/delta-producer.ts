import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { ChromaStore } from '@compaction/chroma-core';
import { SnapshotRepository } from '@compaction/snapshot-store';
import { COLLECTIONS, type CollectionName } from '@compaction/contracts';
import {
  receiptVectors,
  type DemoReceipt,
  type ProducedVector,
} from '@compaction/receipt-fixtures';

/** Where a run's delta snapshots were uploaded, per collection. */
export type DeltaPrefixes = Record<CollectionName, string>;

/**
 * Plays the embedding producer: embeds receipts, writes each collection's vectors into a
 * fresh chroma-core store, exports it with `exportSnapshot` (files + manifest.json) and
 * uploads it under `deltas/<runId>/<collection>/` with the compactor's own
 * `SnapshotRepository.uploadDelta` — one implementation of the delta layout the
 * compactor verifies and merges (design.md, "Lock, pointer and snapshots").
 *
 * @example
 * const prefixes = await produceDelta({ s3, bucket, runId: 'run-7', receipts: [receipt] });
 * await table.putCompactionRun(receipt.imageId, 1, 'run-7', prefixes, 'COMPLETED');
 */
export async function produceDelta(args: {
  s3: S3Client;
  bucket: string;
  runId: string;
  receipts: readonly DemoReceipt[];
  dimension?: number;
}): Promise<DeltaPrefixes> {
  const vectors: Record<CollectionName, ProducedVector[]> = { lines: [], words: [] };
  for (const receipt of args.receipts) {
    const produced = receiptVectors(receipt, args.dimension ? { dimension: args.dimension } : {});
    for (const c of COLLECTIONS) vectors[c].push(...produced[c]);
  }
  const repository = new SnapshotRepository({ s3: args.s3, bucket: args.bucket });
  const scratch = await mkdtemp(join(tmpdir(), `delta-${args.runId}-`));
  try {
    const prefixes = {} as DeltaPrefixes;
    for (const collection of COLLECTIONS) {
      const exportDir = join(scratch, `${collection}.snapshot`);
      await exportStore(join(scratch, collection), exportDir, collection, vectors[collection]);
      prefixes[collection] = `deltas/${args.runId}/${collection}/`;
      await repository.uploadDelta(exportDir, prefixes[collection]);
    }
    return prefixes;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function exportStore(
  storeDir: string,
  exportDir: string,
  collection: CollectionName,
  vectors: readonly ProducedVector[],
): Promise<void> {
  const store = await ChromaStore.open(storeDir);
  try {
    const col = await store.getOrCreateCollection(collection, { space: 'cosine' });
    if (vectors.length > 0) {
      await col.add({
        ids: vectors.map((v) => v.id),
        embeddings: vectors.map((v) => v.embedding),
        metadatas: vectors.map((v) => v.metadata),
        documents: vectors.map((v) => v.document),
      });
    }
    await store.exportSnapshot(exportDir);
  } finally {
    await store.close();
  }
}
