import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ChromaStore, CollectionNotFoundError, type Collection } from '@compaction/chroma-core';
import { SnapshotRepository, type SnapshotManifest } from '@compaction/snapshot-store';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CollectionName } from '@compaction/contracts';

/** A published version opened read-side. */
export interface OpenedVersion {
  version: string;
  manifest: SnapshotManifest;
  collection: Collection;
}

/**
 * A reader of the published stores, as any consumer (a query service) would read them:
 * `latest.json` → manifest → blobs, each verified by sha256 before the store is opened
 * (the compactor's own repository does the reading — one implementation of the layout).
 *
 * @example
 * const reader = new PublishedStores({ s3, bucket, scratchDir });
 * const total = await reader.withLatest('words', (v) => v.collection.count());
 */
export class PublishedStores {
  private readonly repository: SnapshotRepository;

  constructor(private readonly options: { s3: S3Client; bucket: string; scratchDir: string }) {
    this.repository = new SnapshotRepository({ s3: options.s3, bucket: options.bucket });
  }

  /** The live version of a collection, or undefined before the first publish. */
  async latestVersion(collection: CollectionName): Promise<string | undefined> {
    return (await this.repository.readLatest(collection))?.version;
  }

  /**
   * Downloads and opens the live version, runs `fn`, then closes and deletes the copy.
   * Undefined before the first publish, and while the live version holds no vectors yet
   * (only pending entity state, e.g. labels that arrived before their embeddings).
   */
  async withLatest<T>(
    collection: CollectionName,
    fn: (opened: OpenedVersion) => Promise<T>,
  ): Promise<{ version: string; value: T } | undefined> {
    const latest = await this.repository.readLatest(collection);
    if (!latest) return undefined;
    const manifest = await this.repository.readManifest(latest.manifestKey);
    const dir = await mkdtemp(join(this.options.scratchDir, `${collection}-`));
    try {
      await this.repository.download(manifest, join(dir, 'store'));
      const store = await ChromaStore.open(join(dir, 'store'));
      try {
        const opened = await store.getCollection(collection).catch((err: unknown) => {
          if (err instanceof CollectionNotFoundError) return undefined;
          throw err;
        });
        if (!opened) return undefined;
        return {
          version: latest.version,
          value: await fn({ version: latest.version, manifest, collection: opened }),
        };
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
