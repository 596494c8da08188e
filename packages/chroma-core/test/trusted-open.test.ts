import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChromaStore, type IndexRebuiltEvent } from '../src/index.js';
import { fileSha, indexFiles, tempDir, vectors } from './helpers.js';

/** A closed store with `n` 8-d vectors in collection `lines`. */
async function build(dir: string, n = 200): Promise<number[][]> {
  const store = await ChromaStore.open(dir);
  const lines = await store.getOrCreateCollection('lines', { space: 'l2' });
  const vs = vectors(n, 8, 3);
  await lines.add({
    ids: vs.map((_, i) => `l${i}`),
    embeddings: vs,
    metadatas: vs.map((_, i) => ({ n: i })),
  });
  await store.close();
  return vs;
}

describe('a trusted open (integrityCheck: false)', () => {
  it('never reads the index file in a session that changes only metadata', async () => {
    const dir = tempDir();
    await build(dir);
    const index = indexFiles(dir)[0]!;
    // Same size, garbage: only reading it could notice.
    writeFileSync(index, Buffer.alloc(statSync(index).size, 0xee));
    const garbage = fileSha(index);

    const events: IndexRebuiltEvent[] = [];
    const store = await ChromaStore.open(dir, {
      integrityCheck: false,
      onIndexRebuilt: (e) => events.push(e),
    });
    const lines = await store.getCollection('lines');
    await lines.update({ ids: ['l1'], metadatas: [{ n: -1 }] });
    expect((await lines.get({ ids: ['l1'] })).metadatas).toEqual([{ n: -1 }]);
    await store.close();
    expect(events).toEqual([]);
    expect(fileSha(index)).toBe(garbage);

    // An untrusted open checks the sha256 and rebuilds it.
    const checked = await ChromaStore.open(dir, { onIndexRebuilt: (e) => events.push(e) });
    await checked.close();
    expect(events.map((e) => e.reason)).toEqual(['corrupt']);
  });

  it('loads the index on first vector use and answers as an untrusted open does', async () => {
    const dir = tempDir();
    const vs = await build(dir);
    const ask = async (options: { integrityCheck?: boolean }) => {
      const store = await ChromaStore.open(dir, options);
      try {
        const lines = await store.getCollection('lines');
        return await lines.query({ queryEmbeddings: vs.slice(0, 5), nResults: 4 });
      } finally {
        await store.close();
      }
    };
    const indexBytes = readFileSync(indexFiles(dir)[0]!);
    expect(await ask({ integrityCheck: false })).toEqual(await ask({}));

    // A vector write in a trusted session loads the index first, then persists it.
    const store = await ChromaStore.open(dir, { integrityCheck: false });
    const lines = await store.getCollection('lines');
    await lines.add({ ids: ['new'], embeddings: [vs[0]!.map((x) => x + 0.001)] });
    await store.close();
    expect(readFileSync(indexFiles(dir)[0]!).equals(indexBytes)).toBe(false);
    const reopened = await ChromaStore.open(dir);
    const hits = await (
      await reopened.getCollection('lines')
    ).query({
      queryEmbeddings: [vs[0]!],
      nResults: 2,
    });
    await reopened.close();
    expect(hits.ids[0]!.sort()).toEqual(['l0', 'new']);
  });
});
