import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChromaStore, InvalidArgumentError } from '../src/index.js';
import { tempDir, vectors } from './helpers.js';

describe('store.kv', () => {
  it('gets, sets, deletes and lists JSON values per namespace', async () => {
    const store = await ChromaStore.open(tempDir());
    const seq = store.kv('seq');
    const other = store.kv('other');
    expect(seq.get('missing')).toBeUndefined();
    seq.set('b', '4950000000000002');
    seq.set('a', { nested: [1, 'two', { three: true }], n: null });
    seq.set('c', 3.5);
    other.set('a', 'separate');
    seq.set('c', 4); // overwrite
    expect(seq.get('a')).toEqual({ nested: [1, 'two', { three: true }], n: null });
    expect(seq.entries()).toEqual([
      ['a', { nested: [1, 'two', { three: true }], n: null }],
      ['b', '4950000000000002'],
      ['c', 4],
    ]);
    const copy = seq.get('a') as { nested: unknown[] };
    copy.nested.push('mutated');
    expect(seq.get('a')).toEqual({ nested: [1, 'two', { three: true }], n: null }); // a fresh copy each time
    seq.delete('b');
    seq.delete('never-there');
    expect(seq.entries().map(([k]) => k)).toEqual(['a', 'c']);
    expect(other.entries()).toEqual([['a', 'separate']]);
    await store.close();
  });

  it('rejects values that are not JSON and bad names, changing nothing', async () => {
    const store = await ChromaStore.open(tempDir());
    const kv = store.kv('ns');
    kv.set('k', 1);
    const digest = store.digest();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const value of [undefined, () => 1, Symbol('s'), 10n, cyclic]) {
      expect(() => kv.set('k', value)).toThrow(InvalidArgumentError);
    }
    expect(() => kv.set('', 1)).toThrow(InvalidArgumentError);
    expect(() => store.kv('')).toThrow(InvalidArgumentError);
    expect(kv.get('k')).toBe(1);
    expect(store.digest()).toBe(digest);
    await store.close();
  });

  it('round-trips through close/open and through exportSnapshot, and rolls back with transactions', async () => {
    const dir = tempDir();
    const store = await ChromaStore.open(dir);
    store.kv('seq').set('IMAGE#1#RECEIPT#00001', '100');
    store.kv('pending').set('w', [{ label: 'TOTAL', status: 'VALID' }]);
    expect(() =>
      store.transaction(() => {
        store.kv('seq').set('IMAGE#1#RECEIPT#00001', '200');
        store.kv('seq').delete('IMAGE#1#RECEIPT#00001');
        throw new Error('rollback');
      }),
    ).toThrow('rollback');
    const snap = join(tempDir(), 'snap');
    await store.exportSnapshot(snap);
    await store.close();

    for (const where of [dir, snap]) {
      const reopened = await ChromaStore.open(where);
      expect(reopened.kv('seq').entries()).toEqual([['IMAGE#1#RECEIPT#00001', '100']]);
      expect(reopened.kv('pending').get('w')).toEqual([{ label: 'TOTAL', status: 'VALID' }]);
      await reopened.close();
    }
  });
});

describe('store.digest', () => {
  const vs = vectors(60, 6, 77);
  const ids = vs.map((_, i) => `d${i}`);
  const md = (i: number) => ({ i, parity: i % 2 === 0, name: `n${i}` });

  async function build(
    order: number[],
    style: 'add' | 'upsert' | 'piecemeal',
  ): Promise<ChromaStore> {
    const store = await ChromaStore.open(tempDir());
    // collections created in different orders too
    const names = style === 'add' ? ['a', 'b'] : ['b', 'a'];
    for (const n of names) await store.getOrCreateCollection(n, { space: 'cosine' });
    const col = await store.getCollection('a');
    if (style === 'add') {
      await col.add({
        ids: order.map((i) => ids[i]!),
        embeddings: order.map((i) => vs[i]!),
        metadatas: order.map(md),
        documents: order.map((i) => `doc ${i}`),
      });
    } else if (style === 'upsert') {
      for (const i of order) {
        // metadata keys in another order
        const m = md(i);
        await col.upsert({
          ids: [ids[i]!],
          embeddings: [vs[i]!],
          metadatas: [{ name: m.name, parity: m.parity, i: m.i }],
          documents: [`doc ${i}`],
        });
      }
    } else {
      // Insert with a wrong vector and partial metadata, then fix both; add a record then delete it.
      await col.add({ ids: ['temp'], embeddings: [vs[0]!] });
      for (const i of order) {
        await col.add({
          ids: [ids[i]!],
          embeddings: [vs[(i + 1) % vs.length]!],
          metadatas: [{ i, junk: 'x' }],
          documents: ['tbd'],
        });
      }
      await col.update({
        ids: order.map((i) => ids[i]!),
        embeddings: order.map((i) => vs[i]!),
        metadatas: order.map((i) => ({ ...md(i), junk: null })),
        documents: order.map((i) => `doc ${i}`),
      });
      await col.delete({ ids: ['temp'] });
    }
    const kvPairs: Array<[string, unknown]> = [
      ['x', { b: 1, a: [2, 3] }],
      ['y', 'seq-5'],
    ];
    for (const [k, v] of style === 'add' ? kvPairs : [...kvPairs].reverse())
      store.kv('state').set(k, style === 'add' ? v : reorder(v));
    return store;
  }

  function reorder(v: unknown): unknown {
    if (v && typeof v === 'object' && !Array.isArray(v))
      return Object.fromEntries(Object.entries(v).reverse());
    return v;
  }

  it('is equal for the same content built in different orders and ways', async () => {
    const forward = ids.map((_, i) => i);
    const shuffled = [...forward].sort((a, b) => ((a * 37) % 61) - ((b * 37) % 61));
    const stores = [
      await build(forward, 'add'),
      await build(shuffled, 'upsert'),
      await build([...forward].reverse(), 'piecemeal'),
    ];
    const digests = stores.map((s) => s.digest());
    expect(digests[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(digests).size).toBe(1);
    for (const s of stores) await s.close();
  });

  it('changes with any content change and survives close/open and export', async () => {
    const store = await build(
      ids.map((_, i) => i),
      'add',
    );
    const base = store.digest();
    const col = await store.getCollection('a');
    const changes: Array<[() => unknown, () => unknown]> = [
      [
        () => col.updateSync({ ids: ['d1'], metadatas: [{ i: 1.5 }] }),
        () => col.updateSync({ ids: ['d1'], metadatas: [{ i: 1 }] }),
      ],
      [
        () => col.updateSync({ ids: ['d1'], metadatas: [{ i: '1' }] }),
        () => col.updateSync({ ids: ['d1'], metadatas: [{ i: 1 }] }),
      ],
      [
        () => col.updateSync({ ids: ['d1'], documents: ['other'] }),
        () => col.updateSync({ ids: ['d1'], documents: ['doc 1'] }),
      ],
      [
        () => col.updateSync({ ids: ['d1'], embeddings: [vs[2]!] }),
        () => col.updateSync({ ids: ['d1'], embeddings: [vs[1]!] }),
      ],
      [() => store.kv('state').set('y', 'seq-6'), () => store.kv('state').set('y', 'seq-5')],
    ];
    for (const [change, undo] of changes) {
      change();
      expect(store.digest()).not.toBe(base);
      undo();
      expect(store.digest()).toBe(base);
    }
    const snap = join(tempDir(), 'snap');
    await store.exportSnapshot(snap);
    const dir = store.dir;
    await store.close();
    for (const where of [dir, snap]) {
      const s = await ChromaStore.open(where);
      expect(s.digest()).toBe(base);
      await s.close();
    }
  });
});
