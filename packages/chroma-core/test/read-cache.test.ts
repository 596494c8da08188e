import { afterEach, describe, expect, it } from 'vitest';
import { ChromaStore, InvalidArgumentError, type QueryResult } from '../src/index.js';
import { FilterCache, FilterMatch, ResultRowCache } from '../src/read-cache.js';
import type { RecordRow } from '../src/records.js';
import { rng, tempDir, vectors } from './helpers.js';

const row = (seq: number, text = 'x'): RecordRow => ({
  seq,
  id: `id-${seq}`,
  document: text,
  metadata: null,
});

describe('ResultRowCache', () => {
  it('keeps rows within its byte budget, evicting the oldest inserted first', () => {
    const one = 120 + 'id-1'.length + 1; // overhead + id + document
    const cache = new ResultRowCache(3 * one);
    for (const seq of [1, 2, 3]) cache.put(row(seq));
    expect(cache.size).toEqual({ rows: 3, bytes: 3 * one });
    cache.get(1); // a hit does not reorder (see ResultRowCache.get)
    cache.put(row(4));
    expect(cache.get(1)).toBeUndefined();
    expect([2, 3, 4].map((s) => cache.get(s)?.id)).toEqual(['id-2', 'id-3', 'id-4']);
    expect(cache.size.bytes).toBe(3 * one);
  });

  it('never caches a row bigger than the whole budget, and replaces a re-put row', () => {
    const cache = new ResultRowCache(200);
    cache.put(row(1, 'y'.repeat(500)));
    expect(cache.get(1)).toBeUndefined();
    cache.put(row(2, 'a'));
    cache.put(row(2, 'bb'));
    expect(cache.get(2)?.document).toBe('bb');
    expect(cache.size.rows).toBe(1);
  });

  it('warms a collection once, up to the budget, without evicting what it holds', () => {
    const one = 120 + 'id-10'.length + 1;
    const cache = new ResultRowCache(5 * one);
    cache.put(row(99));
    expect(cache.needsWarm(7)).toBe(true);
    const added = cache.warm(
      7,
      Array.from({ length: 10 }, (_, i) => row(10 + i)),
    );
    expect(added).toBe(4); // 99 plus four rows of five-character ids fill the budget
    expect(cache.get(99)).toBeDefined();
    expect(cache.needsWarm(7)).toBe(false);
    expect(cache.size.bytes).toBeLessThanOrEqual(5 * one);
  });

  it('invalidates single rows, or everything (which also forgets the warm-up)', () => {
    const cache = new ResultRowCache(10_000);
    cache.warm(1, [row(1), row(2), row(3)]);
    cache.invalidate([2, 42]);
    expect(cache.get(2)).toBeUndefined();
    expect(cache.get(1)).toBeDefined();
    cache.invalidate(null);
    expect(cache.size).toEqual({ rows: 0, bytes: 0 });
    expect(cache.needsWarm(1)).toBe(true);
  });

  it('is off with a zero budget', () => {
    const cache = new ResultRowCache(0);
    cache.put(row(1));
    expect(cache.enabled).toBe(false);
    expect(cache.needsWarm(1)).toBe(false);
    expect(cache.get(1)).toBeUndefined();
  });
});

describe('FilterCache and FilterMatch', () => {
  it('evaluates a filter once until cleared', () => {
    const cache = new FilterCache(true);
    let calls = 0;
    const evaluate = () => {
      calls++;
      return [2, 5];
    };
    expect(cache.resolve('k', evaluate).seqs).toEqual([2, 5]);
    expect(cache.resolve('k', evaluate).seqs).toEqual([2, 5]);
    expect(calls).toBe(1);
    cache.clear();
    cache.resolve('k', evaluate);
    expect(calls).toBe(2);
  });

  it('holds at most 64 filters and evicts the least recently used; a disabled cache holds none', () => {
    const cache = new FilterCache(true);
    let calls = 0;
    const evaluate = () => {
      calls++;
      return [1];
    };
    for (let i = 0; i < 65; i++) cache.resolve(`k${i}`, evaluate);
    cache.resolve('k64', evaluate);
    cache.resolve('k1', evaluate);
    expect(calls).toBe(65);
    cache.resolve('k0', evaluate);
    expect(calls).toBe(66);

    const off = new FilterCache(false);
    off.resolve('k', evaluate);
    off.resolve('k', evaluate);
    expect(calls).toBe(68);
  });

  it('allows exactly the matching seqs', () => {
    const allows = new FilterMatch([0, 3, 31, 32, 1000]).allows;
    const allowed = Array.from({ length: 1100 }, (_, i) => i).filter((i) => allows(i));
    expect(allowed).toEqual([0, 3, 31, 32, 1000]);
    expect(allows(5000)).toBe(false);
    expect(new FilterMatch([]).allows(0)).toBe(false);
  });
});

/**
 * The caches must never change an answer. Two stores receive the same random sequence
 * of writes (adds, metadata/document updates, upserts, deletes by id and by filter,
 * committed and rolled-back transactions, a dropped and re-created collection); after
 * every step the same queries must give identical results on a store with the default
 * cache, one with a budget of a few rows (constant eviction) and one with no cache.
 */
describe('query caches never change an answer', () => {
  const stores: ChromaStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  it('matches an uncached store through 60 random write steps', async () => {
    const budgets = [undefined, 2_000, 0];
    for (const resultCacheBytes of budgets) {
      stores.push(
        await ChromaStore.open(
          tempDir(),
          resultCacheBytes === undefined ? {} : { resultCacheBytes },
        ),
      );
    }
    const DIM = 8;
    const r = rng(5);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const statuses = ['pending', 'valid', 'invalid'] as const;
    let live: string[] = [];
    let nextId = 0;
    const queries = vectors(4, DIM, 77);

    /**
     * The same queries on every store: fixed vectors plus the vectors of the records
     * the step touched, so a stale cached row or filter result would rank first.
     */
    let touched: string[] = [];
    /** A random array value (sometimes absent, sometimes a scalar under the same key). */
    const tags = (): string[] | string | null => {
      const roll = r();
      if (roll < 0.2) return null;
      if (roll < 0.3) return 'b';
      const picked = ['a', 'b', 'c'].filter(() => r() < 0.5);
      return picked.length > 0 ? picked : ['c', 'c'];
    };
    const withTags = <T extends object>(m: T) => {
      const t = tags();
      return t === null ? m : { ...m, tags: t };
    };
    const answers = async (): Promise<QueryResult[][]> => {
      const reference = await stores[2]!.getOrCreateCollection('words', { space: 'cosine' });
      const focus =
        touched.length === 0
          ? []
          : (await reference.get({ ids: touched, include: ['embeddings'] })).embeddings!;
      const queryEmbeddings = [...queries, ...focus];
      return Promise.all(
        stores.map(async (s) => {
          const col = await s.getOrCreateCollection('words', { space: 'cosine' });
          return Promise.all([
            col.query({ queryEmbeddings, nResults: 5 }),
            col.query({ queryEmbeddings, nResults: 5, where: { status: 'valid' } }),
            col.query({
              queryEmbeddings,
              nResults: 3,
              where: { $and: [{ status: { $ne: 'invalid' } }, { bucket: { $lt: 5 } }] },
              whereDocument: { $contains: 'w' },
            }),
            // Array metadata: a label filter on the element table, and its complement.
            col.query({ queryEmbeddings, nResults: 5, where: { tags: { $contains: 'b' } } }),
            col.query({
              queryEmbeddings,
              nResults: 4,
              where: { $and: [{ tags: { $not_contains: 'a' } }, { status: { $ne: 'pending' } }] },
              whereDocument: { $regex: '^w\\d+ (text|edited)' },
            }),
            col.query({ queryEmbeddings, nResults: 3, ids: live.slice(0, 25) }),
          ]);
        }),
      );
    };

    // The same write on every store (the ids and vectors are drawn once).
    const onAll = async (write: (s: ChromaStore) => Promise<void> | void) => {
      for (const s of stores) await write(s);
    };

    for (let step = 0; step < 60; step++) {
      touched = [];
      const op =
        step < 3
          ? 'add'
          : pick([
              'add',
              'update',
              'upsert',
              'delete',
              'deleteWhere',
              'rollback',
              'commit',
              'recreate',
            ] as const);
      if (op === 'add') {
        const ids = Array.from({ length: 40 }, () => `w${nextId++}`);
        const embeddings = vectors(ids.length, DIM, step + 1000);
        const metadatas = ids.map(() =>
          withTags({ status: pick(statuses), bucket: Math.floor(r() * 10) }),
        );
        await onAll(async (s) => {
          const col = await s.getOrCreateCollection('words', { space: 'cosine' });
          await col.add({ ids, embeddings, metadatas, documents: ids.map((id) => `${id} text`) });
        });
        live.push(...ids);
        touched = ids.slice(0, 3);
      } else if (op === 'update' && live.length > 0) {
        const ids = [...new Set(Array.from({ length: 10 }, () => pick(live)))];
        const metadatas = ids.map(() => ({
          status: pick(statuses),
          bucket: r() < 0.3 ? null : 7,
          tags: tags(),
        }));
        const documents = ids.map((id) => `${id} edited ${step}`);
        await onAll(async (s) => {
          const col = await s.getCollection('words');
          await col.update({ ids, metadatas, documents });
        });
        touched = ids.slice(0, 3);
      } else if (op === 'upsert' && live.length > 0) {
        const ids = [pick(live), `w${nextId++}`];
        const embeddings = vectors(2, DIM, step + 2000);
        await onAll(async (s) => {
          const col = await s.getCollection('words');
          await col.upsert({
            ids,
            embeddings,
            metadatas: [
              { status: 'valid', tags: ['b'] },
              { status: 'valid', bucket: 1, tags: ['a'] },
            ],
          });
        });
        live = [...new Set([...live, ...ids])];
        touched = ids;
      } else if (op === 'delete' && live.length > 0) {
        const ids = [...new Set(Array.from({ length: 5 }, () => pick(live)))];
        await onAll(async (s) => {
          await (await s.getCollection('words')).delete({ ids });
        });
        live = live.filter((id) => !ids.includes(id));
      } else if (op === 'deleteWhere') {
        const bucket = Math.floor(r() * 10);
        const deleted = new Set<string>();
        await onAll(async (s) => {
          const col = await s.getCollection('words');
          const gone = await col.get({ where: { bucket }, include: [] });
          gone.ids.forEach((id) => deleted.add(id));
          await col.delete({ where: { bucket } });
        });
        live = live.filter((id) => !deleted.has(id));
      } else if ((op === 'rollback' || op === 'commit') && live.length > 0) {
        const id = pick(live);
        const fresh = `w${nextId++}`;
        const [vector] = vectors(1, DIM, step + 3000);
        for (const s of stores) {
          const col = await s.getCollection('words');
          const run = () =>
            s.transaction(() => {
              col.updateSync({ ids: [id], metadatas: [{ status: 'valid' }], documents: ['in tx'] });
              col.addSync({
                ids: [fresh],
                embeddings: [vector!],
                metadatas: [{ status: 'valid' }],
              });
              // Reads inside the transaction see its own writes (and must not be cached).
              const seen = col.querySync({
                queryEmbeddings: [vector!],
                nResults: 1,
                where: { status: 'valid' },
              });
              expect(seen.ids[0]).toEqual([fresh]);
              if (op === 'rollback') throw new Error('roll back');
            });
          if (op === 'rollback') expect(run).toThrow('roll back');
          else run();
        }
        if (op === 'commit') live.push(fresh);
        touched = [id];
      } else if (op === 'recreate') {
        const ids = Array.from({ length: 30 }, () => `w${nextId++}`);
        const embeddings = vectors(ids.length, DIM, step + 4000);
        await onAll(async (s) => {
          await s.deleteCollection('words');
          const col = await s.getOrCreateCollection('words', { space: 'cosine' });
          await col.add({
            ids,
            embeddings,
            metadatas: ids.map((_, i) => ({ status: statuses[i % 3]!, bucket: i % 10 })),
            documents: ids.map((id) => `${id} recreated`),
          });
        });
        live = ids;
      }
      const [cached, small, none] = await answers();
      expect(cached, `step ${step} (${op}), default cache`).toEqual(none);
      expect(small, `step ${step} (${op}), tiny cache`).toEqual(none);
    }
    expect(live.length).toBeGreaterThan(0);
  });

  it('rejects a budget that is not a non-negative integer, before touching the directory', async () => {
    await expect(ChromaStore.open(tempDir(), { resultCacheBytes: -1 })).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(ChromaStore.open(tempDir(), { resultCacheBytes: 1.5 })).rejects.toThrow(
      /resultCacheBytes/,
    );
  });
});
