import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { METRIC } from '@compaction/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import {
  SnapshotCorruptError,
  SnapshotManifestError,
  SnapshotNotFoundError,
} from '../src/errors.js';
import { blobKey, manifestKey } from '../src/layout.js';
import {
  newVersionId,
  type SnapshotManifest,
  type SnapshotManifestInput,
  type SnapshotManifestV1,
} from '../src/manifest.js';
import { SnapshotRepository } from '../src/repository.js';
import { useStateAndBucket } from './aws-fixture.js';
import { RecordingMetrics } from '../src/metrics.js';

const aws = await useStateAndBucket();
const MiB = 1024 * 1024;
let work: string;
let token = 0;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'compactor-repo-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A store-like directory with the given files. */
async function storeDir(files: Record<string, string | Buffer>): Promise<string> {
  const dir = await mkdtemp(join(work, 'store-'));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

function manifestInput(parentVersion: string | null = null): SnapshotManifestInput {
  token += 1;
  return {
    formatVersion: 1,
    collection: 'words',
    version: newVersionId(token, new ManualClock(Date.parse('2025-03-01T10:00:00Z') + token)),
    parentVersion,
    fencingToken: token,
    createdAt: new Date().toISOString(),
    counts: { vectors: 3 },
    messagesApplied: 2,
  };
}

function repo(options: Partial<ConstructorParameters<typeof SnapshotRepository>[0]> = {}) {
  return new SnapshotRepository({ s3: aws.s3, bucket: aws.bucket, ...options });
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

async function putObject(key: string, body: string | Buffer): Promise<void> {
  await aws.s3.send(new PutObjectCommand({ Bucket: aws.bucket, Key: key, Body: body }));
}

async function getBytes(key: string): Promise<Buffer> {
  const out = await aws.s3.send(new GetObjectCommand({ Bucket: aws.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('SnapshotRepository.publish', () => {
  it('uploads every blob, then a manifest describing each file', async () => {
    const dir = await storeDir({
      'chroma.sqlite3': 'sqlite bytes',
      'seg/index.bin': 'hnsw bytes',
      'seg/copy.bin': 'hnsw bytes', // same bytes: one blob
    });
    const input = manifestInput();
    const result = await repo().publish({ collection: 'words', dir, manifest: input });

    expect(result.manifestKey).toBe(manifestKey('words', input.version));
    expect(result.manifest.files).toEqual([
      { path: 'chroma.sqlite3', size: 12, sha256: sha256('sqlite bytes') },
      { path: 'seg/copy.bin', size: 10, sha256: sha256('hnsw bytes') },
      { path: 'seg/index.bin', size: 10, sha256: sha256('hnsw bytes') },
    ]);
    expect(result).toMatchObject({ bytesUploaded: 22, blobsUploaded: 2, blobsSkipped: 0 });
    expect((await getBytes(blobKey('words', sha256('sqlite bytes')))).toString()).toBe(
      'sqlite bytes',
    );
    expect(await repo().readManifest(result.manifestKey)).toEqual(result.manifest);
  });

  it('does not upload a blob S3 provably has (a metadata-only batch re-uploads only SQLite)', async () => {
    const index = randomBytes(256 * 1024);
    const dir = await storeDir({ 'chroma.sqlite3': 'v1 rows', 'seg/index.bin': index });
    const v2 = (parent?: string) => ({
      ...manifestInput(parent ?? null),
      formatVersion: 2 as const,
    });
    const first = await repo().publish({ collection: 'words', dir, manifest: v2() });
    expect(first).toMatchObject({ blobsUploaded: 2, bytesUploaded: 7 + index.length });

    // Unchanged directory: nothing to upload, yet a complete new manifest.
    const second = await repo().publish({
      collection: 'words',
      dir,
      manifest: v2(first.manifest.version),
    });
    expect(second).toMatchObject({ bytesUploaded: 0, blobsUploaded: 0, blobsSkipped: 2 });
    expect(second.manifest.files).toEqual(first.manifest.files);

    // Metadata changed, index did not: only the database goes up.
    await writeFile(join(dir, 'chroma.sqlite3'), 'v2 rows!');
    const third = await repo().publish({
      collection: 'words',
      dir,
      manifest: v2(second.manifest.version),
    });
    expect(third).toMatchObject({ bytesUploaded: 8, blobsUploaded: 1, blobsSkipped: 1 });

    // The legacy reference path asks for a full upload: every blob goes up again.
    const full = await repo().publish({
      collection: 'words',
      dir,
      manifest: v2(third.manifest.version),
      uploadAll: true,
    });
    expect(full).toMatchObject({
      bytesUploaded: 8 + index.length,
      blobsUploaded: 2,
      blobsSkipped: 0,
    });
    expect(full.manifest.files).toEqual(third.manifest.files);
  });

  it('uploads a large file as a multipart upload that downloads intact', async () => {
    const big = randomBytes(12 * MiB + 123);
    const dir = await storeDir({ 'seg/index.bin': big, 'chroma.sqlite3': 'rows' });
    const result = await repo().publish({ collection: 'words', dir, manifest: manifestInput() });
    expect(result).toMatchObject({ blobsUploaded: 2, multipartUploads: 1 });
    const head = await aws.s3.send(
      new HeadObjectCommand({ Bucket: aws.bucket, Key: blobKey('words', sha256(big)) }),
    );
    expect(head.ContentLength).toBe(big.length);
    expect(head.ETag).toMatch(/-2"?$/); // 8 MiB parts: 2 parts

    const dest = join(work, 'out');
    const progress: number[] = [];
    const { bytesDownloaded } = await repo().download(result.manifest, dest, {
      onProgress: (p) => progress.push(p.bytesDownloaded),
    });
    expect(bytesDownloaded).toBe(big.length + 4);
    expect(progress.at(-1)).toBe(big.length + 4);
    expect((await readFile(join(dest, 'seg/index.bin'))).equals(big)).toBe(true);
  });

  it('writes no manifest when a blob upload fails', async () => {
    // Blob uploads fail in flight (on the real emulator client, for this test only).
    aws.s3.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: string };
        if (context.commandName === 'PutObjectCommand' && input.Key?.includes('/blobs/')) {
          throw new Error('injected network failure');
        }
        return next(args);
      },
      { step: 'initialize', name: 'injectBlobFailure' },
    );
    const dir = await storeDir({ a: 'aaa', b: 'bbb' });
    const input = manifestInput();
    try {
      await expect(repo().publish({ collection: 'words', dir, manifest: input })).rejects.toThrow(
        'injected network failure',
      );
    } finally {
      aws.s3.middlewareStack.remove('injectBlobFailure');
    }
    expect(await repo().listManifests('words')).toEqual([]);
    await expect(repo().readManifest(manifestKey('words', input.version))).rejects.toThrow(
      SnapshotNotFoundError,
    );
  });
});

describe('SnapshotRepository.download', () => {
  async function published(files: Record<string, string | Buffer>) {
    const dir = await storeDir(files);
    return repo().publish({ collection: 'words', dir, manifest: manifestInput() });
  }

  it('refuses a blob with one flipped byte, removes the directory and counts it', async () => {
    const content = randomBytes(64 * 1024);
    const { manifest } = await published({ 'chroma.sqlite3': 'rows', 'seg/index.bin': content });
    const flipped = Buffer.from(content);
    flipped[1000] = flipped[1000]! ^ 0xff;
    await putObject(blobKey('words', sha256(content)), flipped);

    const metrics = new RecordingMetrics();
    const dest = join(work, 'out');
    const err = await rejection(repo({ metrics }).download(manifest, dest));
    expect(err).toBeInstanceOf(SnapshotCorruptError);
    expect(err).toMatchObject({
      code: 'SNAPSHOT_CORRUPT',
      collection: 'words',
      version: manifest.version,
      path: 'seg/index.bin',
      expected: { size: content.length, sha256: sha256(content) },
      actual: { size: content.length, sha256: sha256(flipped) },
    });
    expect(existsSync(dest)).toBe(false);
    expect(metrics.values(METRIC.compactionCorruptSnapshots)).toEqual([1]);
  });

  it('refuses a truncated blob', async () => {
    const { manifest } = await published({ 'chroma.sqlite3': 'all the rows' });
    await putObject(blobKey('words', sha256('all the rows')), 'all the');
    const dest = join(work, 'out');
    const err = await rejection(repo().download(manifest, dest));
    expect(err).toBeInstanceOf(SnapshotCorruptError);
    expect((err as SnapshotCorruptError).actual).toEqual({ size: 7, sha256: sha256('all the') });
    expect(existsSync(dest)).toBe(false);
  });

  it('refuses a manifest naming a missing blob', async () => {
    const { manifest } = await published({ 'chroma.sqlite3': 'rows' });
    const missing: SnapshotManifest = {
      ...(manifest as SnapshotManifestV1),
      files: [...manifest.files, { path: 'ghost.bin', size: 3, sha256: sha256('boo') }],
    };
    const dest = join(work, 'out');
    const err = await rejection(repo().download(missing, dest));
    expect(err).toBeInstanceOf(SnapshotCorruptError);
    expect(err).toMatchObject({ path: 'ghost.bin', actual: undefined });
    expect(existsSync(dest)).toBe(false);
  });

  it('refuses path traversal before writing anything', async () => {
    const { manifest } = await published({ 'chroma.sqlite3': 'rows' });
    const evil: SnapshotManifest = {
      ...(manifest as SnapshotManifestV1),
      files: [{ path: '../escaped', size: 4, sha256: sha256('rows') }],
    };
    const dest = join(work, 'nested', 'out');
    await expect(repo().download(evil, dest)).rejects.toThrow(SnapshotManifestError);
    expect(existsSync(join(work, 'nested', 'escaped'))).toBe(false);
    expect(existsSync(dest)).toBe(false);

    // The same manifest stored in S3 is refused when read.
    const key = manifestKey('words', manifest.version);
    await putObject(key, JSON.stringify(evil));
    await expect(repo().readManifest(key)).rejects.toThrow(/unsafe path/);
  });

  it('refuses a non-empty target directory (it would mix versions)', async () => {
    const { manifest } = await published({ 'chroma.sqlite3': 'rows' });
    const dest = await storeDir({ leftover: 'x' });
    await expect(repo().download(manifest, dest)).rejects.toThrow(/not empty/);
    expect(await readdir(dest)).toEqual(['leftover']);
  });
});

describe('SnapshotRepository manifests, latest and listing', () => {
  it('reads manifests with typed errors for missing, bad JSON and mismatched keys', async () => {
    const dir = await storeDir({ a: 'a' });
    const { manifest, manifestKey: key } = await repo().publish({
      collection: 'words',
      dir,
      manifest: manifestInput(),
    });
    await expect(
      repo().readManifest(manifestKey('words', newVersionId(999, new ManualClock()))),
    ).rejects.toThrow(SnapshotNotFoundError);
    const badKey = manifestKey('words', newVersionId(998, new ManualClock()));
    await putObject(badKey, '{ not json');
    await expect(repo().readManifest(badKey)).rejects.toMatchObject({
      code: 'SNAPSHOT_MANIFEST_INVALID',
      key: badKey,
    });
    // A valid manifest stored under another version's key.
    const otherKey = manifestKey('words', newVersionId(997, new ManualClock()));
    await putObject(otherKey, JSON.stringify(manifest));
    await expect(repo().readManifest(otherKey)).rejects.toThrow(/not what its key names/);
    await expect(repo().readManifest('words/latest.json')).rejects.toThrow(SnapshotManifestError);
    expect((await repo().readManifest(key)).version).toBe(manifest.version);
  });

  it('mirrors the pointer in latest.json', async () => {
    expect(await repo().readLatest('words')).toBeUndefined();
    const latest = {
      version: '000000000003-20250301T100000Z-abcd',
      manifestKey: manifestKey('words', '000000000003-20250301T100000Z-abcd'),
    };
    await repo().writeLatest('words', latest);
    expect(await repo().readLatest('words')).toEqual(latest);
    expect(await repo().readLatest('lines')).toBeUndefined();
  });

  it('lists manifests in version order and blobs, and deletes them for pruning', async () => {
    const r = repo();
    const dir = await storeDir({ a: 'one' });
    const v1 = await r.publish({ collection: 'words', dir, manifest: manifestInput() });
    await writeFile(join(dir, 'a'), 'two');
    const v2 = await r.publish({
      collection: 'words',
      dir,
      manifest: manifestInput(v1.manifest.version),
    });
    expect((await r.listManifests('words')).map((m) => m.version)).toEqual([
      v1.manifest.version,
      v2.manifest.version,
    ]);
    expect((await r.listBlobs('words')).map((b) => b.sha256).sort()).toEqual(
      [sha256('one'), sha256('two')].sort(),
    );
    expect(await r.listManifests('lines')).toEqual([]);

    await r.deleteManifest('words', v1.manifest.version);
    await r.deleteBlob('words', sha256('one'));
    expect((await r.listManifests('words')).map((m) => m.version)).toEqual([v2.manifest.version]);
    expect((await r.listBlobs('words')).map((b) => b.sha256)).toEqual([sha256('two')]);
  });
});

// Deltas exported by real chroma-core stores: chroma-roundtrip.test.ts.
describe('SnapshotRepository.downloadDelta', () => {
  /** Uploads a chroma-core-style snapshot directory file by file under `prefix`. */
  async function uploadDelta(prefix: string, files: Record<string, string>) {
    const manifest = {
      formatVersion: 1,
      files: Object.entries(files).map(([path, content]) => ({
        path,
        size: Buffer.byteLength(content),
        sha256: sha256(content),
      })),
    };
    for (const [path, content] of Object.entries(files))
      await putObject(`${prefix}${path}`, content);
    await putObject(`${prefix}manifest.json`, JSON.stringify(manifest));
    return manifest;
  }

  it('refuses a corrupt delta and leaves nothing behind', async () => {
    await uploadDelta('deltas/run-2/', { 'chroma.sqlite3': 'delta rows' });
    await putObject('deltas/run-2/chroma.sqlite3', 'delta rowz');
    const dest = join(work, 'delta');
    const err = await rejection(repo().downloadDelta('deltas/run-2', dest));
    expect(err).toBeInstanceOf(SnapshotCorruptError);
    expect(err).toMatchObject({
      collection: undefined,
      version: `s3://${aws.bucket}/deltas/run-2/`,
      path: 'chroma.sqlite3',
    });
    expect(existsSync(dest)).toBe(false);
  });

  it('refuses a delta without a manifest', async () => {
    await expect(repo().downloadDelta('deltas/nothing-here/', join(work, 'd'))).rejects.toThrow(
      SnapshotNotFoundError,
    );
  });
});
