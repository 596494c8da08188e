import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChromaStore,
  type Collection,
  DuplicateIdError,
  type IndexRebuiltEvent,
  InvalidOperationError,
} from '../src/index.js';
import { exactTopK, tempDir, vectors } from './helpers.js';

const DIM = 8;
const items = vectors(200, DIM, 31).map((vector, i) => ({ id: `t${i}`, vector }));
const queries = vectors(6, DIM, 32);
let dir: string;
let store: ChromaStore;
let col: Collection;
let events: IndexRebuiltEvent[];

beforeEach(async () => {
  dir = tempDir();
  events = [];
  store = await ChromaStore.open(dir, { onIndexRebuilt: (e) => events.push(e) });
  col = await store.getOrCreateCollection('c');
  col.addSync({
    ids: items.map((it) => it.id),
    embeddings: items.map((it) => it.vector),
    metadatas: items.map((_, i) => ({ i })),
  });
  store.kv('seq').set('entity', 1);
});

afterEach(async () => {
  await store.close();
});

const snapshot = () => ({
  digest: store.digest(),
  count: col.countSync(),
  answers: col.querySync({ queryEmbeddings: queries, nResults: 10, include: [] }).ids,
  kv: store.kv('seq').entries(),
});

describe('store.transaction', () => {
  it('commits everything together and returns the body’s value', () => {
    const extra = vectors(3, DIM, 33);
    const n = store.transaction(() => {
      col.addSync({ ids: ['x0', 'x1', 'x2'], embeddings: extra });
      col.updateSync({ ids: ['t0'], metadatas: [{ i: -1 }] });
      store.kv('seq').set('entity', 2);
      return col.deleteSync({ ids: ['t1'] });
    });
    expect(n).toBe(1);
    expect(col.countSync()).toBe(202);
    expect(store.kv('seq').get('entity')).toBe(2);
    expect(col.querySync({ queryEmbeddings: extra, nResults: 1, include: [] }).ids).toEqual([
      ['x0'],
      ['x1'],
      ['x2'],
    ]);
  });

  it('rolls back SQLite and the in-memory index when the body throws', async () => {
    const before = snapshot();
    const near = queries.map((q) => q.map((x) => x + 1e-4)); // would be every query’s nearest neighbour
    expect(() =>
      store.transaction(() => {
        col.addSync({ ids: queries.map((_, i) => `ghost${i}`), embeddings: near });
        col.updateSync({
          ids: ['t5', 't6'],
          embeddings: [near[0]!, near[1]!],
          metadatas: [{ i: 999 }, null],
        });
        col.deleteSync({ where: { i: { $lt: 50 } } });
        store.kv('seq').set('entity', 99);
        store.kv('seq').set('other', 'x');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(snapshot()).toEqual(before);
    queries.forEach((q, i) => expect(before.answers[i]).toEqual(exactTopK('l2', q, items, 10)));

    // The rolled-back ids are free again and the index holds no ghost labels.
    await col.add({ ids: ['ghost0'], embeddings: [near[0]!] });
    expect(
      (await col.query({ queryEmbeddings: [queries[0]!], nResults: 1, include: [] })).ids,
    ).toEqual([['ghost0']]);
    expect(col.countSync()).toBe(201);

    // The index file written at close matches SQLite: no rebuild on the next open.
    await store.close();
    store = await ChromaStore.open(dir, { onIndexRebuilt: (e) => events.push(e) });
    col = await store.getCollection('c');
    expect(events).toEqual([]);
    expect(col.countSync()).toBe(201);
  });

  it('a failing write call inside a transaction is undone alone (savepoint) when the body catches it', () => {
    store.transaction(() => {
      col.addSync({ ids: ['ok'], embeddings: [vectors(1, DIM, 40)[0]!] });
      expect(() => col.addSync({ ids: ['ok2', 't0'], embeddings: vectors(2, DIM, 41) })).toThrow(
        DuplicateIdError,
      );
      store.transaction(() =>
        col.addSync({ ids: ['nested'], embeddings: [vectors(1, DIM, 42)[0]!] }),
      );
      try {
        store.transaction(() => {
          col.addSync({ ids: ['inner-ghost'], embeddings: [queries[0]!] });
          throw new Error('inner');
        });
      } catch {
        // the inner savepoint is rolled back; the outer transaction goes on
      }
    });
    expect(col.getSync({ ids: ['ok', 'ok2', 'nested', 'inner-ghost'] }).ids).toEqual([
      'ok',
      'nested',
    ]);
    expect(
      col.querySync({ queryEmbeddings: [queries[0]!], nResults: 1, include: [] }).ids[0],
    ).not.toEqual(['inner-ghost']);
    expect(col.countSync()).toBe(202);
  });

  it('queries inside a transaction see its uncommitted vectors (exact search over SQLite)', () => {
    const near = queries[2]!.map((x) => x + 1e-4);
    store.transaction(() => {
      col.addSync({ ids: ['fresh'], embeddings: [near] });
      col.deleteSync({ ids: [exactTopK('l2', queries[3]!, items, 1)[0]!] });
      const r = col.querySync({
        queryEmbeddings: [queries[2]!, queries[3]!],
        nResults: 10,
        include: [],
      });
      expect(r.ids[0]![0]).toBe('fresh');
      const remaining = items.filter((it) => it.id !== exactTopK('l2', queries[3]!, items, 1)[0]);
      expect(r.ids[1]).toEqual(exactTopK('l2', queries[3]!, remaining, 10));
    });
    expect(col.querySync({ queryEmbeddings: [queries[2]!], nResults: 1, include: [] }).ids).toEqual(
      [['fresh']],
    );
  });

  it('rejects an async body and rolls it back', async () => {
    const before = snapshot();
    expect(() =>
      store.transaction(async () => {
        col.addSync({ ids: ['async'], embeddings: [vectors(1, DIM, 50)[0]!] });
      }),
    ).toThrow(InvalidOperationError);
    expect(snapshot()).toEqual(before);
  });

  it('rejects exportSnapshot inside a transaction', async () => {
    let pending: Promise<unknown> | undefined;
    store.transaction(() => {
      pending = store.exportSnapshot(`${tempDir()}/snap`);
    });
    await expect(pending).rejects.toBeInstanceOf(InvalidOperationError);
  });

  it('every write call outside transaction() is atomic on its own', () => {
    const before = snapshot();
    // The second record fails validation after the first was accepted: nothing lands.
    expect(() =>
      col.upsertSync({ ids: ['new1', 't3'], embeddings: [vectors(1, DIM, 60)[0]!, [1, 2]] }),
    ).toThrow();
    expect(snapshot()).toEqual(before);

    // A failure in the middle of the SQL writes (white-box: the 3rd row write fails)
    // rolls back the rows already written, and the index never sees them.
    const records = (
      store as unknown as { core: { records: { insertRecord: (...a: unknown[]) => number } } }
    ).core.records;
    const original = records.insertRecord.bind(records);
    let calls = 0;
    records.insertRecord = (...args: unknown[]) => {
      if (++calls === 3) throw new Error('disk full');
      return original(...args);
    };
    try {
      expect(() =>
        col.upsertSync({
          ids: ['u1', 'u2', 'u3', 't4'],
          embeddings: [queries[0]!, queries[1]!, queries[2]!, queries[3]!],
          metadatas: [{ i: 1 }, { i: 2 }, { i: 3 }, { i: -4 }],
        }),
      ).toThrow('disk full');
    } finally {
      records.insertRecord = original;
    }
    expect(snapshot()).toEqual(before);
  });
});
