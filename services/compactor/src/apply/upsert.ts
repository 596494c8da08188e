/**
 * Writing delta records so that the result does not depend on what the store held:
 * after {@link upsertExact} each record's vector has exactly the record's embedding
 * and document and `metadata ⊕ overlay` — the same whether the id was new, held an
 * older delta's version, or was written twice in one batch. That is what lets the
 * legacy path (which may upsert an id several times) and the batched path (once)
 * reach the same store.
 */
import type { DeltaRecord } from './delta-records.js';
import type { StateAccess } from './entity-state.js';
import { overlayFor, replacementMetadata } from './overlay.js';
import type { ApplyCollection } from './store-port.js';

/** Upserts `records` with the state's overlay. Returns how many ids were new, and the write calls made. */
export function upsertExact(
  collection: ApplyCollection,
  state: StateAccess,
  records: readonly DeltaRecord[],
): { newVectors: number; writeCalls: number } {
  if (records.length === 0) return { newVectors: 0, writeCalls: 0 };
  const ids = records.map((r) => r.id);
  const got = collection.getSync({ ids, include: ['metadatas', 'documents'] });
  const existing = new Map(
    got.ids.map((id, i) => [
      id,
      { metadata: got.metadatas?.[i] ?? {}, document: got.documents?.[i] ?? null },
    ]),
  );
  // Ids that did not exist: with the removals, what explains the change in count.
  const newVectors = records.filter((r) => !existing.has(r.id)).length;
  let writeCalls = 0;
  // An upsert keeps the old document when given none: ids whose new document is
  // empty but whose old one is not are removed first, so they are written afresh.
  const clear = records.filter(
    (r) => r.document === null && (existing.get(r.id)?.document ?? null) !== null,
  );
  if (clear.length > 0) {
    collection.deleteSync({ ids: clear.map((r) => r.id) });
    writeCalls++;
    for (const r of clear) existing.delete(r.id);
  }
  collection.upsertSync({
    ids,
    embeddings: records.map((r) => r.embedding),
    documents: records.map((r) => r.document),
    metadatas: records.map((r) =>
      replacementMetadata(
        r.metadata,
        overlayFor(state, r.id, r.receiptKey),
        existing.get(r.id)?.metadata,
      ),
    ),
  });
  return { newVectors, writeCalls: writeCalls + 1 };
}
