import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ChromaStore,
  type IndexRebuiltEvent,
  InvalidArgumentError,
  InvalidOperationError,
  SnapshotIntegrityError,
  type SnapshotManifest,
  verifySnapshot,
  writeManifest,
} from '../src/index.js';
import { fileSha, flipByte, indexFiles, openFds, tempDir, vectors } from './helpers.js';

const DIM = 12;

async function populated(dir: string): Promise<ChromaStore> {
  const store = await ChromaStore.open(dir);
  for (const name of ['lines', 'words']) {
    const col = await store.getOrCreateCollection(name, { space: 'cosine' });
    const vs = vectors(300, DIM, name.length);
    await col.add({
      ids: vs.map((_, i) => `${name}-${i}`),
      embeddings: vs,
      metadatas: vs.map((_, i) => ({ i, name })),
      documents: vs.map((_, i) => `${name} ${i}`),
    });
  }
  await store.getOrCreateCollection('empty');
  store.kv('seq').set('IMAGE#1#RECEIPT#00001#PLACE', '4950000000000001');
  store.kv('pending').set('w1', { labels: ['TOTAL'], at: 3 });
  return store;
}

async function expectIntegrityError(dir: string, file: string): Promise<SnapshotIntegrityError> {
  const err = await verifySnapshot(dir).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(SnapshotIntegrityError);
  expect((err as SnapshotIntegrityError).file).toBe(file);
  expect((err as SnapshotIntegrityError).code).toBe('SNAPSHOT_INTEGRITY');
  return err as SnapshotIntegrityError;
}

describe('exportSnapshot', () => {
  it('writes a consistent copy while the store stays open, with a verifiable manifest', async () => {
    const store = await populated(tempDir());
    const digest = store.digest();
    const dest = join(tempDir(), 'snap');
    const manifest = await store.exportSnapshot(dest);

    expect(manifest.formatVersion).toBe(2);
    expect(Date.parse(manifest.createdAt)).not.toBeNaN();
    expect(manifest.collections).toEqual([
      { name: 'empty', count: 0, dimension: null, space: 'l2' },
      { name: 'lines', count: 300, dimension: DIM, space: 'cosine' },
      { name: 'words', count: 300, dimension: DIM, space: 'cosine' },
    ]);
    const paths = manifest.files.map((f) => f.path);
    expect(paths[0]).toBe('chroma.sqlite3');
    expect(paths.filter((p) => p.endsWith('.hnsw'))).toHaveLength(2);
    expect(paths.filter((p) => p.endsWith('.hnsw.json'))).toHaveLength(2);
    for (const f of manifest.files) {
      expect(statSync(join(dest, f.path)).size).toBe(f.size);
      expect(fileSha(join(dest, f.path))).toBe(f.sha256);
    }
    expect(JSON.parse(readFileSync(join(dest, 'manifest.json'), 'utf8'))).toEqual(manifest);
    expect(await verifySnapshot(dest)).toEqual(manifest);

    // The store is still usable, and later writes do not reach the snapshot.
    const lines = await store.getCollection('lines');
    await lines.delete({ ids: ['lines-0'] });
    store.kv('seq').set('later', 1);
    await store.close();

    const events: IndexRebuiltEvent[] = [];
    const copy = await ChromaStore.open(dest, { onIndexRebuilt: (e) => events.push(e) });
    expect(events).toEqual([]); // index files match the copied database
    expect(copy.digest()).toBe(digest);
    expect(copy.kv('pending').get('w1')).toEqual({ labels: ['TOTAL'], at: 3 });
    expect(copy.kv('seq').get('later')).toBeUndefined();
    expect(await (await copy.getCollection('lines')).count()).toBe(300);
    await copy.close();
  });

  it('persists a dirty index once: close after export does not rewrite it', async () => {
    const dir = tempDir();
    const store = await populated(dir);
    await store.exportSnapshot(join(tempDir(), 'snap'));
    const file = indexFiles(dir)[0]!;
    const mtime = statSync(file).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await store.close();
    expect(statSync(file).mtimeMs).toBe(mtime);
  });

  it('refuses a non-empty destination or one inside the store, and leaves no temp directory behind', async () => {
    const store = await populated(tempDir());
    const root = tempDir();
    const dest = join(root, 'snap');
    mkdirSync(dest);
    writeFileSync(join(dest, 'x'), 'x');
    await expect(store.exportSnapshot(dest)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(store.exportSnapshot(join(store.dir, 'snap'))).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    rmSync(join(dest, 'x'));
    await store.exportSnapshot(dest); // an empty directory is fine
    expect(readdirSync(root)).toEqual(['snap']);
    await store.close();
  });

  it('releases its descriptors', async () => {
    const store = await populated(tempDir());
    const before = openFds();
    await store.exportSnapshot(join(tempDir(), 'snap'));
    expect(openFds()).toBe(before);
    await store.close();
  });
});

describe('verifySnapshot', () => {
  async function exported(): Promise<{ dir: string; manifest: SnapshotManifest }> {
    const store = await populated(tempDir());
    const dir = join(tempDir(), 'snap');
    const manifest = await store.exportSnapshot(dir);
    await store.close();
    return { dir, manifest };
  }

  it('catches a flipped byte in the database and in an index file', async () => {
    const a = await exported();
    flipByte(join(a.dir, 'chroma.sqlite3'), 5000, 0x01);
    const err = await expectIntegrityError(a.dir, 'chroma.sqlite3');
    expect(err.message).toMatch(/sha256/);

    const b = await exported();
    const index = b.manifest.files.find((f) => f.path.endsWith('.hnsw'))!.path;
    flipByte(join(b.dir, index), 100, 0x01);
    await expectIntegrityError(b.dir, index);
  });

  it('catches a truncated file and a missing file', async () => {
    const a = await exported();
    const index = a.manifest.files.find((f) => f.path.endsWith('.hnsw'))!;
    truncateSync(join(a.dir, index.path), index.size - 1);
    const err = await expectIntegrityError(a.dir, index.path);
    expect(err.message).toMatch(/size/);

    const b = await exported();
    const sidecar = b.manifest.files.find((f) => f.path.endsWith('.hnsw.json'))!.path;
    rmSync(join(b.dir, sidecar));
    await expectIntegrityError(b.dir, sidecar);
  });

  it('rejects an unlisted extra file (a stray -wal would change what open sees)', async () => {
    const a = await exported();
    writeFileSync(join(a.dir, 'chroma.sqlite3-wal'), 'x');
    await expectIntegrityError(a.dir, 'chroma.sqlite3-wal');
  });

  it('rejects a missing, malformed or unsafe manifest', async () => {
    const a = await exported();
    const manifestPath = join(a.dir, 'manifest.json');
    const write = (m: unknown) =>
      writeFileSync(manifestPath, typeof m === 'string' ? m : JSON.stringify(m));
    const bad: unknown[] = [
      '{ nope',
      [],
      { ...a.manifest, formatVersion: 1 },
      { ...a.manifest, files: 'x' },
      { ...a.manifest, files: a.manifest.files.filter((f) => f.path !== 'chroma.sqlite3') },
      {
        ...a.manifest,
        files: [...a.manifest.files, { path: '../escape', size: 1, sha256: 'a'.repeat(64) }],
      },
      { ...a.manifest, files: [...a.manifest.files, a.manifest.files[0]] },
      { ...a.manifest, files: a.manifest.files.map((f) => ({ ...f, sha256: 'XYZ' })) },
      { ...a.manifest, collections: [{ name: 'x' }] },
    ];
    for (const m of bad) {
      write(m);
      await expectIntegrityError(a.dir, 'manifest.json');
    }
    rmSync(manifestPath);
    await expectIntegrityError(a.dir, 'manifest.json');
  });
});

describe('writeManifest', () => {
  it('builds the manifest of a closed store directory, which then verifies and opens', async () => {
    const dir = tempDir();
    const store = await populated(dir);
    const digest = store.digest();
    await expect(writeManifest(dir)).rejects.toBeInstanceOf(InvalidOperationError); // still open
    await store.close();
    const before = openFds();
    const manifest = await writeManifest(dir);
    expect(openFds()).toBe(before);
    expect(manifest.files.map((f) => f.path)).not.toContain('manifest.json');
    expect(manifest.collections.map((c) => [c.name, c.count])).toEqual([
      ['empty', 0],
      ['lines', 300],
      ['words', 300],
    ]);
    expect(readdirSync(dir).sort()).toEqual([
      'chroma.sqlite3',
      'index',
      'manifest.json',
      'vectors.sqlite3',
    ]); // nothing else created
    expect(await verifySnapshot(dir)).toEqual(manifest);

    const reopened = await ChromaStore.open(dir);
    expect(reopened.digest()).toBe(digest);
    await reopened.close();
  });

  it('refuses a directory that was not closed cleanly', async () => {
    const dir = tempDir();
    await (await populated(dir)).close();
    writeFileSync(join(dir, 'chroma.sqlite3-wal'), '');
    await expect(writeManifest(dir)).rejects.toBeInstanceOf(InvalidOperationError);
    expect(existsSync(join(dir, 'manifest.json'))).toBe(false);
  });
});
