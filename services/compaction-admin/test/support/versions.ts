/**
 * Snapshot versions for the CLI to operate on, published through
 * `@compaction/snapshot-store` the way the compactor publishes one: under the lease
 * lock, a store directory built on the live version, a content-addressed upload, the
 * fenced pointer swap, `latest.json` mirrored. No compactor is involved: the CLI
 * depends on the snapshot protocol only, and so do its tests.
 *
 * The versions: a seed of two receipts (40 word vectors), then label-only versions.
 * A label change rewrites SQLite only, so each later version shares its HNSW index blob
 * with its parent, as the compactor's label-only compactions do (what prune's
 * shared-blob rule and the "new bytes" of `snapshots list` are about).
 */
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ChromaStore, type Collection } from '@compaction/chroma-core';
import { wordVectorId, type CollectionName } from '@compaction/contracts';
import {
  LeaseLock,
  type LockHandle,
  MANIFEST_FORMAT_VERSION,
  PointerStore,
  SnapshotRepository,
  mirrorPointer,
  newVersionId,
  systemClock,
} from '@compaction/snapshot-store';

/** Lease-lock timing of the tests' own lock holders (short, so a test never waits long). */
export const TEST_LOCK = { leaseMs: 30_000, heartbeatMs: 10_000, maxWaitMs: 60_000 };

/**
 * Publishes the closed store in `dir` as the next version, swaps the pointer to it under
 * `handle`'s fence and mirrors `latest.json`, as a compaction does; the new version id.
 */
export async function publishLive(
  state: { pointers: PointerStore; repository: SnapshotRepository },
  o: {
    dir: string;
    vectors: number;
    messagesApplied: number;
    handle: LockHandle;
    parentVersion: string | null;
  },
): Promise<string> {
  const version = newVersionId(o.handle.token, systemClock);
  const published = await state.repository.publish({
    collection: COLLECTION,
    dir: o.dir,
    manifest: {
      formatVersion: MANIFEST_FORMAT_VERSION,
      collection: COLLECTION,
      version,
      parentVersion: o.parentVersion,
      fencingToken: o.handle.token,
      createdAt: new Date().toISOString(),
      counts: { vectors: o.vectors },
      messagesApplied: o.messagesApplied,
    },
  });
  o.handle.assertHeld();
  const moved = await state.pointers.swap({
    collection: COLLECTION,
    parentVersion: o.parentVersion,
    next: { version, manifestKey: published.manifestKey },
    fencingToken: o.handle.token,
  });
  await mirrorPointer(state, COLLECTION, moved);
  return version;
}

/** The two receipts of the seed, 5 lines of 4 words each. */
export const R = { imageId: '12121212-1212-4121-8121-121212121212', receiptId: 1 };
export const R2 = { imageId: '34343434-3434-4343-8343-343434343434', receiptId: 2 };
const LINES = 5;
const WORDS_PER_LINE = 4;
const DIMENSION = 8;
const COLLECTION: CollectionName = 'words';

export interface VersionPublisherOptions {
  s3: S3Client;
  ddb: DynamoDBDocumentClient;
  bucket: string;
  table: string;
  /** Scratch space for the store directories (removed after each version). */
  scratch: string;
}

/** mulberry32: deterministic vectors, so every run publishes the same bytes. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Adds the words of one receipt to `col`. */
function addReceipt(col: Collection, receipt: typeof R, merchant: string, seed: number): void {
  const next = random(seed);
  const ids: string[] = [];
  const embeddings: number[][] = [];
  const metadatas: Record<string, string | number>[] = [];
  const documents: string[] = [];
  for (let lineId = 1; lineId <= LINES; lineId++) {
    for (let wordId = 1; wordId <= WORDS_PER_LINE; wordId++) {
      ids.push(wordVectorId({ ...receipt, lineId, wordId }));
      embeddings.push(Array.from({ length: DIMENSION }, () => next() * 2 - 1));
      metadatas.push({
        image_id: receipt.imageId,
        receipt_id: receipt.receiptId,
        line_id: lineId,
        word_id: wordId,
        merchant_name: merchant,
      });
      documents.push(`w${wordId}`);
    }
  }
  col.addSync({ ids, embeddings, metadatas, documents });
}

/**
 * Publishes versions of `words` through the snapshot store.
 *
 * @example
 * const versions = await new VersionPublisher({ s3, ddb, bucket, table, scratch }).publish(3);
 */
export class VersionPublisher {
  readonly #o: VersionPublisherOptions;
  readonly #repository: SnapshotRepository;
  readonly #pointers: PointerStore;
  #labels = 0;

  constructor(options: VersionPublisherOptions) {
    this.#o = options;
    this.#repository = new SnapshotRepository({ s3: options.s3, bucket: options.bucket });
    this.#pointers = new PointerStore({ ddb: options.ddb, table: options.table });
  }

  /** Publishes `count` versions: the seed, then label-only versions. Oldest first. */
  async publish(count: number): Promise<string[]> {
    const versions = [await this.seed()];
    while (versions.length < count) versions.push(await this.relabel());
    return versions;
  }

  /** Publishes the two receipts as a new version (the first, on an empty collection). */
  seed(): Promise<string> {
    return this.#publishVersion('seed', 0, async (store) => {
      const col = await store.getOrCreateCollection(COLLECTION, { space: 'cosine' });
      addReceipt(col, R, 'A', 1);
      addReceipt(col, R2, 'B', 2);
      return col;
    });
  }

  /** Publishes a version that changes one word's label on top of the live version. */
  relabel(): Promise<string> {
    const n = ++this.#labels;
    return this.#publishVersion(`relabel-${randomUUID()}`, 1, async (store) => {
      const col = await store.getCollection(COLLECTION);
      col.updateSync({
        ids: [wordVectorId({ ...R, lineId: 1 + (n % LINES), wordId: 1 })],
        metadatas: [{ valid_labels: `,L${n},`, label_status: 'validated' }],
      });
      return col;
    });
  }

  /**
   * One version: lock → live pointer → its store downloaded (verified) → `change` →
   * close → publish → fenced swap → `latest.json` → release. `owner` holds the lock
   * (what `health` shows as its last holder).
   */
  async #publishVersion(
    owner: string,
    messagesApplied: number,
    change: (store: ChromaStore) => Promise<Collection>,
  ): Promise<string> {
    const { ddb, table, scratch } = this.#o;
    const handle = await new LeaseLock({
      ddb,
      table,
      collection: COLLECTION,
      owner,
      ...TEST_LOCK,
    }).acquire();
    const dir = join(scratch, `version-${randomUUID()}`);
    try {
      const live = await this.#pointers.read(COLLECTION);
      if (live) {
        await this.#repository.download(await this.#repository.readManifest(live.manifestKey), dir);
      }
      const store = await ChromaStore.open(dir);
      let vectors: number;
      try {
        vectors = (await change(store)).countSync();
      } finally {
        await store.close();
      }
      const version = await publishLive(
        { pointers: this.#pointers, repository: this.#repository },
        { dir, vectors, messagesApplied, handle, parentVersion: live?.version ?? null },
      );
      return version;
    } finally {
      await handle.release();
      await rm(dir, { recursive: true, force: true });
    }
  }
}
