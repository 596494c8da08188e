/**
 * The dimension check of deltas, shared by both apply paths: the first place that
 * holds the open collection, and still before the transaction writes anything.
 *
 * INVARIANT: a delta whose vectors have another dimension than the collection's is
 * never folded — its sequence number is not recorded and nothing of it is written —
 * and it is reported in `ApplyStats.refusedDeltas`, so only its own message is
 * dead-lettered; without the check its upsert throws inside the transaction and the
 * whole batch fails back. The collection's dimension is its own, or, while it has no
 * vectors yet, the first delta's (canonical order, so both paths and every delivery
 * order agree).
 */
import type { ChangeMessage } from '@compaction/contracts';
import type { DeltaRecord } from './delta-records.js';
import { canonicalOrder } from './ordering.js';
import type { ApplyCollection } from './store-port.js';
import type { ApplyInput, DeltaRefusal } from './types.js';

/** The vector dimension of a delta's records; undefined for an empty delta. */
function deltaDimension(records: readonly DeltaRecord[] | undefined): number | undefined {
  return records?.[0]?.embedding.length;
}

/**
 * Splits `messages` into those the apply may fold and the deltas it must refuse.
 *
 * @example
 * const { accepted, refused } = checkDeltaDimensions(input);
 * refused.get(message)?.reason; // 'vectors have dimension 4, the collection 8'
 */
export function checkDeltaDimensions(
  input: Pick<ApplyInput, 'collection' | 'messages' | 'deltas'>,
): { accepted: ChangeMessage[]; refused: Map<ChangeMessage, DeltaRefusal> } {
  const refused = new Map<ChangeMessage, DeltaRefusal>();
  let expected = collectionDimension(input.collection);
  let source = 'the collection';
  for (const message of canonicalOrder(input.messages)) {
    if (message.kind !== 'delta') continue;
    const records = input.deltas.get(message);
    const dimension = deltaDimension(records);
    if (dimension === undefined) continue;
    const odd = records!.find((r) => r.embedding.length !== dimension);
    if (odd) {
      refused.set(message, {
        code: 'delta-dimension-mismatch',
        reason: `vectors of two dimensions (${dimension} and ${odd.embedding.length}, ${odd.id})`,
      });
    } else if (expected === undefined) {
      expected = dimension;
      source = `the first delta of a new collection (${message.delta.s3Prefix})`;
    } else if (dimension !== expected) {
      refused.set(message, {
        code: 'delta-dimension-mismatch',
        reason: `vectors have dimension ${dimension}, ${source} ${expected}`,
      });
    }
  }
  return { accepted: input.messages.filter((m) => !refused.has(m)), refused };
}

function collectionDimension(collection: ApplyCollection): number | undefined {
  const d = collection.dimension;
  return typeof d === 'number' && d > 0 ? d : undefined;
}
