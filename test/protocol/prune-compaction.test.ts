/**
 * `prune` and the real compactor: the race the collection lock closes — a compaction
 * that uploaded its blobs but has not written its manifest yet. (The CLI's own prune
 * tests are in services/compaction-admin/test/prune.test.ts.)
 */
import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { SnapshotRepository, type SnapshotManifest } from '@compaction/snapshot-store';
import { gate, label, useAdminFixture, watch } from './support.js';

const admin = await useAdminFixture();
const shas = (m: SnapshotManifest) => m.files.map((f) => f.sha256);

describe('prune racing a compaction', () => {
  it('holds the lock: a blob uploaded by a compaction that has not written its manifest yet is not deleted', async () => {
    const { versions, container } = await admin.publish(3);
    // A compaction paused exactly between uploading its blobs and writing its manifest.
    const atManifest = gate();
    const resume = gate();
    const s3 = new S3Client({
      endpoint: admin.fx.aws.endpoints.s3,
      region: admin.fx.aws.region,
      credentials: admin.fx.aws.credentials,
      forcePathStyle: true,
    });
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: string }).Key ?? '';
        if (context.commandName === 'PutObjectCommand' && key.endsWith('/manifest.json')) {
          atManifest.open();
          await resume.promise;
        }
        return next(args);
      },
      { step: 'initialize', name: 'pauseBeforeManifest' },
    );
    const repository = new SnapshotRepository({ s3, bucket: admin.fx.bucket });
    const compaction = container.compact('words', [label(2, 'RACE')], 'batched', { repository });
    await atManifest.promise;

    const waiting = watch((s) => s.includes('waiting for the words lock'));
    const prune = admin.run(['prune', 'words', '--keep', '1', '--yes', '--json'], {
      onStderr: waiting.onStderr,
    });
    await waiting.seen;
    resume.open();
    const published = await compaction;
    const run = await prune;
    s3.destroy();

    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { plan: { deleteBlobs: { sha256: string }[] } };
    const parent = await admin.manifest(versions[2]!);
    const unpublishedBlob = (await admin.manifest(published.version!)).files.find(
      (f) => !shas(parent).includes(f.sha256),
    )!;
    // Planned before the lock, the new blob looked unreferenced and was on the list…
    expect(result.plan.deleteBlobs.map((b) => b.sha256)).toContain(unpublishedBlob.sha256);
    // …but under the lock the plan was made again, and the now-live version is whole.
    expect(run.stderr).toContain('the versions changed while waiting for the lock');
    expect(await admin.blobExists(unpublishedBlob.sha256)).toBe(true);
    expect((await admin.fx.container().pointers.read('words'))!.version).toBe(published.version);
    expect((await admin.run(['snapshots', 'verify', 'words'])).code).toBe(0);
  });
});
