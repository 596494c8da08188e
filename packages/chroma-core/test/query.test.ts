import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChromaStore, type Collection } from '../src/index.js';
import { BRUTE_FORCE_ALWAYS, preferBruteForce } from '../src/query-plan.js';
import { distance, exactTopK, f32, rng, tempDir, vectors } from './helpers.js';

const N = 10_000;
const DIM = 16;
let store: ChromaStore;
let col: Collection;
const items = vectors(N, DIM, 11).map((vector, i) => ({ id: `v${i}`, vector }));
// Three needles somewhere in the haystack, tagged 'needle'.
const NEEDLES = new Set(['v17', 'v4242', 'v9998']);
const bucket = (i: number) => i % 2; // 50 %: a permissive filter answered by filtered HNSW
const decile = (i: number) => i % 10;
const permille = (i: number) => i % 1000;

beforeAll(async () => {
  store = await ChromaStore.open(tempDir());
  col = await store.getOrCreateCollection('big', { space: 'l2' });
  await col.add({
    ids: items.map((it) => it.id),
    embeddings: items.map((it) => it.vector),
    metadatas: items.map((it, i) => ({
      tag: NEEDLES.has(it.id) ? 'needle' : 'hay',
      bucket: bucket(i),
      decile: decile(i),
      permille: permille(i),
    })),
    documents: items.map((_, i) => `item ${i}`),
  });
});

afterAll(async () => {
  await store.close();
});

describe('query', () => {
  it('a filter matching 3 of 10,000 returns exactly those 3, nearest first', async () => {
    const queries = vectors(5, DIM, 99);
    const r = await col.query({ queryEmbeddings: queries, nResults: 10, where: { tag: 'needle' } });
    for (let q = 0; q < queries.length; q++) {
      expect(new Set(r.ids[q])).toEqual(NEEDLES);
      const expected = exactTopK(
        'l2',
        queries[q]!,
        items.filter((it) => NEEDLES.has(it.id)),
        3,
      );
      expect(r.ids[q]).toEqual(expected);
      const d = r.distances[q]!;
      expect([...d].sort((a, b) => a - b)).toEqual(d);
      expect(r.metadatas[q]!.every((m) => m?.tag === 'needle')).toBe(true);
    }
  });

  it('the same holds for a document filter', async () => {
    const r = await col.query({
      queryEmbeddings: vectors(1, DIM, 5),
      nResults: 5,
      whereDocument: { $or: [{ $contains: 'item 17' }, { $contains: 'item 4242' }] },
    });
    // 'item 17' also matches item 170..179, 1700..; every hit must match the filter
    expect(r.documents[0]!.every((d) => d!.includes('item 17') || d!.includes('item 4242'))).toBe(
      true,
    );
    expect(r.ids[0]).toHaveLength(5);
  });

  it('a selective filter (0.5 %, under the brute-force threshold) is exact: equals brute force', async () => {
    expect(preferBruteForce(50, N, 100)).toBe(true);
    const queries = vectors(10, DIM, 7);
    const r = await col.query({
      queryEmbeddings: queries,
      nResults: 10,
      where: { decile: 3, bucket: 1, $or: [{ permille: { $lt: 50 } }] },
      include: [],
    });
    const subset = items.filter((_, i) => decile(i) === 3 && bucket(i) === 1 && permille(i) < 50);
    expect(subset.length).toBe(50);
    queries.forEach((q, i) => expect(r.ids[i]).toEqual(exactTopK('l2', q, subset, 10)));
  });

  it('a 10 % filter (filtered HNSW above the threshold) keeps recall ≥ 0.95', async () => {
    expect(preferBruteForce(N / 10, N, 100)).toBe(false);
    const queries = vectors(30, DIM, 6);
    const r = await col.query({
      queryEmbeddings: queries,
      nResults: 10,
      where: { decile: 3 },
      include: [],
    });
    const subset = items.filter((_, i) => decile(i) === 3);
    let hits = 0;
    queries.forEach((q, i) => {
      const truth = new Set(exactTopK('l2', q, subset, 10));
      hits += r.ids[i]!.filter((id) => truth.has(id)).length;
    });
    expect(hits / (queries.length * 10)).toBeGreaterThanOrEqual(0.95);
  });

  it('a permissive filter (50 %) uses filtered HNSW and keeps recall ≥ 0.95, all hits matching', async () => {
    expect(preferBruteForce(N / 2, N, 100)).toBe(false); // this case really exercises the HNSW path
    const queries = vectors(30, DIM, 8);
    const r = await col.query({
      queryEmbeddings: queries,
      nResults: 10,
      where: { bucket: 1 },
      include: ['metadatas'],
    });
    const subset = items.filter((_, i) => bucket(i) === 1);
    let hits = 0;
    queries.forEach((q, i) => {
      expect(r.ids[i]).toHaveLength(10);
      expect(r.metadatas[i]!.every((m) => m?.bucket === 1)).toBe(true);
      const truth = new Set(exactTopK('l2', q, subset, 10));
      hits += r.ids[i]!.filter((id) => truth.has(id)).length;
    });
    expect(hits / (queries.length * 10)).toBeGreaterThanOrEqual(0.95);
  });

  it('unfiltered queries have recall ≥ 0.95 and exact distances', async () => {
    const queries = vectors(30, DIM, 9);
    const r = await col.query({
      queryEmbeddings: queries,
      nResults: 10,
      include: ['distances', 'embeddings'],
    });
    let hits = 0;
    queries.forEach((q, i) => {
      const truth = new Set(exactTopK('l2', q, items, 10));
      hits += r.ids[i]!.filter((id) => truth.has(id)).length;
      const first = items[Number(r.ids[i]![0]!.slice(1))]!;
      expect(r.distances[i]![0]).toBeCloseTo(distance('l2', q, f32(first.vector)), 4);
      expect(r.embeddings![i]![0]).toEqual(f32(first.vector));
    });
    expect(hits / (queries.length * 10)).toBeGreaterThanOrEqual(0.95);
  });

  it('returns fewer results when fewer records exist, and empty rows for an empty collection', async () => {
    const small = await store.getOrCreateCollection('small');
    expect((await small.query({ queryEmbeddings: [[1, 2]], nResults: 3 })).ids).toEqual([[]]);
    await small.add({
      ids: ['a', 'b'],
      embeddings: [
        [0, 0],
        [1, 1],
      ],
    });
    const r = await small.query({
      queryEmbeddings: [
        [0.1, 0],
        [1, 1],
      ],
      nResults: 5,
    });
    expect(r.ids).toEqual([
      ['a', 'b'],
      ['b', 'a'],
    ]);
    expect(r.include).toEqual(['metadatas', 'documents', 'distances']);
    expect(
      (await small.query({ queryEmbeddings: [[0, 0]], where: { nothing: 'matches' } })).ids,
    ).toEqual([[]]);
    await small.delete({ ids: ['a', 'b'] });
    expect((await small.query({ queryEmbeddings: [[0, 0]] })).ids).toEqual([[]]);
  });

  it('distances follow hnswlib in every space (l2 squared, ip, cosine), HNSW and brute force alike', async () => {
    const r = rng(3);
    const vs = Array.from({ length: 40 }, () => Array.from({ length: 8 }, () => r() * 2 - 1));
    const q = Array.from({ length: 8 }, () => r() * 2 - 1);
    for (const space of ['l2', 'ip', 'cosine'] as const) {
      const c = await store.getOrCreateCollection(`space-${space}`, { space });
      await c.add({
        ids: vs.map((_, i) => `s${i}`),
        embeddings: vs,
        metadatas: vs.map((_, i) => ({ i })),
      });
      const viaHnsw = await c.query({ queryEmbeddings: [q], nResults: 5, include: [] });
      const viaBrute = await c.query({
        queryEmbeddings: [q],
        nResults: 5,
        where: { i: { $gte: 0 } },
        include: [],
      });
      const truth = vs
        .map((v, i) => ({ id: `s${i}`, d: distance(space, q, f32(v)) }))
        .sort((a, b) => a.d - b.d)
        .slice(0, 5);
      for (const result of [viaHnsw, viaBrute]) {
        expect(result.ids[0]).toEqual(truth.map((t) => t.id));
        result.distances[0]!.forEach((d, i) => expect(d).toBeCloseTo(truth[i]!.d, 4));
      }
    }
  });

  it('the brute-force threshold grows with sqrt(ef · total)', () => {
    expect(preferBruteForce(3, 10_000, 100)).toBe(true);
    expect(preferBruteForce(BRUTE_FORCE_ALWAYS, 10_000_000, 10)).toBe(true);
    expect(preferBruteForce(600, 10_000, 100)).toBe(true);
    expect(preferBruteForce(1_000, 10_000, 100)).toBe(false);
    expect(preferBruteForce(2_000, 100_000, 100)).toBe(true);
    expect(preferBruteForce(5_000, 1_000_000, 100)).toBe(true);
  });
});
