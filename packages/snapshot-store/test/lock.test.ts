import { once } from 'node:events';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { METRIC } from '@compaction/contracts';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock, systemClock } from '../src/clock.js';
import { LeaseLock, type LeaseLockOptions } from '../src/lock.js';
import { PointerStore } from '../src/pointer.js';
import { LockBusyError, LockLostError, SwapConflictError } from '../src/errors.js';
import { useStateAndBucket } from './aws-fixture.js';
import { RecordingMetrics } from '../src/metrics.js';
import { recordingLogger } from './recorders.js';

const aws = await useStateAndBucket();
const T0 = Date.parse('2025-03-01T10:00:00Z');

/** A lock on `lines` for `owner`; by default long lease/heartbeat so no timer fires during a test. */
function lock(owner: string, options: Partial<LeaseLockOptions> = {}): LeaseLock {
  return new LeaseLock({
    ddb: aws.ddb,
    table: aws.table,
    collection: 'lines',
    owner,
    leaseMs: 60_000,
    heartbeatMs: 20_000,
    maxWaitMs: 0,
    ...options,
  });
}

/** A clock whose sleeps advance it instantly: deterministic busy-wait tests without waiting. */
function instantSleep(clock: ManualClock): Pick<LeaseLockOptions, 'clock' | 'sleep'> {
  return {
    clock,
    sleep: async (ms) => {
      clock.advance(ms);
    },
  };
}

async function lockItem(): Promise<Record<string, unknown> | undefined> {
  const out = await aws.ddb.send(
    new GetCommand({ TableName: aws.table, Key: { pk: 'LOCK#lines' }, ConsistentRead: true }),
  );
  return out.Item;
}

describe('LeaseLock', () => {
  it('acquires a free lock with token 1 and releases it without forgetting the token', async () => {
    const clock = new ManualClock(T0);
    const handle = await lock('A', { clock }).acquire();
    expect(handle).toMatchObject({ token: 1, owner: 'A', waitedMs: 0 });
    expect(handle.signal.aborted).toBe(false);
    expect(await lockItem()).toMatchObject({
      owner: 'A',
      fencingToken: 1,
      leaseUntil: T0 + 60_000,
    });

    await handle.release();
    await handle.release(); // idempotent
    const item = await lockItem();
    expect(item).toMatchObject({ fencingToken: 1, leaseUntil: 0, lastOwner: 'A' });
    expect(item).not.toHaveProperty('owner');
    expect(() => handle.assertHeld()).toThrow(LockLostError);
    // Releasing is not losing: the signal is for losses only.
    expect(handle.signal.aborted).toBe(false);
  });

  it('hands out strictly increasing fencing tokens across holders', async () => {
    const tokens: number[] = [];
    for (const owner of ['A', 'B', 'A', 'C']) {
      const handle = await lock(owner).acquire();
      tokens.push(handle.token);
      await handle.release();
    }
    expect(tokens).toEqual([1, 2, 3, 4]);
  });

  it('throws LockBusyError after maxWaitMs while another owner holds the lease', async () => {
    const clock = new ManualClock(T0);
    const a = await lock('A', { clock }).acquire();
    const b = lock('B', { maxWaitMs: 5_000, ...instantSleep(clock) });

    const err = await b.acquire().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LockBusyError);
    const busy = err as LockBusyError;
    expect(busy.code).toBe('LOCK_BUSY');
    expect(busy.waitedMs).toBeGreaterThanOrEqual(5_000);
    expect(busy.attempts).toBeGreaterThan(1);
    expect(busy.holder).toEqual({ owner: 'A', leaseUntil: T0 + 60_000, fencingToken: 1 });
    // The busy attempts did not disturb the holder.
    expect(() => a.assertHeld()).not.toThrow();
    expect(await lockItem()).toMatchObject({ owner: 'A', fencingToken: 1 });
    await a.release();
  });

  it('waits in real time too, and gives up after maxWaitMs', async () => {
    const a = await lock('A').acquire();
    const started = Date.now();
    await expect(lock('B', { maxWaitMs: 250, clock: systemClock }).acquire()).rejects.toThrow(
      LockBusyError,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await a.release();
  });

  it('acquires as soon as the holder releases, reporting how long it waited', async () => {
    const a = await lock('A').acquire();
    const waiting = lock('B', { maxWaitMs: 30_000, retryBaseMs: 20, retryMaxMs: 100 }).acquire();
    await a.release();
    const b = await waiting;
    expect(b.token).toBe(2);
    expect(b.waitedMs).toBeGreaterThanOrEqual(0);
    await b.release();
  });

  it('a heartbeat extends the lease, in the table and locally', async () => {
    const clock = new ManualClock(T0);
    const a = await lock('A', { clock, leaseMs: 1_000, heartbeatMs: 500 }).acquire();
    clock.advance(600);
    await a.heartbeat();
    expect(await lockItem()).toMatchObject({ leaseUntil: T0 + 1_600, fencingToken: 1 });

    clock.advance(600); // past the first lease, within the extended one
    expect(() => a.assertHeld()).not.toThrow();
    await expect(lock('B', { clock }).acquire()).rejects.toThrow(LockBusyError);
    await a.release();
  });

  it('heartbeats on its timer', async () => {
    const log = recordingLogger();
    const a = await lock('A', { leaseMs: 5_000, heartbeatMs: 50, logger: log.logger }).acquire();
    const before = (await lockItem())!['leaseUntil'] as number;
    const beat = await log.next('debug', 'lock heartbeat');
    expect(beat.extra[0]).toMatchObject({ token: 1 });
    expect((await lockItem())!['leaseUntil']).toBeGreaterThanOrEqual(before);
    await a.release();
  });

  it('a holder paused past its lease loses the lock to a higher token and cannot publish', async () => {
    const clock = new ManualClock(T0);
    const metrics = new RecordingMetrics();
    const pointers = new PointerStore({ ddb: aws.ddb, table: aws.table, clock });

    // A takes the lock and reads the (empty) pointer, then "pauses": no heartbeat runs
    // while its lease (1 s) passes.
    const a = await lock('A', { clock, leaseMs: 1_000, heartbeatMs: 900, metrics }).acquire();
    const seenByA = await pointers.read('lines');
    clock.advance(1_001);

    // B finds the lease expired, takes the lock with a higher token and publishes.
    const b = await lock('B', { clock, leaseMs: 1_000, heartbeatMs: 900 }).acquire();
    expect(b.token).toBeGreaterThan(a.token);
    await pointers.swap({
      collection: 'lines',
      parentVersion: null,
      next: { version: 'vB', manifestKey: 'kB' },
      fencingToken: b.token,
    });

    // A wakes up: its heartbeat is refused, the lock is marked lost…
    const refused = await a.heartbeat().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(LockLostError);
    expect((refused as LockLostError).reason).toBe('heartbeat-refused');
    expect(a.signal.aborted).toBe(true);
    expect(a.signal.reason).toBe(refused);
    expect(() => a.assertHeld()).toThrow(LockLostError);
    expect(metrics.values(METRIC.compactionLockLost)).toEqual([1]);

    // …and even if it ignored all that, its swap is refused.
    const conflict = await pointers
      .swap({
        collection: 'lines',
        parentVersion: seenByA?.version ?? null,
        next: { version: 'vA', manifestKey: 'kA' },
        fencingToken: a.token,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(conflict).toBeInstanceOf(SwapConflictError);
    expect((conflict as SwapConflictError).found).toMatchObject({
      version: 'vB',
      fencingToken: b.token,
    });

    // A's release is refused quietly; B still holds the lock.
    await a.release();
    expect(await lockItem()).toMatchObject({ owner: 'B', fencingToken: b.token });
    expect(() => b.assertHeld()).not.toThrow();
    await b.release();
  });

  it('the heartbeat timer notices a takeover and aborts the signal', async () => {
    const pausedClock = new ManualClock(T0); // A's clock: frozen, as in a paused process
    const bClock = new ManualClock(T0 + 2_000);
    const a = await lock('A', { clock: pausedClock, leaseMs: 1_000, heartbeatMs: 50 }).acquire();
    const b = await lock('B', { clock: bClock, leaseMs: 1_000, heartbeatMs: 500 }).acquire();

    await once(a.signal, 'abort');
    expect(a.signal.reason).toBeInstanceOf(LockLostError);
    expect((a.signal.reason as LockLostError).reason).toBe('heartbeat-refused');
    expect(b.token).toBe(2);
    await a.release();
    await b.release();
  });

  it('assertHeld fails once the lease has run out by the injected clock, even if nobody took over', async () => {
    const clock = new ManualClock(T0);
    const a = await lock('A', { clock, leaseMs: 1_000, heartbeatMs: 500 }).acquire();
    clock.advance(999);
    expect(() => a.assertHeld()).not.toThrow();
    clock.advance(1);
    expect(() => a.assertHeld()).toThrow(expect.objectContaining({ reason: 'lease-expired' }));
    expect(a.signal.aborted).toBe(true);
    await a.release(); // still ours in the table: released normally
    expect(await lockItem()).toMatchObject({ leaseUntil: 0, fencingToken: 1 });
  });

  it('release and heartbeat only act for the same owner AND token', async () => {
    const clock = new ManualClock(T0);
    // Same owner string twice (e.g. a retried request id): the token tells them apart.
    const first = await lock('same', { clock, leaseMs: 1_000, heartbeatMs: 500 }).acquire();
    clock.advance(1_001);
    const second = await lock('same', { clock, leaseMs: 1_000, heartbeatMs: 500 }).acquire();
    expect(second.token).toBe(first.token + 1);

    await first.release(); // refused: logged, not thrown
    expect(await lockItem()).toMatchObject({
      owner: 'same',
      fencingToken: second.token,
      leaseUntil: T0 + 1_001 + 1_000,
    });
    await expect(first.heartbeat()).rejects.toThrow(LockLostError);
    expect(() => second.assertHeld()).not.toThrow();
    await second.release();
    expect(await lockItem()).toMatchObject({ leaseUntil: 0, fencingToken: second.token });
  });

  it('refuses a heartbeat period that does not fit in the lease', () => {
    expect(() => lock('A', { leaseMs: 1_000, heartbeatMs: 1_000 })).toThrow(RangeError);
  });
});

/** Blocks the calling thread (and its event loop) for `ms`, as a long SQLite transaction does. */
function blockFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: no timer, no promise, no I/O callback runs on this thread meanwhile
  }
}

describe('LeaseLock during synchronous work longer than the lease', () => {
  const SHORT = { leaseMs: 1_000, heartbeatMs: 250, maxWaitMs: 0 };

  it('keeps the lock with heartbeatThread: the worker renews the lease while the event loop is blocked', async () => {
    const handle = await lock('A', { ...SHORT, heartbeatThread: true }).acquire();
    try {
      blockFor(2_500);
      // No event-loop heartbeat could run, yet the lease was renewed in the table…
      const item = await lockItem();
      expect(item).toMatchObject({ owner: 'A', fencingToken: handle.token });
      expect(item!['leaseUntil'] as number).toBeGreaterThan(Date.now());
      // …so the holder still holds it, and nobody else can take it.
      expect(() => handle.assertHeld()).not.toThrow();
      await expect(lock('B', SHORT).acquire()).rejects.toBeInstanceOf(LockBusyError);
    } finally {
      await handle.release();
    }
    // Released: no heartbeat renews it any more, and the next holder gets the next token.
    expect(await lockItem()).toMatchObject({ leaseUntil: 0, lastOwner: 'A' });
    const next = await lock('B', SHORT).acquire();
    expect(next.token).toBe(handle.token + 1);
    await next.release();
  });

  it('loses it with the event-loop heartbeat (the reason the thread exists)', async () => {
    const handle = await lock('A', SHORT).acquire();
    blockFor(2_500);
    expect(() => handle.assertHeld()).toThrow(LockLostError);
    const b = await lock('B', SHORT).acquire();
    expect(b.token).toBe(handle.token + 1);
    await b.release();
    await handle.release();
  });

  it('a heartbeat thread refused by a newer holder marks the lock lost', async () => {
    const handle = await lock('A', { ...SHORT, heartbeatThread: true }).acquire();
    // A holder whose clock runs a lease ahead takes the lock over.
    const b = await lock('B', { ...SHORT, clock: new ManualClock(Date.now() + 5_000) }).acquire();
    // The worker's next heartbeat is refused (its first one may wait for the worker to start,
    // which takes seconds on a loaded machine).
    await vi.waitFor(() => expect(() => handle.assertHeld()).toThrow(LockLostError), {
      timeout: 30_000,
      interval: 100,
    });
    expect(handle.signal.aborted).toBe(true);
    await handle.release();
    await b.release();
  });

  it('refuses heartbeatThread with an injected clock', () => {
    expect(() => lock('A', { heartbeatThread: true, clock: new ManualClock(T0) })).toThrow(
      RangeError,
    );
  });
});
