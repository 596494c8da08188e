import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { PointerStore } from '../src/pointer.js';
import { FencedOutError, StateItemInvalidError, SwapConflictError } from '../src/errors.js';
import { useStateAndBucket } from './aws-fixture.js';

const aws = await useStateAndBucket();
const T0 = Date.parse('2025-03-01T10:00:00Z');

function store(): PointerStore {
  return new PointerStore({ ddb: aws.ddb, table: aws.table, clock: new ManualClock(T0) });
}

async function refusal(p: Promise<unknown>): Promise<SwapConflictError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SwapConflictError);
  expect((err as SwapConflictError).code).toBe('POINTER_SWAP_CONFLICT');
  return err as SwapConflictError;
}

const next = (v: string) => ({ version: v, manifestKey: `lines/snapshots/${v}/manifest.json` });

/** Swaps the `lines` pointer from `parentVersion` to `version` under `fencingToken`. */
const swapLines = (
  pointers: PointerStore,
  parentVersion: string | null,
  version: string,
  fencingToken: number,
) => pointers.swap({ collection: 'lines', parentVersion, next: next(version), fencingToken });

describe('PointerStore', () => {
  it('makes the first swap from an empty pointer', async () => {
    const pointers = store();
    expect(await pointers.read('lines')).toBeUndefined();
    const moved = await swapLines(pointers, null, 'v1', 1);
    expect(moved).toEqual({
      collection: 'lines',
      version: 'v1',
      manifestKey: 'lines/snapshots/v1/manifest.json',
      fencingToken: 1,
      parentVersion: null,
      updatedAt: '2025-03-01T10:00:00.000Z',
    });
    expect(await pointers.read('lines')).toEqual(moved);
    expect(await pointers.read('words')).toBeUndefined();
  });

  it('refuses a "first" swap when a pointer already exists', async () => {
    const pointers = store();
    await swapLines(pointers, null, 'v1', 1);
    const err = await refusal(swapLines(pointers, null, 'v2', 2));
    expect(err.found).toMatchObject({ version: 'v1', fencingToken: 1 });
  });

  it('moves forward from the current version under a higher token', async () => {
    const pointers = store();
    await swapLines(pointers, null, 'v1', 1);
    const moved = await swapLines(pointers, 'v1', 'v2', 5);
    expect(moved).toMatchObject({ version: 'v2', parentVersion: 'v1', fencingToken: 5 });
    expect(await pointers.read('lines')).toEqual(moved);
  });

  it('refuses a stale parent: newer work is never overwritten', async () => {
    const pointers = store();
    await swapLines(pointers, null, 'v1', 1);
    await swapLines(pointers, 'v1', 'v2', 2);
    const err = await refusal(swapLines(pointers, 'v1', 'v3', 3));
    expect(err).toMatchObject({ expectedVersion: 'v1', fencingToken: 3 });
    expect(err.found).toMatchObject({ version: 'v2', fencingToken: 2 });
    expect((await pointers.read('lines'))?.version).toBe('v2');
  });

  it('refuses a lower token even from the right parent; the same token (the holder itself) moves on', async () => {
    const pointers = store();
    await swapLines(pointers, null, 'v1', 4);
    await refusal(swapLines(pointers, 'v1', 'v2', 3));
    expect(await pointers.read('lines')).toMatchObject({ version: 'v1', fencingToken: 4 });
    // Tokens are never shared by two acquisitions: an equal token is the holder that
    // last acted (e.g. one that advanced the fence and now rolls back).
    await swapLines(pointers, 'v1', 'v2', 4);
    expect(await pointers.read('lines')).toMatchObject({ version: 'v2', fencingToken: 4 });
  });

  describe('the fence', () => {
    it('advanced by a newer holder refuses every swap under an older token, the pointer unmoved', async () => {
      const pointers = store();
      await swapLines(pointers, null, 'v1', 1);
      await pointers.advanceFence({ collection: 'lines', fencingToken: 3, by: 'prune' });
      expect(await pointers.fence('lines')).toBe(3);
      expect(await pointers.read('lines')).toMatchObject({ version: 'v1', fencingToken: 3 });
      // A compactor that took the lock (token 2) before the prune: its late swap.
      const err = await refusal(swapLines(pointers, 'v1', 'v2', 2));
      expect(err.found).toMatchObject({ version: 'v1', fencingToken: 3 });
      await expect(pointers.assertFence('lines', 2)).rejects.toBeInstanceOf(FencedOutError);
      await pointers.assertFence('lines', 3);
      // The fencing holder itself, and later ones, move on.
      await swapLines(pointers, 'v1', 'v2', 3);
      await swapLines(pointers, 'v2', 'v3', 4);
      expect(await pointers.read('lines')).toMatchObject({ version: 'v3', parentVersion: 'v2' });
    });

    it('never goes back: an older holder cannot advance it', async () => {
      const pointers = store();
      await swapLines(pointers, null, 'v1', 5);
      const err = await pointers
        .advanceFence({ collection: 'lines', fencingToken: 4, by: 'late prune' })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(FencedOutError);
      expect(err).toMatchObject({ code: 'FENCED_OUT', fencingToken: 4, newer: 5 });
      expect(await pointers.fence('lines')).toBe(5);
    });

    it('on a collection without a pointer is a fence-only item: no pointer, yet an older first swap is refused', async () => {
      const pointers = store();
      expect(await pointers.fence('lines')).toBe(0);
      await pointers.advanceFence({ collection: 'lines', fencingToken: 2, by: 'prune' });
      expect(await pointers.read('lines')).toBeUndefined();
      await refusal(swapLines(pointers, null, 'v1', 1));
      await swapLines(pointers, null, 'v1', 2);
      expect(await pointers.read('lines')).toMatchObject({ version: 'v1', fencingToken: 2 });
    });
  });

  it('rolls back to an older version under the guard of the same condition', async () => {
    const pointers = store();
    await swapLines(pointers, null, 'v1', 1);
    await swapLines(pointers, 'v1', 'v2', 2);

    // The operator looked at v1 as current: refused, the pointer moved since.
    await refusal(
      pointers.rollback({
        collection: 'lines',
        toVersion: 'v1',
        toManifestKey: next('v1').manifestKey,
        fencingToken: 3,
        expectedCurrentVersion: 'v1',
      }),
    );
    // A token below the last mover: refused.
    await refusal(
      pointers.rollback({
        collection: 'lines',
        toVersion: 'v1',
        toManifestKey: next('v1').manifestKey,
        fencingToken: 1,
        expectedCurrentVersion: 'v2',
      }),
    );
    const rolled = await pointers.rollback({
      collection: 'lines',
      toVersion: 'v1',
      toManifestKey: next('v1').manifestKey,
      fencingToken: 3,
      expectedCurrentVersion: 'v2',
    });
    expect(rolled).toMatchObject({ version: 'v1', parentVersion: 'v2', fencingToken: 3 });
    expect(await pointers.read('lines')).toEqual(rolled);
  });

  it('refuses to "swap" to the version it starts from', () => {
    expect(() =>
      store().swap({ collection: 'lines', parentVersion: 'v1', next: next('v1'), fencingToken: 9 }),
    ).toThrow(RangeError);
  });

  it('reports a malformed pointer item instead of guessing', async () => {
    await aws.ddb.send(
      new PutCommand({
        TableName: aws.table,
        Item: { pk: 'POINTER#lines', version: 'v1', fencingToken: 'seven' },
      }),
    );
    await expect(store().read('lines')).rejects.toThrow(StateItemInvalidError);
  });
});
