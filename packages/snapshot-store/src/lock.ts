/**
 * Lease lock with fencing tokens: one writer per collection at a time.
 *
 * The lock item `LOCK#<collection>` in the state table holds `owner`, `leaseUntil`
 * (epoch ms) and a `fencingToken` that grows by one on every acquisition. The token,
 * not the lease, is what makes a late writer harmless: the pointer only accepts a
 * swap under a token higher than the one it was last moved with (see `pointer.ts`).
 * The lease only decides when a silent holder may be replaced.
 *
 * Leases are compared across machines (`leaseUntil` written by one holder's clock,
 * `:now` from the next one's), so clock skew can make a takeover early or late. That
 * costs liveness at worst, never safety: a holder replaced early is still fenced out
 * by its lower token, and `assertHeld()` uses its own clock conservatively.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import { METRIC } from '@compaction/contracts';
import type { CollectionName } from '@compaction/contracts';
import { systemClock, type Clock } from './clock.js';
import { count, type MetricsSink } from './metrics.js';
import { HeartbeatThread } from './heartbeat-thread.js';
import {
  LockBusyError,
  LockLostError,
  isConditionalCheckFailed,
  type LockHolder,
  type LockLostReason,
} from './errors.js';

/** Partition key of the lock item of `collection`. */
export const lockKey = (collection: string): string => `LOCK#${collection}`;

export interface LeaseLockOptions {
  ddb: DynamoDBDocumentClient;
  /** State table (partition key `pk`). */
  table: string;
  collection: CollectionName;
  /** Who holds the lock, for humans and for the conditions: unique per attempt (e.g. the request id). */
  owner: string;
  /** How long a lease lasts without a heartbeat. Must outlast the longest synchronous step. */
  leaseMs: number;
  /** Heartbeat period; must be below `leaseMs` (a third of it leaves room for two missed beats). */
  heartbeatMs: number;
  /** Longest time `acquire()` retries a busy lock before throwing {@link LockBusyError}. */
  maxWaitMs: number;
  /** Default: the system clock. */
  clock?: Clock;
  logger?: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /** The collection's metrics: `CompactionLockLost` is counted when a held lock is lost. */
  metrics?: MetricsSink;
  /** First retry delay of a busy lock, before jitter. Default 100 ms. */
  retryBaseMs?: number;
  /** Longest retry delay of a busy lock. Default 2000 ms. */
  retryMaxMs?: number;
  /** How to wait between attempts. Default: a real timer. Tests with a manual clock advance it here. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Heartbeat from a worker thread instead of an event-loop timer, so synchronous work
   * longer than the lease (a large apply transaction) does not lose the lock. Needs the
   * system clock (the worker cannot read an injected one). Default false.
   */
  heartbeatThread?: boolean;
}

/** A held lock. Obtained from {@link LeaseLock.acquire}. */
export interface LockHandle {
  /** The fencing token of this acquisition; pass it to every guarded write. */
  readonly token: number;
  readonly owner: string;
  /** How long `acquire()` waited for the lock, in ms (by the injected clock). */
  readonly waitedMs: number;
  /** Aborted (with a {@link LockLostError} as reason) as soon as the lock is known to be lost. */
  readonly signal: AbortSignal;
  /** Throws {@link LockLostError} unless the lock is still ours and its lease has not run out. */
  assertHeld(): void;
  /** Extends the lease now (the timer also does it). Throws {@link LockLostError} when refused. */
  heartbeat(): Promise<void>;
  /** Gives the lock up (idempotent). A refusal after losing the lock is logged, not thrown. */
  release(): Promise<void>;
}

/**
 * A lease lock on one collection, held in the state table.
 *
 * @example
 * const lock = new LeaseLock({ ddb, table, collection: 'words', owner: context.awsRequestId,
 *   leaseMs: 60_000, heartbeatMs: 15_000, maxWaitMs: 20_000 });
 * const handle = await lock.acquire(); // throws LockBusyError when busy for 20 s
 * try {
 *   // … work, then handle.assertHeld() right before publishing under handle.token
 * } finally {
 *   await handle.release();
 * }
 */
export class LeaseLock {
  readonly #o: ResolvedOptions;

  constructor(options: LeaseLockOptions) {
    if (!(options.leaseMs > 0))
      throw new RangeError(`leaseMs must be positive (${options.leaseMs})`);
    if (!(options.heartbeatMs > 0 && options.heartbeatMs < options.leaseMs)) {
      throw new RangeError(
        `heartbeatMs (${options.heartbeatMs}) must be positive and below leaseMs (${options.leaseMs})`,
      );
    }
    if (!(options.maxWaitMs >= 0))
      throw new RangeError(`maxWaitMs must be ≥ 0 (${options.maxWaitMs})`);
    if (options.heartbeatThread && options.clock && options.clock !== systemClock) {
      throw new RangeError(
        'heartbeatThread needs the system clock (the worker cannot read another)',
      );
    }
    // `??`, not a spread of defaults: an option passed as `undefined` still gets its default.
    this.#o = {
      ...options,
      clock: options.clock ?? systemClock,
      retryBaseMs: options.retryBaseMs ?? 100,
      retryMaxMs: options.retryMaxMs ?? 2_000,
      sleep: options.sleep ?? ((ms) => delay(ms)),
      heartbeatThread: options.heartbeatThread ?? false,
    };
  }

  /**
   * Takes the lock, retrying with jittered exponential backoff while another owner
   * holds an unexpired lease. Throws {@link LockBusyError} once `maxWaitMs` has passed.
   */
  async acquire(): Promise<LockHandle> {
    const { clock, maxWaitMs, retryBaseMs, retryMaxMs } = this.#o;
    const started = clock.now();
    for (let attempt = 1; ; attempt++) {
      const now = clock.now();
      const token = await this.#tryAcquire(now);
      if (token !== undefined) {
        const waitedMs = now - started;
        this.#o.logger?.debug('lock acquired', {
          lock: lockKey(this.#o.collection),
          token,
          waitedMs,
        });
        // The lease is counted from *before* the request was sent, so our local idea of
        // it can only end earlier than the one stored, never later.
        const held = new HeldLock(this.#o, token, now + this.#o.leaseMs, waitedMs);
        if (this.#o.heartbeatThread) {
          try {
            await held.startThread();
          } catch (err) {
            await held.release(); // no heartbeat thread, no lock: never hold one that cannot beat
            throw err;
          }
        }
        return held;
      }
      const waitedMs = clock.now() - started;
      const remaining = maxWaitMs - waitedMs;
      if (remaining <= 0) {
        const holder = await this.#readHolder();
        throw new LockBusyError(this.#o.collection, this.#o.owner, waitedMs, attempt, holder);
      }
      // Full jitter: two waiters that collided once do not collide again in lockstep.
      const ceiling = Math.min(retryMaxMs, retryBaseMs * 2 ** (attempt - 1));
      await this.#o.sleep(Math.min(remaining, retryBaseMs / 2 + Math.random() * ceiling));
    }
  }

  /** One conditional acquisition attempt; the new fencing token, or undefined when busy. */
  async #tryAcquire(now: number): Promise<number | undefined> {
    const { ddb, table, collection, owner, leaseMs } = this.#o;
    try {
      // INVARIANT (kept here and only here): every successful acquisition increments
      // fencingToken, and the lock item is never deleted (release only ends the lease),
      // so tokens are never reused and strictly increase from one holder to the next.
      // The condition admits us only when nobody holds an unexpired lease.
      const out = await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: lockKey(collection) },
          UpdateExpression:
            'SET #owner = :me, #leaseUntil = :until, #acquiredAt = :at, #collection = :collection, ' +
            '#fencingToken = if_not_exists(#fencingToken, :zero) + :one',
          ConditionExpression: 'attribute_not_exists(#pk) OR #leaseUntil < :now',
          ExpressionAttributeNames: {
            '#pk': 'pk',
            '#owner': 'owner',
            '#leaseUntil': 'leaseUntil',
            '#acquiredAt': 'acquiredAt',
            '#collection': 'collection',
            '#fencingToken': 'fencingToken',
          },
          ExpressionAttributeValues: {
            ':me': owner,
            ':until': now + leaseMs,
            ':at': new Date(now).toISOString(),
            ':collection': collection,
            ':zero': 0,
            ':one': 1,
            ':now': now,
          },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const token = out.Attributes?.['fencingToken'];
      if (typeof token !== 'number')
        throw new Error(`lock ${lockKey(collection)}: no fencingToken returned`);
      return token;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return undefined;
      throw err;
    }
  }

  async #readHolder(): Promise<LockHolder | undefined> {
    const out = await this.#o.ddb.send(
      new GetCommand({
        TableName: this.#o.table,
        Key: { pk: lockKey(this.#o.collection) },
        ConsistentRead: true,
      }),
    );
    const item = out.Item;
    if (!item) return undefined;
    return {
      owner: typeof item['owner'] === 'string' ? item['owner'] : undefined,
      leaseUntil: Number(item['leaseUntil']),
      fencingToken: Number(item['fencingToken']),
    };
  }
}

type ResolvedOptions = Required<Omit<LeaseLockOptions, 'logger' | 'metrics'>> &
  Pick<LeaseLockOptions, 'logger' | 'metrics'>;

/** The handle of one acquisition. Not exported: obtained only through `acquire()`. */
class HeldLock implements LockHandle {
  readonly owner: string;
  readonly #o: ResolvedOptions;
  readonly #abort = new AbortController();
  readonly #timer: NodeJS.Timeout;
  /** End of the lease as we know it locally (never later than the stored one). */
  #leaseUntil: number;
  #lost: LockLostError | undefined;
  #released: Promise<void> | undefined;
  #inFlight: Promise<void> | undefined;
  #thread: HeartbeatThread | undefined;

  constructor(
    options: ResolvedOptions,
    readonly token: number,
    leaseUntil: number,
    readonly waitedMs: number,
  ) {
    this.#o = options;
    this.owner = options.owner;
    this.#leaseUntil = leaseUntil;
    // unref: a pending heartbeat must never keep a Lambda invocation (or a CLI) alive.
    // With a heartbeat thread, the thread beats instead (see startThread).
    this.#timer = setInterval(() => void this.#beat(), options.heartbeatMs).unref();
  }

  /** Moves the heartbeat onto a worker thread (acquire() calls it once, before handing out the lock). */
  async startThread(): Promise<void> {
    const { ddb, table, collection, owner, leaseMs, heartbeatMs, logger } = this.#o;
    clearInterval(this.#timer);
    this.#thread = await HeartbeatThread.start({
      ddb,
      table,
      pk: lockKey(collection),
      owner,
      token: this.token,
      leaseMs,
      heartbeatMs,
      leaseUntil: this.#leaseUntil,
      onLost: (reason) => this.#markLost(reason),
      onWarn: (message) =>
        logger?.warn('lock heartbeat failed; will retry', {
          lock: lockKey(collection),
          token: this.token,
          error: message,
        }),
    });
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  assertHeld(): void {
    // Read synchronously from the heartbeat thread's shared memory: the main thread may
    // not have run the thread's message yet.
    const threadLost = this.#thread?.lost;
    if (threadLost) this.#markLost(threadLost);
    if (this.#thread) this.#leaseUntil = Math.max(this.#leaseUntil, this.#thread.leaseUntil);
    if (this.#lost) throw this.#lost;
    if (this.#released) throw this.#lostError('released');
    if (this.#o.clock.now() >= this.#leaseUntil) {
      // Our lease ran out by our own clock: someone may already hold a newer token.
      this.#markLost('lease-expired');
      throw this.#lost!;
    }
  }

  async heartbeat(): Promise<void> {
    // One heartbeat at a time: a slow one must not race the next tick (or release()).
    this.#inFlight ??= this.#sendHeartbeat().finally(() => (this.#inFlight = undefined));
    return this.#inFlight;
  }

  release(): Promise<void> {
    this.#released ??= this.#release();
    return this.#released;
  }

  /** Timer tick: heartbeat, never throwing into the event loop. */
  async #beat(): Promise<void> {
    if (this.#lost || this.#released) return;
    try {
      await this.heartbeat();
    } catch (err) {
      if (err instanceof LockLostError) return; // already marked lost and logged
      this.#o.logger?.warn('lock heartbeat failed; will retry', {
        lock: lockKey(this.#o.collection),
        token: this.token,
        error: err as Error,
      });
      // A transient failure is not a refusal, but once the lease has run out by our
      // clock we can no longer claim the lock.
      if (this.#o.clock.now() >= this.#leaseUntil) this.#markLost('lease-expired');
    }
  }

  async #sendHeartbeat(): Promise<void> {
    if (this.#lost) throw this.#lost;
    if (this.#released) throw this.#lostError('released');
    const { ddb, table, collection, owner, leaseMs, clock } = this.#o;
    const now = clock.now();
    try {
      await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: lockKey(collection) },
          UpdateExpression: 'SET #leaseUntil = :until, #heartbeatAt = :at',
          // Owner AND token: a later acquisition by the same owner string still has a
          // different token, so an old handle can never extend a newer lease.
          ConditionExpression: '#owner = :me AND #fencingToken = :token',
          ExpressionAttributeNames: {
            '#leaseUntil': 'leaseUntil',
            '#heartbeatAt': 'heartbeatAt',
            '#owner': 'owner',
            '#fencingToken': 'fencingToken',
          },
          ExpressionAttributeValues: {
            ':until': now + leaseMs,
            ':at': new Date(now).toISOString(),
            ':me': owner,
            ':token': this.token,
          },
        }),
      );
      // Counted from before the request, like on acquisition.
      if (!this.#lost) this.#leaseUntil = Math.max(this.#leaseUntil, now + leaseMs);
      this.#o.logger?.debug('lock heartbeat', {
        lock: lockKey(collection),
        token: this.token,
        leaseUntil: now + leaseMs,
      });
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      this.#markLost('heartbeat-refused');
      throw this.#lost!;
    }
  }

  async #release(): Promise<void> {
    clearInterval(this.#timer);
    // A heartbeat the thread already sent may still land; the release below removes
    // the owner, so its condition (owner AND token) fails and it cannot extend anything.
    await this.#thread?.stop();
    // Let a heartbeat already on the wire land first, so it cannot extend the lease
    // after we ended it.
    await this.#inFlight?.catch(() => undefined);
    const { ddb, table, collection, owner, clock, logger } = this.#o;
    const now = clock.now();
    try {
      await ddb.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: lockKey(collection) },
          // Ends the lease but keeps the item: deleting it would restart fencingToken.
          UpdateExpression:
            'SET #leaseUntil = :zero, #releasedAt = :at, #lastOwner = :me REMOVE #owner',
          ConditionExpression: '#owner = :me AND #fencingToken = :token',
          ExpressionAttributeNames: {
            '#leaseUntil': 'leaseUntil',
            '#releasedAt': 'releasedAt',
            '#lastOwner': 'lastOwner',
            '#owner': 'owner',
            '#fencingToken': 'fencingToken',
          },
          ExpressionAttributeValues: {
            ':zero': 0,
            ':at': new Date(now).toISOString(),
            ':me': owner,
            ':token': this.token,
          },
        }),
      );
      logger?.debug('lock released', { lock: lockKey(collection), token: this.token });
    } catch (err) {
      // Never thrown: release runs in `finally` blocks, and a lease we fail to end
      // simply expires after leaseMs.
      if (isConditionalCheckFailed(err)) {
        logger?.warn('lock release refused: the lock was taken over', {
          lock: lockKey(collection),
          token: this.token,
        });
      } else {
        logger?.error('lock release failed; the lease will expire by itself', {
          lock: lockKey(collection),
          token: this.token,
          error: err as Error,
        });
      }
    }
  }

  #lostError(reason: LockLostReason): LockLostError {
    return new LockLostError(this.#o.collection, this.owner, this.token, reason);
  }

  #markLost(reason: Exclude<LockLostReason, 'released'>): void {
    if (this.#lost) return;
    this.#lost = this.#lostError(reason);
    clearInterval(this.#timer);
    void this.#thread?.stop();
    this.#o.logger?.warn('lock lost', {
      lock: lockKey(this.#o.collection),
      token: this.token,
      reason,
    });
    if (this.#o.metrics) count(this.#o.metrics, METRIC.compactionLockLost);
    this.#abort.abort(this.#lost);
  }
}
