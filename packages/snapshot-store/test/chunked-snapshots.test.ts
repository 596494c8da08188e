import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { SnapshotCorruptError } from '../src/errors.js';
import { blobKey } from '../src/layout.js';
import {
  manifestBlobs,
  newVersionId,
  parseSnapshotManifest,
  type SnapshotManifest,
  type SnapshotManifestInput,
  type SnapshotManifestV2,
} from '../src/manifest.js';
import { RecordingMetrics } from '../src/metrics.js';
import { SnapshotRepository } from '../src/repository.js';
import { METRIC } from '@compaction/contracts';
import { useStateAndBucket } from './aws-fixture.js';

const aws = await useStateAndBucket();
const CHUNK = 8192;
let work: string;
let token = 0;

beforeEach(async () => {
  metrics = new RecordingMetrics();
  work = await mkdtemp(join(tmpdir(), 'snapshot-chunks-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

let metrics = new RecordingMetrics();
const repo = () =>
  new SnapshotRepository({ s3: aws.s3, bucket: aws.bucket, chunkSize: CHUNK, metrics });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function input(parent: string | null, formatVersion: 1 | 2 = 2): SnapshotManifestInput {
  token += 1;
  return {
    formatVersion,
    collection: 'words',
    version: newVersionId(token, new ManualClock(Date.parse('2025-03-01T10:00:00Z') + token)),
    parentVersion: parent,
    fencingToken: token,
    createdAt: new Date().toISOString(),
    counts: { vectors: 1 },
    messagesApplied: 1,
  };
}

/** A directory with a 5½-chunk "database" and a one-chunk "index". */
async function storeDir(): Promise<{ dir: string; db: Buffer; index: Buffer }> {
  const dir = await mkdtemp(join(work, 'store-'));
  const db = randomBytes(5 * CHUNK + 100);
  const index = randomBytes(3000);
  await writeFile(join(dir, 'chroma.sqlite3'), db);
  await writeFile(join(dir, 'index.bin'), index);
  return { dir, db, index };
}

/** Overwrites `bytes` at `offset` of a file in place (as SQLite writes a page). */
async function writeAt(path: string, offset: number, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'r+');
  await handle.write(bytes, 0, bytes.length, offset);
  await handle.close();
}

/** Publishes `dir` as the child of `parent`, naming the 4 KiB pages of chroma.sqlite3 written since. */
function publishWrittenPages(
  dir: string,
  parent: SnapshotManifest,
  pages: ReadonlySet<number>,
  unchanged: string[] = [],
) {
  return repo().publish({
    collection: 'words',
    dir,
    manifest: input(parent.version),
    parent: {
      manifest: parent,
      unchanged: new Set(unchanged),
      writtenPages: new Map([['chroma.sqlite3', { pageSize: 4096, pages }]]),
    },
  });
}

async function downloaded(
  manifest: SnapshotManifest,
  seed?: { dir: string; manifest: SnapshotManifest },
) {
  const into = join(work, `dl-${randomBytes(3).toString('hex')}`);
  const result = await repo().download(manifest, into, seed ? { seed } : {});
  return { into, ...result };
}

describe('format 2: chunked files', () => {
  it('lists each file as page-aligned chunks, every one a blob that manifestBlobs names', async () => {
    const { dir, db, index } = await storeDir();
    const published = await repo().publish({ collection: 'words', dir, manifest: input(null) });
    const m = published.manifest as SnapshotManifestV2;
    expect(m).toMatchObject({ formatVersion: 2, chunkSize: CHUNK });
    const file = m.files.find((f) => f.path === 'chroma.sqlite3')!;
    expect(file.chunks.map((c) => c.size)).toEqual([CHUNK, CHUNK, CHUNK, CHUNK, CHUNK, 100]);
    expect(file.chunks[2]!.sha256).toBe(sha256(db.subarray(2 * CHUNK, 3 * CHUNK)));
    // A one-chunk file is named by its bytes' sha256, as in format 1.
    expect(m.files.find((f) => f.path === 'index.bin')!.sha256).toBe(sha256(index));
    expect(
      manifestBlobs(m)
        .map((b) => b.sha256)
        .sort(),
    ).toEqual([...file.chunks.map((c) => c.sha256), sha256(index)].sort());
    expect(published).toMatchObject({ blobsUploaded: 7, bytesUploaded: db.length + index.length });
    // What went up is exactly the manifest (the manifest is also what S3 holds).
    const { into, bytesDownloaded } = await downloaded(m);
    expect(bytesDownloaded).toBe(db.length + index.length);
    expect(await readFile(join(into, 'chroma.sqlite3'))).toEqual(db);
    expect(await readFile(join(into, 'index.bin'))).toEqual(index);
  });

  it('after a one-page change uploads one chunk, and reads no file the caller vouches for', async () => {
    const { dir } = await storeDir();
    const first = await repo().publish({ collection: 'words', dir, manifest: input(null) });
    await writeAt(join(dir, 'chroma.sqlite3'), 3 * CHUNK + 4096, randomBytes(4096));
    const second = await repo().publish({
      collection: 'words',
      dir,
      manifest: input(first.manifest.version),
      parent: { manifest: first.manifest, unchanged: new Set(['index.bin']) },
    });
    expect(second).toMatchObject({ blobsUploaded: 1, bytesUploaded: CHUNK, blobsSkipped: 6 });
    expect(second.bytesHashed).toBe(5 * CHUNK + 100); // the database only
    const { into } = await downloaded(second.manifest);
    expect(await readFile(join(into, 'chroma.sqlite3'))).toEqual(
      await readFile(join(dir, 'chroma.sqlite3')),
    );
  });

  it('with the pages written since the parent, reads only the chunks that hold them', async () => {
    const { dir } = await storeDir();
    const db = join(dir, 'chroma.sqlite3');
    const first = await repo().publish({ collection: 'words', dir, manifest: input(null) });
    // Pages are 4 KiB: page 8 is the second half of chunk 3; the file grows by 2 pages.
    await writeAt(db, 7 * 4096, randomBytes(4096));
    await writeAt(db, 5 * CHUNK + 100, randomBytes(2 * 4096 - 100));
    const pages = new Set([8, 11, 12]);
    const second = await publishWrittenPages(dir, first.manifest, pages, ['index.bin']);
    // Chunk 3 and the old and new tail (chunk 5, now 8 KiB, and nothing past it); plus
    // at most two spot-checked chunks kept from the parent.
    expect(second.bytesHashed).toBeGreaterThanOrEqual(2 * CHUNK);
    expect(second.bytesHashed).toBeLessThanOrEqual(4 * CHUNK);
    expect(second.pageClaimsRefuted).toEqual([]);
    expect(metrics.sum(METRIC.compactionPageClaimsRefuted)).toBe(0);
    // The same manifest a full read gives.
    const full = await repo().publish({
      collection: 'words',
      dir,
      manifest: input(second.manifest.version),
    });
    expect((second.manifest as SnapshotManifestV2).files).toEqual(
      (full.manifest as SnapshotManifestV2).files,
    );
    const { into } = await downloaded(second.manifest);
    expect(await readFile(join(into, 'chroma.sqlite3'))).toEqual(await readFile(db));
  });

  it('a written-pages claim that leaves out a changed page is caught and costs a full read, not a wrong manifest', async () => {
    const dir = await mkdtemp(join(work, 'store-'));
    const db = join(dir, 'chroma.sqlite3');
    await writeFile(db, randomBytes(2 * CHUNK)); // two chunks: one claimed, one kept
    const first = await repo().publish({ collection: 'words', dir, manifest: input(null) });
    await writeAt(db, 0, randomBytes(10)); // chunk 0: claimed
    await writeAt(db, CHUNK + 10, randomBytes(10)); // chunk 1: not claimed
    const second = await publishWrittenPages(dir, first.manifest, new Set([1]));
    expect(second.pageClaimsRefuted).toEqual(['chroma.sqlite3']);
    expect(metrics.sum(METRIC.compactionPageClaimsRefuted)).toBe(1);
    const { into } = await downloaded(second.manifest);
    expect(await readFile(join(into, 'chroma.sqlite3'))).toEqual(await readFile(db));
  });

  it('never reuses a same-size corrupted object: it goes up again and the new version verifies', async () => {
    const { dir } = await storeDir();
    const first = await repo().publish({ collection: 'words', dir, manifest: input(null) });
    const victim = (first.manifest as SnapshotManifestV2).files[0]!.chunks[1]!;
    await aws.s3.send(
      new PutObjectCommand({
        Bucket: aws.bucket,
        Key: blobKey('words', victim.sha256),
        Body: randomBytes(victim.size),
      }),
    );
    // The parent is still downloadable? No: its chunk is garbage now.
    await expect(downloaded(first.manifest)).rejects.toBeInstanceOf(SnapshotCorruptError);

    const second = await repo().publish({
      collection: 'words',
      dir,
      manifest: input(first.manifest.version),
      parent: { manifest: first.manifest, unchanged: new Set(['chroma.sqlite3', 'index.bin']) },
    });
    expect(second).toMatchObject({ blobsUploaded: 1, bytesUploaded: victim.size, bytesHashed: 0 });
    const { into } = await downloaded(second.manifest);
    expect(await readFile(join(into, 'chroma.sqlite3'))).toEqual(
      await readFile(join(dir, 'chroma.sqlite3')),
    );
  });

  it('a download seeded with the previous version fetches only the chunks it lacks', async () => {
    const { dir } = await storeDir();
    const first = await repo().publish({ collection: 'words', dir, manifest: input(null) });
    const old = await downloaded(first.manifest);
    await writeAt(join(dir, 'chroma.sqlite3'), 0, randomBytes(100));
    const second = await repo().publish({
      collection: 'words',
      dir,
      manifest: input(first.manifest.version),
      parent: { manifest: first.manifest, unchanged: new Set(['index.bin']) },
    });
    const next = await downloaded(second.manifest, { dir: old.into, manifest: first.manifest });
    expect(next.bytesDownloaded).toBe(second.bytesUploaded);
    expect(next.bytesReused).toBe(4 * CHUNK + 100 + 3000);
    expect(await readFile(join(next.into, 'chroma.sqlite3'))).toEqual(
      await readFile(join(dir, 'chroma.sqlite3')),
    );

    // A seed chunk that changed locally is not trusted: it comes from S3 instead.
    await writeAt(join(old.into, 'chroma.sqlite3'), 2 * CHUNK, randomBytes(10));
    const again = await downloaded(second.manifest, { dir: old.into, manifest: first.manifest });
    expect(again.bytesDownloaded).toBe(second.bytesUploaded + CHUNK);
    expect(await readFile(join(again.into, 'chroma.sqlite3'))).toEqual(
      await readFile(join(dir, 'chroma.sqlite3')),
    );
  });

  it('refuses a chunk whose bytes do not match and leaves nothing behind', async () => {
    const { dir } = await storeDir();
    const first = await repo().publish({ collection: 'words', dir, manifest: input(null) });
    const chunk = (first.manifest as SnapshotManifestV2).files[0]!.chunks[4]!;
    const key = blobKey('words', chunk.sha256);
    const out = await aws.s3.send(new GetObjectCommand({ Bucket: aws.bucket, Key: key }));
    const bytes = Buffer.from(await out.Body!.transformToByteArray());
    bytes[10] = bytes[10]! ^ 0xff;
    await aws.s3.send(new PutObjectCommand({ Bucket: aws.bucket, Key: key, Body: bytes }));
    const into = join(work, 'refused');
    const err = await repo()
      .download(first.manifest, into)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotCorruptError);
    expect(err).toMatchObject({ path: 'chroma.sqlite3', key });
    await expect(readFile(join(into, 'chroma.sqlite3'))).rejects.toThrow(/ENOENT/);
  });

  it('format 1 versions (whole-file blobs) still download, and seed a format-2 download', async () => {
    const { dir, db, index } = await storeDir();
    const v1 = await repo().publish({ collection: 'words', dir, manifest: input(null, 1) });
    expect(v1.manifest.formatVersion).toBe(1);
    expect(
      manifestBlobs(v1.manifest)
        .map((b) => b.sha256)
        .sort(),
    ).toEqual([sha256(db), sha256(index)].sort());
    const old = await downloaded(await repo().readManifest(v1.manifestKey));
    expect(await readFile(join(old.into, 'chroma.sqlite3'))).toEqual(db);

    const v2 = await repo().publish({
      collection: 'words',
      dir,
      manifest: input(v1.manifest.version),
      parent: { manifest: v1.manifest, unchanged: new Set(['chroma.sqlite3', 'index.bin']) },
    });
    // A format-1 parent has no chunk list to keep: every file is read.
    expect(v2.bytesHashed).toBe(db.length + index.length);
    const next = await downloaded(v2.manifest, { dir: old.into, manifest: v1.manifest });
    expect(next.bytesReused).toBe(index.length); // the one-chunk file is its own whole-file blob
    expect(await readFile(join(next.into, 'chroma.sqlite3'))).toEqual(db);
  });

  it('the manifest refuses chunks that do not tile their file', () => {
    const good = {
      formatVersion: 2,
      collection: 'words',
      version: newVersionId(1, new ManualClock()),
      parentVersion: null,
      fencingToken: 1,
      createdAt: new Date().toISOString(),
      counts: { vectors: 0 },
      messagesApplied: 0,
      chunkSize: 4096,
      files: [
        {
          path: 'a',
          size: 4096,
          sha256: 'a'.repeat(64),
          chunks: [{ sha256: 'a'.repeat(64), md5: 'b'.repeat(32), size: 4096 }],
        },
      ],
    };
    expect(parseSnapshotManifest(JSON.stringify(good)).formatVersion).toBe(2);
    const short = structuredClone(good);
    short.files[0]!.size = 5000;
    expect(() => parseSnapshotManifest(JSON.stringify(short))).toThrow(/2 expected/);
    const misnamed = structuredClone(good);
    misnamed.files[0]!.sha256 = 'c'.repeat(64);
    expect(() => parseSnapshotManifest(JSON.stringify(misnamed))).toThrow(
      /does not name its chunks/,
    );
    const unaligned = { ...structuredClone(good), chunkSize: 1000 };
    expect(() => parseSnapshotManifest(JSON.stringify(unaligned))).toThrow(/multiple of 4096/);
  });
});
