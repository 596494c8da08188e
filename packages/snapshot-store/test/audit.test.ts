import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { AuditLog } from '../src/audit.js';
import { LeaseLock } from '../src/lock.js';
import { PointerStore } from '../src/pointer.js';
import { useStateAndBucket } from './aws-fixture.js';

const aws = await useStateAndBucket();
const T0 = Date.parse('2025-03-01T10:00:00Z');

describe('AuditLog', () => {
  it('appends entries and lists them oldest first, filtered by collection, time and action', async () => {
    const clock = new ManualClock(T0);
    const audit = new AuditLog({ ddb: aws.ddb, table: aws.table, clock });
    // Lock and pointer items share the table; list() must skip them.
    const handle = await new LeaseLock({
      ddb: aws.ddb,
      table: aws.table,
      collection: 'words',
      owner: 'ops',
      leaseMs: 60_000,
      heartbeatMs: 20_000,
      maxWaitMs: 0,
      clock,
    }).acquire();
    await new PointerStore({ ddb: aws.ddb, table: aws.table }).swap({
      collection: 'words',
      parentVersion: null,
      next: { version: 'v1', manifestKey: 'k1' },
      fencingToken: handle.token,
    });

    const rollback = await audit.append({
      action: 'rollback',
      collection: 'words',
      actor: 'ops@laptop',
      from: 'v2',
      to: 'v1',
      reason: 'bad labels',
      details: { token: handle.token, note: undefined, nested: { at: new Date(T0) } },
    });
    expect(rollback.id).toMatch(/^AUDIT#words#2025-03-01T10:00:00\.000Z#[0-9a-f]{8}$/);
    clock.advance(60_000);
    const guard = await audit.append({
      action: 'guard',
      collection: 'lines',
      actor: 'compactor:req-1',
      reason: 'vector loss 40%',
    });
    clock.advance(60_000);
    const prune = await audit.append({
      action: 'prune',
      collection: 'words',
      actor: 'ops@laptop',
      details: { deletedBlobs: 3 },
    });
    await handle.release();

    expect(await audit.list()).toEqual([rollback, guard, prune]);
    expect(await audit.list({ collection: 'words' })).toEqual([rollback, prune]);
    expect(await audit.list({ since: new Date(T0 + 60_000) })).toEqual([guard, prune]);
    expect(await audit.list({ collection: 'words', action: 'prune' })).toEqual([prune]);
    expect(await audit.list({ collection: 'words', since: new Date(T0 + 120_001) })).toEqual([]);
    // Stored as given, minus undefined values (which DynamoDB cannot hold).
    expect(rollback.details).toEqual({ token: 1, nested: { at: '2025-03-01T10:00:00.000Z' } });
  });

  it('keeps entries of the same millisecond apart', async () => {
    const audit = new AuditLog({ ddb: aws.ddb, table: aws.table, clock: new ManualClock(T0) });
    const input = { action: 'guard', collection: 'lines', actor: 'x' } as const;
    const [a, b] = await Promise.all([audit.append(input), audit.append(input)]);
    expect(a!.id).not.toBe(b!.id);
    expect(await audit.list({ collection: 'lines' })).toHaveLength(2);
  });
});
