/**
 * The vectors of a delta, read into memory before the apply transaction starts
 * (downloading and opening a delta is asynchronous; the transaction is not).
 */
import { parseVectorId, VECTOR_KEY_FIELDS } from '@compaction/contracts';
import { receiptKey, type MetadataScalar } from './entity-state.js';

/** One vector of a delta, ready to upsert. */
export interface DeltaRecord {
  id: string;
  embedding: number[];
  /** The producer's metadata, before the entity-state overlay. */
  metadata: Record<string, MetadataScalar>;
  document: string | null;
  /**
   * The receipt the vector belongs to (see {@link receiptKeyOfVector}): the unit of
   * tombstone and newer-delta gating. A vector that names no
   * receipt gets a key of its own, which no tombstone can match.
   */
  receiptKey: string;
}

/**
 * The receipt key of a vector: from its `image_id`/`receipt_id` metadata (what a
 * receipt removal's `where` selects, so gating and deletion always agree), else from
 * its id.
 */
export function receiptKeyOfVector(
  id: string,
  metadata: Readonly<Record<string, unknown>>,
): string {
  const imageId = metadata[VECTOR_KEY_FIELDS.imageId];
  const receiptId = metadata[VECTOR_KEY_FIELDS.receiptId];
  if (typeof imageId === 'string' && typeof receiptId === 'number') {
    return receiptKey({ imageId, receiptId });
  }
  const ref = parseVectorId(id);
  return ref ? receiptKey(ref) : `?${id}`;
}
