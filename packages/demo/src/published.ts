import { join } from 'node:path';
import { CollectionNotFoundError } from '@compaction/chroma-core';
import {
  SnapshotNotFoundError,
  SnapshotRepository,
  openLatest,
  type ReadOnlyCollection,
  type SnapshotManifest,
  type SnapshotReader,
} from '@compaction/snapshot-store';
import type { S3Client } from '@aws-sdk/client-s3';
import type { CollectionName } from '@compaction/contracts';

/** A published version opened read-side. */
export interface OpenedVersion {
  version: string;
  manifest: SnapshotManifest;
  collection: ReadOnlyCollection;
}

/**
 * The demo's consumer of the published stores, through the snapshot store's reader
 * (`openLatest`): one reader per collection, opened on first use and refreshed before
 * every question — it follows `latest.json`, fetches only the chunks that changed and
 * verifies every byte before it serves a version.
 *
 * @example
 * const published = new PublishedStores({ s3, bucket, scratchDir });
 * const total = await published.withLatest('words', (v) => v.collection.count());
 * await published.close();
 */
export class PublishedStores {
  private readonly repository: SnapshotRepository;
  private readonly readers = new Map<CollectionName, SnapshotReader>();

  constructor(private readonly options: { s3: S3Client; bucket: string; scratchDir: string }) {
    this.repository = new SnapshotRepository({ s3: options.s3, bucket: options.bucket });
  }

  /** The live version of a collection, or undefined before the first publish. */
  async latestVersion(collection: CollectionName): Promise<string | undefined> {
    return (await this.repository.readLatest(collection))?.version;
  }

  /**
   * Refreshes the collection's reader to the live version and runs `fn` on it.
   * Undefined before the first publish, and while the live version holds no vectors yet
   * (only pending entity state, e.g. labels that arrived before their embeddings).
   */
  async withLatest<T>(
    collection: CollectionName,
    fn: (opened: OpenedVersion) => Promise<T>,
  ): Promise<{ version: string; value: T } | undefined> {
    const reader = await this.reader(collection);
    if (!reader) return undefined;
    const opened = await reader.collection().catch((err: unknown) => {
      if (err instanceof CollectionNotFoundError) return undefined;
      throw err;
    });
    if (!opened) return undefined;
    const version = reader.version;
    return {
      version,
      value: await fn({ version, manifest: reader.manifest, collection: opened }),
    };
  }

  /** Closes every reader (their local copies are removed). */
  async close(): Promise<void> {
    for (const reader of this.readers.values()) await reader.close();
    this.readers.clear();
  }

  private async reader(collection: CollectionName): Promise<SnapshotReader | undefined> {
    const open = this.readers.get(collection);
    if (open) {
      await open.refresh();
      return open;
    }
    try {
      const reader = await openLatest({
        s3: this.options.s3,
        bucket: this.options.bucket,
        collection,
        cacheDir: join(this.options.scratchDir, `reader-${collection}`),
      });
      this.readers.set(collection, reader);
      return reader;
    } catch (err) {
      if (err instanceof SnapshotNotFoundError) return undefined;
      throw err;
    }
  }
}
