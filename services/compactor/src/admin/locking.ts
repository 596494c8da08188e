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
  const state = await readLockState(ctx, collection);
  if (state.status === 'held') {
    out.note(
      `waiting for the ${collection} lock: held by ${state.owner ?? '?'} (token ${state.fencingToken ?? '?'}, ` +
        `lease ${formatDuration(state.leaseLeftMs ?? 0)} left); waiting up to ${formatDuration(maxWaitMs)}…`,
    );
  }
  const handle = await ctx.lock(collection, maxWaitMs).acquire();
  if (state.status === 'held')
    out.note(`got the ${collection} lock after ${formatDuration(handle.waitedMs)}`);
  try {
    await ctx.io.onLockHeld?.(collection, handle.token);
    return await fn(handle);
  } finally {
    await handle.release();
  }
}
