/**
 * `store.pagesWrittenSinceOpen()` must never miss a page: for every mix of writes the
 * pages whose bytes differ between the files at open and at close (and every page a
 * grown file gained) are among the pages it reports. It may report a few more.
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ChromaStore, SQLITE_FILE, VECTORS_FILE, type Collection } from '../src/index.js';
import { rng, tempDir, vectors } from './helpers.js';

const FILES = [SQLITE_FILE, VECTORS_FILE];
const DIM = 16;

async function seeded(n: number): Promise<string> {
  const dir = tempDir('page-changes-');
  const store = await ChromaStore.open(dir);
  const col = await store.getOrCreateCollection('words', { space: 'cosine', dimension: DIM });
  const vs = vectors(n, DIM, 7);
  await col.add({
    ids: vs.map((_, i) => `w-${i}`),
    embeddings: vs,
    documents: vs.map((_, i) => `word ${i}`),
    metadatas: vs.map((_, i) => ({ receipt: i % 50, label: 'OTHER', text: 'x'.repeat(i % 90) })),
  });
  await store.close();
  return dir;
}

/** Pages (1-based) whose bytes differ, plus every page past the old end. */
function differingPages(before: Buffer, after: Buffer, pageSize: number): number[] {
  const out: number[] = [];
  for (let p = 0; p * pageSize < after.length; p++) {
    const a = after.subarray(p * pageSize, (p + 1) * pageSize);
    const b = before.subarray(p * pageSize, (p + 1) * pageSize);
    if (!a.equals(b)) out.push(p + 1);
  }
  return out;
}

/** Opens `dir`, runs `work`, closes, and compares what changed with what was reported. */
async function check(dir: string, work: (col: Collection, store: ChromaStore) => Promise<void>) {
  const before = new Map(FILES.map((f) => [f, readFileSync(join(dir, f))]));
  const store = await ChromaStore.open(dir, { integrityCheck: false, trackPageChanges: true });
  const col = await store.getCollection('words');
  await work(col, store);
  await store.close();
  const reported = store.pagesWrittenSinceOpen();
  expect(reported.changes, 'reason' in reported ? reported.reason : '').toBeDefined();
  const missed: string[] = [];
  let actualTotal = 0;
  for (const f of FILES) {
    const entry = reported.changes!.get(f)!;
    const actual = differingPages(before.get(f)!, readFileSync(join(dir, f)), entry.pageSize);
    actualTotal += actual.length;
    for (const p of actual) if (!entry.pages.has(p)) missed.push(`${f} page ${p}`);
  }
  expect(missed).toEqual([]);
  return { reported: reported.changes!, actualTotal };
}

describe('pagesWrittenSinceOpen', () => {
  it('reports nothing for a session without writes, and the one page of a one-row update', async () => {
    const dir = await seeded(2000);
    const idle = await check(dir, async (col) => {
      await col.get({ ids: ['w-1'] });
    });
    expect([...idle.reported.values()].every((f) => f.pages.size === 0)).toBe(true);

    const one = await check(dir, async (col) => {
      await col.update({ ids: ['w-1500'], metadatas: [{ label: 'TOTAL' }] });
    });
    expect(one.reported.get(VECTORS_FILE)!.pages.size).toBe(0);
    // A handful of b-tree pages (record, metadata rows and their indexes) plus page 1.
    expect(one.reported.get(SQLITE_FILE)!.pages.size).toBeGreaterThan(0);
    expect(one.reported.get(SQLITE_FILE)!.pages.size).toBeLessThan(20);
  });

  it('never misses a page over random sessions of adds, updates, deletes, upserts and rolled-back transactions', async () => {
    const dir = await seeded(3000);
    const random = rng(11);
    let next = 3000;
    for (let session = 0; session < 12; session++) {
      await check(dir, async (col, store) => {
        const calls = 1 + Math.floor(random() * 6);
        for (let c = 0; c < calls; c++) {
          const pick = () => `w-${Math.floor(random() * next)}`;
          const op = Math.floor(random() * 6);
          if (op === 0) {
            const vs = vectors(1 + Math.floor(random() * 400), DIM, next);
            await col.add({
              ids: vs.map(() => `w-${next++}`),
              embeddings: vs,
              metadatas: vs.map(() => ({ receipt: 1, label: 'NEW', text: 'y'.repeat(200) })),
            });
          } else if (op === 1) {
            const ids = [...new Set(Array.from({ length: 50 }, pick))];
            const { ids: present } = await col.get({ ids, include: [] });
            if (present.length > 0)
              await col.update({
                ids: present,
                metadatas: present.map(() => ({ label: `L${Math.floor(random() * 9)}` })),
              });
          } else if (op === 2) {
            await col.delete({ ids: [...new Set(Array.from({ length: 300 }, pick))] });
          } else if (op === 3) {
            const vs = vectors(20, DIM, next + 99);
            await col.upsert({
              ids: vs.map(() => pick()),
              embeddings: vs,
              metadatas: vs.map(() => ({ label: 'UPSERT' })),
            });
          } else if (op === 4) {
            // A transaction that writes and then fails: rolled back, nothing changes.
            expect(() =>
              store.transaction(() => {
                col.addSync({ ids: ['doomed'], embeddings: vectors(1, DIM, 5) });
                col.deleteSync({ ids: [pick()] });
                throw new Error('abort');
              }),
            ).toThrow('abort');
          } else {
            store.transaction(() => {
              col.deleteSync({ where: { receipt: Math.floor(random() * 50) } });
              store.kv('state').set(`k${c}`, { session });
            });
          }
        }
      });
    }
  });

  it('counts the pages of a file that grew and of one that shrank back', async () => {
    const dir = await seeded(500);
    await check(dir, async (col) => {
      const vs = vectors(4000, DIM, 9);
      await col.add({ ids: vs.map((_, i) => `g-${i}`), embeddings: vs });
      await col.delete({ ids: vs.map((_, i) => `g-${i}`) });
    });
  });

  it('is unknown when open created the schema or when a write bypassed the tracked transactions', async () => {
    const untracked = await ChromaStore.open(await seeded(10));
    await untracked.close();
    expect(untracked.pagesWrittenSinceOpen()).toMatchObject({
      changes: undefined,
      reason: expect.stringMatching(/not tracked/),
    });

    const fresh = await ChromaStore.open(tempDir('page-changes-new-'), { trackPageChanges: true });
    await fresh.close();
    expect(fresh.pagesWrittenSinceOpen()).toMatchObject({
      changes: undefined,
      reason: expect.stringMatching(/created or migrated/),
    });

    const dir = await seeded(100);
    // The same connection writing behind the store's back is what the guard is for;
    // simulate it with the store's own handle of the database through a second file copy.
    copyFileSync(join(dir, SQLITE_FILE), join(dir, 'copy.sqlite3'));
    const store = await ChromaStore.open(dir, { integrityCheck: false, trackPageChanges: true });
    const core = (store as unknown as { core: { db: Database.Database } }).core;
    core.db.prepare("UPDATE embeddings SET document = 'sneaky' WHERE id = 'w-1'").run();
    await store.close();
    expect(store.pagesWrittenSinceOpen()).toMatchObject({
      changes: undefined,
      reason: expect.stringMatching(/outside a tracked transaction/),
    });
  });
});
