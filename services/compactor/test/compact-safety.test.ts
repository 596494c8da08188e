/**
 * What the compactor refuses: a corrupt snapshot (never opened, nothing published,
 * metric; rollback makes it work again), an unexplained vector loss (the guard), and
 * a corrupt delta (only its message fails).
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { wordVectorId } from '@compaction/contracts';
import { applyBatched } from '../src/apply/batched.js';
import type { ApplyFn } from '../src/apply/types.js';
import { VectorLossGuardError } from '../src/errors.js';
import { SnapshotCorruptError, LeaseLock } from '@compaction/snapshot-store';
import { Rng, receiptRecords } from './support/workload.js';
import { TEST_LOCK, items, useCompactorFixture } from './support/fixture.js';
import { deltaMessage, labelMessage, placeMessage } from './support/messages.js';

const fx = await useCompactorFixture();

const R = { imageId: '66666666-6666-4666-8666-666666666666', receiptId: 1 };
const R2 = { imageId: '77777777-7777-4777-8777-777777777777', receiptId: 1 };
const shape = { collection: 'words' as const, linesPerReceipt: 5, wordsPerLine: 4, dimension: 8 };
const base = () => receiptRecords(new Rng(1), R, shape, { merchant_name: 'OLD' });
let seq = 20_000;
const label = (lineId: number, name: string) =>
  labelMessage({ receipt: R, lineId, wordId: 1, label: name, seq: ++seq, status: 'VALID' });

async function flipByte(key: string): Promise<void> {
  const out = await fx.s3.send(new GetObjectCommand({ Bucket: fx.bucket, Key: key }));
  const bytes = Buffer.from(await out.Body!.transformToByteArray());
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  await fx.s3.send(new PutObjectCommand({ Bucket: fx.bucket, Key: key, Body: bytes }));
}

describe('a corrupt snapshot', () => {
  it('is refused before it is opened, publishes nothing, is counted; a rollback makes compaction work again', async () => {
    const seeded = await fx.seed('words', base());
    const v1 = await fx.container().compact('words', [label(1, 'TOTAL')], 'batched');
    const live = await fx.container().pointers.read('words');
    const manifest = await fx.container().repository.readManifest(live!.manifestKey);
    const db = manifest.files.find((f) => f.path === 'chroma.sqlite3')!;
    const seedManifest = await fx.container().repository.readManifest(seeded.manifestKey);
    expect(seedManifest.files.map((f) => f.sha256)).not.toContain(db.sha256);
    await flipByte(`words/blobs/${db.sha256}`);

    // A new container (cold cache) must download the live version: refused.
    const c = fx.container();
    const next = [label(2, 'TAX')];
    await expect(c.compact('words', next, 'batched')).rejects.toBeInstanceOf(SnapshotCorruptError);
    expect(c.metrics.sum('CompactionCorruptSnapshots')).toBe(1);
    expect((await c.pointers.read('words'))!.version).toBe(v1.version);
    expect((await c.repository.listManifests('words')).length).toBe(2);
    expect(c.logger.find('compaction failed; its messages go back to the queue')).toHaveLength(1);

    // The operator points the collection back at the last good version (audited).
    const handle = await new LeaseLock({
      ...TEST_LOCK,
      ddb: fx.ddb,
      table: fx.table,
      collection: 'words',
      owner: 'operator',
    }).acquire();
    await c.pointers.rollback({
      collection: 'words',
      toVersion: seeded.version,
      toManifestKey: seeded.manifestKey,
      fencingToken: handle.token,
      expectedCurrentVersion: v1.version!,
    });
    await c.audit.append({
      action: 'rollback',
      collection: 'words',
      actor: 'operator',
      from: v1.version!,
      to: seeded.version,
    });
    await c.repository.writeLatest('words', {
      version: seeded.version,
      manifestKey: seeded.manifestKey,
    });
    await handle.release();

    const retry = await c.compact('words', next, 'batched');
    expect(retry.status).toBe('published');
    expect(retry.parentVersion).toBe(seeded.version);
    const snap = await fx.readPublished('words');
    expect(
      snap.vectors.get(wordVectorId({ ...R, lineId: 2, wordId: 1 }))!.metadata['valid_labels'],
    ).toBe(',TAX,');
  });
});

describe('the vector-loss guard', () => {
  it('refuses to publish a store that lost vectors no removal explains; the previous version stays live', async () => {
    const seeded = await fx.seed('words', base());
    // A deliberately broken apply (test seam): it also drops a quarter of the vectors.
    const lossy: ApplyFn = (input) => {
      const stats = applyBatched(input);
      const { ids } = input.collection.getSync({ include: [] });
      input.store.transaction(() =>
        input.collection.deleteSync({ ids: ids.slice(0, ids.length / 4) }),
      );
      return stats;
    };
    const c = fx.container();
    const err = await c
      .compact('words', [label(1, 'TOTAL')], 'batched', { appliers: { batched: lossy } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorLossGuardError);
    expect(err).toMatchObject({ before: 20, expected: 20, after: 15 });
    expect(c.metrics.sum('CompactionVectorLossGuard')).toBe(1);
    expect((await c.pointers.read('words'))!.version).toBe(seeded.version);
    expect((await fx.readPublished('words')).vectors.size).toBe(20);
    const audit = await c.audit.list({ collection: 'words', action: 'guard' });
    expect(audit).toHaveLength(1);
    expect(audit[0]!.reason).toContain('unexplained loss 5');

    // Removals explain their deletions: the real apply path publishes.
    const ok = await c.compact('words', [label(1, 'TOTAL')], 'batched');
    expect(ok.status).toBe('published');
  });
});

describe('a corrupt delta', () => {
  it('fails only its own message; the rest of the batch is published', async () => {
    await fx.seed('words', base());
    const records = receiptRecords(new Rng(2), R2, shape, { merchant_name: 'D' });
    await fx.uploadDelta('deltas/bad/', 'words', records);
    await fx.uploadDelta(
      'deltas/good/',
      'words',
      receiptRecords(new Rng(3), R2, { ...shape, linesPerReceipt: 1 }, {}),
    );
    const manifest = JSON.parse((await fx.getText('deltas/bad/manifest.json'))!) as {
      files: { path: string }[];
    };
    await flipByte(`deltas/bad/${manifest.files.find((f) => f.path === 'chroma.sqlite3')!.path}`);

    const messages = items([
      deltaMessage({
        receipt: R2,
        collection: 'words',
        seq: ++seq,
        runId: 'bad',
        s3Prefix: 'deltas/bad/',
      }),
      placeMessage({
        receipt: R,
        collection: 'words',
        seq: ++seq,
        fields: { merchant_name: 'NEW' },
      }),
      deltaMessage({
        receipt: R2,
        collection: 'words',
        seq: ++seq,
        runId: 'good',
        s3Prefix: 'deltas/good/',
      }),
    ]);
    const c = fx.container();
    const result = await c.compact('words', messages, 'batched');
    expect(result.status).toBe('published');
    expect([...result.failed.keys()]).toEqual(['m-0']);
    expect(result.failed.get('m-0')!.message).toContain('corrupt');
    expect(c.metrics.sum('CompactionCorruptSnapshots')).toBe(1);
    const snap = await fx.readPublished('words');
    expect(snap.vectors.size).toBe(20 + 4);
    expect(
      snap.vectors.get(wordVectorId({ ...R, lineId: 1, wordId: 1 }))!.metadata['merchant_name'],
    ).toBe('NEW');
    // The failed delta is not recorded as applied: its retry will merge it.
    expect(snap.kv['seq']!.has(`delta#${R2.imageId}#1#bad`)).toBe(false);
  });
});

describe('a same-size corrupted object in S3', () => {
  it('is never reused into a new version: the warm compaction uploads it again and the version verifies', async () => {
    await fx.seed('words', base());
    const c = fx.container();
    await c.compact('words', [label(1, 'TOTAL')], 'batched'); // the cache now holds v1
    const v1 = await c.repository.readManifest((await c.pointers.read('words'))!.manifestKey);
    // The vectors file does not change in a label-only batch: its chunks would be reused.
    const vectors = v1.files.find((f) => f.path === 'vectors.sqlite3')!;
    const key = `words/blobs/${vectors.sha256}`;
    const out = await fx.s3.send(new GetObjectCommand({ Bucket: fx.bucket, Key: key }));
    const size = (await out.Body!.transformToByteArray()).length;
    await fx.s3.send(
      new PutObjectCommand({ Bucket: fx.bucket, Key: key, Body: Buffer.alloc(size, 0x5a) }),
    );

    const next = await c.compact('words', [label(2, 'TAX')], 'batched');
    expect(next.status).toBe('published');
    const v2 = await c.repository.readManifest((await c.pointers.read('words'))!.manifestKey);
    expect(v2.files.find((f) => f.path === 'vectors.sqlite3')!.sha256).toBe(vectors.sha256);
    expect(next.bytesUploaded).toBeGreaterThanOrEqual(size);
    expect(
      c.logger.find('blob in S3 is not proven to hold its bytes; uploading it again'),
    ).toHaveLength(1);
    // Every blob of the new version verifies (a fresh download checks every byte).
    const published = await fx.readPublished('words');
    expect(published.version).toBe(next.version);
    expect(published.vectors.size).toBe(base().length);
  });
});
