/**
 * The "latest version" pointer of a collection, item `POINTER#<collection>` in the
 * state table. It names the manifest readers should open and records the fencing
 * token it was last moved under, which is what keeps a stale writer out.
 */
import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CollectionName } from '@compaction/contracts';
import { systemClock, type Clock } from './clock.js';
import {
  FencedOutError,
  StateItemInvalidError,
  SwapConflictError,
  isConditionalCheckFailed,
} from './errors.js';

/** Partition key of the pointer item of `collection`. */
export const pointerKey = (collection: string): string => `POINTER#${collection}`;

/** The pointer item, as stored. */
export interface Pointer {
  collection: string;
  /** Snapshot version id the collection is at (see `newVersionId`). */
  version: string;
  /** S3 key of that version's manifest. */
  manifestKey: string;
  /** Fencing token of the lock holder that last moved the pointer. */
  fencingToken: number;
  /** The version the pointer was moved from; null for the first version. */
  parentVersion: string | null;
  /** ISO time of the last move. */
  updatedAt: string;
}

export interface PointerStoreOptions {
  ddb: DynamoDBDocumentClient;
  /** State table (partition key `pk`). */
  table: string;
  /** Stamps `updatedAt`. Default: the system clock. */
  clock?: Clock;
}

export interface SwapRequest {
  collection: CollectionName;
  /** The version this writer started from (as read from the pointer); null when there was none. */
  parentVersion: string | null;
  next: { version: string; manifestKey: string };
  /** The writer's lock token (`LockHandle.token`). */
  fencingToken: number;
}

export interface RollbackRequest {
  collection: CollectionName;
  /** An older, still retained version. */
  toVersion: string;
  toManifestKey: string;
  /** The token of the lock the caller (the CLI) holds while rolling back. */
  fencingToken: number;
  /** The version the operator saw as current; the rollback is refused if it moved since. */
  expectedCurrentVersion: string;
}

export interface FenceRequest {
  collection: CollectionName;
  /** The token of the lock the caller holds (`LockHandle.token`). */
  fencingToken: number;
  /** Who advances the fence (recorded on the item, for operators). */
  by: string;
}

/**
 * Reads and moves collection pointers.
 *
 * @example
 * const pointers = new PointerStore({ ddb, table });
 * const current = await pointers.read('lines');
 * // … build and publish a new snapshot from `current` under `handle.token` …
 * await pointers.swap({ collection: 'lines', parentVersion: current?.version ?? null,
 *   next: { version, manifestKey }, fencingToken: handle.token }); // or SwapConflictError
 */
export class PointerStore {
  readonly #ddb: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #clock: Clock;

  constructor(options: PointerStoreOptions) {
    this.#ddb = options.ddb;
    this.#table = options.table;
    this.#clock = options.clock ?? systemClock;
  }

  /** The current pointer (strongly consistent read), or undefined before the first version. */
  async read(collection: CollectionName): Promise<Pointer | undefined> {
    const out = await this.#ddb.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: pointerKey(collection) },
        ConsistentRead: true,
      }),
    );
    return out.Item && out.Item['version'] !== undefined ? parsePointerItem(out.Item) : undefined;
  }

  /**
   * The newest fencing token that has acted on `collection` (moved its pointer or
   * advanced its fence), 0 when none has.
   */
  async fence(collection: CollectionName): Promise<number> {
    const out = await this.#ddb.send(
      new GetCommand({
        TableName: this.#table,
        Key: { pk: pointerKey(collection) },
        ConsistentRead: true,
        ProjectionExpression: '#fencingToken',
        ExpressionAttributeNames: { '#fencingToken': 'fencingToken' },
      }),
    );
    const token = out.Item?.['fencingToken'];
    return typeof token === 'number' ? token : 0;
  }

  /**
   * Records that the holder of `fencingToken` is about to act on `collection` without
   * moving its pointer (prune deletes, a rollback re-verifies its target): from now on
   * every swap under a lower token is refused by the table itself. Refused with
   * {@link FencedOutError} when a holder with a newer token has acted already. Creates
   * a fence-only item (no version) when the collection has no pointer yet, so even a
   * first publish that started before the fence cannot land after it.
   *
   * @example
   * const handle = await lock.acquire();
   * await pointers.advanceFence({ collection: 'words', fencingToken: handle.token, by: 'prune' });
   * // … delete unreferenced versions; a paused compactor's late swap is now refused
   */
  async advanceFence(request: FenceRequest): Promise<void> {
    const { collection, fencingToken, by } = request;
    try {
      await this.#ddb.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: pointerKey(collection) },
          UpdateExpression: 'SET #fencingToken = :token, #fencedBy = :by, #fencedAt = :at',
          // INVARIANT (with the swap condition in #move): the item's fencingToken only
          // grows, and it is the newest token that has acted on the collection.
          ConditionExpression: 'attribute_not_exists(#fencingToken) OR #fencingToken <= :token',
          ExpressionAttributeNames: {
            '#fencingToken': 'fencingToken',
            '#fencedBy': 'fencedBy',
            '#fencedAt': 'fencedAt',
          },
          ExpressionAttributeValues: {
            ':token': fencingToken,
            ':by': by,
            ':at': new Date(this.#clock.now()).toISOString(),
          },
        }),
      );
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      throw new FencedOutError(collection, fencingToken, await this.fence(collection));
    }
  }

  /**
   * Throws {@link FencedOutError} when a holder with a newer token than `fencingToken`
   * has acted on `collection`. A read, not a guard: the guards are the conditions of
   * {@link swap}, {@link rollback} and {@link advanceFence}. Prune calls it between
   * delete requests, which S3 cannot make conditional on this table.
   */
  async assertFence(collection: CollectionName, fencingToken: number): Promise<void> {
    const current = await this.fence(collection);
    if (current > fencingToken) throw new FencedOutError(collection, fencingToken, current);
  }

  /**
   * Moves the pointer from `parentVersion` to `next`. Refused with
   * {@link SwapConflictError} when the pointer is no longer at `parentVersion`, or a
   * holder with a newer token than `fencingToken` has acted since (moved the pointer,
   * or advanced the fence before pruning or rolling back).
   */
  swap(request: SwapRequest): Promise<Pointer> {
    if (request.next.version === request.parentVersion) {
      throw new RangeError(`swap to the version it starts from (${request.parentVersion})`);
    }
    return this.#move(
      request.collection,
      request.parentVersion,
      request.next,
      request.fencingToken,
    );
  }

  /**
   * Points the collection back at an older retained version (the CLI, holding the
   * lock). Same guard as {@link swap}: refused when the pointer moved since the
   * operator looked, or when a newer lock holder already moved it.
   */
  rollback(request: RollbackRequest): Promise<Pointer> {
    return this.#move(
      request.collection,
      request.expectedCurrentVersion,
      { version: request.toVersion, manifestKey: request.toManifestKey },
      request.fencingToken,
    );
  }

  async #move(
    collection: CollectionName,
    expectedVersion: string | null,
    next: { version: string; manifestKey: string },
    fencingToken: number,
  ): Promise<Pointer> {
    const pointer: Pointer = {
      collection,
      version: next.version,
      manifestKey: next.manifestKey,
      fencingToken,
      parentVersion: expectedVersion,
      updatedAt: new Date(this.#clock.now()).toISOString(),
    };
    // INVARIANT: the pointer only moves under the newest fencing token that has acted
    // on the collection. One conditional write checks both halves atomically: the
    // pointer is still where this writer started (so no newer work is overwritten),
    // and no holder with a newer token has moved it or advanced the fence since (so a
    // holder whose lease was taken over — by a compaction, a prune or a rollback —
    // cannot publish after its successor acted). Tokens are never shared by two
    // acquisitions, so `<=` admits only the holder that advanced the fence itself.
    const condition =
      expectedVersion === null
        ? 'attribute_not_exists(#version) AND (attribute_not_exists(#fencingToken) OR #fencingToken <= :token)'
        : '#version = :expected AND #fencingToken <= :token';
    try {
      await this.#ddb.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { pk: pointerKey(collection) },
          UpdateExpression:
            'SET #collection = :collection, #version = :version, #manifestKey = :manifestKey, ' +
            '#fencingToken = :token, #parentVersion = :parent, #updatedAt = :updatedAt',
          ConditionExpression: condition,
          ExpressionAttributeNames: {
            '#collection': 'collection',
            '#version': 'version',
            '#manifestKey': 'manifestKey',
            '#fencingToken': 'fencingToken',
            '#parentVersion': 'parentVersion',
            '#updatedAt': 'updatedAt',
          },
          ExpressionAttributeValues: {
            ...(expectedVersion === null ? {} : { ':expected': expectedVersion }),
            ':collection': collection,
            ':version': pointer.version,
            ':manifestKey': pointer.manifestKey,
            ':token': fencingToken,
            ':parent': expectedVersion,
            ':updatedAt': pointer.updatedAt,
          },
        }),
      );
      return pointer;
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw err;
      // Read after the refusal (not atomic with it): good enough to explain the conflict.
      const found = await this.read(collection);
      throw new SwapConflictError(collection, expectedVersion, fencingToken, found);
    }
  }
}

function parsePointerItem(item: Record<string, unknown>): Pointer {
  const pk = String(item['pk']);
  const str = (name: string): string => {
    const v = item[name];
    if (typeof v !== 'string' || v === '')
      throw new StateItemInvalidError(pk, `${name} is not a string`);
    return v;
  };
  const token = item['fencingToken'];
  if (typeof token !== 'number' || !Number.isSafeInteger(token)) {
    throw new StateItemInvalidError(pk, 'fencingToken is not an integer');
  }
  const parent = item['parentVersion'];
  return {
    collection: str('collection'),
    version: str('version'),
    manifestKey: str('manifestKey'),
    fencingToken: token,
    parentVersion: parent === null || parent === undefined ? null : str('parentVersion'),
    updatedAt: str('updatedAt'),
  };
}
