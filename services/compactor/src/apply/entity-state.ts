/**
 * Entity state kept inside the store (chroma-core `kv`, so it travels in every
 * snapshot) and the rules that fold change messages into it.
 *
 * Why state, and not just vector writes: a change can arrive before the vectors it
 * describes (a label on a word whose embedding is still being computed). Its effect is
 * recorded here and applied to the vectors when they arrive by delta, so no update
 * is ever lost for lack of a target.
 *
 * Namespaces (JSON values):
 * - `seq`     entityKey(message) → last applied stream sequence number (idempotency ledger)
 * - `place`   receipt key → { field: { value, seq } } for every place field a message set
 * - `labels`  word vector id → { LABEL: { status, proposedBy } } (present label items only)
 * - `removed` receipt key → sequence number of the receipt's removal (tombstone)
 * - `merged`  receipt key → highest sequence number of a delta for the receipt (merged,
 *             or skipped because a newer removal had already decided)
 *
 * INVARIANT (kept by {@link foldMessage}, the only writer of these namespaces): every
 * rule is a last-writer-wins register keyed by stream sequence number, so applying a
 * set of messages gives the same state whatever the order or the number of
 * deliveries, whether they come in one batch or several.
 */
import {
  PLACE_FIELDS,
  compareSequenceNumbers,
  entityKey,
  lineVectorId,
  receiptVectorPrefix,
  wordVectorId,
  type ChangeMessage,
  type DeltaChangeMessage,
  type FieldChange,
  type LabelChangeMessage,
  type PlaceChangeMessage,
  type PlaceField,
  type ReceiptRemovedMessage,
  type ValidationStatus,
  type WordLabelState,
} from '@compaction/contracts';
import type { DeltaRecord } from './delta-records.js';

/** kv namespace names. */
export const KV = {
  seq: 'seq',
  place: 'place',
  labels: 'labels',
  removed: 'removed',
  merged: 'merged',
} as const;

/** A metadata value as stored on a vector; `null` means "key removed". */
export type MetadataScalar = string | number | boolean;

/** One place field as last set, with the sequence number of the message that set it. */
export interface PlaceFieldState {
  value: MetadataScalar | null;
  seq: string;
}

/** Place fields of one receipt that any message has set (absent = never touched). */
export type PlaceState = Partial<Record<PlaceField, PlaceFieldState>>;

/** Label items of one word: only present items (a removed item is deleted). */
export type WordLabels = Record<string, WordLabelState>;

/** A receipt, the unit of place state, removal and delta gating. */
export interface ReceiptRef {
  imageId: string;
  receiptId: number;
}

/** `IMAGE#<uuid>#RECEIPT#<5d>`: the key of a receipt's state entries. */
export const receiptKey = (r: ReceiptRef): string =>
  receiptVectorPrefix(r.imageId, r.receiptId).slice(0, -1);

const RECEIPT_KEY_RE = /^IMAGE#(.+)#RECEIPT#(\d{5})$/;

/** The receipt a {@link receiptKey} names; undefined for the key of a vector without one. */
export function parseReceiptKey(key: string): ReceiptRef | undefined {
  const m = RECEIPT_KEY_RE.exec(key);
  return m ? { imageId: m[1]!, receiptId: Number(m[2]) } : undefined;
}

/**
 * Read/write access to the entity state. Both apply paths fold through the same
 * rules; legacy writes through to kv at once, batched buffers in memory and flushes
 * once (see `state-access.ts`).
 */
export interface StateAccess {
  getSeq(key: string): string | undefined;
  setSeq(key: string, seq: string): void;
  getPlace(receipt: string): PlaceState | undefined;
  setPlace(receipt: string, state: PlaceState): void;
  getLabels(wordId: string): WordLabels | undefined;
  setLabels(wordId: string, labels: WordLabels): void;
  getRemoved(receipt: string): string | undefined;
  setRemoved(receipt: string, seq: string): void;
  getMerged(receipt: string): string | undefined;
  setMerged(receipt: string, seq: string): void;
}

/** What a folded message asks of the vectors (computed from the state after the fold). */
export type Effect =
  /** Already applied (sequence number not newer than the recorded one): a no-op. */
  | { type: 'stale' }
  /** Place fields changed: every vector of the receipt takes the receipt's place state. */
  | { type: 'place'; receipt: ReceiptRef }
  /** A label item changed: the word's vector takes the word's label summary. */
  | { type: 'label'; wordId: string }
  /** Receipt removed: delete every vector of the receipt. */
  | { type: 'delete'; receipt: ReceiptRef }
  /** Receipt removed, but a newer delta already re-created it: tombstone only. */
  | { type: 'tombstone'; receipt: ReceiptRef }
  /**
   * Delta merged: each of `receipts` now has exactly the vectors of `records` (already
   * gated; `skipped` were older than a tombstone or a newer delta) — theirs that the
   * delta lacks are deleted, the rest upserted.
   */
  | { type: 'upsert'; records: DeltaRecord[]; skipped: number; receipts: ReceiptRef[] };

/**
 * The `default` of every switch over {@link Effect}: a new effect type that a path does not
 * handle fails to compile there (`effect` is not `never`), instead of silently writing nothing.
 */
export function unhandledEffect(effect: never): never {
  throw new Error(`unhandled apply effect ${JSON.stringify(effect)}`);
}

const newer = (seq: string, than: string | undefined): boolean =>
  than === undefined || compareSequenceNumbers(seq, than) > 0;

const maxSeq = (a: string | undefined, b: string): string => (newer(b, a) ? b : a!);

/**
 * Folds one message into the entity state and says what it means for the vectors.
 * `delta` is the content of a delta message's snapshot (required for `delta`).
 *
 * Rules (S = the message's sequence number):
 * - place: each field is its own register — a field takes the message's value when
 *   S is newer than the field's own sequence number (messages carry only changed
 *   fields, so an older message may still hold the newest value of another field).
 *   INSERT sets every place field (absent ones to null), REMOVE nulls them all.
 * - label: the item is a register keyed by its entityKey — applied when S is newer
 *   than the recorded one: INSERT/MODIFY set { status, proposedBy }, REMOVE deletes.
 * - receipt-removed: records the tombstone (max) and deletes the receipt's vectors,
 *   unless a delta newer than S was already seen for that receipt (then only the
 *   tombstone is recorded: the receipt was re-created after its removal).
 * - delta: applied once (by entityKey); each record is kept unless its receipt has a
 *   tombstone or a delta newer than S. Every receipt of the delta records S in
 *   `merged`. A kept receipt's vector set becomes the delta's: an embedding run embeds
 *   the whole receipt, so a vector the newer run lacks (a line that no longer exists)
 *   goes. So the vector set is order-independent across batches too: the newest of
 *   "last delta" and "last removal" wins, whichever arrives first.
 */
export function foldMessage(
  state: StateAccess,
  message: ChangeMessage,
  delta?: readonly DeltaRecord[],
): Effect {
  switch (message.kind) {
    case 'place':
      return foldPlace(state, message);
    case 'label':
      return foldLabel(state, message);
    case 'receipt-removed':
      return foldRemoval(state, message);
    case 'delta':
      if (!delta) throw new Error(`delta message ${entityKey(message)} folded without its content`);
      return foldDelta(state, message, delta);
  }
}

function foldPlace(state: StateAccess, m: PlaceChangeMessage): Effect {
  const S = m.source.sequenceNumber;
  const key = receiptKey(m.receipt);
  const next: PlaceState = { ...state.getPlace(key) };
  let changed = false;
  for (const [field, value] of Object.entries(placeValues(m)) as [
    PlaceField,
    MetadataScalar | null,
  ][]) {
    if (!newer(S, next[field]?.seq)) continue;
    next[field] = { value, seq: S };
    changed = true;
  }
  if (!changed) return { type: 'stale' };
  state.setPlace(key, next);
  const seqKey = entityKey(m);
  state.setSeq(seqKey, maxSeq(state.getSeq(seqKey), S));
  return { type: 'place', receipt: m.receipt };
}

/** The place fields a message sets, with the value each takes (null = removed). */
export function placeValues(
  m: PlaceChangeMessage,
): Partial<Record<PlaceField, MetadataScalar | null>> {
  const out: Partial<Record<PlaceField, MetadataScalar | null>> = {};
  for (const field of PLACE_FIELDS) {
    const change = m.changes[field];
    if (m.event === 'REMOVE') out[field] = null;
    else if (change) out[field] = metadataValue(change);
    // INSERT describes the whole row: a field it does not carry is not there.
    else if (m.event === 'INSERT') out[field] = null;
  }
  return out;
}

/** A change's new value as vector metadata: scalars as they are, lists as JSON, absent → null. */
function metadataValue(change: FieldChange): MetadataScalar | null {
  const v = change.new;
  if (v === undefined || v === null) return null;
  return Array.isArray(v) ? JSON.stringify(v) : v;
}

function foldLabel(state: StateAccess, m: LabelChangeMessage): Effect {
  const S = m.source.sequenceNumber;
  const seqKey = entityKey(m);
  if (!newer(S, state.getSeq(seqKey))) return { type: 'stale' };
  const wordId = wordVectorId({ ...m.receipt, lineId: m.word.lineId, wordId: m.word.wordId });
  const labels: WordLabels = { ...state.getLabels(wordId) };
  if (m.event === 'REMOVE') {
    delete labels[m.word.label];
  } else {
    const item = labelItem(m);
    labels[m.word.label] = item.proposedBy === undefined ? { status: item.status } : item;
  }
  // An empty record is kept on purpose: it says "no labels", overriding whatever
  // label summary a delta's vector carries.
  state.setLabels(wordId, labels);
  state.setSeq(seqKey, S);
  return { type: 'label', wordId };
}

/** The label item an INSERT/MODIFY describes (validated by `validateForApply`). */
export function labelItem(m: LabelChangeMessage): WordLabelState {
  const status = m.changes['validation_status']?.new as ValidationStatus;
  const proposedBy = m.changes['label_proposed_by']?.new;
  return {
    status,
    proposedBy: proposedBy === undefined || proposedBy === null ? undefined : String(proposedBy),
  };
}

function foldRemoval(state: StateAccess, m: ReceiptRemovedMessage): Effect {
  const S = m.source.sequenceNumber;
  const seqKey = entityKey(m);
  if (!newer(S, state.getSeq(seqKey))) return { type: 'stale' };
  const key = receiptKey(m.receipt);
  state.setSeq(seqKey, S);
  state.setRemoved(key, maxSeq(state.getRemoved(key), S));
  const merged = state.getMerged(key);
  if (merged !== undefined && compareSequenceNumbers(merged, S) > 0) {
    return { type: 'tombstone', receipt: m.receipt };
  }
  return { type: 'delete', receipt: m.receipt };
}

function foldDelta(
  state: StateAccess,
  m: DeltaChangeMessage,
  delta: readonly DeltaRecord[],
): Effect {
  const S = m.source.sequenceNumber;
  const seqKey = entityKey(m);
  if (!newer(S, state.getSeq(seqKey))) return { type: 'stale' };
  state.setSeq(seqKey, S);
  // Decide per receipt once, before recording anything: every record of one receipt
  // in this delta shares the outcome.
  const verdicts = new Map<string, boolean>();
  const records: DeltaRecord[] = [];
  for (const record of delta) {
    const key = record.receiptKey;
    let keep = verdicts.get(key);
    if (keep === undefined) {
      const removed = state.getRemoved(key);
      const merged = state.getMerged(key);
      keep =
        (removed === undefined || compareSequenceNumbers(S, removed) > 0) &&
        (merged === undefined || compareSequenceNumbers(S, merged) >= 0);
      verdicts.set(key, keep);
    }
    if (keep) records.push(record);
  }
  const receipts: ReceiptRef[] = [];
  for (const [key, keep] of verdicts) {
    // Recorded whether kept or not, so the register is the newest delta of the
    // receipt whatever the arrival order (a skipped delta is older than a removal,
    // which already decides for it).
    state.setMerged(key, maxSeq(state.getMerged(key), S));
    if (!keep) continue;
    const receipt = parseReceiptKey(key);
    if (receipt) receipts.push(receipt);
  }
  return { type: 'upsert', records, skipped: delta.length - records.length, receipts };
}

/** The line vector id or word vector id of a vector ref. */
export const vectorIdOf = (
  r: ReceiptRef & { lineId: number; wordId?: number | undefined },
): string => (r.wordId === undefined ? lineVectorId(r) : wordVectorId({ ...r, wordId: r.wordId }));
