/**
 * The batched path's upserts still standing after the fold, by vector id and by
 * receipt. A removal or a newer delta drops a receipt's upserts; with thousands of
 * deltas in a batch, finding them by scanning every upsert would be quadratic.
 */
import type { DeltaRecord } from './delta-records.js';

/** A standing upsert: the record and the delta (fold position) it comes from. */
export interface StandingUpsert {
  record: DeltaRecord;
  delta: number;
}

export class StandingUpserts {
  readonly #byId = new Map<string, StandingUpsert>();
  readonly #byReceipt = new Map<string, Set<string>>();

  /** Records `record` from fold position `delta`, replacing an earlier upsert of its id. */
  set(record: DeltaRecord, delta: number): void {
    this.#delete(record.id); // re-insert: iteration order = order of the last write
    this.#byId.set(record.id, { record, delta });
    let ids = this.#byReceipt.get(record.receiptKey);
    if (!ids) this.#byReceipt.set(record.receiptKey, (ids = new Set()));
    ids.add(record.id);
  }

  /** Drops the upserts of `receiptKey`, except the ids in `keep`. */
  dropReceipt(receiptKey: string, keep?: ReadonlySet<string>): void {
    for (const id of [...(this.#byReceipt.get(receiptKey) ?? [])])
      if (!keep?.has(id)) this.#delete(id);
  }

  has(id: string): boolean {
    return this.#byId.has(id);
  }

  hasReceipt(receiptKey: string): boolean {
    return (this.#byReceipt.get(receiptKey)?.size ?? 0) > 0;
  }

  /** In the order of their last write. */
  values(): IterableIterator<StandingUpsert> {
    return this.#byId.values();
  }

  #delete(id: string): void {
    const standing = this.#byId.get(id);
    if (!standing) return;
    this.#byId.delete(id);
    this.#byReceipt.get(standing.record.receiptKey)?.delete(id);
  }
}
