import type Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChromaStore,
  type Collection,
  InvalidWhereError,
  type Where,
  type WhereDocument,
} from '../src/index.js';
import { compileWhere } from '../src/where.js';
import { rng, tempDir, vectors } from './helpers.js';

let store: ChromaStore;
let col: Collection;

// id → metadata / document
const RECORDS: Array<[string, Record<string, string | number | boolean> | null, string | null]> = [
  [
    'r1',
    { merchant: 'ACME', total: 10, ratio: 0.5, valid: true, labels: ',TOTAL,TAX,' },
    'TOTAL 10.00',
  ],
  ['r2', { merchant: 'ACME', total: 25, ratio: 1.5, valid: false, labels: ',TAX,' }, 'TAX 2.50'],
  ['r3', { merchant: 'Globex', total: 7.25, valid: true }, 'Subtotal 7.25'],
  ['r4', { merchant: 'Initech', total: 100, labels: ',TOTAL,' }, null],
  ['r5', { merchant: '10', code: 10 }, 'total due'],
  ['r6', null, 'no metadata at all'],
];

beforeAll(async () => {
  store = await ChromaStore.open(tempDir());
  col = await store.getOrCreateCollection('w');
  await col.add({
    ids: RECORDS.map((r) => r[0]),
    embeddings: vectors(RECORDS.length, 3, 5),
    metadatas: RECORDS.map((r) => r[1]),
    documents: RECORDS.map((r) => r[2]),
  });
});

afterAll(async () => {
  await store.close();
});

const ids = (where?: Where, whereDocument?: WhereDocument) =>
  col.getSync({ where, whereDocument, include: [] }).ids;

describe('where', () => {
  it('bare key/value shorthand and $eq for strings, numbers and booleans', () => {
    expect(ids({ merchant: 'ACME' })).toEqual(['r1', 'r2']);
    expect(ids({ total: 10 })).toEqual(['r1']);
    expect(ids({ total: { $eq: 7.25 } })).toEqual(['r3']);
    expect(ids({ valid: true })).toEqual(['r1', 'r3']);
    expect(ids({ valid: { $eq: false } })).toEqual(['r2']);
    // types never cross: the string '10' is not the number 10
    expect(ids({ merchant: 10 })).toEqual([]);
    expect(ids({ code: '10' })).toEqual([]);
    expect(ids({ code: 10 })).toEqual(['r5']);
  });

  it('$ne and $nin include records without the key', () => {
    expect(ids({ merchant: { $ne: 'ACME' } })).toEqual(['r3', 'r4', 'r5', 'r6']);
    expect(ids({ valid: { $ne: true } })).toEqual(['r2', 'r4', 'r5', 'r6']);
    expect(ids({ merchant: { $nin: ['ACME', 'Globex'] } })).toEqual(['r4', 'r5', 'r6']);
  });

  it('$gt $gte $lt $lte on numbers (ints and floats alike)', () => {
    expect(ids({ total: { $gt: 10 } })).toEqual(['r2', 'r4']);
    expect(ids({ total: { $gte: 10 } })).toEqual(['r1', 'r2', 'r4']);
    expect(ids({ total: { $lt: 10 } })).toEqual(['r3']);
    expect(ids({ total: { $lte: 10 } })).toEqual(['r1', 'r3']);
    expect(ids({ ratio: { $gt: 0.75 } })).toEqual(['r2']);
    expect(ids({ total: { $gt: 7, $lt: 26 } })).toEqual(['r1', 'r2', 'r3']); // two operators: AND
  });

  it('$in with one type per list', () => {
    expect(ids({ merchant: { $in: ['Globex', 'Initech'] } })).toEqual(['r3', 'r4']);
    expect(ids({ total: { $in: [10, 100] } })).toEqual(['r1', 'r4']);
    expect(ids({ valid: { $in: [false] } })).toEqual(['r2']);
  });

  it('$and, $or, nesting and implicit AND of several keys', () => {
    expect(ids({ $and: [{ merchant: 'ACME' }, { total: { $gt: 20 } }] })).toEqual(['r2']);
    expect(ids({ $or: [{ merchant: 'Globex' }, { total: { $gte: 100 } }] })).toEqual(['r3', 'r4']);
    expect(ids({ merchant: 'ACME', valid: true })).toEqual(['r1']);
    expect(
      ids({
        $or: [
          { $and: [{ merchant: 'ACME' }, { valid: false }] },
          { $and: [{ merchant: 'Initech' }, { total: 100 }] },
        ],
      }),
    ).toEqual(['r2', 'r4']);
    expect(ids({})).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(ids({ $or: [{}, { merchant: 'ACME' }] })).toHaveLength(6); // {} matches everything
  });

  it('rejects unknown operators and ill-typed values with InvalidWhereError', () => {
    const bad: unknown[] = [
      { total: { $like: 1 } },
      { $not: { total: 1 } },
      { total: { $gt: true } },
      { total: { $in: [] } },
      { total: { $in: 'x' } },
      { total: null },
      { total: [1, 2] },
      { total: {} },
      { total: { $eq: { nested: 1 } } },
      { $and: [] },
      { $or: 'x' },
      { total: { $eq: NaN } },
      'total = 1',
    ];
    for (const where of bad) {
      expect(() => col.getSync({ where: where as Where }), JSON.stringify(where)).toThrow(
        InvalidWhereError,
      );
    }
  });
});

describe('whereDocument', () => {
  it('$contains and $not_contains are case-sensitive substring tests', () => {
    expect(ids(undefined, { $contains: 'TOTAL' })).toEqual(['r1']);
    expect(ids(undefined, { $contains: 'total' })).toEqual(['r3', 'r5']); // 'Subtotal', 'total due'
    expect(ids(undefined, { $not_contains: 'TA' })).toEqual(['r3', 'r4', 'r5', 'r6']); // r4 has no document
  });

  it('$and / $or of document filters, combined with where', () => {
    expect(ids(undefined, { $or: [{ $contains: 'TAX' }, { $contains: 'Subtotal' }] })).toEqual([
      'r2',
      'r3',
    ]);
    expect(ids(undefined, { $and: [{ $contains: 'to' }, { $not_contains: 'Sub' }] })).toEqual([
      'r5',
    ]);
    expect(ids({ merchant: 'ACME' }, { $contains: '2.50' })).toEqual(['r2']);
  });

  it('rejects unknown document operators', () => {
    for (const wd of [
      { $like: 'x' },
      { $contains: 1 },
      { $contains: 'a', $not_contains: 'b' },
      {},
      { $and: [] },
    ]) {
      expect(() => col.getSync({ whereDocument: wd as WhereDocument }), JSON.stringify(wd)).toThrow(
        InvalidWhereError,
      );
    }
  });
});

describe('filters are indexed SQL', () => {
  it('metadata conditions are answered through the (key, value) indexes', () => {
    // White-box: the generated sub-select must search the partial index, not scan.
    const db = (store as unknown as { core: { db: Database.Database } }).core.db;
    const plan = (sql: string) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('total', 10) as Array<{ detail: string }>)
        .map((r) => r.detail)
        .join(' | ');
    expect(plan('SELECT seq FROM embedding_metadata WHERE key = ? AND num_value > ?')).toMatch(
      /USING COVERING INDEX embedding_metadata_num/,
    );
    expect(plan('SELECT seq FROM embedding_metadata WHERE key = ? AND string_value = ?')).toMatch(
      /USING COVERING INDEX embedding_metadata_string/,
    );
    expect(plan('SELECT seq FROM embedding_metadata WHERE key = ? AND bool_value = ?')).toMatch(
      /USING COVERING INDEX embedding_metadata_bool/,
    );
    expect(
      plan(
        "SELECT seq FROM embedding_metadata WHERE key = ? AND num_value IN (SELECT value FROM json_each('[1]')) AND ? > 0",
      ),
    ).toMatch(/USING COVERING INDEX embedding_metadata_num/);
  });
});

/**
 * The AND planner (records.ts `withDriver`) rewrites conjunctions: the most selective
 * term drives and the others become correlated probes. Whatever it picks, the answer
 * must be what the filter means: random filters over a 3,000-record receipt-like
 * collection are checked against a plain JS evaluation of the same filter.
 */
describe('the AND planner', () => {
  type Meta = Record<string, string | number | boolean>;
  const N = 3000;
  const metaOf = (i: number): Meta => {
    const m: Meta = {
      image_id: `img-${Math.floor(i / 30)}`,
      receipt_id: 1 + (i % 3),
      line_id: i % 30,
      status: ['valid', 'invalid', 'pending'][(i % 7) % 3]!,
    };
    if (i % 4 !== 0) m.label = i % 11 === 0 ? 'TOTAL' : 'OTHER';
    if (i % 5 === 0) m.code = i % 2 === 0 ? '7' : 7; // same text, different types
    return m;
  };
  let planned: ChromaStore;
  let big: Collection;
  beforeAll(async () => {
    planned = await ChromaStore.open(tempDir());
    big = await planned.getOrCreateCollection('lines');
    const all = Array.from({ length: N }, (_, i) => i);
    await big.add({
      ids: all.map((i) => `l${i}`),
      embeddings: vectors(N, 2, 9),
      metadatas: all.map(metaOf),
    });
  });
  afterAll(async () => {
    await planned.close();
  });

  const matches = (m: Meta, where: Where): boolean =>
    Object.entries(where).every(([key, value]) => {
      if (key === '$and') return (value as Where[]).every((w) => matches(m, w));
      if (key === '$or') return (value as Where[]).some((w) => matches(m, w));
      const [op, operand] = Object.entries(value as Record<string, unknown>)[0]!;
      const has = key in m;
      const v = m[key];
      const eq = (x: unknown) => has && typeof v === typeof x && v === x;
      switch (op) {
        case '$eq':
          return eq(operand);
        case '$ne':
          return !eq(operand);
        case '$in':
          return (operand as unknown[]).some(eq);
        case '$nin':
          return !(operand as unknown[]).some(eq);
        case '$gt':
          return has && typeof v === 'number' && v > (operand as number);
        case '$lt':
          return has && typeof v === 'number' && v < (operand as number);
        default:
          throw new Error(op);
      }
    });

  it('answers 300 random filters exactly as their JS meaning', () => {
    const r = rng(31);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const leaf = (): Where => {
      const image = () => `img-${Math.floor(r() * (N / 30 + 2))}`;
      return pick<() => Where>([
        () => ({ image_id: { $eq: image() } }),
        () => ({ image_id: { $in: [image(), image(), 'nope'] } }),
        () => ({ receipt_id: { $eq: 1 + Math.floor(r() * 3) } }),
        () => ({ receipt_id: { $ne: 1 + Math.floor(r() * 3) } }),
        () => ({ line_id: { $lt: Math.floor(r() * 30) } }),
        () => ({ line_id: { $gt: Math.floor(r() * 30) } }),
        () => ({ status: { $eq: pick(['valid', 'invalid', 'pending']) } }),
        () => ({ status: { $nin: ['invalid', 'pending'] } }),
        () => ({ label: { $eq: 'TOTAL' } }),
        () => ({ label: { $ne: 'OTHER' } }),
        () => ({ code: { $in: ['7', '8'] } }),
        () => ({ code: { $in: [7] } }),
      ])();
    };
    const tree = (depth: number): Where => {
      if (depth === 0 || r() < 0.3) return leaf();
      const children = Array.from({ length: 2 + Math.floor(r() * 2) }, () => tree(depth - 1));
      return r() < 0.7 ? { $and: children } : { $or: children };
    };
    const metas = Array.from({ length: N }, (_, i) => metaOf(i));
    let nonEmpty = 0;
    for (let t = 0; t < 300; t++) {
      const where = tree(3);
      const expected = metas.flatMap((m, i) => (matches(m, where) ? [`l${i}`] : []));
      const got = big.getSync({ where, include: [] }).ids;
      expect(got, JSON.stringify(where)).toEqual(expected);
      if (expected.length > 0) nonEmpty++;
    }
    expect(nonEmpty).toBeGreaterThan(50);
  });

  it('drives by the selective term and probes the broad one (white-box plan)', () => {
    const core = (planned as unknown as { core: { db: Database.Database; records: unknown } }).core;
    const records = core.records as {
      recordQuery(
        columns: string,
        key: number,
        condition: unknown,
        ids: null,
      ): { sql: string; params: unknown[] };
    };
    const planFor = (where: Where) => {
      const { sql, params } = records.recordQuery('e.seq', 1, compileWhere(where), null);
      return (
        core.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>
      )
        .map((r) => r.detail)
        .join(' | ');
    };
    // receipt_id = 1 matches 1,000 rows, image_id 30: only the image list is built.
    const selective = planFor({ $and: [{ receipt_id: 1 }, { image_id: 'img-3' }] });
    expect(selective.match(/LIST SUBQUERY/g)).toHaveLength(1);
    expect(selective).toMatch(/embedding_metadata_string/);
    expect(selective).toMatch(/SEARCH m EXISTS USING .*seq=\?/); // one point lookup per candidate
    // Two broad terms (≥ ESTIMATE_CAP each): SQLite's own list intersection is kept.
    const broad = planFor({ $and: [{ receipt_id: 1 }, { status: 'valid' }] });
    expect(broad.match(/LIST SUBQUERY/g)).toHaveLength(2);
  });
});
