/**
 * One fence for every write, tried adversarially against the emulators with the real
 * compactor and the real CLI: a compactor paused past its lease while a prune runs, a
 * rollback racing a prune, `--steps` over an orphan, and manifests that parse but
 * cannot be the store they claim.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { wordVectorId } from '@compaction/contracts';
import {
  AuditLog,
  LeaseLock,
  ManualClock,
  SnapshotManifestError,
  SwapConflictError,
  manifestKey,
  parseVersionId,
} from '@compaction/snapshot-store';
import { InjectedFaultError } from '@compaction/compactor';
import { R, TEST_LOCK, gate, label, useAdminFixture, watch } from './support.js';

const admin = await useAdminFixture();

const pointer = async () => (await admin.fx.container().pointers.read('words'))!;
const auditEntries = () =>
  new AuditLog({ ddb: admin.fx.ddb, table: admin.fx.table }).list({ collection: 'words' });

describe('a compactor paused past its lease while prune runs', () => {
  it('has its late swap refused; the live version stays whole; the retry applies the batch', async () => {
    const { versions } = await admin.publish(3);
    const live = versions[2]!;
    // The compactor's clock never moves: it believes its lease holds (a GC pause, a
    // SIGSTOP, a clock running behind) and is past its last lock check. The operator's
    // clock runs a lease ahead, so by the table's rule the lease is over and the prune
    // takes the lock at once; the compactor's heartbeats (every 10 s) never notice.
    const start = Date.now();
    const paused = admin.fx.container(new ManualClock(start));
    const operator = new ManualClock(start + TEST_LOCK.leaseMs + 1_000);
    const batch = [label(3, 'LATE')];
    let pruneRun: Awaited<ReturnType<typeof admin.run>> | undefined;
    let orphan: string | undefined;

    const late = paused.compact('words', batch, 'batched', {
      faults: {
        afterUpload: async ({ version }) => {
          orphan = version;
          pruneRun = await admin.run(['prune', 'words', '--keep', '1', '--yes', '--json'], {
            clock: operator,
          });
        },
      },
    });

    await expect(late).rejects.toBeInstanceOf(SwapConflictError);
    expect(pruneRun?.code, pruneRun?.stderr).toBe(0);
    const pruned = JSON.parse(pruneRun!.stdout) as { lock: { token: number } };
    expect(pruned.lock.token).toBeGreaterThan(parseVersionId(orphan!)!.fencingToken);
    expect(paused.metrics.sum('CompactionSwapConflicts')).toBe(1);

    // Nothing the collection needs was deleted: the live version is unchanged and whole.
    expect((await pointer()).version).toBe(live);
    expect((await pointer()).fencingToken).toBe(pruned.lock.token);
    const verify = await admin.run(['snapshots', 'verify', 'words', '--json']);
    expect(verify.code, verify.stderr).toBe(0);

    // The batch was not acknowledged (the compaction failed): SQS redelivers it, and a
    // healthy container applies it on top of the live version.
    const retry = await admin.fx.container().compact('words', batch, 'batched');
    expect(retry.status).toBe('published');
    expect(retry.parentVersion).toBe(live);
    expect(retry.stats.applied).toBe(1);
    const published = await admin.fx.readPublished('words');
    expect(published.version).toBe(retry.version);
    const word = published.vectors.get(wordVectorId({ ...R, lineId: 3, wordId: 1 }))!;
    expect(word.metadata['valid_labels']).toContain(',LATE,');
  });

  it('is refused even on a collection that never had a version (the fence item is created)', async () => {
    const start = Date.now();
    const paused = admin.fx.container(new ManualClock(start));
    const holding = gate();
    const fenced = gate();
    const late = paused.compact('words', [label(1, 'FIRST')], 'batched', {
      faults: {
        afterLock: async () => {
          holding.open();
          await fenced.promise;
        },
      },
    });
    await holding.promise;
    // An operator acts on the empty collection under a newer token while it is paused
    // (its clock a lease ahead, so the table lets it take the lock).
    const pointers = admin.fx.container().pointers;
    const handle = await new LeaseLock({
      ddb: admin.fx.ddb,
      table: admin.fx.table,
      collection: 'words',
      owner: 'operator',
      ...TEST_LOCK,
      clock: new ManualClock(start + TEST_LOCK.leaseMs + 1_000),
    }).acquire();
    await pointers.advanceFence({ collection: 'words', fencingToken: handle.token, by: 'test' });
    await handle.release();
    fenced.open();
    // Its first publish (the pending label is a change to record) is refused by the
    // fence item the operator's token left, although no pointer exists yet.
    await expect(late).rejects.toBeInstanceOf(SwapConflictError);
    expect(await pointers.read('words')).toBeUndefined();
    expect(await pointers.fence('words')).toBe(handle.token);
  });
});

describe('rollback racing prune', () => {
  it('re-verifies its target under the lock and refuses it when the prune deleted it', async () => {
    const { versions } = await admin.publish(4);
    const [v0, , , v3] = versions;
    // The prune takes the lock first and holds it, paused, before deleting anything.
    const pruneHolds = gate();
    const pruneGo = gate();
    const prune = admin.run(['prune', 'words', '--keep', '2', '--yes', '--json'], {
      onLockHeld: async () => {
        pruneHolds.open();
        await pruneGo.promise;
      },
    });
    await pruneHolds.promise;

    // The rollback verifies v0 (still there), is confirmed, and waits for the lock.
    const waiting = watch((s) => s.includes('waiting for the words lock'));
    const rollback = admin.run(['rollback', 'words', '--to', v0!, '--yes', '--lock-wait', '30'], {
      onStderr: waiting.onStderr,
    });
    await waiting.seen;
    pruneGo.open();
    const pruned = await prune;
    expect(pruned.code, pruned.stderr).toBe(0);
    const run = await rollback;

    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('no longer verifies under the lock');
    expect((await pointer()).version).toBe(v3);
    expect((await auditEntries()).map((e) => e.action)).toEqual(['prune']);
  });
});

describe('--steps counts only versions that were live', () => {
  it('skips an orphan left by a compaction that crashed between upload and swap', async () => {
    const { versions, container } = await admin.publish(2);
    const [v0, v1] = versions;
    // A compaction crashes after uploading its version: an orphan manifest, never live.
    const crashed = container.compact('words', [label(2, 'CRASH')], 'batched', {
      faults: {
        afterUpload: () => {
          throw new InjectedFaultError('afterUpload');
        },
      },
    });
    await expect(crashed).rejects.toBeInstanceOf(InjectedFaultError);
    // The next compaction (a newer token) publishes on top of v1: the orphan sorts
    // between v1 and the new live version.
    const next = await admin.fx.container().compact('words', [label(4, 'NEXT')], 'batched');
    const listing = await admin.run(['snapshots', 'list', 'words', '--json']);
    const listed = (JSON.parse(listing.stdout) as { versions: { version: string }[] }).versions;
    expect(listed.map((v) => v.version)).toHaveLength(4);

    const dry = await admin.run(['rollback', 'words', '--steps', '1', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({
      before: { version: next.version },
      after: { version: v1 },
    });
    const two = await admin.run(['rollback', 'words', '--steps', '2', '--dry-run', '--json']);
    expect(JSON.parse(two.stdout)).toMatchObject({ after: { version: v0 } });
    const three = await admin.run(['rollback', 'words', '--steps', '3', '--dry-run']);
    expect(three.code).not.toBe(0);
    expect(three.stderr).toContain('goes past the first');
  });
});

describe('a manifest that parses but cannot be the store it claims', () => {
  it('is refused by every verify mode (empty, and without the vectors file)', async () => {
    const { versions } = await admin.publish(1);
    const good = await admin.manifest(versions[0]!);
    const token = parseVersionId(versions[0]!)!.fencingToken;
    const forge = async (suffix: string, files: typeof good.files) => {
      const version = `${String(token).padStart(12, '0')}-20990101T000000Z-${suffix}`;
      await admin.fx.s3.send(
        new PutObjectCommand({
          Bucket: admin.fx.bucket,
          Key: manifestKey('words', version),
          Body: JSON.stringify({ ...good, version, parentVersion: versions[0], files }),
        }),
      );
      return version;
    };
    const empty = await forge('0e00', []);
    const noVectors = await forge(
      '0e01',
      good.files.filter((f) => f.path !== 'vectors.sqlite3'),
    );

    for (const version of [empty, noVectors]) {
      const quick = await admin.run(['snapshots', 'verify', 'words', version, '--quick']);
      const full = await admin.run(['snapshots', 'verify', 'words', version]);
      const presence = await admin.run(['rollback', 'words', '--to', version, '--dry-run']);
      const content = await admin.run([
        'rollback',
        'words',
        '--to',
        version,
        '--full-verify',
        '--dry-run',
      ]);
      for (const run of [quick, full, presence, content]) {
        expect(run.code, `${version}: ${run.stdout}${run.stderr}`).not.toBe(0);
        expect(`${run.stdout}${run.stderr}`).toMatch(/lists no (chroma|vectors)\.sqlite3/);
      }
    }
    expect((await pointer()).version).toBe(versions[0]);

    // Pointed at by hand (nothing here would do it): the compactor refuses to build on
    // it rather than open an empty store and publish a 0-vector version.
    const handle = await new LeaseLock({
      ddb: admin.fx.ddb,
      table: admin.fx.table,
      collection: 'words',
      owner: 'hand',
      ...TEST_LOCK,
    }).acquire();
    await admin.fx.container().pointers.swap({
      collection: 'words',
      parentVersion: versions[0]!,
      next: { version: empty, manifestKey: manifestKey('words', empty) },
      fencingToken: handle.token,
    });
    await handle.release();
    const refused = admin.fx.container().compact('words', [label(1, 'ON_EMPTY')], 'batched');
    await expect(refused).rejects.toBeInstanceOf(SnapshotManifestError);
    await expect(refused).rejects.toThrow(/lists no chroma\.sqlite3/);
    expect((await pointer()).version).toBe(empty);
  });
});
