import type Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ChromaStore,
  type Collection,
  InvalidWhereError,
  type Where,
  type WhereDocument,
} from '../src/index.js';
import { tempDir, vectors } from './helpers.js';

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

  it('$gt $gte $lt $lte on numbers (ints and floats alike) and strings', () => {
    expect(ids({ total: { $gt: 10 } })).toEqual(['r2', 'r4']);
    expect(ids({ total: { $gte: 10 } })).toEqual(['r1', 'r2', 'r4']);
    expect(ids({ total: { $lt: 10 } })).toEqual(['r3']);
    expect(ids({ total: { $lte: 10 } })).toEqual(['r1', 'r3']);
    expect(ids({ ratio: { $gt: 0.75 } })).toEqual(['r2']);
    expect(ids({ total: { $gt: 7, $lt: 26 } })).toEqual(['r1', 'r2', 'r3']); // two operators: AND
    expect(ids({ merchant: { $gte: 'G' } })).toEqual(['r3', 'r4']);
  });

  it('$in with mixed types', () => {
    expect(ids({ merchant: { $in: ['Globex', 'Initech'] } })).toEqual(['r3', 'r4']);
    expect(ids({ total: { $in: [10, 100, 'x'] } })).toEqual(['r1', 'r4']);
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
      { $regex: 'x' },
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
