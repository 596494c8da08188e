import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { SnapshotCorruptError } from '../src/errors.js';
import { blobKey } from '../src/layout.js';
import { LocalCache } from '../src/local-cache.js';
import { newVersionId, type SnapshotManifest } from '../src/manifest.js';
import { SnapshotRepository } from '../src/repository.js';
import { useStateAndBucket } from './aws-fixture.js';

const aws = await useStateAndBucket();
let work: string;
let token = 0;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'compactor-cache-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const repository = () => new SnapshotRepository({ s3: aws.s3, bucket: aws.bucket });
const cache = () => new LocalCache({ workDir: join(work, 'cache'), repository: repository() });

/** Publishes a directory with `files` as a new `lines` version; returns its pointer. */
async function publishVersion(files: Record<string, string>) {
  const dir = await mkdtemp(join(work, 'src-'));
  // An empty vectors file makes it a store the checkout accepts (storeFormatProblems).
  for (const [path, content] of Object.entries({ 'vectors.sqlite3': '', ...files })) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  token += 1;
  const version = newVersionId(token, new ManualClock());
  const { manifestKey } = await repository().publish({
    collection: 'lines',
    dir,
    manifest: {
      formatVersion: 1,
      collection: 'lines',
      version,
      parentVersion: null,
      fencingToken: token,
      createdAt: new Date().toISOString(),
      counts: { vectors: 0 },
      messagesApplied: 1,
    },
  });
  return { version, manifestKey };
}

describe('LocalCache', () => {
  it('gives an empty new directory when there is no pointer yet', async () => {
    const co = await cache().checkout('lines', undefined, { mode: 'warm' });
    expect(co).toMatchObject({ fromCache: false, bytesDownloaded: 0 });
    expect(await readdir(co.dir)).toEqual([]);
  });

  it('downloads cold, then reuses the committed directory in place when warm', async () => {
    const v1 = await publishVersion({ 'chroma.sqlite3': 'rows v1', 'seg/index.bin': 'index' });
    const c = cache();

    const first = await c.checkout('lines', v1, { mode: 'warm' }); // nothing cached yet
    expect(first).toMatchObject({ fromCache: false, bytesDownloaded: 12 });
    expect(await readFile(join(first.dir, 'seg/index.bin'), 'utf8')).toBe('index');

    // The batch changes the store; it is published as v2 and the pointer swapped.
    await writeFile(join(first.dir, 'chroma.sqlite3'), 'rows v2');
    const v2 = {
      version: newVersionId(++token, new ManualClock()),
      manifestKey: 'unused-when-warm',
    };
    await c.commit('lines', first.dir, v2.version);
    expect(await c.cachedVersion('lines')).toBe(v2.version);

    const second = await c.checkout('lines', v2, { mode: 'warm' });
    expect(second).toMatchObject({ dir: first.dir, fromCache: true, bytesDownloaded: 0 });
    expect(await readFile(join(second.dir, 'chroma.sqlite3'), 'utf8')).toBe('rows v2');
    // Handed out for modification: the cache no longer claims a version.
    expect(await c.cachedVersion('lines')).toBeUndefined();
  });

  it('downloads when cold even if the cache holds the version, and sweeps the old directory', async () => {
    const v1 = await publishVersion({ 'chroma.sqlite3': 'rows v1' });
    const c = cache();
    const first = await c.checkout('lines', v1, { mode: 'cold' });
    await c.commit('lines', first.dir, v1.version);

    const cold = await c.checkout('lines', v1, { mode: 'cold' });
    expect(cold.fromCache).toBe(false);
    expect(cold.bytesDownloaded).toBe(7);
    expect(cold.dir).not.toBe(first.dir);
    expect(existsSync(first.dir)).toBe(false);
  });

  it('downloads when the cache holds another version', async () => {
    const v1 = await publishVersion({ 'chroma.sqlite3': 'rows v1' });
    const v2 = await publishVersion({ 'chroma.sqlite3': 'rows v2, longer' });
    const c = cache();
    const first = await c.checkout('lines', v1, { mode: 'warm' });
    await c.commit('lines', first.dir, v1.version);

    const co = await c.checkout('lines', v2, { mode: 'warm' });
    expect(co.fromCache).toBe(false);
    expect(await readFile(join(co.dir, 'chroma.sqlite3'), 'utf8')).toBe('rows v2, longer');
    expect(existsSync(first.dir)).toBe(false);
  });

  it('one version behind and warm, downloads only the chunks the cached version lacks', async () => {
    const src = await mkdtemp(join(work, 'chunked-'));
    const big = randomBytes(3 * 256 * 1024);
    await writeFile(join(src, 'chroma.sqlite3'), big);
    await writeFile(join(src, 'index.bin'), 'index');
    await writeFile(join(src, 'vectors.sqlite3'), '');
    const publish = async (parent: SnapshotManifest | null) => {
      token += 1;
      return repository().publish({
        collection: 'lines',
        dir: src,
        manifest: {
          formatVersion: 2,
          collection: 'lines',
          version: newVersionId(token, new ManualClock()),
          parentVersion: parent?.version ?? null,
          fencingToken: token,
          createdAt: new Date().toISOString(),
          counts: { vectors: 0 },
          messagesApplied: 1,
        },
      });
    };
    const p1 = await publish(null);
    const c = cache();
    const first = await c.checkout(
      'lines',
      { version: p1.manifest.version, manifestKey: p1.manifestKey },
      { mode: 'warm' },
    );
    await c.commit('lines', first.dir, p1.manifest.version, p1.manifest);

    // Another container publishes the next version: one chunk differs.
    const handle = await open(join(src, 'chroma.sqlite3'), 'r+');
    await handle.write(randomBytes(4096), 0, 4096, 256 * 1024);
    await handle.close();
    const p2 = await publish(p1.manifest);
    expect(p2.bytesUploaded).toBe(256 * 1024);

    const behind = await c.checkout(
      'lines',
      { version: p2.manifest.version, manifestKey: p2.manifestKey },
      {
        mode: 'warm',
      },
    );
    expect(behind).toMatchObject({ fromCache: false, bytesDownloaded: 256 * 1024 });
    expect(behind.bytesReused).toBe(2 * 256 * 1024 + 5);
    expect(await readFile(join(behind.dir, 'chroma.sqlite3'))).toEqual(
      await readFile(join(src, 'chroma.sqlite3')),
    );
    expect(existsSync(first.dir)).toBe(false);
    expect(behind.manifest).toEqual(p2.manifest);
  });

  it('knows which files were not written since checkout, even within the same clock tick', async () => {
    const v1 = await publishVersion({ 'chroma.sqlite3': 'rows v1', 'index.bin': 'index' });
    const c = cache();
    const co = await c.checkout('lines', v1, { mode: 'warm' });
    expect(await c.unchangedFiles(co)).toEqual(
      new Set(['chroma.sqlite3', 'index.bin', 'vectors.sqlite3']),
    );
    // Same size, written right away: the pinned mtime still tells them apart.
    await writeFile(join(co.dir, 'chroma.sqlite3'), 'rows v2');
    expect(await c.unchangedFiles(co)).toEqual(new Set(['index.bin', 'vectors.sqlite3']));
  });

  it('does not trust a committed directory that was written to afterwards', async () => {
    const v1 = await publishVersion({ 'chroma.sqlite3': 'rows v1' });
    const c = cache();
    const first = await c.checkout('lines', v1, { mode: 'warm' });
    await c.commit('lines', first.dir, v1.version);
    await writeFile(join(first.dir, 'chroma.sqlite3-wal'), 'opened again by mistake');
    expect(await c.cachedVersion('lines')).toBeUndefined();

    const co = await c.checkout('lines', v1, { mode: 'warm' });
    expect(co.fromCache).toBe(false);
    expect((await readdir(co.dir)).sort()).toEqual(['chroma.sqlite3', 'vectors.sqlite3']);
  });

  it('discard removes the directory, so the next checkout downloads', async () => {
    const v1 = await publishVersion({ 'chroma.sqlite3': 'rows v1' });
    const c = cache();
    const first = await c.checkout('lines', v1, { mode: 'warm' });
    await c.commit('lines', first.dir, v1.version);
    const second = await c.checkout('lines', v1, { mode: 'warm' });
    expect(second.fromCache).toBe(true);
    await writeFile(join(second.dir, 'chroma.sqlite3'), 'half-applied batch');

    await c.discard('lines', second.dir); // e.g. the swap was refused
    expect(existsSync(second.dir)).toBe(false);
    const third = await c.checkout('lines', v1, { mode: 'warm' });
    expect(third.fromCache).toBe(false);
    expect(await readFile(join(third.dir, 'chroma.sqlite3'), 'utf8')).toBe('rows v1');
  });

  it('a crash between checkout and commit leaves no directory claiming a version', async () => {
    const v1 = await publishVersion({ 'chroma.sqlite3': 'rows v1' });
    const first = cache();
    const co = await first.checkout('lines', v1, { mode: 'warm' });
    await first.commit('lines', co.dir, v1.version);
    const handedOut = await first.checkout('lines', v1, { mode: 'warm' });
    await writeFile(join(handedOut.dir, 'chroma.sqlite3'), 'half-applied');
    // …the invocation dies here: neither commit nor discard runs.

    const next = cache(); // the next invocation in the same container
    const co2 = await next.checkout('lines', v1, { mode: 'warm' });
    expect(co2.fromCache).toBe(false);
    expect(await readFile(join(co2.dir, 'chroma.sqlite3'), 'utf8')).toBe('rows v1');
    expect(existsSync(handedOut.dir)).toBe(false);
  });

  it('copies a directory for the shadow path', async () => {
    const v1 = await publishVersion({ 'chroma.sqlite3': 'rows v1', 'seg/index.bin': 'index' });
    const c = cache();
    const co = await c.checkout('lines', v1, { mode: 'warm' });
    const shadow = await c.copyForShadow(co.dir);
    expect(shadow).not.toBe(co.dir);
    expect(await readFile(join(shadow, 'seg/index.bin'), 'utf8')).toBe('index');
    await writeFile(join(shadow, 'chroma.sqlite3'), 'shadow rows');
    expect(await readFile(join(co.dir, 'chroma.sqlite3'), 'utf8')).toBe('rows v1');
    await c.discard('lines', shadow);
    expect(existsSync(shadow)).toBe(false);
    expect(existsSync(co.dir)).toBe(true);
  });

  it('leaves no directory and no claim after a corrupt download', async () => {
    const v1 = await publishVersion({ 'chroma.sqlite3': 'rows v1' });
    const sha = createHash('sha256').update('rows v1').digest('hex');
    await aws.s3.send(
      new PutObjectCommand({ Bucket: aws.bucket, Key: blobKey('lines', sha), Body: 'rows v!' }),
    );
    const c = cache();
    await expect(c.checkout('lines', v1, { mode: 'cold' })).rejects.toThrow(SnapshotCorruptError);
    expect(await readdir(join(work, 'cache', 'lines'))).toEqual([]);
    expect(await c.cachedVersion('lines')).toBeUndefined();
  });

  it('refuses to commit or discard a directory it did not hand out', async () => {
    const c = cache();
    const outside = await mkdtemp(join(work, 'elsewhere-'));
    await expect(c.commit('lines', outside, 'v')).rejects.toThrow(RangeError);
    await expect(c.discard('lines', outside)).rejects.toThrow(RangeError);
    expect(existsSync(outside)).toBe(true);
  });
});
