/**
 * The shadow path on the randomized 1,000-message workload: legacy is published,
 * batched runs on a copy, and the digests agree; a deliberately broken batched path
 * (injected through the test seam, not by editing code) is caught and never published.
 */
import { describe, expect, it } from 'vitest';
import { applyBatched } from '../src/apply/batched.js';
import type { ApplyFn } from '../src/apply/types.js';
import { buildWorkload } from './support/workload.js';
import { items, useCompactorFixture } from './support/fixture.js';
import { placeMessage } from './support/messages.js';

const fx = await useCompactorFixture();

describe('shadow', () => {
  it('reports no mismatch on 1,000 mixed messages, and a mismatch when batched is broken', async () => {
    const workload = buildWorkload({
      seed: 424242,
      collection: 'words',
      receipts: 80,
      linesPerReceipt: 4,
      wordsPerLine: 4,
      dimension: 16,
      messages: 1000,
    });
    await fx.seed('words', workload.base);
    for (const [prefix, records] of workload.deltas) await fx.uploadDelta(prefix, 'words', records);

    const c = fx.container();
    const result = await c.compact('words', items(workload.messages), 'shadow');
    expect(result.status).toBe('published');
    expect(result.stats.deltasMerged).toBeGreaterThan(0);
    expect(result.shadow).toMatchObject({ match: true });
    expect(result.shadow!.batchedDigest).toBe(result.shadow!.legacyDigest);
    expect(c.metrics.sum('CompactionShadowMismatches')).toBe(0);
    const published = await fx.readPublished('words');
    expect(published.digest).toBe(result.shadow!.legacyDigest);
    expect(published.manifest['compactionPath']).toBe('shadow');

    // A batched path with a subtle bug: one extra metadata key on one vector.
    const broken: ApplyFn = (input) => {
      const stats = applyBatched(input);
      const [first] = input.collection.getSync({ include: [] }).ids;
      input.store.transaction(() =>
        input.collection.updateSync({ ids: [first!], metadatas: [{ shadow_bug: true }] }),
      );
      return stats;
    };
    const receipt = workload.base[0]!.metadata;
    const next = items(
      [
        placeMessage({
          receipt: {
            imageId: receipt['image_id'] as string,
            receiptId: receipt['receipt_id'] as number,
          },
          collection: 'words',
          seq: '99000000000000000000000',
          fields: { merchant_name: 'AFTER' },
        }),
      ],
      'next',
    );
    const caught = await c.compact('words', next, 'shadow', { appliers: { batched: broken } });
    expect(caught.status).toBe('published');
    expect(caught.shadow?.match).toBe(false);
    expect(c.metrics.sum('CompactionShadowMismatches')).toBe(1);
    expect(c.logger.find('shadow mismatch: batched and legacy stores differ')).toHaveLength(1);
    const live = await fx.readPublished('words');
    expect(live.digest).toBe(caught.shadow!.legacyDigest);
    expect([...live.vectors.values()].some((v) => 'shadow_bug' in v.metadata)).toBe(false);
  });
});
