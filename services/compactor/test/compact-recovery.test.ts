/**
 * Redeliveries and crashes: the pointer is never torn (it always names a complete,
 * verifiable version) and a retry converges to the state one clean run gives.
 */
import { describe, expect, it } from 'vitest';
import { wordVectorId } from '@compaction/contracts';
import { InjectedFaultError } from '../src/errors.js';
import { LeaseLock } from '@compaction/snapshot-store';
import { Rng, receiptRecords } from './support/workload.js';
import { TEST_LOCK, items, useCompactorFixture, type CompactorFixture } from './support/fixture.js';
import { labelMessage, placeMessage } from './support/messages.js';

const fx = await useCompactorFixture();

const R1 = { imageId: '44444444-4444-4444-8444-444444444444', receiptId: 1 };
const base = () =>
  receiptRecords(
    new Rng(1),
    R1,
    { collection: 'words', linesPerReceipt: 3, wordsPerLine: 3, dimension: 8 },
    {
      merchant_name: 'OLD',
    },
  );

let seq = 5000;
const batch = () =>
  items([
    placeMessage({
      receipt: R1,
      collection: 'words',
      seq: ++seq,
      fields: { merchant_name: `M${seq}` },
    }),
    labelMessage({
      receipt: R1,
      lineId: 1,
      wordId: 2,
      label: 'TOTAL',
      seq: ++seq,
      status: 'VALID',
    }),
    labelMessage({
      receipt: R1,
      lineId: 3,
      wordId: 3,
      label: 'TAX',
      seq: ++seq,
      status: 'INVALID',
    }),
  ]);

/** The pointer names a manifest whose every blob exists and verifies, and latest.json agrees (or lags). */
async function pointerIsWhole(fx: CompactorFixture, c = fx.container()) {
  const pointer = await c.pointers.read('words');
  expect(pointer).toBeDefined();
  const manifest = await c.repository.readManifest(pointer!.manifestKey);
  const dir = `${fx.scratch}/verify-${Math.random().toString(36).slice(2)}`;
  await c.repository.download(manifest, dir); // throws SnapshotCorruptError on any bad byte
  return pointer!;
}

describe('redelivery', () => {
  it('the same batch delivered twice, or shuffled, gives the same snapshot content', async () => {
    await fx.seed('words', base());
    const c = fx.container();
    const messages = batch();
    const first = await c.compact('words', messages, 'batched');
    expect(first.status).toBe('published');
    const published = await fx.readPublished('words');

    const again = await c.compact('words', new Rng(4).shuffle([...messages]), 'batched');
    expect(again.status).toBe('unchanged');
    expect(again.stats.stale).toBe(3);
    expect(again.version).toBe(first.version);
    expect(c.metrics.sum('CompactionStaleChanges')).toBe(3);
    expect((await fx.readPublished('words')).digest).toBe(published.digest);
  });

  it('a shuffled delivery in another container publishes the same content as the original order', async () => {
    const messages = batch();
    await fx.seed('words', base());
    const pointer = await fx.container().pointers.read('words');
    await fx.container().compact('words', messages, 'batched');
    const straight = await fx.readPublished('words');

    // Roll back to the seed and deliver the same batch shuffled, from a cold container.
    const c = fx.container();
    const handle = await new LeaseLock({
      ...TEST_LOCK,
      ddb: fx.ddb,
      table: fx.table,
      collection: 'words',
      owner: 'operator',
    }).acquire();
    await c.pointers.rollback({
      collection: 'words',
      toVersion: pointer!.version,
      toManifestKey: pointer!.manifestKey,
      fencingToken: handle.token,
      expectedCurrentVersion: straight.version,
    });
    await handle.release();
    await c.compact('words', new Rng(8).shuffle([...messages]), 'legacy');
    const shuffled = await c.pointers.read('words');
    const content = await fx.readPublished('words', shuffled!.manifestKey);
    expect(content.digest).toBe(straight.digest);
  });
});

describe('crashes', () => {
  it('after the upload, before the swap: nothing becomes live, and the retry publishes once', async () => {
    const seeded = await fx.seed('words', base());
    const messages = batch();
    const c = fx.container();
    await expect(
      c.compact('words', messages, 'batched', {
        faults: {
          afterUpload: () => {
            throw new InjectedFaultError('afterUpload');
          },
        },
      }),
    ).rejects.toBeInstanceOf(InjectedFaultError);
    const after = await pointerIsWhole(fx);
    expect(after.version).toBe(seeded.version); // the orphan version is not live
    expect((await fx.readPublished('words')).version).toBe(seeded.version);
    expect((await c.repository.listManifests('words')).length).toBe(2); // seed + orphan

    const retry = await c.compact('words', messages, 'batched');
    expect(retry.status).toBe('published');
    expect(retry.parentVersion).toBe(seeded.version);
    expect(retry.stats.applied).toBe(3);
    const snap = await fx.readPublished('words');
    expect(snap.version).toBe(retry.version);
    expect(
      snap.vectors.get(wordVectorId({ ...R1, lineId: 1, wordId: 2 }))!.metadata['label_status'],
    ).toBe('validated');
    await pointerIsWhole(fx);
  });

  it('after the swap, before the SQS delete: the retry is a no-op that repairs latest.json', async () => {
    const seeded = await fx.seed('words', base());
    const messages = batch();
    const c = fx.container();
    let swapped: string | undefined;
    await expect(
      c.compact('words', messages, 'batched', {
        faults: {
          afterSwap: ({ version }) => {
            swapped = version;
            throw new InjectedFaultError('afterSwap');
          },
        },
      }),
    ).rejects.toBeInstanceOf(InjectedFaultError);
    const pointer = await pointerIsWhole(fx);
    expect(pointer.version).toBe(swapped);
    expect(pointer.parentVersion).toBe(seeded.version);
    // latest.json still names the seed: it is written after the swap.
    expect((await fx.readPublished('words')).version).toBe(seeded.version);
    const live = await fx.readPublished('words', pointer.manifestKey);

    // SQS redelivers the whole batch (another container picks it up).
    const retry = await fx.container().compact('words', messages, 'batched');
    expect(retry.status).toBe('unchanged');
    expect(retry.stats.stale).toBe(3);
    expect(retry.version).toBe(swapped);
    const after = await fx.readPublished('words');
    expect(after.version).toBe(swapped);
    expect(after.digest).toBe(live.digest);
  });
});
