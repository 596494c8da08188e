import { copyFileSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ChromaStore, type IndexRebuiltEvent } from '../src/index.js';
import { exactTopK, fileSha, flipByte, indexFiles, tempDir, vectors } from './helpers.js';

const DIM = 16;
const items = vectors(400, DIM, 21).map((vector, i) => ({ id: `p${i}`, vector }));
const queries = vectors(8, DIM, 22);

async function build(dir: string): Promise<string[][]> {
  const store = await ChromaStore.open(dir);
  const col = await store.getOrCreateCollection('lines', { space: 'cosine' });
  await col.add({
    ids: items.map((it) => it.id),
    embeddings: items.map((it) => it.vector),
    metadatas: items.map((_, i) => ({ i })),
  });
  const answers = (await col.query({ queryEmbeddings: queries, nResults: 10, include: [] })).ids;
  await store.close();
  return answers;
}

async function reopen(dir: string): Promise<{ events: IndexRebuiltEvent[]; answers: string[][] }> {
  const events: IndexRebuiltEvent[] = [];
  const store = await ChromaStore.open(dir, { onIndexRebuilt: (e) => events.push(e) });
  const col = await store.getCollection('lines');
  const answers = (await col.query({ queryEmbeddings: queries, nResults: 10, include: [] })).ids;
  await store.close();
  return { events, answers };
}

describe('HNSW index recovery on open', () => {
  it('answers match exact search to begin with', async () => {
    const answers = await build(tempDir());
    queries.forEach((q, i) => expect(answers[i]).toEqual(exactTopK('cosine', q, items, 10)));
  });

  it('rebuilds a deleted index file (reason "missing") with the same answers', async () => {
    const dir = tempDir();
    const before = await build(dir);
    rmSync(indexFiles(dir)[0]!);
    const { events, answers } = await reopen(dir);
    expect(events).toEqual([expect.objectContaining({ collection: 'lines', reason: 'missing' })]);
    expect(answers).toEqual(before);
    // The rebuilt index was written back at close: the next open trusts it.
    expect((await reopen(dir)).events).toEqual([]);
  });

  it('rebuilds an index whose sidecar is missing (reason "missing")', async () => {
    const dir = tempDir();
    const before = await build(dir);
    rmSync(`${indexFiles(dir)[0]!}.json`);
    const { events, answers } = await reopen(dir);
    expect(events.map((e) => e.reason)).toEqual(['missing']);
    expect(answers).toEqual(before);
  });

  it('rebuilds a corrupted index file (flipped byte, truncation, garbage sidecar) with the same answers', async () => {
    const damages: Array<(file: string) => void> = [
      (file) => flipByte(file, Math.floor(statSync(file).size / 2)),
      (file) => flipByte(file, 3), // header: hnswlib would otherwise misread offsets
      (file) => truncateSync(file, Math.floor(statSync(file).size / 3)),
      (file) => writeFileSync(`${file}.json`, '{ not json'),
      (file) => writeFileSync(file, Buffer.alloc(statSync(file).size, 0xee)), // same size, garbage
    ];
    for (const damage of damages) {
      const dir = tempDir();
      const before = await build(dir);
      damage(indexFiles(dir)[0]!);
      const { events, answers } = await reopen(dir);
      expect(events.map((e) => e.reason)).toEqual(['corrupt']);
      expect(answers).toEqual(before);
    }
  });

  it('rebuilds a stale index (older generation than SQLite) and finds the newer vectors', async () => {
    const dir = tempDir();
    await build(dir);
    const file = indexFiles(dir)[0]!;
    copyFileSync(file, `${dir}/old.hnsw`);
    copyFileSync(`${file}.json`, `${dir}/old.hnsw.json`);

    const store = await ChromaStore.open(dir);
    const col = await store.getCollection('lines');
    const extra = vectors(5, DIM, 23);
    await col.add({ ids: extra.map((_, i) => `new${i}`), embeddings: extra });
    await col.delete({ ids: ['p0', 'p1'] });
    await store.close();

    // Simulate a crash after SQLite committed but before the index was written.
    copyFileSync(`${dir}/old.hnsw`, file);
    copyFileSync(`${dir}/old.hnsw.json`, `${file}.json`);
    rmSync(`${dir}/old.hnsw`);
    rmSync(`${dir}/old.hnsw.json`);

    const events: IndexRebuiltEvent[] = [];
    const reopened = await ChromaStore.open(dir, { onIndexRebuilt: (e) => events.push(e) });
    expect(events.map((e) => e.reason)).toEqual(['stale']);
    const c = await reopened.getCollection('lines');
    const r = await c.query({ queryEmbeddings: extra, nResults: 1, include: [] });
    expect(r.ids).toEqual(extra.map((_, i) => [`new${i}`]));
    const all = [...items.slice(2), ...extra.map((vector, i) => ({ id: `new${i}`, vector }))];
    const q = await c.query({ queryEmbeddings: queries, nResults: 10, include: [] });
    queries.forEach((v, i) => expect(q.ids[i]).toEqual(exactTopK('cosine', v, all, 10)));
    await reopened.close();
  });

  it('never rewrites the index for metadata/document-only changes (mtime and bytes unchanged)', async () => {
    const dir = tempDir();
    await build(dir);
    const file = indexFiles(dir)[0]!;
    const stamp = () => ({
      mtime: statSync(file).mtimeMs,
      sha: fileSha(file),
      sidecar: readFileSync(`${file}.json`, 'utf8'),
    });
    const before = stamp();
    await new Promise((r) => setTimeout(r, 20)); // make a rewrite visible in mtime

    const store = await ChromaStore.open(dir);
    const col = await store.getCollection('lines');
    await col.update({
      ids: ['p1', 'p2'],
      metadatas: [{ label: 'TOTAL', i: null }, { label: 'TAX' }],
      documents: ['x', null],
    });
    store.kv('seq').set('p1', 7);
    await store.exportSnapshot(`${tempDir()}/snap`);
    await store.close();
    expect(stamp()).toEqual(before);

    // A vector change does rewrite it.
    const again = await ChromaStore.open(dir);
    await (
      await again.getCollection('lines')
    ).update({ ids: ['p3'], embeddings: [vectors(1, DIM, 24)[0]!] });
    await again.close();
    expect(stamp().sha).not.toBe(before.sha);
  });

  it('removes index files of deleted or emptied collections and stray files', async () => {
    const dir = tempDir();
    await build(dir);
    writeFileSync(`${dir}/index/stray.hnsw.tmp-1234`, 'x');
    writeFileSync(`${dir}/index/00000000-0000-0000-0000-000000000000.hnsw`, 'x');
    const store = await ChromaStore.open(dir);
    const col = await store.getCollection('lines');
    expect(indexFiles(dir)).toHaveLength(1);
    await col.delete({ where: { i: { $gte: 0 } } });
    await store.close();
    expect(indexFiles(dir)).toHaveLength(0);
    const { events } = await reopen(dir);
    expect(events).toEqual([]);
  });
});
