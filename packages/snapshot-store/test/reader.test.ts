import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { ChromaStore } from '@compaction/chroma-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { SnapshotCorruptError } from '../src/errors.js';
import { blobKey } from '../src/layout.js';
import { newVersionId, type SnapshotManifest, type SnapshotManifestV2 } from '../src/manifest.js';
import { openLatest, type SnapshotReader } from '../src/reader.js';
import { SnapshotRepository } from '../src/repository.js';
import { useStateAndBucket } from './aws-fixture.js';

const aws = await useStateAndBucket();
let work: string;
let token = 0;
let reader: SnapshotReader | undefined;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'snapshot-reader-'));
});
afterEach(async () => {
  await reader?.close();
  reader = undefined;
  await rm(work, { recursive: true, force: true });
});

const repo = () => new SnapshotRepository({ s3: aws.s3, bucket: aws.bucket, chunkSize: 8192 });
const vector = (i: number) => Array.from({ length: 8 }, (_, d) => Math.cos(i * 3 + d));

/** The writer's store: 300 lines with a merchant name. */
async function writerStore(): Promise<string> {
  const dir = join(work, 'writer');
  const store = await ChromaStore.open(dir);
  const lines = await store.getOrCreateCollection('lines', { space: 'cosine' });
  const ids = Array.from({ length: 300 }, (_, i) => `line-${i}`);
  await lines.add({
    ids,
    embeddings: ids.map((_, i) => vector(i)),
    metadatas: ids.map((_, i) => ({ merchant_name: 'Old Name', n: i })),
  });
  await store.close();
  return dir;
}

/** Publishes `dir` as the next version and mirrors it in latest.json (as the compactor does). */
async function publish(dir: string, parent: SnapshotManifest | null, latestToken?: number) {
  token += 1;
  const published = await repo().publish({
    collection: 'lines',
    dir,
    manifest: {
      formatVersion: 2,
      collection: 'lines',
      version: newVersionId(token, new ManualClock()),
      parentVersion: parent?.version ?? null,
      fencingToken: token,
      createdAt: new Date().toISOString(),
      counts: { vectors: 300 },
      messagesApplied: 1,
    },
  });
  await repo().writeLatest('lines', {
    version: published.manifest.version,
    manifestKey: published.manifestKey,
    fencingToken: latestToken ?? token,
  });
  return published;
}

async function rename(dir: string, id: string, name: string): Promise<void> {
  const store = await ChromaStore.open(dir);
  await (
    await store.getCollection('lines')
  ).update({ ids: [id], metadatas: [{ merchant_name: name }] });
  await store.close();
}

const merchantOf = async (id: string) =>
  (await (await reader!.collection()).get({ ids: [id] })).metadatas[0]?.['merchant_name'];

describe('openLatest / refresh()', () => {
  it('serves the live version and follows latest.json, fetching only the changed chunks', async () => {
    const dir = await writerStore();
    const v1 = await publish(dir, null);
    reader = await openLatest({
      s3: aws.s3,
      bucket: aws.bucket,
      collection: 'lines',
      cacheDir: join(work, 'reader'),
    });
    expect(reader.version).toBe(v1.manifest.version);
    expect(await (await reader.collection()).count()).toBe(300);
    expect(await reader.refresh()).toMatchObject({ changed: false, mode: 'none' });

    await rename(dir, 'line-7', 'New Name');
    const v2 = await publish(dir, v1.manifest);
    const refreshed = await reader.refresh();
    expect(refreshed).toMatchObject({
      changed: true,
      mode: 'in-place',
      version: v2.manifest.version,
    });
    // Changed chunks plus latest.json and the manifest: never the whole store.
    expect(refreshed.bytesFetched - v2.manifestBytes).toBeLessThan(2 * v2.bytesUploaded + 1000);
    expect(await merchantOf('line-7')).toBe('New Name');
    const hits = await (
      await reader.collection()
    ).query({ queryEmbeddings: [vector(7)], nResults: 1 });
    expect(hits.ids[0]).toEqual(['line-7']);
  });

  it('keeps serving the previous version when the new one has a corrupt chunk, and says so', async () => {
    const dir = await writerStore();
    const v1 = await publish(dir, null);
    reader = await openLatest({
      s3: aws.s3,
      bucket: aws.bucket,
      collection: 'lines',
      cacheDir: join(work, 'reader'),
    });
    await rename(dir, 'line-1', 'Bad Name');
    const v2 = await publish(dir, v1.manifest);
    const old = new Set(
      (v1.manifest as SnapshotManifestV2).files.flatMap((f) => f.chunks.map((c) => c.sha256)),
    );
    const fresh = (v2.manifest as SnapshotManifestV2).files
      .flatMap((f) => f.chunks)
      .find((c) => !old.has(c.sha256))!;
    await aws.s3.send(
      new PutObjectCommand({
        Bucket: aws.bucket,
        Key: blobKey('lines', fresh.sha256),
        Body: randomBytes(fresh.size),
      }),
    );
    await expect(reader.refresh()).rejects.toBeInstanceOf(SnapshotCorruptError);
    expect(reader.version).toBe(v1.manifest.version);
    expect(await merchantOf('line-1')).toBe('Old Name');
  });

  it('keeps serving the previous version when the new one does not open (patch undone)', async () => {
    const dir = await writerStore();
    const v1 = await publish(dir, null);
    reader = await openLatest({
      s3: aws.s3,
      bucket: aws.bucket,
      collection: 'lines',
      cacheDir: join(work, 'reader'),
    });
    // A version whose database header is garbage: every chunk verifies, the store does not open.
    const handle = await import('node:fs/promises').then((fs) =>
      fs.open(join(dir, 'chroma.sqlite3'), 'r+'),
    );
    await handle.write(Buffer.alloc(100, 0x41), 0, 100, 0);
    await handle.close();
    await publish(dir, v1.manifest);
    await expect(reader.refresh()).rejects.toThrow();
    expect(reader.version).toBe(v1.manifest.version);
    expect(await merchantOf('line-1')).toBe('Old Name');
    expect(await (await reader.collection()).count()).toBe(300);
  });

  it('ignores a latest.json whose fencing token is lower than the one it serves', async () => {
    const dir = await writerStore();
    const v1 = await publish(dir, null, 10);
    reader = await openLatest({
      s3: aws.s3,
      bucket: aws.bucket,
      collection: 'lines',
      cacheDir: join(work, 'reader'),
    });
    expect(reader.fencingToken).toBe(10);
    await rename(dir, 'line-2', 'Late Writer');
    await publish(dir, v1.manifest, 9); // a late writer, fenced out, still wrote latest.json
    expect(await reader.refresh()).toMatchObject({ changed: false, version: v1.manifest.version });
    expect(await merchantOf('line-2')).toBe('Old Name');
  });

  it('reads a format-1 version and moves from it to a format-2 one by assembling', async () => {
    const dir = await writerStore();
    token += 1;
    const v1 = await repo().publish({
      collection: 'lines',
      dir,
      manifest: {
        formatVersion: 1,
        collection: 'lines',
        version: newVersionId(token, new ManualClock()),
        parentVersion: null,
        fencingToken: token,
        createdAt: new Date().toISOString(),
        counts: { vectors: 300 },
        messagesApplied: 0,
      },
    });
    await repo().writeLatest('lines', {
      version: v1.manifest.version,
      manifestKey: v1.manifestKey,
    });
    reader = await openLatest({
      s3: aws.s3,
      bucket: aws.bucket,
      collection: 'lines',
      cacheDir: join(work, 'reader'),
    });
    expect(reader.manifest.formatVersion).toBe(1);
    await rename(dir, 'line-3', 'Chunked');
    await publish(dir, v1.manifest);
    expect(await reader.refresh()).toMatchObject({ changed: true, mode: 'assembled' });
    expect(await merchantOf('line-3')).toBe('Chunked');
  });
});
