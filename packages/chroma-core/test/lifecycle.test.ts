import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ChromaStore,
  CollectionNotFoundError,
  CorruptDatabaseError,
  InvalidOperationError,
  StoreClosedError,
  StoreLockedError,
} from '../src/index.js';
import { openFds, tempDir, vectors } from './helpers.js';

async function seed(dir: string, n = 50, dim = 8): Promise<ChromaStore> {
  const store = await ChromaStore.open(dir);
  const col = await store.getOrCreateCollection('lines', { space: 'cosine' });
  const vs = vectors(n, dim, 7);
  await col.add({
    ids: vs.map((_, i) => `id-${i}`),
    embeddings: vs,
    metadatas: vs.map((_, i) => ({ i, even: i % 2 === 0 })),
    documents: vs.map((_, i) => `doc ${i}`),
  });
  store.kv('seq').set('k', 1);
  return store;
}

describe('open / close lifecycle', () => {
  beforeAll(async () => {
    // Load the native addons once so their loading does not count against fd baselines.
    const store = await seed(tempDir());
    await store.exportSnapshot(join(tempDir(), 'warm'));
    await store.close();
  });

  it('creates the directory and an empty store', async () => {
    const dir = join(tempDir(), 'nested', 'store');
    const store = await ChromaStore.open(dir);
    expect(existsSync(join(dir, 'chroma.sqlite3'))).toBe(true);
    expect(await store.listCollections()).toEqual([]);
    await store.close();
  });

  it('returns the fd count to its baseline after close, with no -wal/-shm left', async () => {
    const dir = tempDir();
    const before = openFds();
    const store = await seed(dir);
    const col = await store.getCollection('lines');
    await col.query({ queryEmbeddings: vectors(3, 8, 99), nResults: 5, where: { even: true } });
    await store.exportSnapshot(join(tempDir(), 'snap'));
    expect(openFds()).toBeGreaterThan(before); // the database is open
    await store.close();
    expect(openFds()).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(['chroma.sqlite3', 'index', 'vectors.sqlite3']);
    // The closed file is a plain rollback-journal database: read-only readers need nothing beside it.
    const ro = new Database(join(dir, 'chroma.sqlite3'), { readonly: true, fileMustExist: true });
    expect(ro.pragma('journal_mode', { simple: true })).toBe('delete');
    expect(ro.prepare('SELECT count(*) FROM embeddings').pluck().get()).toBe(50);
    ro.close();
    expect(readdirSync(dir).sort()).toEqual(['chroma.sqlite3', 'index', 'vectors.sqlite3']);
  });

  it('survives 1,000 open/close cycles without leaking descriptors', async () => {
    const dir = tempDir();
    await (await seed(dir, 20)).close();
    const before = openFds();
    for (let i = 0; i < 1000; i++) {
      const store = await ChromaStore.open(dir, {
        onIndexRebuilt: () => expect.fail('no rebuild expected'),
      });
      if (i % 100 === 0) expect(await (await store.getCollection('lines')).count()).toBe(20);
      await store.close();
    }
    expect(openFds()).toBe(before);
    expect(readdirSync(dir).sort()).toEqual(['chroma.sqlite3', 'index', 'vectors.sqlite3']);
  });

  it('makes every call fail with StoreClosedError after close, and close is idempotent', async () => {
    const store = await seed(tempDir());
    const col = await store.getCollection('lines');
    const kv = store.kv('seq');
    await store.close();
    await store.close();
    await Promise.all([store.close(), store.close()]);
    expect(store.closed).toBe(true);

    const asyncCalls: Array<() => Promise<unknown>> = [
      () => store.getOrCreateCollection('x'),
      () => store.getCollection('lines'),
      () => store.listCollections(),
      () => store.deleteCollection('lines'),
      () => store.exportSnapshot(join(tempDir(), 'never')),
      () => col.add({ ids: ['z'], embeddings: [vectors(1, 8)[0]!] }),
      () => col.upsert({ ids: ['z'], embeddings: [vectors(1, 8)[0]!] }),
      () => col.update({ ids: ['id-1'], metadatas: [{ a: 1 }] }),
      () => col.get(),
      () => col.query({ queryEmbeddings: vectors(1, 8) }),
      () => col.delete({ ids: ['id-1'] }),
      () => col.count(),
      () => col.peek(),
    ];
    for (const call of asyncCalls) await expect(call()).rejects.toBeInstanceOf(StoreClosedError);

    const syncCalls: Array<() => unknown> = [
      () => store.transaction(() => 1),
      () => store.digest(),
      () => kv.get('k'),
      () => kv.set('k', 2),
      () => kv.delete('k'),
      () => kv.entries(),
      () => store.kv('other'),
      () => col.addSync({ ids: ['z'], embeddings: [vectors(1, 8)[0]!] }),
      () => col.upsertSync({ ids: ['z'], embeddings: [vectors(1, 8)[0]!] }),
      () => col.updateSync({ ids: ['id-1'], metadatas: [{ a: 1 }] }),
      () => col.getSync(),
      () => col.querySync({ queryEmbeddings: vectors(1, 8) }),
      () => col.deleteSync({ ids: ['id-1'] }),
      () => col.countSync(),
      () => col.peekSync(),
      () => col.metadata,
      () => col.dimension,
      () => col.space,
    ];
    for (const call of syncCalls) expect(call).toThrow(StoreClosedError);
  });

  it('lets the directory be renamed, tarred and deleted right after close', async () => {
    const root = tempDir();
    const dir = join(root, 'a');
    const store = await seed(dir);
    const digest = store.digest();
    void store.close(); // not awaited: the handles are released before close() returns
    const moved = join(root, 'b');
    renameSync(dir, moved);
    const tarball = join(root, 'b.tar');
    execFileSync('tar', ['-cf', tarball, '-C', moved, '.']);
    rmSync(moved, { recursive: true });
    expect(existsSync(moved)).toBe(false);

    const unpacked = join(root, 'c');
    mkdirSync(unpacked);
    execFileSync('tar', ['-xf', tarball, '-C', unpacked]);
    const rebuilt: unknown[] = [];
    const reopened = await ChromaStore.open(unpacked, { onIndexRebuilt: (e) => rebuilt.push(e) });
    expect(reopened.digest()).toBe(digest);
    expect(rebuilt).toEqual([]);
    await reopened.close();
  });

  it('refuses a second open of the same directory until the first is closed', async () => {
    const dir = tempDir();
    const store = await ChromaStore.open(dir);
    const before = openFds();
    await expect(ChromaStore.open(dir)).rejects.toBeInstanceOf(StoreLockedError);
    expect(openFds()).toBe(before);
    await store.close();
    const again = await ChromaStore.open(dir);
    await again.close();
  });

  it('refuses a database locked by another connection (another process)', async () => {
    const dir = tempDir();
    await (await ChromaStore.open(dir)).close();
    const before = openFds();
    const other = new Database(join(dir, 'chroma.sqlite3'));
    other.pragma('locking_mode = EXCLUSIVE');
    other.prepare('BEGIN EXCLUSIVE').run();
    await expect(ChromaStore.open(dir)).rejects.toBeInstanceOf(StoreLockedError);
    other.prepare('ROLLBACK').run();
    // SQLite defers closing a descriptor while another connection of the same process
    // holds POSIX locks on that file; it is closed once that connection lets go.
    other.close();
    expect(openFds()).toBe(before);
    await (await ChromaStore.open(dir)).close();
  });

  it('raises CorruptDatabaseError for garbage bytes and releases every fd', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'chroma.sqlite3'), Buffer.alloc(64 * 1024, 0x5a));
    const before = openFds();
    const err = await ChromaStore.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptDatabaseError);
    expect((err as CorruptDatabaseError).code).toBe('CORRUPT_DATABASE');
    expect(openFds()).toBe(before);
    // Not locked by a leaked handle: the directory is free again.
    rmSync(join(dir, 'chroma.sqlite3'));
    await (await ChromaStore.open(dir)).close();
  });

  it('raises CorruptDatabaseError for damaged pages and for a truncated file', async () => {
    for (const damage of ['pages', 'truncate'] as const) {
      const dir = tempDir();
      await (await seed(dir, 400, 32)).close();
      const file = join(dir, 'chroma.sqlite3');
      const size = statSync(file).size;
      if (damage === 'truncate') {
        truncateSync(file, Math.floor(size / 2));
      } else {
        const fd = openSync(file, 'r+');
        writeSync(fd, Buffer.alloc(4096 * 3, 0xa5), 0, 4096 * 3, 4096 * 2); // pages 3–5
        closeSync(fd);
      }
      const before = openFds();
      await expect(ChromaStore.open(dir)).rejects.toBeInstanceOf(CorruptDatabaseError);
      expect(openFds()).toBe(before);
    }
  });

  it('raises CorruptDatabaseError for a SQLite file that is not a chroma-core store', async () => {
    const dir = tempDir();
    const other = new Database(join(dir, 'chroma.sqlite3'));
    other.exec('CREATE TABLE t (x)');
    other.close();
    await expect(ChromaStore.open(dir)).rejects.toBeInstanceOf(CorruptDatabaseError);
  });

  it('rejects close() inside a transaction and stays usable', async () => {
    const store = await seed(tempDir());
    let pending: Promise<void> | undefined;
    store.transaction(() => {
      pending = store.close();
    });
    await expect(pending).rejects.toBeInstanceOf(InvalidOperationError);
    expect(store.closed).toBe(false);
    expect(await (await store.getCollection('lines')).count()).toBe(50);
    await store.close();
  });

  it('manages collections: create, fix dimension on first add, list, delete', async () => {
    const dir = tempDir();
    const store = await ChromaStore.open(dir);
    const a = await store.getOrCreateCollection('a');
    expect(a.dimension).toBeNull();
    expect(a.space).toBe('l2');
    await a.add({ ids: ['x'], embeddings: [[1, 2, 3]] });
    expect(a.dimension).toBe(3);
    const b = await store.getOrCreateCollection('b', {
      dimension: 4,
      space: 'ip',
      metadata: { owner: 'me', 'hnsw:search_ef': 50 },
    });
    expect(b.dimension).toBe(4);
    expect(b.metadata).toEqual({ owner: 'me', 'hnsw:search_ef': 50 });
    const c = await store.getOrCreateCollection('c', { metadata: { 'hnsw:space': 'cosine' } });
    expect(c.space).toBe('cosine');
    expect((await store.getOrCreateCollection('a')).id).toBe(a.id);
    await expect(store.getCollection('nope')).rejects.toBeInstanceOf(CollectionNotFoundError);
    expect(
      (await store.listCollections()).map((x) => [x.name, x.count, x.dimension, x.space]),
    ).toEqual([
      ['a', 1, 3, 'l2'],
      ['b', 0, 4, 'ip'],
      ['c', 0, null, 'cosine'],
    ]);
    await store.close();

    const reopened = await ChromaStore.open(dir);
    const indexDir = join(dir, 'index');
    const aAgain = await reopened.getCollection('a');
    expect(readdirSync(indexDir).some((f) => f.startsWith(aAgain.id))).toBe(true);
    await reopened.deleteCollection('a');
    expect(readdirSync(indexDir).some((f) => f.startsWith(aAgain.id))).toBe(false);
    await expect(aAgain.count()).rejects.toBeInstanceOf(CollectionNotFoundError);
    await expect(reopened.deleteCollection('a')).rejects.toBeInstanceOf(CollectionNotFoundError);
    expect((await reopened.listCollections()).map((x) => x.name)).toEqual(['b', 'c']);
    await reopened.close();
  });
});
