/**
 * Builds a delta the way an embedding producer does: a chroma-core store with the new
 * vectors, exported with `exportSnapshot` (its files plus `manifest.json`), uploaded
 * file by file under an S3 prefix. The compactor merges it when a `delta` message
 * names the prefix.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { ChromaStore } from '@compaction/chroma-core';
import type { CollectionName } from '@compaction/contracts';
import type { DeltaRecord } from '../../src/apply/delta-records.js';
import { SnapshotRepository } from '@compaction/snapshot-store';

/** Exports `records` as a chroma-core snapshot in `dir` (collection `collection`). */
export async function exportDelta(
  dir: string,
  collection: CollectionName,
  records: readonly DeltaRecord[],
): Promise<void> {
  const scratch = `${dir}.store`;
  const store = await ChromaStore.open(scratch);
  try {
    const col = await store.getOrCreateCollection(collection, { space: 'cosine' });
    if (records.length > 0) {
      col.addSync({
        ids: records.map((r) => r.id),
        embeddings: records.map((r) => r.embedding),
        metadatas: records.map((r) => r.metadata),
        documents: records.map((r) => r.document),
      });
    }
    await store.exportSnapshot(dir);
  } finally {
    await store.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Exports and uploads a delta under `prefix`.
 *
 * @example
 * await uploadDelta({ s3, bucket, prefix: 'deltas/words/run-1/', collection: 'words', records, scratchDir });
 */
export async function uploadDelta(args: {
  s3: S3Client;
  bucket: string;
  prefix: string;
  collection: CollectionName;
  records: readonly DeltaRecord[];
  scratchDir: string;
}): Promise<void> {
  const dir = join(args.scratchDir, `delta-${args.prefix.replace(/[^A-Za-z0-9]+/g, '-')}`);
  await exportDelta(dir, args.collection, args.records);
  try {
    await new SnapshotRepository({ s3: args.s3, bucket: args.bucket }).uploadDelta(
      dir,
      args.prefix,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
