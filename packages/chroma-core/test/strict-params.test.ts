/**
 * Strict parameters (issue 16, bullet 1): every method refuses an unknown key, an
 * ill-typed value and an operand Chroma refuses, with a typed error naming the key and
 * what is accepted — and changes nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ChromaStore,
  type Collection,
  DuplicateIdError,
  InvalidArgumentError,
  InvalidWhereError,
  UnknownParameterError,
} from '../src/index.js';
import { tempDir, vectors } from './helpers.js';

const DIM = 4;
let store: ChromaStore;
let col: Collection;
const v = [1, 2, 3, 4];

beforeEach(async () => {
  store = await ChromaStore.open(tempDir());
  col = await store.getOrCreateCollection('words');
  await col.add({
    ids: ['a', 'b', 'c'],
    embeddings: vectors(3, DIM, 7),
    metadatas: [
      { n: 1, s: 'x' },
      { n: 2, s: 'y' },
      { n: 3, flag: true },
    ],
    documents: ['alpha', 'beta', 'gamma'],
  });
});

afterEach(async () => {
  await store.close();
});

/** Runs `call`, expects `error`, and checks the store's content did not change. */
function refuses(call: () => unknown, error: new (...args: never[]) => Error, text?: RegExp) {
  const before = store.digest();
  let thrown: unknown;
  try {
    call();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, String(call)).toBeInstanceOf(error);
  if (text) expect((thrown as Error).message).toMatch(text);
  expect(store.digest()).toBe(before);
  return thrown;
}

describe('unknown keys', () => {
  const typo = { bogus: 1 };
  const calls: Array<[string, () => unknown]> = [
    ['add', () => col.addSync({ ids: ['z'], embeddings: [v], ...typo })],
    ['upsert', () => col.upsertSync({ ids: ['a'], embeddings: [v], ...typo })],
    ['update', () => col.updateSync({ ids: ['a'], documents: ['new'], ...typo })],
    ['get', () => col.getSync({ ids: ['a'], ...typo })],
    ['query', () => col.querySync({ queryEmbeddings: [v], ...typo })],
    ['delete', () => col.deleteSync({ ids: ['a'], ...typo })],
    ['peek', () => col.peekSync({ limit: 1, ...typo })],
  ];
  for (const [method, call] of calls) {
    it(`${method} refuses an unknown key, names it and lists the accepted keys`, () => {
      const err = refuses(
        call,
        UnknownParameterError,
        /"bogus".*accepted: /,
      ) as UnknownParameterError;
      expect(err.code).toBe('UNKNOWN_PARAMETER');
      expect(err.method).toBe(method);
      expect(err.key).toBe('bogus');
      expect(err.accepted).toContain(method === 'peek' ? 'limit' : 'ids');
    });
  }

  it('the async twins reject the same way', async () => {
    await expect(col.add({ ids: ['z'], embeddings: [v], uris: ['u'] } as never)).rejects.toThrow(
      UnknownParameterError,
    );
    await expect(col.query({ queryEmbeddings: [v], queryTexts: ['x'] } as never)).rejects.toThrow(
      /no embedding function/,
    );
    await expect(col.get({ n_results: 3 } as never)).rejects.toThrow(/nResults/);
    await expect(col.peek({ offset: 1 } as never)).rejects.toThrow(UnknownParameterError);
    expect(await col.count()).toBe(3);
  });

  it('a key set to undefined is still a typo', () => {
    refuses(() => col.deleteSync({ ids: ['a'], limt: undefined } as never), UnknownParameterError);
  });

  it('refuses unknown store and collection options', async () => {
    await expect(ChromaStore.open(tempDir(), { cacheBytes: 1 } as never)).rejects.toThrow(
      UnknownParameterError,
    );
    await expect(ChromaStore.open(tempDir(), { integrityCheck: 'yes' } as never)).rejects.toThrow(
      InvalidArgumentError,
    );
    await expect(
      store.getOrCreateCollection('other', { hnsw_space: 'cosine' } as never),
    ).rejects.toThrow(/getOrCreateCollection options: unknown parameter "hnsw_space"/);
    expect((await store.listCollections()).map((c) => c.name)).toEqual(['words']);
  });

  it('refuses a parameter that is not an object', () => {
    refuses(() => col.querySync(null as never), InvalidArgumentError);
    refuses(() => col.deleteSync([] as never), InvalidArgumentError);
  });
});

describe('operands Chroma refuses', () => {
  const bad: Array<[string, unknown]> = [
    ['$gt with a string', { n: { $gt: '2' } }],
    ['$lte with a boolean', { n: { $lte: true } }],
    ['$gte with NaN', { n: { $gte: NaN } }],
    ['$in with mixed types', { n: { $in: [1, '1'] } }],
    ['$nin with mixed types', { s: { $nin: ['x', true] } }],
    ['$in empty', { n: { $in: [] } }],
    ['$in not a list', { n: { $in: 1 } }],
    ['a #-key', { '#document': { $contains: 'a' } }],
    ['$contains at top level', { $contains: 'a' }],
  ];
  for (const [what, where] of bad) {
    it(`where: ${what} is an InvalidWhereError naming the key`, () => {
      refuses(() => col.getSync({ where: where as never }), InvalidWhereError);
      refuses(() => col.deleteSync({ where: where as never }), InvalidWhereError);
    });
  }

  it('$gt on a string operand names what is accepted', () => {
    refuses(
      () => col.getSync({ where: { n: { $lt: '2' } } as never }),
      InvalidWhereError,
      /n\.\$lt needs a finite number/,
    );
  });

  it('whereDocument: empty strings and unknown operators are refused', () => {
    refuses(() => col.getSync({ whereDocument: { $contains: '' } }), InvalidWhereError);
    refuses(() => col.getSync({ whereDocument: { $like: 'a' } }), InvalidWhereError, /accepted: /);
  });

  it('ids: an empty list is refused by add, upsert, update, get and delete', () => {
    refuses(() => col.addSync({ ids: [], embeddings: [] }), InvalidArgumentError);
    refuses(() => col.upsertSync({ ids: [], embeddings: [] }), InvalidArgumentError);
    refuses(() => col.updateSync({ ids: [] }), InvalidArgumentError);
    refuses(() => col.getSync({ ids: [] }), InvalidArgumentError);
    refuses(() => col.deleteSync({ ids: [] }), InvalidArgumentError);
  });

  it('duplicate ids in get and delete are refused, not de-duplicated', () => {
    refuses(() => col.getSync({ ids: ['a', 'a'] }), DuplicateIdError);
    const err = refuses(() => col.deleteSync({ ids: ['a', 'b', 'a'] }), DuplicateIdError);
    expect((err as DuplicateIdError).ids).toEqual(['a']);
  });

  it('metadata keys starting with # or $ are refused', () => {
    refuses(
      () => col.addSync({ ids: ['z'], embeddings: [v], metadatas: [{ '#document': 'x' }] }),
      InvalidArgumentError,
      /reserved/,
    );
    refuses(() => col.updateSync({ ids: ['a'], metadatas: [{ '#x': 1 }] }), InvalidArgumentError);
    refuses(
      () => col.upsertSync({ ids: ['a'], embeddings: [v], metadatas: [{ $x: 1 }] }),
      InvalidArgumentError,
    );
  });

  it('include: distances on get, null, unknown fields are refused, naming the accepted fields', () => {
    refuses(
      () => col.getSync({ include: ['distances'] }),
      InvalidArgumentError,
      /"distances".*accepted: embeddings, metadatas, documents$/,
    );
    refuses(() => col.getSync({ include: null as never }), InvalidArgumentError);
    refuses(
      () => col.querySync({ queryEmbeddings: [v], include: null as never }),
      InvalidArgumentError,
    );
    refuses(
      () => col.querySync({ queryEmbeddings: [v], include: ['uris'] as never }),
      InvalidArgumentError,
      /no URIs/,
    );
    expect(col.querySync({ queryEmbeddings: [v], include: ['distances'] }).ids[0]).toHaveLength(3);
  });

  it('limit, offset and nResults must be integers in range', () => {
    refuses(() => col.getSync({ limit: -1 }), InvalidArgumentError);
    refuses(() => col.getSync({ offset: 1.5 }), InvalidArgumentError);
    refuses(() => col.querySync({ queryEmbeddings: [v], nResults: 0 }), InvalidArgumentError);
    refuses(() => col.peekSync({ limit: '2' as never }), InvalidArgumentError);
  });
});
