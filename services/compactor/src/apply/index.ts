/** The apply paths and the entity-state rules they share. */
export { applyLegacy } from './legacy.js';
export { applyBatched } from './batched.js';
export { canonicalOrder } from './ordering.js';
export { foreignRecords, loadDelta } from './delta-loader.js';
export { checkDeltaDimensions } from './delta-checks.js';
export type { LoadDeltaOptions } from './delta-loader.js';
export { receiptKeyOfVector } from './delta-records.js';
export type { DeltaRecord } from './delta-records.js';
export { foldMessage, placeValues, labelItem, receiptKey, KV } from './entity-state.js';
export type {
  Effect,
  MetadataScalar,
  PlaceFieldState,
  PlaceState,
  ReceiptRef,
  StateAccess,
  WordLabels,
} from './entity-state.js';
export { KvState } from './kv-state.js';
export { placePatch, labelPatch, overlayFor, replacementMetadata } from './overlay.js';
export type { MetadataPatch } from './overlay.js';
export { receiptVectorIds, receiptWhere } from './receipt-where.js';
export type { ApplyCollection, ApplyStore, KvNamespace, MetadataArg, Where } from './store-port.js';
export { emptyStats } from './types.js';
export type { ApplyFn, ApplyInput, ApplyStats, DeltaRefusal } from './types.js';
