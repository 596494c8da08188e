/**
 * `audit`, and the vector-loss guard it reports: the compactor refuses to publish a
 * batch that lost more than the configured share (default 5 %) of the collection's
 * vectors without matching removals, leaves the previous version live, counts the
 * metric and records a `guard` audit entry that `compaction-admin audit` shows.
 */
import { describe, expect, it } from 'vitest';
import { applyBatched, VectorLossGuardError, type ApplyFn } from '@compaction/compactor';
import { label, removal, useAdminFixture } from './support.js';

const admin = await useAdminFixture();
const live = async () => (await admin.fx.container().pointers.read('words'))!.version;

/** The real apply, then a bug: it also drops `k` vectors no message removed. */
const losing =
  (k: number): ApplyFn =>
  (input) => {
    const stats = applyBatched(input);
    const { ids } = input.collection.getSync({ include: [] });
    input.store.transaction(() => input.collection.deleteSync({ ids: ids.slice(0, k) }));
    return stats;
  };

describe('the vector-loss guard (5 % by default)', () => {
  it('publishes a loss of exactly 5 %, refuses one above it, and publishes removals that explain a larger loss', async () => {
    const { versions, container } = await admin.publish(1);
    expect((await admin.manifest(versions[0]!)).counts.vectors).toBe(40);

    // 2 of 40 = 5 %: not more than the share, published.
    const atLimit = await container.compact('words', [label(1)], 'batched', {
      appliers: { batched: losing(2) },
    });
    expect(atLimit.status).toBe('published');
    expect(atLimit.vectors).toEqual({ before: 40, after: 38 });

    // 3 of 38 ≈ 7.9 %: refused, nothing published, the previous version stays live.
    const err = await container
      .compact('words', [label(2)], 'batched', { appliers: { batched: losing(3) } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorLossGuardError);
    expect(err).toMatchObject({ before: 38, expected: 38, after: 35, maxLossShare: 0.05 });
    expect(container.metrics.sum('CompactionVectorLossGuard')).toBe(1);
    expect(await live()).toBe(atLimit.version);
    expect((await admin.fx.container().repository.listManifests('words')).length).toBe(2);

    // A receipt removal explains its 20 deletions (> 50 %): published.
    const removed = await container.compact('words', [removal()], 'batched');
    expect(removed.status).toBe('published');
    expect(removed.vectors).toEqual({ before: 38, after: 18 });
    expect(await live()).toBe(removed.version);
  });

  it('honours a configured share (MAX_VECTOR_LOSS_SHARE)', async () => {
    const { container } = await admin.publish(1);
    const err = await container
      .compact('words', [label(1)], 'batched', {
        appliers: { batched: losing(3) },
        maxVectorLossShare: 0.01,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VectorLossGuardError);
    const tolerant = await container.compact('words', [label(1)], 'batched', {
      appliers: { batched: losing(3) },
      maxVectorLossShare: 0.1,
    });
    expect(tolerant.status).toBe('published');
  });
});

describe('audit', () => {
  it('shows guard trips, rollbacks and prunes: who, when, from, to, why; filtered by collection, action and time', async () => {
    const { versions, container } = await admin.publish(4);
    await container
      .compact('words', [label(3)], 'batched', { appliers: { batched: losing(10) } })
      .catch((e: unknown) => e);
    expect(
      (await admin.run(['rollback', 'words', '--steps', '1', '--yes', '--reason', 'guard tripped']))
        .code,
    ).toBe(0);
    expect((await admin.run(['prune', 'words', '--keep', '1', '--yes'])).code).toBe(0);

    const table = await admin.run(['audit']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^AT\s+COLLECTION\s+ACTION\s+ACTOR\s+FROM\s+TO\s+REASON \/ DETAILS$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/)[2])).toEqual(['guard', 'rollback', 'prune']);
    expect(lines[1]).toContain(`compactor:test-`);
    expect(lines[1]).toContain('unexplained loss 10 > 5.0% of 40');
    expect(lines[2]).toMatch(
      new RegExp(
        `ops@test\\s+${versions[3]}\\s+${versions[2]}\\s+guard tripped; vectors 40 → 40; verified: presence`,
      ),
    );
    expect(lines[3]).toMatch(/prune .*deleted \d+ version\(s\), \d+ blob\(s\), .* \(--keep 1\)/);

    const guards = await admin.run([
      'audit',
      '--action',
      'guard',
      '--collection',
      'words',
      '--json',
    ]);
    const parsed = JSON.parse(guards.stdout) as {
      entries: { action: string; from: string; details: Record<string, unknown> }[];
    };
    expect(parsed.entries).toHaveLength(1);
    expect(parsed.entries[0]).toMatchObject({
      action: 'guard',
      from: versions[3],
      details: { before: 40, expected: 40, after: 30, maxLossShare: 0.05 },
    });

    expect((await admin.run(['audit', '--collection', 'lines'])).stdout).toContain(
      'no audit entries for lines',
    );
    expect((await admin.run(['audit', '--since', '2099-01-01'])).stdout).toContain(
      'no audit entries',
    );
    expect(JSON.parse((await admin.run(['audit', '--since', '1h', '--json'])).stdout).total).toBe(
      3,
    );
    const last = await admin.run(['audit', '--limit', '1']);
    expect(last.stdout).toContain('2 older entr(y/ies) not shown');
    expect(last.stdout).toContain('prune');

    const bad = await admin.run(['audit', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('next: use an age like 24h or 7d');
    expect((await admin.run(['audit', '--action', 'delete'])).code).toBe(2);
  });
});
