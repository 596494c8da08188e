/**
 * A seeded, randomized compaction workload: a base collection (receipts with lines
 * and words) and a batch of mixed change messages for it — place changes, label
 * add/validate/invalidate/remove (some for words that arrive only later by delta),
 * receipt removals, deltas (new receipts and re-embeddings, some older than a
 * removal), redeliveries and out-of-order sequence numbers — shuffled like a standard
 * SQS queue delivers them. Used by the equivalence tests and the benchmark.
 */
import {
  PLACE_FIELDS,
  lineVectorId,
  wordVectorId,
  type ChangeMessage,
  type CollectionName,
  type ValidationStatus,
} from '@compaction/contracts';
import { receiptKey } from '../../src/apply/entity-state.js';
import type { DeltaRecord } from '../../src/apply/delta-records.js';
import { deltaMessage, labelMessage, placeMessage, removalMessage } from './messages.js';

/** mulberry32: tiny, fast, good enough for test data. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
  uuid(): string {
    const hex = Array.from({ length: 32 }, () => this.int(16).toString(16)).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}

export interface WorkloadOptions {
  seed: number;
  collection: CollectionName;
  /** Receipts in the base collection. */
  receipts: number;
  linesPerReceipt: number;
  /** Words per line (words collection only). */
  wordsPerLine: number;
  dimension: number;
  /** Change messages in the batch (redeliveries included). */
  messages: number;
  /** Share of messages that are deltas / removals (default 0.04 / 0.02). Metadata-only batches set both to 0. */
  deltaShare?: number;
  removalShare?: number;
}

export interface Workload {
  collection: CollectionName;
  base: DeltaRecord[];
  messages: ChangeMessage[];
  /** Delta contents by S3 prefix. */
  deltas: Map<string, DeltaRecord[]>;
}

interface Receipt {
  imageId: string;
  receiptId: number;
}

const STATUSES: readonly ValidationStatus[] = ['VALID', 'INVALID', 'PENDING', 'NEEDS_REVIEW'];
const LABELS = ['TOTAL', 'TAX', 'SUBTOTAL', 'DATE', 'MERCHANT_NAME', 'PRODUCT_NAME'];
const PROPOSERS = ['llm', 'human', 'rules'];
const MERCHANTS = ['COSTCO', 'TRADER JOES', 'TARGET', 'WHOLE FOODS', 'CVS'];
const SEQ_BASE = 49_000_000_000_000_000_000n;

/** Vector records of one receipt, as its embedding producer writes them. */
export function receiptRecords(
  rng: Rng,
  r: Receipt,
  o: Pick<WorkloadOptions, 'collection' | 'linesPerReceipt' | 'wordsPerLine' | 'dimension'>,
  place: Record<string, string>,
): DeltaRecord[] {
  const out: DeltaRecord[] = [];
  const vector = (): number[] => Array.from({ length: o.dimension }, () => rng.next() * 2 - 1);
  for (let line = 1; line <= o.linesPerReceipt; line++) {
    if (o.collection === 'lines') {
      out.push({
        id: lineVectorId({ ...r, lineId: line }),
        embedding: vector(),
        document: `line ${line} of ${r.receiptId}`,
        metadata: { image_id: r.imageId, receipt_id: r.receiptId, line_id: line, ...place },
        receiptKey: receiptKey(r),
      });
      continue;
    }
    for (let word = 1; word <= o.wordsPerLine; word++) {
      const labelled = rng.chance(0.3);
      out.push({
        id: wordVectorId({ ...r, lineId: line, wordId: word }),
        embedding: vector(),
        document: rng.chance(0.05) ? null : `w${word}`,
        metadata: {
          image_id: r.imageId,
          receipt_id: r.receiptId,
          line_id: line,
          word_id: word,
          ...place,
          ...(labelled
            ? {
                valid_labels: ',TOTAL,',
                invalid_labels: '',
                label_status: 'validated',
                label_proposed_by: 'seed',
              }
            : {}),
        },
        receiptKey: receiptKey(r),
      });
    }
  }
  return out;
}

function randomPlace(rng: Rng): Record<string, string> {
  const merchant = rng.pick(MERCHANTS);
  return {
    merchant_name: merchant,
    canonical_merchant_name: merchant.toLowerCase(),
    merchant_category: rng.pick(['grocery', 'pharmacy', 'warehouse']),
    address: `${100 + rng.int(900)} Main St`,
    phone_number: `555-${1000 + rng.int(9000)}`,
    place_id: `place-${rng.int(1e6)}`,
  };
}

/** The receipts of a workload: those in the base collection and those only a delta brings. */
export interface WorkloadReceipts {
  base: Receipt[];
  future: Receipt[];
}

/** The receipts of a workload (deterministic for `seed`). */
export function workloadReceipts(o: Pick<WorkloadOptions, 'seed' | 'receipts'>): WorkloadReceipts {
  const rng = new Rng(o.seed);
  const base = Array.from({ length: o.receipts }, (_, i) => ({
    imageId: rng.uuid(),
    receiptId: 1 + (i % 3),
  }));
  // Receipts that do not exist yet: a delta brings them (labels for them wait in state).
  const future = Array.from({ length: Math.max(2, Math.ceil(o.receipts / 10)) }, () => ({
    imageId: rng.uuid(),
    receiptId: 1,
  }));
  return { base, future };
}

/**
 * The base collection's records, receipt by receipt, `chunk` records at a time (a
 * 100k × 384-d collection does not need to sit in memory at once).
 */
export function* baseRecordChunks(
  o: WorkloadOptions,
  receipts: WorkloadReceipts,
  chunk = 1000,
): Generator<DeltaRecord[]> {
  const rng = new Rng(o.seed + 1);
  let pending: DeltaRecord[] = [];
  for (const r of receipts.base) {
    pending.push(...receiptRecords(rng, r, o, randomPlace(rng)));
    if (pending.length >= chunk) {
      yield pending;
      pending = [];
    }
  }
  if (pending.length > 0) yield pending;
}

/**
 * Builds a workload. Deterministic for a given `seed` and options.
 *
 * @example
 * const w = buildWorkload({ seed: 7, collection: 'words', receipts: 100, linesPerReceipt: 4,
 *   wordsPerLine: 5, dimension: 16, messages: 1000 });
 */
export function buildWorkload(o: WorkloadOptions): Workload {
  const receipts = workloadReceipts(o);
  const base = [...baseRecordChunks(o, receipts)].flat();
  return { ...workloadMessages(o, receipts), base };
}

/** The change messages of a workload and the content of its deltas. */
export function workloadMessages(
  o: WorkloadOptions,
  receipts: WorkloadReceipts,
): Omit<Workload, 'base'> {
  const rng = new Rng(o.seed + 2);
  const baseReceipts = receipts.base;
  const futureReceipts = receipts.future;
  const all = [...baseReceipts, ...futureReceipts];
  const deltaShare = o.deltaShare ?? 0.04;
  const removalShare = o.removalShare ?? 0.02;

  let seq = 0n;
  const used = new Set<string>();
  const nextSeq = (): string => String(SEQ_BASE + ++seq * 100n);
  /** A sequence number from the past (a change that arrives late), never one already used. */
  const pastSeq = (): string => {
    for (;;) {
      const s = String(
        SEQ_BASE + BigInt(rng.int(Number(seq) + 1)) * 100n + BigInt(1 + rng.int(99)),
      );
      if (!used.has(s)) {
        used.add(s);
        return s;
      }
    }
  };
  const messages: ChangeMessage[] = [];
  const deltas = new Map<string, DeltaRecord[]>();
  const futureDelivered = new Set<string>();
  const c = o.collection;

  const emitDelta = (r: Receipt, seqNumber: string): void => {
    const runId = `run-${deltas.size + 1}`;
    const s3Prefix = `deltas/${c}/${runId}/`;
    const records = receiptRecords(rng, r, o, randomPlace(rng));
    // Every other run no longer has the receipt's last line (re-OCR merged it away):
    // a newer run's vector set must replace an older one's, not add to it.
    const lastLine = o.linesPerReceipt;
    const shrinks = deltas.size % 2 === 1 && lastLine > 1;
    deltas.set(
      s3Prefix,
      shrinks ? records.filter((rec) => rec.metadata.line_id !== lastLine) : records,
    );
    messages.push(deltaMessage({ receipt: r, collection: c, seq: seqNumber, runId, s3Prefix }));
  };

  while (messages.length < o.messages) {
    const roll = rng.next();
    const r = rng.chance(0.15) ? rng.pick(futureReceipts) : rng.pick(baseReceipts);
    if (messages.length > 0 && roll < 0.06) {
      // A redelivery of something already sent (same sequence number).
      messages.push(rng.pick(messages));
    } else if (roll < 0.06 + deltaShare) {
      const target = rng.chance(0.5) ? rng.pick(futureReceipts) : rng.pick(all);
      // Sometimes an old run that arrives late (its sequence number is behind).
      const s = rng.chance(0.2) ? pastSeq() : nextSeq();
      emitDelta(target, s);
      futureDelivered.add(receiptKey(target));
    } else if (roll < 0.06 + deltaShare + removalShare) {
      messages.push(removalMessage({ receipt: r, collection: c, seq: nextSeq() }));
    } else if (c === 'words' && roll < 0.65) {
      const label = rng.pick(LABELS);
      const event = rng.chance(0.15) ? 'REMOVE' : rng.chance(0.5) ? 'INSERT' : 'MODIFY';
      // Older-than-recorded changes happen too: a sequence number from the past.
      const s = rng.chance(0.1) ? pastSeq() : nextSeq();
      messages.push(
        labelMessage({
          receipt: r,
          lineId: 1 + rng.int(o.linesPerReceipt),
          wordId: 1 + rng.int(o.wordsPerLine),
          label,
          seq: s,
          event,
          status: rng.pick(STATUSES),
          proposedBy: rng.pick(PROPOSERS),
        }),
      );
    } else {
      const event = rng.chance(0.1) ? 'INSERT' : rng.chance(0.05) ? 'REMOVE' : 'MODIFY';
      const fields: Record<string, string | undefined> = {};
      const count = 1 + rng.int(3);
      for (let i = 0; i < count; i++) {
        const f = rng.pick(PLACE_FIELDS);
        fields[f] = rng.chance(0.1) ? undefined : `${f}-${rng.int(1000)}`;
      }
      const s = rng.chance(0.1) ? pastSeq() : nextSeq();
      messages.push(placeMessage({ receipt: r, collection: c, seq: s, event, fields }));
    }
  }
  return { collection: c, messages: rng.shuffle(messages), deltas };
}

/** The delta contents of a workload's messages, keyed by message (what the apply paths take). */
export function deltaContents(
  w: Workload,
  messages: readonly ChangeMessage[] = w.messages,
): Map<ChangeMessage, DeltaRecord[]> {
  const out = new Map<ChangeMessage, DeltaRecord[]>();
  for (const m of messages) {
    if (m.kind === 'delta') out.set(m, w.deltas.get(m.delta.s3Prefix) ?? []);
  }
  return out;
}
