/**
 * The two apply paths on real chroma-core stores: the batched path must produce the
 * very store the legacy (reference) path does — `digest()` covers ids, embeddings,
 * documents, metadata and the kv entity state — on a randomized workload, and the
 * result must not depend on the order the messages arrive in or on redeliveries.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChromaStore } from '@compaction/chroma-core';
import type { ChangeMessage } from '@compaction/contracts';
import { applyBatched } from '../../src/apply/batched.js';
import { applyLegacy } from '../../src/apply/legacy.js';
import type { ApplyFn, ApplyStats } from '../../src/apply/types.js';
import { buildStore } from '../support/stores.js';
import { Rng, buildWorkload, deltaContents, type Workload } from '../support/workload.js';

let work: string;
let baseDir: string;
let workload: Workload;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'equivalence-'));
  workload = buildWorkload({
    seed: 20250301,
    collection: 'words',
    receipts: 120,
    linesPerReceipt: 4,
    wordsPerLine: 5,
    dimension: 16,
    messages: 1000,
  });
  baseDir = join(work, 'base');
  await buildStore(baseDir, 'words', workload.base);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let copies = 0;
/** Applies `messages` with `apply` to a fresh copy of the base store; digest and stats. */
async function run(
  apply: ApplyFn,
  messages: readonly ChangeMessage[],
  dir?: string,
): Promise<{ digest: string; stats: ApplyStats; dir: string }> {
  const target = dir ?? join(work, `copy-${++copies}`);
  if (!dir) await cp(baseDir, target, { recursive: true });
  const store = await ChromaStore.open(target);
  try {
    const collection = await store.getOrCreateCollection('words');
    const stats = apply({ store, collection, messages, deltas: deltaContents(workload, messages) });
    return { digest: store.digest(), stats, dir: target };
  } finally {
    await store.close();
  }
}

describe('legacy vs batched on 1,000 mixed messages', () => {
  it('produce identical stores (digest, kv included), with every kind of change exercised', async () => {
    const legacy = await run(applyLegacy, workload.messages);
    const batched = await run(applyBatched, workload.messages);
    expect(batched.digest).toBe(legacy.digest);

    // Not a vacuous comparison: the workload changes the store in every way.
    const base = await ChromaStore.open(baseDir);
    const baseDigest = base.digest();
    await base.close();
    expect(legacy.digest).not.toBe(baseDigest);
    const s = legacy.stats;
    expect(s.placeUpdates).toBeGreaterThan(50);
    expect(s.labelUpdates).toBeGreaterThan(100);
    expect(s.removals).toBeGreaterThan(0);
    expect(s.deletedVectors).toBeGreaterThan(0);
    expect(s.deltasMerged).toBeGreaterThan(0);
    expect(s.newVectors).toBeGreaterThan(0);
    expect(s.stale).toBeGreaterThan(0);
    expect(s.pendingUpdates).toBeGreaterThan(0);
    // The two paths agree on what happened, not only on the result. (Not on vectors
    // written: batched never writes an upsert that a later delta or a removal in the
    // same batch overrides, where legacy writes it and then deletes it again — so the
    // net change of the vector count agrees, not its parts.)
    const net = (x: ApplyStats) => x.newVectors - x.deletedVectors;
    const comparable = (x: ApplyStats) => ({
      applied: x.applied,
      stale: x.stale,
      placeUpdates: x.placeUpdates,
      labelUpdates: x.labelUpdates,
      removals: x.removals,
      deltasMerged: x.deltasMerged,
      skippedDeltaVectors: x.skippedDeltaVectors,
      net: net(x),
    });
    expect(comparable(batched.stats)).toEqual(comparable(legacy.stats));
    expect(batched.stats.upsertedVectors).toBeLessThanOrEqual(legacy.stats.upsertedVectors);
    const lw = legacy.stats.writeCalls;
    const bw = batched.stats.writeCalls;
    // …with far fewer store calls on the batched side.
    expect(bw).toBeLessThanOrEqual(2 + s.deltasMerged * 2);
    expect(lw).toBeGreaterThan(bw * 5);
  });

  it('give the same store for any arrival order of the batch', async () => {
    const reference = await run(applyBatched, workload.messages);
    for (const seed of [1, 2, 3]) {
      const shuffled = new Rng(seed).shuffle([...workload.messages]);
      expect((await run(applyBatched, shuffled)).digest).toBe(reference.digest);
      expect((await run(applyLegacy, shuffled)).digest).toBe(reference.digest);
    }
  });

  it('are idempotent: the same batch delivered again changes nothing', async () => {
    for (const apply of [applyBatched, applyLegacy]) {
      const first = await run(apply, workload.messages);
      const again = await run(apply, new Rng(9).shuffle([...workload.messages]), first.dir);
      expect(again.digest).toBe(first.digest);
      expect(again.stats.applied).toBe(0);
      expect(again.stats.stale).toBe(workload.messages.length);
      expect(again.stats.writeCalls).toBe(0);
    }
  });

  it('also agree on other seeds with many more deltas and removals (edge cases: upsert-then-remove, late runs)', async () => {
    for (const seed of [11, 12, 13, 14, 15]) {
      const w = smallWorkload(seed, {
        receipts: 30,
        wordsPerLine: 3,
        deltaShare: 0.15,
        removalShare: 0.08,
      });
      const dir = await baseStoreOf(w, `seed-${seed}`);
      const legacy = await applyToCopy(dir, w, [w.messages], [applyLegacy]);
      const batched = await applyToCopy(dir, w, [w.messages], [applyBatched]);
      expect(batched.digest, `seed ${seed}`).toBe(legacy.digest);
    }
  });
});

/** A small seeded workload with many deltas and removals (the edge cases). */
function smallWorkload(seed: number, o: Partial<Parameters<typeof buildWorkload>[0]>): Workload {
  return buildWorkload({
    seed,
    collection: seed % 2 === 0 ? 'lines' : 'words',
    receipts: 25,
    linesPerReceipt: 3,
    wordsPerLine: 2,
    dimension: 8,
    messages: 300,
    ...o,
  });
}

/** A store holding `w`'s base collection, under `name` in the work directory. */
async function baseStoreOf(w: Workload, name: string): Promise<string> {
  const dir = join(work, name);
  await buildStore(dir, w.collection, w.base);
  return dir;
}

/** Applies `batches` in turn to a fresh copy of `dir`, batch i with `paths[i % n]`. */
async function applyToCopy(
  dir: string,
  w: Workload,
  batches: ChangeMessage[][],
  paths: ApplyFn[],
): Promise<{ digest: string; vectors: number }> {
  const copy = `${dir}-${++copies}`;
  await cp(dir, copy, { recursive: true });
  const store = await ChromaStore.open(copy);
  try {
    const collection = await store.getOrCreateCollection(w.collection);
    batches.forEach((batch, i) =>
      paths[i % paths.length]!({
        store,
        collection,
        messages: batch,
        deltas: deltaContents(w, batch),
      }),
    );
    return { digest: store.digest(), vectors: collection.countSync() };
  } finally {
    await store.close();
  }
}

describe('the store does not depend on how messages are split into batches', () => {
  it('any split into batches, in any order, on either path, gives the one-batch store', async () => {
    for (const seed of [21, 22, 23, 24]) {
      const w = smallWorkload(seed, { deltaShare: 0.2, removalShare: 0.1 });
      const dir = await baseStoreOf(w, `split-${seed}`);
      const applyInBatches = (batches: ChangeMessage[][], paths: ApplyFn[]) =>
        applyToCopy(dir, w, batches, paths);
      const reference = await applyInBatches([w.messages], [applyBatched]);
      const rng = new Rng(seed * 7);
      for (let trial = 0; trial < 4; trial++) {
        const shuffled = rng.shuffle([...w.messages]);
        const cuts = 2 + (trial % 4) * 2; // 2, 4, 6, 8 batches
        const size = Math.ceil(shuffled.length / cuts);
        const batches = Array.from({ length: cuts }, (_, i) =>
          shuffled.slice(i * size, (i + 1) * size),
        );
        const paths = trial % 2 === 0 ? [applyBatched] : [applyLegacy, applyBatched];
        const got = await applyInBatches(batches, paths);
        expect(got, `seed ${seed}, ${cuts} batches`).toEqual(reference);
      }
    }
  });
});
