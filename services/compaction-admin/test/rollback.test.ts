/**
 * `rollback`: target resolution, verification before anything moves (a corrupted or
 * incomplete version is refused), confirmation rules, a lock held too long, and the
 * audit entry. Rollback racing the real compactor, and what the compactor does next:
 * `test/protocol/rollback-compaction.test.ts` at the repository root.
 */
import { describe, expect, it } from 'vitest';
import { LeaseLock } from '@compaction/snapshot-store';
import { TEST_LOCK, useAdminFixture } from './support/fixture.js';

const admin = await useAdminFixture();
const pointer = () => admin.fx.pointers.read('words');
const audit = () => admin.fx.audit.list({ collection: 'words' });
const latest = () => admin.fx.repository.readLatest('words');

describe('rollback', () => {
  it('--steps 1 --yes moves the pointer, latest.json and the audit trail, and prints before/after', async () => {
    const { versions } = await admin.publish(3);
    const [, v2, v3] = versions as [string, string, string];

    const run = await admin.run([
      'rollback',
      'words',
      '--steps',
      '1',
      '--yes',
      '--reason',
      'bad labels',
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`live now  ${v3}`);
    expect(run.stdout).toContain(`target    ${v2}`);
    expect(run.stdout).toMatch(
      /verified {2}\d+ files, .*every blob present with its size \(HEAD\)/,
    );
    expect(run.stdout).toContain(`before  ${v3}`);
    expect(run.stdout).toContain(`after   ${v2}`);

    const now = await pointer();
    expect(now).toMatchObject({ version: v2, parentVersion: v3 });
    expect(await latest()).toEqual({
      version: v2,
      manifestKey: now!.manifestKey,
      fencingToken: now!.fencingToken,
    });
    const entries = await audit();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: 'rollback',
      collection: 'words',
      actor: 'ops@test',
      from: v3,
      to: v2,
      reason: 'bad labels',
      details: {
        direction: 'back',
        verification: 'presence',
        steps: 1,
        vectorsBefore: 40,
        vectorsAfter: 40,
      },
    });
    // The pointer was moved under a fresh fencing token, above every version's.
    expect(now!.fencingToken).toBeGreaterThan((await admin.manifest(v3)).fencingToken);
  });

  it('--dry-run verifies and shows the plan but changes nothing', async () => {
    const { versions } = await admin.publish(2);
    const run = await admin.run(['rollback', 'words', '--steps', '1', '--dry-run']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('vectors   40 → 40 (+0)');
    expect(run.stdout).toContain('dry run: nothing changed');
    expect((await pointer())!.version).toBe(versions[1]);
    expect(await audit()).toEqual([]);
  });

  it('refuses a target with a corrupted blob under --full-verify, and one with a missing blob by default', async () => {
    const { versions } = await admin.publish(3);
    const [v1, v2, v3] = versions as [string, string, string];
    const own = async (version: string) => {
      const m = await admin.manifest(version);
      const others = await Promise.all(
        versions.filter((v) => v !== version).map((v) => admin.manifest(v)),
      );
      return m.files.find((f) => others.every((o) => !o.files.some((x) => x.sha256 === f.sha256)))!;
    };

    const flipped = await own(v1);
    await admin.flipByte(flipped.sha256);
    const corrupt = await admin.run(['rollback', 'words', '--to', v1, '--full-verify', '--yes']);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stdout).toContain('verify    FAILED');
    expect(corrupt.stderr).toContain(
      `error: refusing to roll back words to ${v1}: it failed verification`,
    );
    expect(corrupt.stderr).toContain(`${flipped.path}: corrupt snapshot words@${v1}`);
    expect(corrupt.stderr).toContain('next: pick another version');

    const missing = await own(v2);
    await admin.deleteBlob(missing.sha256);
    const incomplete = await admin.run(['rollback', 'words', '--to', v2, '--yes']);
    expect(incomplete.code).toBe(1);
    expect(incomplete.stderr).toContain(`${missing.path}: blob ${missing.sha256} is missing`);

    expect((await pointer())!.version).toBe(v3);
    expect(await audit()).toEqual([]);
  });

  it('asks on a terminal: "y" goes ahead, anything else changes nothing; without a terminal it refuses', async () => {
    const { versions } = await admin.publish(3);
    const no = await admin.run(['rollback', 'words', '--steps', '1'], { answer: 'n' });
    expect(no.code).toBe(1);
    expect(no.stderr).toContain(`Roll words back from ${versions[2]} to ${versions[1]}? [y/N]`);
    expect(no.stderr).toContain('error: not confirmed; nothing was changed');
    expect((await pointer())!.version).toBe(versions[2]);

    const piped = await admin.run(['rollback', 'words', '--steps', '1']);
    expect(piped.code).toBe(1);
    expect(piped.stderr).toContain('refusing to act without confirmation: stdin is not a terminal');
    expect(piped.stderr).toContain(
      `compaction-admin rollback words --steps 1 ${admin.conn().join(' ')} --yes`,
    );
    expect((await pointer())!.version).toBe(versions[2]);

    const yes = await admin.run(['rollback', 'words', '--steps', '1'], { answer: 'y' });
    expect(yes.code).toBe(0);
    expect((await pointer())!.version).toBe(versions[1]);
  });

  it('rolls forward to undo a rollback, and repairs only latest.json when the target is already live', async () => {
    const { versions } = await admin.publish(2);
    const [v1, v2] = versions as [string, string];
    expect((await admin.run(['rollback', 'words', '--to', v1, '--yes'])).code).toBe(0);
    const forward = await admin.run(['rollback', 'words', '--to', v2, '--yes', '--json']);
    expect(forward.code).toBe(0);
    expect(JSON.parse(forward.stdout)).toMatchObject({
      status: 'rolled-back',
      direction: 'forward',
      before: { version: v1 },
      after: { version: v2 },
    });
    expect((await pointer())!.version).toBe(v2);

    const same = await admin.run(['rollback', 'words', '--to', v2, '--yes']);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('is already live and latest.json agrees; nothing to do');

    // latest.json left behind (a crash between the swap and its rewrite): repaired.
    await admin.fx.repository.writeLatest('words', {
      version: v1,
      manifestKey: `words/snapshots/${v1}/manifest.json`,
    });
    const repair = await admin.run(['rollback', 'words', '--to', v2, '--yes']);
    expect(repair.code).toBe(0);
    expect(repair.stdout).toContain('latest.json rewritten to match the pointer');
    expect((await latest())!.version).toBe(v2);
    expect((await audit()).map((e) => e.to)).toEqual([v1, v2]);
  });

  it('explains bad targets and usage errors', async () => {
    const { versions } = await admin.publish(2);
    const far = await admin.run(['rollback', 'words', '--steps', '5', '--yes']);
    expect(far.code).toBe(1);
    expect(far.stderr).toContain('has only 1 earlier live version(s)');

    const unknown = await admin.run(['rollback', 'words', '--to', '000000000999', '--yes']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('words has no version "000000000999"');
    expect(unknown.stderr).toContain('next: pick one from `compaction-admin snapshots list words`');

    const both = await admin.run(['rollback', 'words', '--to', versions[0]!, '--steps', '1']);
    expect(both.code).toBe(2);
    const neither = await admin.run(['rollback', 'words']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('give exactly one of --to <version> and --steps <n>');
    const notNumber = await admin.run(['rollback', 'words', '--steps', 'one']);
    expect(notNumber.code).toBe(2);
    expect(notNumber.stderr).toContain('--steps "one" is not a positive integer');

    const nothing = await admin.run(['rollback', 'lines', '--steps', '1', '--yes']);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('lines has no live version yet');
  });
});

describe('rollback on a held lock', () => {
  it('gives up after --lock-wait with who holds the lock and what to do', async () => {
    await admin.publish(2);
    const handle = await new LeaseLock({
      ...TEST_LOCK,
      ddb: admin.fx.ddb,
      table: admin.fx.table,
      collection: 'words',
      owner: 'compactor-req-42:words',
    }).acquire();
    try {
      const run = await admin.run([
        'rollback',
        'words',
        '--steps',
        '1',
        '--yes',
        '--lock-wait',
        '0.3',
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /error: collection words is locked by compactor-req-42:words until \d{4}-/,
      );
      expect(run.stderr).toContain(
        'next: retry in a few seconds or wait for the compaction to finish',
      );
    } finally {
      await handle.release();
    }
  });
});
