import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { PointerStore } from '../src/pointer.js';
import { StateItemInvalidError, SwapConflictError } from '../src/errors.js';
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

  it('refuses a lower or equal token even from the right parent', async () => {
    const pointers = store();
    await swapLines(pointers, null, 'v1', 4);
    for (const token of [3, 4]) {
      await refusal(swapLines(pointers, 'v1', 'v2', token));
    }
    expect(await pointers.read('lines')).toMatchObject({ version: 'v1', fencingToken: 4 });
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
    // A token not above the last mover: refused.
    await refusal(
      pointers.rollback({
        collection: 'lines',
        toVersion: 'v1',
        toManifestKey: next('v1').manifestKey,
        fencingToken: 2,
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
