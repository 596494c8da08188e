/**
 * Several compactors on one collection: the lock serializes them, the fencing token
 * and the conditional pointer swap stop a holder that lost its lease — whether it
 * knows (its clock says the lease ran out) or not (its clock lags).
 */
import { describe, expect, it } from 'vitest';
import { wordVectorId } from '@compaction/contracts';
import { ManualClock, LockLostError, SwapConflictError } from '@compaction/snapshot-store';
import { Rng, receiptRecords } from './support/workload.js';
import { TEST_LOCK, items, useCompactorFixture, type CompactorFixture } from './support/fixture.js';
import { labelMessage, placeMessage } from './support/messages.js';

const fx = await useCompactorFixture();

const R = { imageId: '55555555-5555-4555-8555-555555555555', receiptId: 1 };
const word = (lineId: number, wordId: number) => wordVectorId({ ...R, lineId, wordId });
const base = () =>
  receiptRecords(
    new Rng(1),
    R,
    { collection: 'words', linesPerReceipt: 4, wordsPerLine: 4, dimension: 8 },
    { merchant_name: 'OLD' },
  );

let seq = 9000;
/** A batch that labels one line's words with `label` (and, for line 1, renames the merchant). */
const batchFor = (lineId: number, label: string) =>
  items(
    [
      ...[1, 2, 3, 4].map((wordId) =>
        labelMessage({ receipt: R, lineId, wordId, label, seq: ++seq, status: 'VALID' }),
      ),
      ...(lineId === 1
        ? [
            placeMessage({
              receipt: R,
              collection: 'words',
              seq: ++seq,
              fields: { merchant_name: 'NEW' },
            }),
          ]
        : []),
    ],
    `line${lineId}`,
  );

/** The versions from the pointer back to the first, following parentVersion. */
async function chain(fx: CompactorFixture): Promise<string[]> {
  const c = fx.container();
  const pointer = await c.pointers.read('words');
  const versions: string[] = [];
  let key: string | undefined = pointer?.manifestKey;
  while (key) {
    const m = await c.repository.readManifest(key);
    versions.push(m.version);
    key = m.parentVersion ? `words/snapshots/${m.parentVersion}/manifest.json` : undefined;
  }
  return versions;
}

/** Every label of `lineId` is VALID `label` in the live snapshot. */
async function lineLabelled(lineId: number, label: string): Promise<boolean> {
  const snap = await fx.readPublished('words');
  return [1, 2, 3, 4].every(
    (wordId) => snap.vectors.get(word(lineId, wordId))!.metadata['valid_labels'] === `,${label},`,
  );
}

describe('racing compactors', () => {
  it('serialize on the lock: one swap per parent version, every batch’s effect in the final snapshot', async () => {
    const seeded = await fx.seed('words', base());
    const containers = [fx.container(), fx.container(), fx.container()];
    const results = await Promise.all(
      containers.map((c, i) =>
        c.compact('words', batchFor(i + 1, `L${i + 1}`), i === 1 ? 'legacy' : 'batched'),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['published', 'published', 'published']);

    // A linear history: every run started from the version the previous one published.
    const versions = await chain(fx);
    expect(versions).toHaveLength(4);
    expect(versions.at(-1)).toBe(seeded.version);
    const parents = results.map((r) => r.parentVersion);
    expect(new Set(parents).size).toBe(3);
    expect(new Set(results.map((r) => r.version))).toEqual(new Set(versions.slice(0, 3)));
    // Only those four manifests exist: nobody published on a version someone else had.
    expect(
      (await containers[0]!.repository.listManifests('words')).map((m) => m.version).sort(),
    ).toEqual([...versions].sort());
    for (const i of [1, 2, 3]) expect(await lineLabelled(i, `L${i}`)).toBe(true);
    expect(
      (await fx.readPublished('words')).vectors.get(word(4, 4))!.metadata['merchant_name'],
    ).toBe('NEW');
    // At least one of them had to wait for the lock.
    const waits = containers.flatMap((c) => c.metrics.values('CompactionLockWaitMs'));
    expect(Math.max(...waits)).toBeGreaterThan(0);
  });
});

describe('a holder that lost its lease', () => {
  it('knows it (its clock passed the lease): it cannot swap; its retry applies the batch once', async () => {
    const seeded = await fx.seed('words', base());
    const clock = new ManualClock(Date.now());
    const a = fx.container(clock);
    const b = fx.container(clock);
    const batchA = batchFor(1, 'A');
    const batchB = batchFor(2, 'B');
    let bVersion: string | undefined;

    const paused = a.compact('words', batchA, 'batched', {
      faults: {
        // A stalls after uploading; meanwhile its lease runs out and B does a whole run.
        afterUpload: async () => {
          clock.advance(TEST_LOCK.leaseMs + 1);
          bVersion = (await b.compact('words', batchB, 'batched')).version;
        },
      },
    });
    await expect(paused).rejects.toBeInstanceOf(LockLostError);
    expect(a.metrics.sum('CompactionLockLost')).toBe(1);
    const pointer = await a.pointers.read('words');
    expect(pointer!.version).toBe(bVersion);
    expect(pointer!.parentVersion).toBe(seeded.version);
    expect(await lineLabelled(1, 'A')).toBe(false);

    // SQS redelivers A's messages: applied once, on top of B's version.
    const retry = await a.compact('words', batchA, 'batched');
    expect(retry.status).toBe('published');
    expect(retry.parentVersion).toBe(bVersion);
    expect(retry.stats.applied).toBe(batchA.length);
    expect(retry.stats.stale).toBe(0);
    expect(await lineLabelled(1, 'A')).toBe(true);
    expect(await lineLabelled(2, 'B')).toBe(true);
    const again = await a.compact('words', batchA, 'batched');
    expect(again.status).toBe('unchanged');
    expect(await chain(fx)).toEqual([retry.version, bVersion, seeded.version]);
  });

  it('does not know it (its clock lags): the fenced pointer swap refuses it', async () => {
    const seeded = await fx.seed('words', base());
    const start = Date.now();
    const slow = new ManualClock(start); // A's clock never moves: A believes its lease holds
    const fast = new ManualClock(start + TEST_LOCK.leaseMs + 1); // B sees A's lease as expired
    const a = fx.container(slow);
    const b = fx.container(fast);
    const batchA = batchFor(1, 'A');
    let bVersion: string | undefined;

    const stale = a.compact('words', batchA, 'batched', {
      faults: {
        afterUpload: async () => {
          bVersion = (await b.compact('words', batchFor(3, 'B'), 'batched')).version;
        },
      },
    });
    await expect(stale).rejects.toBeInstanceOf(SwapConflictError);
    expect(a.metrics.sum('CompactionSwapConflicts')).toBe(1);
    expect((await a.pointers.read('words'))!.version).toBe(bVersion);

    const retry = await fx.container().compact('words', batchA, 'batched');
    expect(retry.stats.applied).toBe(batchA.length);
    expect(await lineLabelled(1, 'A')).toBe(true);
    expect(await lineLabelled(3, 'B')).toBe(true);
    expect(await chain(fx)).toEqual([retry.version, bVersion, seeded.version]);
  });
});
