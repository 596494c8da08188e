import { VECTOR_KEY_FIELDS } from '@compaction/contracts';
import type { ReceiptRef } from './entity-state.js';
import type { Where } from './store-port.js';

/** The `where` filter selecting every vector of one receipt (both collections carry these keys). */
export const receiptWhere = (r: ReceiptRef): Where => ({
  $and: [
    { [VECTOR_KEY_FIELDS.imageId]: { $eq: r.imageId } },
    { [VECTOR_KEY_FIELDS.receiptId]: { $eq: r.receiptId } },
  ],
});
