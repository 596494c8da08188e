/**
 * `query({ ids })` restricts the candidates (issue 16, bullet 2) and
 * `delete({ where, limit })` follows Chroma ≥ 1.5.3 (bullet 3).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ChromaStore, type Collection, InvalidArgumentError } from '../src/index.js';
import { exactTopK, tempDir, vectors } from './helpers.js';

const DIM = 8;
const N = 2000;
let store: ChromaStore;
let col: Collection;
let data: number[][];
const idOf = (i: number) => `r${i}`;

beforeEach(async () => {
  store = await ChromaStore.open(tempDir());
  col = await store.getOrCreateCollection('c', { space: 'cosine' });
  data = vectors(N, DIM, 11);
  await col.add({
    ids: data.map((_, i) => idOf(i)),
    embeddings: data,
    metadatas: data.map((_, i) => ({ bucket: i % 10, even: i % 2 === 0 })),
    documents: data.map((_, i) => `doc ${i}`),
  });
});

afterEach(async () => {
  await store.close();
});

/** The exact k nearest among `allowed` (indices), as ids. */
function expected(q: number[], allowed: number[], k: number): string[] {
  return exactTopK(
    'cosine',
    q,
    allowed.map((i) => ({ id: idOf(i), vector: data[i]! })),
    k,
  );
}

describe('query({ ids })', () => {
  it('returns only the given ids, the exact k nearest among them', () => {
    const chosen = [5, 17, 300, 301, 999, 1500, 1999];
    const q = vectors(3, DIM, 99);
    const r = col.querySync({ queryEmbeddings: q, ids: chosen.map(idOf), nResults: 4 });
    q.forEach((qv, i) => expect(r.ids[i]).toEqual(expected(qv, chosen, 4)));
  });

  it('combined with a selective where: the intersection only', () => {
    const chosen = Array.from({ length: 100 }, (_, i) => i * 7);
    const allowed = chosen.filter((i) => i % 10 === 3);
    const q = vectors(2, DIM, 5);
    const r = col.querySync({
      queryEmbeddings: q,
      ids: chosen.map(idOf),
      where: { bucket: 3 },
      nResults: 50,
    });
    q.forEach((qv, i) => {
      expect(r.ids[i]).toHaveLength(allowed.length);
      expect(r.ids[i]).toEqual(expected(qv, allowed, 50));
    });
  });

  it('combined with whereDocument', () => {
    const r = col.querySync({
      queryEmbeddings: [data[0]!],
      ids: ['r1', 'r10', 'r11', 'r12'],
      whereDocument: { $contains: 'doc 1' }, // r1, r10, r11, r12 all contain it
      where: { even: true },
      nResults: 10,
    });
    expect(r.ids[0]!.sort()).toEqual(['r10', 'r12']);
  });

  it('many ids: every result is among them and recall is exact on small k', () => {
    const chosen = Array.from({ length: 1500 }, (_, i) => i);
    const q = vectors(5, DIM, 123);
    const r = col.querySync({ queryEmbeddings: q, ids: chosen.map(idOf), nResults: 10 });
    const allowedSet = new Set(chosen.map(idOf));
    q.forEach((qv, i) => {
      expect(r.ids[i]!.every((id) => allowedSet.has(id))).toBe(true);
      expect(r.ids[i]).toEqual(expected(qv, chosen, 10));
    });
  });

  it('unknown ids are ignored and an empty list matches nothing', () => {
    const r = col.querySync({ queryEmbeddings: [data[3]!], ids: ['r3', 'nope'], nResults: 5 });
    expect(r.ids[0]).toEqual(['r3']);
    expect(col.querySync({ queryEmbeddings: [data[3]!], ids: [] }).ids).toEqual([[]]);
  });

  it('inside a transaction sees uncommitted records among the ids', () => {
    store.transaction(() => {
      col.addSync({ ids: ['fresh'], embeddings: [data[0]!] });
      const r = col.querySync({ queryEmbeddings: [data[0]!], ids: ['fresh', 'r1'], nResults: 2 });
      expect(r.ids[0]![0]).toMatch(/^(fresh|r0)$/);
      expect(r.ids[0]).toContain('fresh');
    });
  });
});

describe('delete({ where, limit })', () => {
  it('deletes at most limit matches, oldest first', async () => {
    expect(col.deleteSync({ where: { bucket: 4 }, limit: 3 })).toBe(3);
    const left = (await col.get({ where: { bucket: 4 }, include: [] })).ids;
    expect(left).toHaveLength(N / 10 - 3);
    expect(left.slice(0, 2)).toEqual(['r34', 'r44']); // r4, r14, r24 went first
    expect(await col.count()).toBe(N - 3);
    const q = col.querySync({ queryEmbeddings: [data[4]!], nResults: 1, include: [] });
    expect(q.ids[0]).not.toContain('r4');
  });

  it('limit: 0 deletes nothing', () => {
    const before = store.digest();
    expect(col.deleteSync({ where: { bucket: 1 }, limit: 0 })).toBe(0);
    expect(store.digest()).toBe(before);
  });

  it('a limit above the number of matches deletes them all', () => {
    expect(col.deleteSync({ where: { bucket: 2 }, limit: 10_000 })).toBe(N / 10);
    expect(col.getSync({ where: { bucket: 2 } }).ids).toEqual([]);
  });

  it('works with whereDocument and with ids beside the filter', () => {
    expect(col.deleteSync({ whereDocument: { $contains: 'doc 19' }, limit: 2 })).toBe(2);
    expect(col.getSync({ ids: ['r19', 'r190'] }).ids).toEqual([]);
    expect(col.deleteSync({ ids: ['r1', 'r11', 'r21'], where: { bucket: 1 }, limit: 1 })).toBe(1);
    expect(col.getSync({ ids: ['r1', 'r11', 'r21'] }).ids).toEqual(['r11', 'r21']);
  });

  it('limit without where or whereDocument is refused and changes nothing', () => {
    const before = store.digest();
    expect(() => col.deleteSync({ ids: ['r1'], limit: 1 })).toThrow(InvalidArgumentError);
    expect(() => col.deleteSync({ limit: 1 })).toThrow(/limit can only be given with a where/);
    expect(store.digest()).toBe(before);
  });

  it('a negative or fractional limit is refused', () => {
    expect(() => col.deleteSync({ where: { bucket: 1 }, limit: -1 })).toThrow(InvalidArgumentError);
    expect(() => col.deleteSync({ where: { bucket: 1 }, limit: 0.5 })).toThrow(
      InvalidArgumentError,
    );
    expect(col.countSync()).toBe(N);
  });

  it('a limited delete is rolled back with its transaction', () => {
    expect(() =>
      store.transaction(() => {
        expect(col.deleteSync({ where: { even: true }, limit: 5 })).toBe(5);
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(col.countSync()).toBe(N);
  });
});
