/**
 * `$regex` / `$not_regex` in `whereDocument` (issue 16, bullet 5), with the limits of
 * Chroma's dialect (the Rust regex crate).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChromaStore,
  type Collection,
  InvalidWhereError,
  type WhereDocument,
} from '../src/index.js';
import { tempDir, vectors } from './helpers.js';

let store: ChromaStore;
let col: Collection;
const docs = [
  'TOTAL 12.50',
  'Subtotal 10.00',
  'tax 2.50',
  null,
  'Thank you!\nVisit again',
  'ÉPICERIE 3,20 €',
];

beforeEach(async () => {
  store = await ChromaStore.open(tempDir());
  col = await store.getOrCreateCollection('lines');
  await col.add({
    ids: docs.map((_, i) => `d${i}`),
    embeddings: vectors(docs.length, 4, 3),
    documents: docs,
    metadatas: docs.map((_, i) => ({ i })),
  });
});

afterEach(async () => {
  await store.close();
});

const ids = (whereDocument: WhereDocument) => col.getSync({ whereDocument, include: [] }).ids;

describe('$regex / $not_regex', () => {
  it('matches anywhere in the document (a search, not a full match), case-sensitively', () => {
    expect(ids({ $regex: '\\d+\\.\\d{2}' })).toEqual(['d0', 'd1', 'd2']);
    expect(ids({ $regex: '^T' })).toEqual(['d0', 'd4']);
    expect(ids({ $regex: 'total' })).toEqual(['d1']);
    expect(ids({ $regex: 'again$' })).toEqual(['d4']);
  });

  it('$not_regex is the complement, including records without a document', () => {
    expect(ids({ $not_regex: '\\d' })).toEqual(['d3', 'd4']);
  });

  it('accepts a leading inline flag group and Rust named groups', () => {
    expect(ids({ $regex: '(?i)total' })).toEqual(['d0', 'd1']);
    expect(ids({ $regex: '(?s)you!.Visit' })).toEqual(['d4']);
    expect(ids({ $regex: '(?P<amount>\\d+),(?P<cents>\\d\\d)' })).toEqual(['d5']);
  });

  it('is Unicode-aware', () => {
    expect(ids({ $regex: '^\\p{Lu}PICERIE' })).toEqual(['d5']);
    expect(ids({ $regex: '€$' })).toEqual(['d5']);
  });

  it('combines with $contains, $and, $or, where and query', () => {
    expect(ids({ $and: [{ $regex: '\\d' }, { $not_contains: 'tax' }] })).toEqual([
      'd0',
      'd1',
      'd5',
    ]);
    expect(ids({ $or: [{ $regex: '^tax' }, { $contains: 'Visit' }] })).toEqual(['d2', 'd4']);
    const got = col.getSync({ where: { i: { $gte: 1 } }, whereDocument: { $regex: '0{2}' } });
    expect(got.ids).toEqual(['d1']);
    const q = col.querySync({ queryEmbeddings: vectors(1, 4, 9), whereDocument: { $regex: 'T' } });
    expect(q.ids[0]!.sort()).toEqual(['d0', 'd4']);
  });

  it('deletes by pattern', () => {
    expect(col.deleteSync({ whereDocument: { $regex: '^(TOTAL|tax)' } })).toBe(2);
    expect(col.countSync()).toBe(4);
  });

  it('an escaped parenthesis or backslash is not taken for a look-around or backreference', () => {
    expect(ids({ $regex: '\\(?=' })).toEqual([]);
    expect(ids({ $regex: '\\\\1' })).toEqual([]);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['syntax error', 'TOTAL(', /bad regular expression/],
    ['look-ahead', 'TOTAL(?= )', /look-around/],
    ['negative look-behind', '(?<!Sub)total', /look-around/],
    ['backreference', '(\\d)\\1', /backreferences/],
    ['named backreference', '(?<d>\\d)\\k<d>', /backreferences/],
    ['unsupported inline flag', '(?x)a b', /inline flag x/],
    ['inline flags past the start', 'a(?i)b', /bad regular expression/],
  ];
  for (const [what, pattern, message] of bad) {
    it(`a bad pattern (${what}) is an InvalidWhereError and changes nothing`, () => {
      const before = store.digest();
      expect(() => col.getSync({ whereDocument: { $regex: pattern } })).toThrow(InvalidWhereError);
      expect(() => col.deleteSync({ whereDocument: { $not_regex: pattern } })).toThrow(message);
      expect(store.digest()).toBe(before);
    });
  }

  it('refuses an empty or non-string pattern', () => {
    expect(() => ids({ $regex: '' })).toThrow(InvalidWhereError);
    expect(() => ids({ $regex: /x/ as never })).toThrow(InvalidWhereError);
  });
});
