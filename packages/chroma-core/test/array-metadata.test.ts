/**
 * Array metadata values and `$contains` / `$not_contains` on them (issue 16, bullet
 * 4): validation, merge semantics, persistence across close/reopen and snapshot
 * export/verify/reopen, the v2 → v3 schema migration, and the index at 100k records.
 */
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChromaStore,
  type Collection,
  InvalidArgumentError,
  InvalidWhereError,
  type Metadata,
  type Where,
  verifySnapshot,
} from '../src/index.js';
import { tempDir, vectors } from './helpers.js';

const DIM = 4;
let dir: string;
let store: ChromaStore;
let col: Collection;

const metas: Metadata[] = [
  { labels: ['TOTAL', 'AMOUNT'], n: 1 },
  { labels: ['TAX'], scores: [0.5, 2], n: 2 },
  { labels: ['AMOUNT', 'AMOUNT'], flags: [true], n: 3 },
  { labels: 'TOTAL', n: 4 }, // a scalar under the same key
  { n: 5 },
];

beforeEach(async () => {
  dir = tempDir();
  store = await ChromaStore.open(dir);
  col = await store.getOrCreateCollection('words');
  await col.add({
    ids: metas.map((_, i) => `w${i}`),
    embeddings: vectors(metas.length, DIM, 4),
    metadatas: metas,
  });
});

afterEach(async () => {
  await store.close();
});

const ids = (c: Collection, where: Where) => c.getSync({ where, include: [] }).ids;

/** The same `$contains` answers on any copy of the store above. */
function expectContains(c: Collection): void {
  expect(ids(c, { labels: { $contains: 'AMOUNT' } })).toEqual(['w0', 'w2']);
  expect(ids(c, { labels: { $contains: 'TOTAL' } })).toEqual(['w0']); // not the scalar
  expect(ids(c, { scores: { $contains: 2 } })).toEqual(['w1']);
  expect(ids(c, { flags: { $contains: true } })).toEqual(['w2']);
  expect(ids(c, { labels: { $not_contains: 'AMOUNT' } })).toEqual(['w1', 'w3', 'w4']);
}

describe('array metadata values', () => {
  it('are returned as given (order and repeats kept) and matched by $contains', () => {
    expect(col.getSync({ ids: ['w2'] }).metadatas[0]).toEqual({
      labels: ['AMOUNT', 'AMOUNT'],
      flags: [true],
      n: 3,
    });
    expectContains(col);
  });

  it('$contains compares by type: 2 is not "2", true is not 1', () => {
    expect(ids(col, { scores: { $contains: '2' } })).toEqual([]);
    expect(ids(col, { flags: { $contains: 1 } })).toEqual([]);
  });

  it('combine with scalar filters, $and / $or, and query', () => {
    expect(ids(col, { $and: [{ labels: { $contains: 'AMOUNT' } }, { n: { $gt: 1 } }] })).toEqual([
      'w2',
    ]);
    expect(ids(col, { $or: [{ labels: { $contains: 'TAX' } }, { labels: 'TOTAL' }] })).toEqual([
      'w1',
      'w3',
    ]);
    const q = col.querySync({
      queryEmbeddings: vectors(1, DIM, 1),
      where: { labels: { $contains: 'AMOUNT' } },
    });
    expect(q.ids[0]!.sort()).toEqual(['w0', 'w2']);
  });

  it('update replaces an array, turns it into a scalar and back, and null removes it', () => {
    col.updateSync({
      ids: ['w0', 'w1', 'w3'],
      metadatas: [{ labels: ['TAX'] }, { labels: 'AMOUNT', scores: null }, { labels: ['AMOUNT'] }],
    });
    expect(ids(col, { labels: { $contains: 'AMOUNT' } })).toEqual(['w2', 'w3']);
    expect(ids(col, { labels: { $contains: 'TAX' } })).toEqual(['w0']);
    expect(ids(col, { labels: 'AMOUNT' })).toEqual(['w1']);
    expect(ids(col, { labels: 'TOTAL' })).toEqual([]);
    expect(ids(col, { scores: { $contains: 2 } })).toEqual([]);
    col.upsertSync({ ids: ['w2'], embeddings: vectors(1, DIM, 9), metadatas: [{ labels: null }] });
    expect(col.getSync({ ids: ['w2'] }).metadatas[0]).toEqual({ flags: [true], n: 3 });
    expect(ids(col, { labels: { $contains: 'AMOUNT' } })).toEqual(['w3']);
  });

  it('deleted records leave no element behind', () => {
    col.deleteSync({ where: { labels: { $contains: 'AMOUNT' } } });
    expect(ids(col, { labels: { $contains: 'AMOUNT' } })).toEqual([]);
    col.addSync({ ids: ['w9'], embeddings: vectors(1, DIM, 2), metadatas: [{ n: 9 }] });
    expect(ids(col, { labels: { $contains: 'AMOUNT' } })).toEqual([]);
  });

  it('refuses empty lists, mixed types, nested lists and non-finite numbers; changes nothing', () => {
    const before = store.digest();
    const bad: unknown[] = [[], ['a', 1], [true, 'x'], [['a']], [1, NaN], [{}]];
    for (const value of bad) {
      expect(
        () => col.updateSync({ ids: ['w0'], metadatas: [{ labels: value as string[] }] }),
        JSON.stringify(value),
      ).toThrow(InvalidArgumentError);
      expect(() =>
        col.addSync({
          ids: ['x'],
          embeddings: [[1, 2, 3, 4]],
          metadatas: [{ l: value as string[] }],
        }),
      ).toThrow(/non-empty list of one of those types/);
    }
    expect(store.digest()).toBe(before);
  });

  it('refuses a list, an object or nothing as $contains operand', () => {
    for (const operand of [['AMOUNT'], { a: 1 }, null, NaN]) {
      expect(() => ids(col, { labels: { $contains: operand } })).toThrow(InvalidWhereError);
    }
  });

  it('survive close and reopen', async () => {
    await store.close();
    store = await ChromaStore.open(dir);
    col = await store.getCollection('words');
    expectContains(col);
  });

  it('survive exportSnapshot, verifySnapshot and a reopen of the export', async () => {
    const digest = store.digest();
    const dest = join(tempDir(), 'snap');
    await store.exportSnapshot(dest);
    await verifySnapshot(dest);
    const copy = await ChromaStore.open(dest);
    try {
      expect(copy.digest()).toBe(digest);
      expectContains(await copy.getCollection('words'));
    } finally {
      await copy.close();
    }
  });

  it('change the digest (the content is different)', () => {
    const before = store.digest();
    col.updateSync({ ids: ['w1'], metadatas: [{ labels: ['TAX', 'X'] }] });
    expect(store.digest()).not.toBe(before);
  });
});

describe('schema migration', () => {
  const fixture = fileURLToPath(new URL('./fixtures/v2-store', import.meta.url));

  it('opens a store written by schema version 2, migrates it, and keeps its content', async () => {
    const copy = join(tempDir(), 'v2');
    cpSync(fixture, copy, { recursive: true });
    const rebuilt: string[] = [];
    const old = await ChromaStore.open(copy, { onIndexRebuilt: (e) => rebuilt.push(e.reason) });
    try {
      expect(rebuilt).toEqual([]); // the index is still valid
      const words = await old.getCollection('words');
      expect(words.countSync()).toBe(20);
      expect(ids(words, { label: 'TOTAL' })).toEqual(['w0', 'w3', 'w6', 'w9', 'w12', 'w15', 'w18']);
      expect(old.kv('seq').get('last')).toBe(20);
      words.updateSync({ ids: ['w1'], metadatas: [{ tags: ['new', 'old'] }] });
      expect(ids(words, { tags: { $contains: 'old' } })).toEqual(['w1']);
    } finally {
      await old.close();
    }
    const db = new Database(join(copy, 'chroma.sqlite3'), { readonly: true });
    const vec = new Database(join(copy, 'vectors.sqlite3'), { readonly: true });
    try {
      expect(db.pragma('user_version', { simple: true })).toBe(3);
      expect(vec.pragma('user_version', { simple: true })).toBe(2); // vectors file untouched
    } finally {
      db.close();
      vec.close();
    }
    const again = await ChromaStore.open(copy);
    expect(ids(await again.getCollection('words'), { tags: { $contains: 'new' } })).toEqual(['w1']);
    await again.close();
  });
});

describe('at 100k records', () => {
  it('a $contains filter on a common label is answered from the index', async () => {
    const bigDir = tempDir();
    const big = await ChromaStore.open(bigDir, { resultCacheBytes: 0 });
    try {
      const c = await big.getOrCreateCollection('big');
      const N = 100_000;
      const labels = ['TOTAL', 'TAX', 'DATE', 'MERCHANT', 'OTHER'];
      const embedding = [1, 0, 0, 0];
      for (let start = 0; start < N; start += 10_000) {
        const idsChunk = Array.from({ length: 10_000 }, (_, i) => `r${start + i}`);
        c.addSync({
          ids: idsChunk,
          embeddings: idsChunk.map(() => embedding),
          metadatas: idsChunk.map((_, i) => {
            const n = start + i;
            return { labels: n % 1000 === 0 ? ['RARE', 'OTHER'] : [labels[n % 5]!, 'OTHER'] };
          }),
        });
      }
      const time = (where: Where) => {
        const t0 = performance.now();
        const got = c.getSync({ where, include: [], limit: 50 }).ids.length;
        return { got, ms: performance.now() - t0 };
      };
      time({ labels: { $contains: 'TAX' } }); // prepare the statement
      const common = time({ labels: { $contains: 'TAX' } });
      const rare = time({ labels: { $contains: 'RARE' } });
      expect(common.got).toBe(50);
      expect(rare.got).toBe(50);
      expect(c.getSync({ where: { labels: { $contains: 'RARE' } }, include: [] }).ids).toHaveLength(
        100,
      );
      // Index lookups of 50 rows take about a millisecond; the bound only catches a
      // scan of every element row (the plan below is the exact check).
      expect(common.ms).toBeLessThan(100);
      expect(rare.ms).toBeLessThan(100);
    } finally {
      await big.close();
    }
    const db = new Database(join(bigDir, 'chroma.sqlite3'), { readonly: true });
    try {
      const plan = db
        .prepare(
          "EXPLAIN QUERY PLAN SELECT seq FROM embedding_metadata_array WHERE key = 'labels' AND string_value = 'TAX'",
        )
        .all() as Array<{ detail: string }>;
      expect(plan.map((p) => p.detail).join(' ')).toMatch(
        /USING (COVERING )?INDEX embedding_metadata_array_string/,
      );
    } finally {
      db.close();
    }
  });
});
