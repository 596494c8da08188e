/**
 * Finding every vector of a receipt. Vectors carry `image_id` and `receipt_id`
 * metadata (VECTOR_KEY_FIELDS). Many receipts are looked up at once: one query per
 * chunk of images (`image_id $in`), with `receipt_id` matched here, since a `where`
 * cannot express a list of (image, receipt) pairs. An image has a handful of vectors,
 * so the extra rows are few. (chroma-core drives an `$and` by its most selective term,
 * so `receiptWhere` for one receipt is cheap too: 0.1 ms at 100k vectors.)
 */
import { VECTOR_KEY_FIELDS } from '@compaction/contracts';
import { receiptKey, type ReceiptRef } from './entity-state.js';
import type { ApplyCollection, Where } from './store-port.js';

/** Images per query: well under SQLite's bound-parameter limit. */
const IMAGES_PER_QUERY = 500;

/** The `where` filter selecting every vector of one receipt (both collections carry these keys). */
export const receiptWhere = (r: ReceiptRef): Where => ({
  $and: [
    { [VECTOR_KEY_FIELDS.imageId]: { $eq: r.imageId } },
    { [VECTOR_KEY_FIELDS.receiptId]: { $eq: r.receiptId } },
  ],
});

/**
 * The ids of every vector of each of `receipts`, by receipt key (a receipt without
 * vectors maps to `[]`). Selects exactly what {@link receiptWhere} selects.
 *
 * @example
 * const ids = receiptVectorIds(collection, [{ imageId, receiptId: 1 }]).get(receiptKey(r));
 */
export function receiptVectorIds(
  collection: ApplyCollection,
  receipts: readonly ReceiptRef[],
): Map<string, string[]> {
  const out = new Map<string, string[]>(receipts.map((r) => [receiptKey(r), []]));
  const images = [...new Set(receipts.map((r) => r.imageId))];
  for (let i = 0; i < images.length; i += IMAGES_PER_QUERY) {
    const chunk = images.slice(i, i + IMAGES_PER_QUERY);
    const where: Where =
      chunk.length === 1
        ? { [VECTOR_KEY_FIELDS.imageId]: { $eq: chunk[0]! } }
        : { [VECTOR_KEY_FIELDS.imageId]: { $in: chunk } };
    const got = collection.getSync({ where, include: ['metadatas'] });
    got.ids.forEach((id, j) => {
      const m = got.metadatas?.[j];
      const imageId = m?.[VECTOR_KEY_FIELDS.imageId];
      const receiptId = m?.[VECTOR_KEY_FIELDS.receiptId];
      if (typeof imageId !== 'string' || typeof receiptId !== 'number') return;
      out.get(receiptKey({ imageId, receiptId }))?.push(id);
    });
  }
  return out;
}
