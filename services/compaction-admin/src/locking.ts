/**
 * The CLI's side of the collection lock: holding it around a pointer move or a prune
 * (through the compactor's own `LeaseLock`, so the CLI and the compactor serialise on
 * the same item and fencing tokens), and a read-only look at the lock item for `health`
 * and for telling the operator whom they are waiting for. Nothing here writes the lock
 * item except through `LeaseLock`.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { CollectionName } from '@compaction/contracts';
import { lockKey, type LockHandle } from '@compaction/snapshot-store';
import type { AdminContext } from './context.js';
import { InterruptedError } from './errors.js';
import { formatDuration, type Output } from './output.js';

/** What the lock item says right now. */
export interface LockState {
  collection: CollectionName;
  /** `held`: an unexpired lease; `free`: released or expired; `never`: no item yet. */
  status: 'held' | 'free' | 'never';
  owner: string | undefined;
  /** The last holder after a release. */
  lastOwner: string | undefined;
  fencingToken: number | undefined;
  /** Epoch ms the lease runs until (0 after a release). */
  leaseUntil: number | undefined;
  /** ms of lease left (`held` only). */
  leaseLeftMs: number | undefined;
  acquiredAt: string | undefined;
  releasedAt: string | undefined;
}

/**
 * Reads the lock item of `collection` (strongly consistent).
 *
 * @example
 * const lock = await readLockState(ctx, 'words');
 * if (lock.status === 'held') console.log(`held by ${lock.owner} for ${lock.leaseLeftMs} ms more`);
 */
export async function readLockState(
  ctx: AdminContext,
  collection: CollectionName,
): Promise<LockState> {
  const out = await ctx.documents.send(
    new GetCommand({
      TableName: ctx.stateTable(),
      Key: { pk: lockKey(collection) },
      ConsistentRead: true,
    }),
  );
  const item = out.Item;
  const str = (name: string): string | undefined =>
    typeof item?.[name] === 'string' ? (item[name] as string) : undefined;
  const num = (name: string): number | undefined =>
    typeof item?.[name] === 'number' ? (item[name] as number) : undefined;
  const leaseUntil = num('leaseUntil');
  const now = ctx.clock.now();
  // The same rule as the acquire condition (`leaseUntil < now` means takeable), read
  // with this machine's clock: good enough to display, never used to decide.
  const held = item !== undefined && str('owner') !== undefined && (leaseUntil ?? 0) >= now;
  return {
    collection,
    status: !item ? 'never' : held ? 'held' : 'free',
    owner: str('owner'),
    lastOwner: str('lastOwner'),
    fencingToken: num('fencingToken'),
    leaseUntil,
    leaseLeftMs: held ? (leaseUntil ?? now) - now : undefined,
    acquiredAt: str('acquiredAt'),
    releasedAt: str('releasedAt'),
  };
}

/**
 * Runs `fn` holding the lock of `collection`, waiting at most `maxWaitMs` for a
 * running compaction (or another operator) to finish; tells the operator on stderr
 * whom it waits for. Releases the lock however `fn` ends. A lock that stays busy
 * rejects with the lock's `LockBusyError` (explained with a next step by the CLI).
 *
 * @example
 * await withCollectionLock(ctx, out, 'words', 90_000, async (handle) => {
 *   handle.assertHeld();
 *   await ctx.pointers().rollback({ …, fencingToken: handle.token });
 * });
 */
export async function withCollectionLock<T>(
  ctx: AdminContext,
  out: Output,
  collection: CollectionName,
  maxWaitMs: number,
  fn: (handle: LockHandle) => Promise<T>,
): Promise<T> {
  const interrupt = ctx.io.interrupt;
  const leave = interrupt?.enter() ?? (() => undefined);
  try {
    const state = await readLockState(ctx, collection);
    if (state.status === 'held') {
      out.note(
        `waiting for the ${collection} lock: held by ${state.owner ?? '?'} (token ${state.fencingToken ?? '?'}, ` +
          `lease ${formatDuration(state.leaseLeftMs ?? 0)} left); waiting up to ${formatDuration(maxWaitMs)}…`,
      );
    }
    let handle: LockHandle;
    try {
      handle = await ctx.lock(collection, maxWaitMs).acquire();
    } catch (err) {
      if (interrupt?.signal.aborted) {
        throw new InterruptedError(
          `interrupted (${reasonOf(interrupt.signal)}) while waiting for the ${collection} lock; nothing was held or changed`,
        );
      }
      throw err;
    }
    if (state.status === 'held')
      out.note(`got the ${collection} lock after ${formatDuration(handle.waitedMs)}`);
    return await holding(ctx, out, collection, handle, fn);
  } finally {
    leave();
  }
}

/**
 * Runs `fn` under `handle` and releases it however `fn` ends. On Ctrl-C, `fn` stops at
 * its next safe point (its next `assertHeld()`: before every guarded write and every
 * group of deletions), so no request of it is still in flight when the lock is
 * released; then the release is reported and the command ends with exit code 130.
 */
async function holding<T>(
  ctx: AdminContext,
  out: Output,
  collection: CollectionName,
  handle: LockHandle,
  fn: (handle: LockHandle) => Promise<T>,
): Promise<T> {
  const signal = ctx.io.interrupt?.signal;
  const stopped = (finished = false): InterruptedError =>
    new InterruptedError(
      `interrupted (${reasonOf(signal)}): ${finished ? 'the command had finished its changes' : 'stopped before the next change'}; ` +
        `released the ${collection} lock (token ${handle.token})`,
      `see what was done with \`compaction-admin audit --collection ${collection} --since 1h\`, then re-run the command`,
    );
  const onInterrupt = (): void =>
    out.note(
      `interrupted (${reasonOf(signal)}): stopping at the next safe point, then releasing the ${collection} lock ` +
        '(interrupt again to quit at once; the lock then stays held until its lease runs out)',
    );
  signal?.addEventListener('abort', onInterrupt, { once: true });
  // The handle fn sees: every safe point also checks for an interrupt.
  const guarded: LockHandle = {
    token: handle.token,
    owner: handle.owner,
    waitedMs: handle.waitedMs,
    signal: handle.signal,
    assertHeld() {
      if (signal?.aborted) throw stopped();
      handle.assertHeld();
    },
    heartbeat: () => handle.heartbeat(),
    release: () => handle.release(),
  };
  let result: T;
  try {
    if (signal?.aborted) throw stopped();
    await ctx.io.onLockHeld?.(collection, handle.token);
    result = await fn(guarded);
  } finally {
    signal?.removeEventListener('abort', onInterrupt);
    await handle.release();
    if (signal?.aborted) out.note(`released the ${collection} lock (token ${handle.token})`);
  }
  // Interrupted after the last safe point: the work is done, and the exit code says so.
  if (signal?.aborted) throw stopped(true);
  return result;
}

function reasonOf(signal: AbortSignal | undefined): string {
  return typeof signal?.reason === 'string' ? signal.reason : 'interrupt';
}
