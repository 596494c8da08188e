import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChromaStore,
  type Collection,
  DimensionMismatchError,
  DuplicateIdError,
  InvalidArgumentError,
  InvalidEmbeddingError,
  InvalidWhereError,
  RecordNotFoundError,
} from '../src/index.js';
import { f32, tempDir, vectors } from './helpers.js';

const DIM = 4;
let store: ChromaStore;
let col: Collection;

beforeEach(async () => {
  store = await ChromaStore.open(tempDir());
  col = await store.getOrCreateCollection('words', { space: 'l2' });
  const vs = vectors(5, DIM, 3);
  await col.add({
    ids: ['a', 'b', 'c', 'd', 'e'],
    embeddings: vs,
    metadatas: [{ n: 1, s: 'x' }, { n: 2, s: 'y' }, { n: 3, flag: true }, null, { n: 5 }],
    documents: ['alpha', 'beta', null, 'delta', 'epsilon'],
  });
});

afterEach(async () => {
  await store.close();
});

describe('add / get / count / peek', () => {
  it('stores ids, float32 embeddings, metadata and documents', async () => {
    expect(await col.count()).toBe(5);
    const got = await col.get({
      ids: ['c', 'a', 'zzz'],
      include: ['embeddings', 'metadatas', 'documents'],
    });
    expect(got.ids).toEqual(['c', 'a']); // order of the requested ids, missing ids skipped
    expect(got.metadatas).toEqual([
      { n: 3, flag: true },
      { n: 1, s: 'x' },
    ]);
    expect(got.documents).toEqual([null, 'alpha']);
    const vs = vectors(5, DIM, 3);
    expect(got.embeddings).toEqual([f32(vs[2]!), f32(vs[0]!)]);
  });

  it('returns all records in insertion order with limit/offset, and honours include', async () => {
    const all = await col.get();
    expect(all.ids).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(all.embeddings).toBeUndefined();
    expect(all.metadatas[3]).toBeNull();
    const page = await col.get({ limit: 2, offset: 1, include: [] });
    expect(page.ids).toEqual(['b', 'c']);
    expect(page.metadatas).toEqual([null, null]);
    expect(page.documents).toEqual([null, null]);
    const byIds = await col.get({ ids: ['e', 'd', 'c', 'b'], limit: 2, offset: 1 });
    expect(byIds.ids).toEqual(['d', 'c']);
  });

  it('peeks with embeddings', async () => {
    const p = await col.peek({ limit: 2 });
    expect(p.ids).toEqual(['a', 'b']);
    expect(p.embeddings).toHaveLength(2);
    expect(p.documents).toEqual(['alpha', 'beta']);
    expect((await col.peek()).ids).toHaveLength(5);
  });

  it('accepts Float32Array vectors and refuses an empty add (as Chroma does)', async () => {
    await col.add({ ids: ['f'], embeddings: [new Float32Array([1, 2, 3, 4])] });
    expect(() => col.addSync({ ids: [], embeddings: [] })).toThrow(InvalidArgumentError);
    expect((await col.get({ ids: ['f'], include: ['embeddings'] })).embeddings).toEqual([
      [1, 2, 3, 4],
    ]);
    expect(await col.count()).toBe(6);
  });
});

describe('update / upsert', () => {
  it('merges metadata: given keys overwrite, null removes, others stay', async () => {
    await col.update({
      ids: ['a', 'd'],
      metadatas: [{ n: 10, s: null, extra: 'new' }, { first: true }],
    });
    const got = await col.get({ ids: ['a', 'd'] });
    expect(got.metadatas).toEqual([{ extra: 'new', n: 10 }, { first: true }]);
    expect(got.documents).toEqual(['alpha', 'delta']); // untouched
  });

  it('keeps the indexed key rows in step with the returned metadata through merges', async () => {
    await col.update({ ids: ['a', 'b'], metadatas: [{ s: null, n: 7, t: 'new' }, { s: 'z' }] });
    await col.upsert({
      ids: ['c', 'f'],
      embeddings: [
        [0, 0, 0, 1],
        [0, 0, 1, 0],
      ],
      metadatas: [
        { flag: null, u: false },
        { n: 7, gone: null },
      ],
    });
    const db = (store as unknown as { core: { db: Database.Database } }).core.db;
    const rows = db
      .prepare(
        `SELECT e.id, m.key, m.string_value s, m.num_value n, m.bool_value b FROM embedding_metadata m
         JOIN embeddings e ON e.seq = m.seq ORDER BY e.id, m.key`,
      )
      .all() as Array<{
      id: string;
      key: string;
      s: string | null;
      n: number | null;
      b: number | null;
    }>;
    const fromRows: Record<string, Record<string, unknown>> = {};
    for (const r of rows) (fromRows[r.id] ??= {})[r.key] = r.s ?? r.n ?? r.b === 1;
    const got = await col.get();
    got.ids.forEach((id, i) => expect(got.metadatas[i] ?? undefined).toEqual(fromRows[id]));
    expect((await col.get({ where: { n: 7 } })).ids).toEqual(['a', 'f']);
    expect((await col.get({ where: { s: 'x' } })).ids).toEqual([]);
    expect((await col.get({ where: { flag: true } })).ids).toEqual([]);
    expect((await col.get({ where: { u: false } })).ids).toEqual(['c']);
  });

  it('never serves stale records from the query-result cache after a write', async () => {
    const q = { queryEmbeddings: [vectors(5, DIM, 3)[0]!], nResults: 1 };
    expect((await col.query(q)).metadatas).toEqual([[{ n: 1, s: 'x' }]]);
    await col.update({ ids: ['a'], metadatas: [{ n: 2 }], documents: ['ALPHA'] });
    const after = await col.query(q);
    expect(after.metadatas).toEqual([[{ n: 2, s: 'x' }]]);
    expect(after.documents).toEqual([['ALPHA']]);
    expect(() =>
      store.transaction(() => {
        col.updateSync({ ids: ['a'], metadatas: [{ n: 3 }] });
        expect(col.querySync(q).metadatas).toEqual([[{ n: 3, s: 'x' }]]); // inside: uncommitted state
        throw new Error('undo');
      }),
    ).toThrow('undo');
    expect((await col.query(q)).metadatas).toEqual([[{ n: 2, s: 'x' }]]);
  });

  it('replaces documents and embeddings only where given', async () => {
    await col.update({
      ids: ['a', 'b'],
      documents: ['ALPHA', null],
      embeddings: [null, [9, 9, 9, 9]],
    });
    const got = await col.get({
      ids: ['a', 'b'],
      include: ['documents', 'embeddings', 'metadatas'],
    });
    expect(got.documents).toEqual(['ALPHA', 'beta']);
    expect(got.embeddings![1]).toEqual([9, 9, 9, 9]);
    expect(got.metadatas).toEqual([
      { n: 1, s: 'x' },
      { n: 2, s: 'y' },
    ]);
    const q = await col.query({ queryEmbeddings: [[9, 9, 9, 9]], nResults: 1 });
    expect(q.ids).toEqual([['b']]);
    expect(q.distances[0]![0]).toBeCloseTo(0, 6);
  });

  it('is strict about unknown ids: RecordNotFoundError lists them and nothing changes', async () => {
    const before = store.digest();
    const err = (() => {
      try {
        col.updateSync({
          ids: ['a', 'nope', 'nope2'],
          metadatas: [{ n: 100 }, { n: 1 }, { n: 2 }],
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(RecordNotFoundError);
    expect((err as RecordNotFoundError).ids).toEqual(['nope', 'nope2']);
    expect((err as RecordNotFoundError).code).toBe('RECORD_NOT_FOUND');
    expect(store.digest()).toBe(before);
  });

  it('upserts: inserts new ids, updates existing ones (merge metadata, replace embedding)', async () => {
    await col.upsert({
      ids: ['a', 'new'],
      embeddings: [
        [1, 1, 1, 1],
        [2, 2, 2, 2],
      ],
      metadatas: [
        { s: null, n: 11 },
        { n: 99, gone: null },
      ],
      documents: [null, 'fresh'],
    });
    expect(await col.count()).toBe(6);
    const got = await col.get({
      ids: ['a', 'new'],
      include: ['documents', 'metadatas', 'embeddings'],
    });
    expect(got.metadatas).toEqual([{ n: 11 }, { n: 99 }]);
    expect(got.documents).toEqual(['alpha', 'fresh']);
    expect(got.embeddings).toEqual([
      [1, 1, 1, 1],
      [2, 2, 2, 2],
    ]);
    const q = await col.query({ queryEmbeddings: [[2, 2, 2, 2]], nResults: 2, include: [] });
    expect(q.ids[0]).toEqual(['new', 'a']);
  });
});

describe('delete', () => {
  it('deletes by ids and by where, returning counts; deleted records never come back from query', async () => {
    expect(await col.delete({ ids: ['a', 'zzz'] })).toBe(1);
    expect(await col.delete({ where: { n: { $gte: 3 } } })).toBe(2); // c, e
    expect(await col.delete({ where: { n: { $gte: 3 } } })).toBe(0);
    expect(await col.delete({ whereDocument: { $contains: 'delt' } })).toBe(1); // d
    expect((await col.get()).ids).toEqual(['b']);
    const q = await col.query({ queryEmbeddings: vectors(3, DIM, 50), nResults: 10 });
    expect(q.ids).toEqual([['b'], ['b'], ['b']]);
  });

  it('combines ids and where (AND) and requires a selector', async () => {
    expect(col.deleteSync({ ids: ['a', 'b'], where: { s: 'y' } })).toBe(1);
    expect((await col.get()).ids).toEqual(['a', 'c', 'd', 'e']);
    expect(() => col.deleteSync({})).toThrow(InvalidArgumentError);
  });
});

describe('bad input changes nothing', () => {
  const cases: Array<[string, () => unknown, new (...args: never[]) => Error]> = [
    [
      'wrong dimension',
      () => col.addSync({ ids: ['x'], embeddings: [[1, 2, 3]] }),
      DimensionMismatchError,
    ],
    [
      'wrong dimension in a batch',
      () =>
        col.addSync({
          ids: ['x', 'y'],
          embeddings: [
            [1, 2, 3, 4],
            [1, 2],
          ],
        }),
      DimensionMismatchError,
    ],
    [
      'duplicate ids in one add',
      () =>
        col.addSync({
          ids: ['x', 'x'],
          embeddings: [
            [1, 2, 3, 4],
            [1, 2, 3, 4],
          ],
        }),
      DuplicateIdError,
    ],
    [
      'add of an existing id',
      () =>
        col.addSync({
          ids: ['x', 'a'],
          embeddings: [
            [1, 2, 3, 4],
            [1, 2, 3, 4],
          ],
        }),
      DuplicateIdError,
    ],
    [
      'NaN in a vector',
      () => col.addSync({ ids: ['x'], embeddings: [[1, NaN, 3, 4]] }),
      InvalidEmbeddingError,
    ],
    [
      'Infinity in a vector',
      () => col.upsertSync({ ids: ['a'], embeddings: [[1, Infinity, 3, 4]] }),
      InvalidEmbeddingError,
    ],
    [
      'float32 overflow',
      () => col.addSync({ ids: ['x'], embeddings: [[1e300, 1, 1, 1]] }),
      InvalidEmbeddingError,
    ],
    [
      'non-number in a vector',
      () => col.addSync({ ids: ['x'], embeddings: [[1, '2', 3, 4] as unknown as number[]] }),
      InvalidEmbeddingError,
    ],
    [
      'NaN in an update',
      () => col.updateSync({ ids: ['a'], embeddings: [[NaN, 1, 1, 1]] }),
      InvalidEmbeddingError,
    ],
    [
      'ids/embeddings length mismatch',
      () => col.addSync({ ids: ['x', 'y'], embeddings: [[1, 2, 3, 4]] }),
      InvalidArgumentError,
    ],
    [
      'metadatas length mismatch',
      () => col.addSync({ ids: ['x'], embeddings: [[1, 2, 3, 4]], metadatas: [{}, {}] }),
      InvalidArgumentError,
    ],
    [
      'bad metadata value',
      () =>
        col.addSync({
          ids: ['x'],
          embeddings: [[1, 2, 3, 4]],
          metadatas: [{ o: {} as unknown as string }],
        }),
      InvalidArgumentError,
    ],
    [
      'null metadata value on add',
      () =>
        col.addSync({
          ids: ['x'],
          embeddings: [[1, 2, 3, 4]],
          metadatas: [{ o: null as unknown as string }],
        }),
      InvalidArgumentError,
    ],
    [
      'non-finite metadata number',
      () => col.updateSync({ ids: ['a'], metadatas: [{ n: NaN }] }),
      InvalidArgumentError,
    ],
    [
      'empty id',
      () => col.addSync({ ids: [''], embeddings: [[1, 2, 3, 4]] }),
      InvalidArgumentError,
    ],
    [
      'unknown where operator (delete)',
      () => col.deleteSync({ where: { n: { $like: 1 } } }),
      InvalidWhereError,
    ],
    [
      'unknown top-level where operator (delete)',
      () => col.deleteSync({ where: { $not: { n: 1 } } }),
      InvalidWhereError,
    ],
    [
      'unknown document operator (delete)',
      () => col.deleteSync({ whereDocument: { $like: 'a' } }),
      InvalidWhereError,
    ],
    [
      'update of a missing id',
      () => col.updateSync({ ids: ['b', 'missing'], documents: ['changed', 'x'] }),
      RecordNotFoundError,
    ],
    [
      'duplicate ids in upsert',
      () =>
        col.upsertSync({
          ids: ['a', 'a'],
          embeddings: [
            [1, 2, 3, 4],
            [1, 2, 3, 4],
          ],
        }),
      DuplicateIdError,
    ],
  ];

  for (const [name, call, type] of cases) {
    it(name, async () => {
      const count = await col.count();
      const digest = store.digest();
      const q = await col.query({ queryEmbeddings: [[0, 0, 0, 0]], nResults: 5 });
      expect(call).toThrow(type);
      expect(await col.count()).toBe(count);
      expect(store.digest()).toBe(digest);
      expect(await col.query({ queryEmbeddings: [[0, 0, 0, 0]], nResults: 5 })).toEqual(q);
    });
  }

  it('first add with mixed dimensions leaves the dimension unset', async () => {
    const fresh = await store.getOrCreateCollection('fresh');
    expect(() =>
      fresh.addSync({
        ids: ['x', 'y'],
        embeddings: [
          [1, 2],
          [1, 2, 3],
        ],
      }),
    ).toThrow(DimensionMismatchError);
    expect(fresh.dimension).toBeNull();
    expect(fresh.countSync()).toBe(0);
    await fresh.add({ ids: ['x'], embeddings: [[1, 2, 3]] });
    expect(fresh.dimension).toBe(3);
  });

  it('query with a wrong-dimension or NaN vector throws', async () => {
    await expect(col.query({ queryEmbeddings: [[1, 2]] })).rejects.toBeInstanceOf(
      DimensionMismatchError,
    );
    await expect(col.query({ queryEmbeddings: [[1, 2, NaN, 4]] })).rejects.toBeInstanceOf(
      InvalidEmbeddingError,
    );
    await expect(
      col.query({ queryEmbeddings: [[1, 2, 3, 4]], nResults: 0 }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('conflicting collection options throw', async () => {
    await expect(store.getOrCreateCollection('words', { space: 'cosine' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(store.getOrCreateCollection('words', { dimension: 3 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(store.getOrCreateCollection('x', { space: 'l1' as 'l2' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(store.getOrCreateCollection('')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await store.listCollections()).map((c) => c.name)).toEqual(['words']);
  });
});
