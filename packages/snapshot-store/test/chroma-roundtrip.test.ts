/**
 * The snapshot plumbing with real chroma-core stores: the reader contract (a published
 * store downloads into a directory `ChromaStore.open` opens), incremental upload after
 * a metadata-only change, and deltas produced by `exportSnapshot`.
 */
import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { ChromaStore, SnapshotIntegrityError } from '@compaction/chroma-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { SnapshotCorruptError, SnapshotManifestError } from '../src/errors.js';
import { newVersionId, type SnapshotManifestInput } from '../src/manifest.js';
import { SnapshotRepository } from '../src/repository.js';
import { useStateAndBucket } from './aws-fixture.js';

const aws = await useStateAndBucket();
let work: string;
let token = 0;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'compactor-chroma-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const repo = () => new SnapshotRepository({ s3: aws.s3, bucket: aws.bucket });

function manifestInput(parentVersion: string | null, vectors: number): SnapshotManifestInput {
  token += 1;
  return {
    formatVersion: 2,
    collection: 'lines',
    version: newVersionId(token, new ManualClock()),
    parentVersion,
    fencingToken: token,
    createdAt: new Date().toISOString(),
    counts: { vectors },
    messagesApplied: vectors,
  };
}

const vector = (i: number): number[] => Array.from({ length: 8 }, (_, d) => Math.sin(i * 7 + d));

/** A closed store directory with `n` line vectors. */
async function storeWith(dir: string, n: number): Promise<void> {
  const store = await ChromaStore.open(dir);
  const lines = await store.getOrCreateCollection('lines', { space: 'cosine' });
  const ids = Array.from({ length: n }, (_, i) => `line-${i}`);
  await lines.add({
    ids,
    embeddings: ids.map((_, i) => vector(i)),
    metadatas: ids.map(() => ({ merchant_name: 'Old Name' })),
  });
  await store.close();
}

describe('snapshots of real chroma-core stores', () => {
  it('publishes a closed store that downloads into a directory ChromaStore opens', async () => {
    const dir = join(work, 'store');
    await storeWith(dir, 20);
    const { manifest, manifestKey } = await repo().publish({
      collection: 'lines',
      dir,
      manifest: manifestInput(null, 20),
    });

    const dest = join(work, 'reader');
    await repo().download(await repo().readManifest(manifestKey), dest);
    expect((await readdir(dest, { recursive: true })).length).toBeGreaterThanOrEqual(
      manifest.files.length,
    );
    const store = await ChromaStore.open(dest);
    try {
      const lines = await store.getOrCreateCollection('lines');
      expect(await lines.count()).toBe(20);
      const hit = await lines.query({ queryEmbeddings: [vector(3)], nResults: 1 });
      expect(hit.ids[0]).toEqual(['line-3']);
    } finally {
      await store.close();
    }
  });

  it('after a metadata-only change, uploads the database but not the unchanged index', async () => {
    const dir = join(work, 'store');
    await storeWith(dir, 20);
    const first = await repo().publish({
      collection: 'lines',
      dir,
      manifest: manifestInput(null, 20),
    });

    const store = await ChromaStore.open(dir);
    const lines = await store.getOrCreateCollection('lines');
    await lines.update({ ids: ['line-1'], metadatas: [{ merchant_name: 'New Name' }] });
    await store.close();

    const second = await repo().publish({
      collection: 'lines',
      dir,
      manifest: manifestInput(first.manifest.version, 20),
    });
    const changed = second.manifest.files
      .filter((f) => !first.manifest.files.some((g) => g.path === f.path && g.sha256 === f.sha256))
      .map((f) => f.path);
    expect(changed).toEqual(['chroma.sqlite3']);
    expect(second.blobsUploaded).toBe(1);
    expect(second.blobsSkipped).toBe(second.manifest.files.length - 1);
  });

  describe('deltas', () => {
    /** Exports a store with `n` vectors and uploads it file by file under `prefix`. */
    async function uploadDelta(prefix: string, n: number): Promise<string> {
      const dir = join(work, 'producer');
      await storeWith(dir, n);
      const exported = join(work, 'export');
      const store = await ChromaStore.open(dir);
      await store.exportSnapshot(exported);
      await store.close();
      await repo().uploadDelta(exported, prefix);
      return prefix;
    }

    it('uploadDelta refuses a tampered export before anything goes up', async () => {
      const dir = join(work, 'producer-bad');
      await storeWith(dir, 3);
      const exported = join(work, 'export-bad');
      const store = await ChromaStore.open(dir);
      await store.exportSnapshot(exported);
      await store.close();
      await appendFile(join(exported, 'chroma.sqlite3'), 'tampered');
      await expect(repo().uploadDelta(exported, 'deltas/bad/')).rejects.toBeInstanceOf(
        SnapshotIntegrityError,
      );
      const listed = await aws.s3.send(
        new ListObjectsV2Command({ Bucket: aws.bucket, Prefix: 'deltas/bad/' }),
      );
      expect(listed.KeyCount ?? 0).toBe(0);
    });

    it('downloads a delta exported by chroma-core, verified and openable', async () => {
      const prefix = await uploadDelta('deltas/run-1/lines/', 5);
      const dest = join(work, 'delta');
      const { manifest, bytesDownloaded } = await repo().downloadDelta(
        `s3://${aws.bucket}/${prefix}`,
        dest,
      );
      expect(bytesDownloaded).toBe(manifest.files.reduce((s, f) => s + f.size, 0));
      const store = await ChromaStore.open(dest);
      try {
        expect(await (await store.getOrCreateCollection('lines')).count()).toBe(5);
      } finally {
        await store.close();
      }
    });

    it('refuses a delta with a corrupted file and leaves nothing behind', async () => {
      const prefix = await uploadDelta('deltas/run-2/', 5);
      await aws.s3.send(
        new PutObjectCommand({
          Bucket: aws.bucket,
          Key: `${prefix}chroma.sqlite3`,
          Body: 'garbage',
        }),
      );
      const dest = join(work, 'delta');
      await expect(repo().downloadDelta(prefix, dest)).rejects.toThrow(SnapshotCorruptError);
      await expect(readdir(dest)).rejects.toThrow(/ENOENT/);
    });

    it('refuses a delta whose manifest chroma-core does not accept', async () => {
      // Every listed file is intact, but this is not a chroma-core snapshot manifest.
      await aws.s3.send(
        new PutObjectCommand({ Bucket: aws.bucket, Key: 'deltas/run-3/a.bin', Body: 'abc' }),
      );
      await aws.s3.send(
        new PutObjectCommand({
          Bucket: aws.bucket,
          Key: 'deltas/run-3/manifest.json',
          Body: JSON.stringify({
            files: [
              {
                path: 'a.bin',
                size: 3,
                sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
              },
            ],
          }),
        }),
      );
      const dest = join(work, 'delta');
      await expect(repo().downloadDelta('deltas/run-3/', dest)).rejects.toThrow(
        SnapshotManifestError,
      );
      await expect(readdir(dest)).rejects.toThrow(/ENOENT/);
    });
  });
});
