/**
 * `rollback` and the real compactor: the next compaction builds on the rolled-back
 * version (whatever its container's warm cache holds), and a rollback racing a running
 * compaction waits for its lock, refuses when that compaction published, and holds the
 * lock while it moves the pointer. (The CLI's own rollback tests are in
 * services/compaction-admin/test/rollback.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { InjectedFaultError } from '@compaction/compactor';
import { gate, label, useAdminFixture, watch } from './support.js';

const admin = await useAdminFixture();
const pointer = () => admin.fx.container().pointers.read('words');
const audit = () => admin.fx.container().audit.list({ collection: 'words' });

describe('rollback, then the compactor', () => {
  it('the next compaction builds on the rolled-back version, even from a container whose warm cache holds the newer one', async () => {
    const { versions, container } = await admin.publish(3);
    expect(await container.cache.cachedVersion('words')).toBe(versions[2]);
    expect((await admin.run(['rollback', 'words', '--to', versions[0]!, '--yes'])).code).toBe(0);

    const next = await container.compact('words', [label(3, 'AFTER')], 'batched');
    expect(next.status).toBe('published');
    expect(next.parentVersion).toBe(versions[0]);
    // The cache is keyed by version: it downloaded the rolled-back version instead of reusing its own.
    expect(next.bytesDownloaded).toBeGreaterThan(0);
    expect(await container.cache.cachedVersion('words')).toBe(next.version);
  });
});

describe('rollback racing a compaction', () => {
  it('waits for the lock a running compaction holds, then proceeds', async () => {
    const { versions, container } = await admin.publish(3);
    const locked = gate();
    const finish = gate();
    const compaction = container.compact('words', [label(4, 'RACE')], 'batched', {
      faults: {
        afterLock: async () => {
          locked.open();
          await finish.promise;
          // The compaction ends without publishing (it crashed, or had nothing to do).
          throw new InjectedFaultError('afterLock');
        },
      },
    });
    await locked.promise;
    const waiting = watch((s) => s.includes('waiting for the words lock: held by test-'));
    const rollback = admin.run(['rollback', 'words', '--steps', '1', '--yes'], {
      onStderr: waiting.onStderr,
    });
    await waiting.seen;
    finish.open();

    await expect(compaction).rejects.toBeInstanceOf(InjectedFaultError);
    const run = await rollback;
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/got the words lock after \d/);
    expect((await pointer())!.version).toBe(versions[1]);
  });

  it('refuses, changing nothing, when the compaction it waited for published a new version', async () => {
    const { versions, container } = await admin.publish(2);
    const locked = gate();
    const finish = gate();
    const compaction = container.compact('words', [label(4, 'RACE')], 'batched', {
      faults: {
        afterLock: async () => {
          locked.open();
          await finish.promise;
        },
      },
    });
    await locked.promise;
    const waiting = watch((s) => s.includes('waiting for the words lock'));
    const rollback = admin.run(['rollback', 'words', '--to', versions[0]!, '--yes'], {
      onStderr: waiting.onStderr,
    });
    await waiting.seen;
    finish.open();

    const published = await compaction;
    const run = await rollback;
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      `the live version of words moved from ${versions[1]} to ${published.version} while this command waited for the lock`,
    );
    expect(run.stderr).toContain('stop the compactor first if it keeps publishing bad versions');
    expect((await pointer())!.version).toBe(published.version);
    expect(await audit()).toEqual([]);
  });

  it('holds the lock while it moves the pointer: a compaction arriving then waits, and builds on the rolled-back version', async () => {
    const { versions, container } = await admin.publish(3);
    const held = gate();
    const finish = gate();
    const compactionWaits = gate();
    const rollback = admin.run(['rollback', 'words', '--steps', '2', '--yes'], {
      onLockHeld: async () => {
        held.open();
        await finish.promise;
      },
    });
    await held.promise;
    const compaction = container.compact('words', [label(4, 'AFTER')], 'batched', {
      // The lock's own back-off between attempts on a busy lock: the signal that it waits.
      lockSleep: async (ms) => {
        compactionWaits.open();
        await new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    await compactionWaits.promise;
    finish.open();

    expect((await rollback).code).toBe(0);
    const result = await compaction;
    expect(result.status).toBe('published');
    expect(result.parentVersion).toBe(versions[0]);
    expect((await pointer())!.version).toBe(result.version);
  });
});
