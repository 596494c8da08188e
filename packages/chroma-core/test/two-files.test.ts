/**
 * A store is two SQLite files: `chroma.sqlite3` (records, metadata, kv) and
 * `vectors.sqlite3` (vectors), attached, both with a rollback journal (database.ts).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ChromaStore, CorruptDatabaseError, VECTORS_FILE } from '../src/index.js';
import { fileSha, openFds, tempDir, vectors } from './helpers.js';

/** A rollback journal still to be played back: SQLite's journal magic at its start. */
const JOURNAL_MAGIC = Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
const isHotJournal = (file: string) =>
  existsSync(file) && readFileSync(file).subarray(0, 8).equals(JOURNAL_MAGIC);

async function seeded(dir: string, n = 300): Promise<void> {
  const store = await ChromaStore.open(dir);
  const col = await store.getOrCreateCollection('lines', { space: 'cosine' });
  const vs = vectors(n, 16, 3);
  await col.add({
    ids: vs.map((_, i) => `id-${i}`),
    embeddings: vs,
    metadatas: vs.map((_, i) => ({ i, label: 'OTHER' })),
  });
  await store.close();
}

describe('vectors.sqlite3', () => {
  it('is left byte-identical by sessions that change only metadata, documents or kv', async () => {
    const dir = tempDir();
    await seeded(dir);
    const file = join(dir, VECTORS_FILE);
    const before = { sha: fileSha(file), mtime: statSync(file).mtimeMs };
    for (let session = 0; session < 3; session++) {
      const store = await ChromaStore.open(dir);
      const col = await store.getCollection('lines');
      await col.update({
        ids: ['id-1', 'id-2'],
        metadatas: [{ label: `TOTAL-${session}` }, { label: null }],
        documents: [`doc ${session}`, 'x'],
      });
      store.kv('seq').set(`k${session}`, session);
      await col.query({ queryEmbeddings: vectors(1, 16, 9), nResults: 3 });
      await store.close();
    }
    expect(fileSha(file)).toBe(before.sha);
    expect(statSync(file).mtimeMs).toBe(before.mtime);

    // …and changed by one that writes a vector.
    const store = await ChromaStore.open(dir);
    await (
      await store.getCollection('lines')
    ).update({ ids: ['id-1'], embeddings: vectors(1, 16, 4) });
    await store.close();
    expect(fileSha(file)).not.toBe(before.sha);
  });

  it('missing, or not the pair of this database: CorruptDatabaseError naming it, no fd left', async () => {
    const dir = tempDir();
    await seeded(dir);
    const other = tempDir();
    await seeded(other, 10);
    const file = join(dir, VECTORS_FILE);
    copyFileSync(file, `${file}.bak`);
    const before = openFds();

    rmSync(file);
    let err = await ChromaStore.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptDatabaseError);
    expect((err as Error).message).toMatch(/vectors\.sqlite3.*missing/);

    copyFileSync(join(other, VECTORS_FILE), file);
    err = await ChromaStore.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptDatabaseError);
    expect((err as Error).message).toMatch(/10 vectors for 300 records/);
    expect(openFds()).toBe(before);

    copyFileSync(`${file}.bak`, file);
    rmSync(`${file}.bak`);
    const store = await ChromaStore.open(dir);
    expect(await (await store.getCollection('lines')).count()).toBe(300);
    await store.close();
  });

  it('is locked with the database while the store is open', async () => {
    const dir = tempDir();
    await seeded(dir);
    const store = await ChromaStore.open(dir);
    const reader = new Database(join(dir, VECTORS_FILE), { readonly: true, timeout: 0 });
    expect(() => reader.prepare('SELECT count(*) FROM vectors').get()).toThrow(/locked|busy/i);
    reader.close();
    await store.close();
  });

  it('stays consistent with the database when a writer is SIGKILLed mid-transaction', async () => {
    const dir = tempDir();
    const writer = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));
    const rng = (() => {
      let x = 7;
      return () => (x = (x * 48271) % 2147483647) / 2147483647;
    })();
    let interrupted = 0; // kills that left a hot journal to roll back
    let kills = 0;
    // Kill a writer that is busy committing, at a random moment, until three kills
    // have landed mid-transaction (at most 30 tries: on a loaded machine some land
    // between transactions, which proves less).
    while (interrupted < 3 && kills < 30) {
      kills++;
      const child = spawn(process.execPath, ['--import', 'tsx', writer, dir], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = once(child, 'exit');
      let output = '';
      const committed = new Promise<void>((resolve) =>
        child.stdout!.on('data', (chunk: Buffer) => {
          output += String(chunk);
          if (output.includes('committed')) resolve();
        }),
      );
      await Promise.race([committed, exited]);
      expect(child.exitCode, `writer output: ${output}`).toBeNull(); // still writing
      await new Promise((r) => setTimeout(r, rng() * 30));
      child.kill('SIGKILL');
      await exited;
      if (isHotJournal(join(dir, 'chroma.sqlite3-journal'))) interrupted++;

      // The next open rolls back the interrupted transaction in both files: records
      // and vectors always pair up, and every batch is whole.
      const store = await ChromaStore.open(dir); // integrityCheck: quick_check and counts
      const col = await store.getCollection('lines');
      const got = await col.get({ include: ['embeddings', 'metadatas'] });
      expect(got.embeddings!.length).toBe(got.ids.length);
      const sizes = new Map<unknown, number>();
      for (const m of got.metadatas) sizes.set(m!.batch, (sizes.get(m!.batch) ?? 0) + 1);
      expect([...sizes.values()].every((n) => n === 200)).toBe(true); // whole batches only
      await store.close();
    }
    expect(interrupted).toBeGreaterThan(0);
  }, 120_000);
});
