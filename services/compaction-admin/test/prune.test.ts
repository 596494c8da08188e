/**
 * `prune`: the retention rule (newest N / newer than an age, plus live, its parent and
 * the previous live version), shared blobs kept, and the audit entry. The race the lock
 * closes (a compaction that uploaded blobs but has not written its manifest) is a
 * cross-service test: `test/protocol/prune-compaction.test.ts` at the repository root.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ManualClock, type SnapshotManifest } from '@compaction/snapshot-store';
import { useAdminFixture } from './support/fixture.js';

const admin = await useAdminFixture();
const repo = () => admin.fx.repository;
const listed = async () => (await repo().listManifests('words')).map((m) => m.version);
const shas = (m: SnapshotManifest) => m.files.map((f) => f.sha256);

describe('prune', () => {
  it('deletes blobs with DeleteObjects, 1,000 per request, and shows progress on stderr (none with --json)', async () => {
    const { versions } = await admin.publish(2);
    const orphans = Array.from({ length: 1_150 }, (_, i) => i.toString(16).padStart(64, '0'));
    const put = (sha256: string) =>
      admin.fx.s3.send(
        new PutObjectCommand({ Bucket: admin.fx.bucket, Key: `words/blobs/${sha256}`, Body: 'x' }),
      );
    for (let i = 0; i < orphans.length; i += 50)
      await Promise.all(orphans.slice(i, i + 50).map(put));
    const before = (await repo().listBlobs('words')).length;

    const run = await admin.run(['prune', 'words', '--keep', '2', '--yes']);
    expect(run.code).toBe(0);
    const total = orphans.length;
    const progress = run.stderr.split('\n').filter((l) => l.startsWith('deleted '));
    // One line per DeleteObjects request: 1,000 keys, then the rest.
    expect(progress).toEqual([
      `deleted 1000/${total} blob(s) of words (1.00 kB)`,
      `deleted ${total}/${total} blob(s) of words (1.15 kB)`,
    ]);
    expect(run.stdout).toContain(`pruned words: 0 version(s), ${total} blob(s)`);
    expect((await repo().listBlobs('words')).length).toBe(before - total);
    expect(await listed()).toEqual(versions);

    await Promise.all(orphans.slice(0, 3).map(put));
    const quiet = await admin.run(['prune', 'words', '--keep', '2', '--yes', '--json']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(JSON.parse(quiet.stdout)).toMatchObject({
      status: 'pruned',
      deletedBlobs: 3,
      bytesFreed: 3,
    });
  });

  it('--keep 1 deletes old versions and only the blobs no retained version names (shared ones stay)', async () => {
    const { versions } = await admin.publish(4);
    const [v1, v2, v3, v4] = versions as [string, string, string, string];
    const manifests = await Promise.all(versions.map((v) => admin.manifest(v)));
    const retainedBlobs = new Set([...shas(manifests[2]!), ...shas(manifests[3]!)]);
    const oldBlobs = new Set([...shas(manifests[0]!), ...shas(manifests[1]!)]);
    const shared = [...oldBlobs].filter((s) => retainedBlobs.has(s));
    const doomed = [...oldBlobs].filter((s) => !retainedBlobs.has(s));
    // The premise: label-only versions share the index blob with older versions.
    expect(shared.length).toBeGreaterThan(0);
    expect(doomed.length).toBeGreaterThan(0);

    const run = await admin.run(['prune', 'words', '--keep', '1', '--yes', '--reason', 'weekly']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`keep\\s+${v4}.*LIVE, newest`));
    expect(run.stdout).toMatch(
      new RegExp(`keep\\s+${v3}.*parent of live, previous live \\(undo\\)`),
    );
    expect(run.stdout).toMatch(new RegExp(`DELETE\\s+${v2}`));
    expect(run.stdout).toMatch(new RegExp(`DELETE\\s+${v1}`));
    expect(run.stdout).toContain(`pruned words: 2 version(s), ${doomed.length} blob(s)`);

    expect(await listed()).toEqual([v3, v4]);
    for (const sha of shared) expect(await admin.blobExists(sha)).toBe(true);
    for (const sha of doomed) expect(await admin.blobExists(sha)).toBe(false);
    expect((await repo().listBlobs('words')).map((b) => b.sha256).sort()).toEqual(
      [...retainedBlobs].sort(),
    );
    // What is left is whole: the live version and its parent verify end to end.
    expect((await admin.run(['snapshots', 'verify', 'words'])).code).toBe(0);
    expect((await admin.run(['snapshots', 'verify', 'words', v3])).code).toBe(0);

    const entries = await admin.fx.audit.list({ collection: 'words', action: 'prune' });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor: 'ops@test',
      to: v4,
      reason: 'weekly',
      details: {
        rule: '--keep 1',
        complete: true,
        deletedVersions: 2,
        deletedBlobs: doomed.length,
        versions: expect.arrayContaining([v1, v2]),
      },
    });
  });

  it('after a rollback, keeps the live version, its parent and the version rolled back from', async () => {
    const { versions } = await admin.publish(4);
    const [v1, v2, v3, v4] = versions as [string, string, string, string];
    expect((await admin.run(['rollback', 'words', '--to', v2, '--yes'])).code).toBe(0);

    const run = await admin.run(['prune', 'words', '--keep', '1', '--yes', '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      status: string;
      plan: {
        retained: { version: string; reasons: string[] }[];
        deleteVersions: { version: string }[];
      };
    };
    expect(result.status).toBe('pruned');
    expect(Object.fromEntries(result.plan.retained.map((r) => [r.version, r.reasons]))).toEqual({
      [v1]: ['parent-of-live'],
      [v2]: ['live'],
      [v4]: ['previous-live', 'newest'],
    });
    expect(result.plan.deleteVersions.map((d) => d.version)).toEqual([v3]);
    expect(await listed()).toEqual([v1, v2, v4]);
    for (const v of [v1, v2, v4])
      expect((await admin.run(['snapshots', 'verify', 'words', v, '--quick'])).code).toBe(0);
  });

  it('--dry-run shows the plan and deletes nothing; nothing to delete is a no-op', async () => {
    const { versions } = await admin.publish(3);
    const dry = await admin.run(['prune', 'words', '--keep', '1', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`DELETE\\s+${versions[0]}`));
    expect(dry.stdout).toContain('dry run: nothing deleted');
    expect(await listed()).toEqual(versions);

    const none = await admin.run(['prune', 'words', '--keep', '5', '--yes']);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('nothing to prune');
    expect(await admin.fx.audit.list({ action: 'prune' })).toEqual([]);
  });

  it('--older-than retains what is recent; with --keep, either rule retains', async () => {
    const { versions } = await admin.publish(4);
    // Two days from now, every version is older than a day.
    const later = new ManualClock(Date.now() + 2 * 86_400_000);
    const union = await admin.run(
      ['prune', 'words', '--older-than', '1d', '--keep', '3', '--yes'],
      { clock: later },
    );
    expect(union.code).toBe(0);
    expect(await listed()).toEqual(versions.slice(1));

    const age = await admin.run(['prune', 'words', '--older-than', '1d', '--yes'], {
      clock: later,
    });
    expect(age.code).toBe(0);
    expect(await listed()).toEqual(versions.slice(2)); // live and its parent only

    const recent = await admin.run(['prune', 'words', '--older-than', '7d', '--dry-run']);
    expect(recent.stdout).toContain('nothing to prune');
  });

  it('refuses when it cannot know what a retained version needs, and says what to keep', async () => {
    const { versions } = await admin.publish(3);
    await admin.fx.s3.send(
      new PutObjectCommand({
        Bucket: admin.fx.bucket,
        Key: `words/snapshots/${versions[1]}/manifest.json`,
        Body: '{"not":"a manifest"}',
      }),
    );
    const run = await admin.run(['prune', 'words', '--keep', '1', '--yes']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `refusing to prune words: retained version ${versions[1]} has an unreadable manifest`,
    );
    expect(await listed()).toEqual(versions);

    const noRule = await admin.run(['prune', 'words']);
    expect(noRule.code).toBe(2);
    expect(noRule.stderr).toContain('say what to keep: --keep <n> and/or --older-than <age>');
    const badAge = await admin.run(['prune', 'words', '--older-than', 'a week']);
    expect(badAge.code).toBe(2);
    expect(badAge.stderr).toContain('next: write a number and a unit');
  });
});
