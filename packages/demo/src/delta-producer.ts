import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ChromaStore } from '@compaction/chroma-core';
import { COLLECTIONS, type CollectionName } from '@compaction/contracts';
import type { DemoReceipt } from './dataset.js';
import { receiptVectors, type ProducedVector } from './vectors.js';

/** Where a run's delta snapshots were uploaded, per collection. */
export type DeltaPrefixes = Record<CollectionName, string>;

/**
 * Plays the embedding producer: embeds receipts, writes each collection's vectors into a
 * fresh chroma-core store, exports it with `exportSnapshot` (files + manifest.json) and
 * uploads it file by file under `deltas/<runId>/<collection>/` — the delta contract the
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
  const scratch = await mkdtemp(join(tmpdir(), `delta-${args.runId}-`));
  try {
    const prefixes = {} as DeltaPrefixes;
    for (const collection of COLLECTIONS) {
      const exportDir = join(scratch, `${collection}.snapshot`);
      await exportStore(join(scratch, collection), exportDir, collection, vectors[collection]);
      prefixes[collection] = `deltas/${args.runId}/${collection}/`;
      await uploadDirectory(args.s3, args.bucket, prefixes[collection], exportDir);
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

async function uploadDirectory(
  s3: S3Client,
  bucket: string,
  prefix: string,
  dir: string,
): Promise<void> {
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const key = prefix + relative(dir, path).split(sep).join('/');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(path) }));
  }
}
