/**
 * Keys of the receipts table (single-table design, `PK = IMAGE#<uuid>`).
 *
 * Builders and the parser live together so that what the demo writes and what the
 * stream processor classifies cannot drift apart.
 */

const pad5 = (n: number): string => String(n).padStart(5, '0');

/** Validation states a word label can have in the receipts table. */
export const VALIDATION_STATUSES = ['VALID', 'INVALID', 'PENDING', 'NEEDS_REVIEW'] as const;
export type ValidationStatus = (typeof VALIDATION_STATUSES)[number];

/** Receipt place fields copied verbatim into the metadata of every vector of the receipt. */
export const PLACE_FIELDS = [
  'merchant_name',
  'canonical_merchant_name',
  'merchant_category',
  'address',
  'phone_number',
  'place_id',
] as const;
export type PlaceField = (typeof PLACE_FIELDS)[number];

/** Word-label fields whose change is sent to the `words` collection. */
export const LABEL_FIELDS = [
  'label',
  'validation_status',
  'reasoning',
  'label_proposed_by',
  'label_consolidated_from',
] as const;
export type LabelField = (typeof LABEL_FIELDS)[number];

/** Compaction-run fields that matter to the compactor. */
export const COMPACTION_RUN_FIELDS = [
  'lines_delta_prefix',
  'words_delta_prefix',
  'lines_state',
  'words_state',
] as const;

/** The entity a receipts-table key designates. */
export type TableEntity =
  | { type: 'receipt'; imageId: string; receiptId: number }
  | { type: 'place'; imageId: string; receiptId: number; legacyMetadataKey: boolean }
  | {
      type: 'label';
      imageId: string;
      receiptId: number;
      lineId: number;
      wordId: number;
      label: string;
    }
  | { type: 'compaction-run'; imageId: string; receiptId: number; runId: string }
  | { type: 'other' };

export const receiptPk = (imageId: string): string => `IMAGE#${imageId}`;
export const receiptSk = (receiptId: number): string => `RECEIPT#${pad5(receiptId)}`;
export const placeSk = (receiptId: number): string => `${receiptSk(receiptId)}#PLACE`;
export const lineSk = (receiptId: number, lineId: number): string =>
  `${receiptSk(receiptId)}#LINE#${pad5(lineId)}`;
export const wordSk = (receiptId: number, lineId: number, wordId: number): string =>
  `${lineSk(receiptId, lineId)}#WORD#${pad5(wordId)}`;
export const labelSk = (receiptId: number, lineId: number, wordId: number, label: string): string =>
  `${wordSk(receiptId, lineId, wordId)}#LABEL#${label}`;
export const compactionRunSk = (receiptId: number, runId: string): string =>
  `${receiptSk(receiptId)}#COMPACTION_RUN#${runId}`;

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const PK_RE = new RegExp(`^IMAGE#(${UUID})$`);
const RECEIPT_RE = /^RECEIPT#(\d{5})$/;
const PLACE_RE = /^RECEIPT#(\d{5})#(PLACE|METADATA)$/;
const LABEL_RE = /^RECEIPT#(\d{5})#LINE#(\d{5})#WORD#(\d{5})#LABEL#([A-Z0-9_]+)$/;
const RUN_RE = /^RECEIPT#(\d{5})#COMPACTION_RUN#([A-Za-z0-9_.:-]+)$/;

/**
 * Classifies a receipts-table key. Anything that is not one of the four entities the
 * service cares about (including lines, words and other images' rows) is `other`.
 *
 * @example
 * parseTableKey('IMAGE#3f2a…', 'RECEIPT#00001#PLACE') // { type: 'place', … }
 */
export function parseTableKey(pk: string, sk: string): TableEntity {
  const pkMatch = PK_RE.exec(pk);
  if (!pkMatch) return { type: 'other' };
  const imageId = pkMatch[1]!.toLowerCase();
  let m = RECEIPT_RE.exec(sk);
  if (m) return { type: 'receipt', imageId, receiptId: Number(m[1]) };
  m = PLACE_RE.exec(sk);
  if (m) {
    return {
      type: 'place',
      imageId,
      receiptId: Number(m[1]),
      legacyMetadataKey: m[2] === 'METADATA',
    };
  }
  m = LABEL_RE.exec(sk);
  if (m) {
    return {
      type: 'label',
      imageId,
      receiptId: Number(m[1]),
      lineId: Number(m[2]),
      wordId: Number(m[3]),
      label: m[4]!,
    };
  }
  m = RUN_RE.exec(sk);
  if (m) return { type: 'compaction-run', imageId, receiptId: Number(m[1]), runId: m[2]! };
  return { type: 'other' };
}

/** The shapes {@link malformedKeyReason} recognises, and what each must look like. */
const ENTITY_SHAPES = {
  receipt: 'RECEIPT#<5 digits>',
  place: 'RECEIPT#<5 digits>#PLACE (or #METADATA)',
  label: 'RECEIPT#<5 digits>#LINE#<5 digits>#WORD#<5 digits>#LABEL#<A-Z, 0-9, _>',
  'compaction run': 'RECEIPT#<5 digits>#COMPACTION_RUN#<run id: A-Z, a-z, 0-9, _ . : ->',
} as const;
const ID_AFTER: ReadonlySet<string> = new Set(['RECEIPT', 'LINE', 'WORD']);

function entityShape(parts: readonly string[]): keyof typeof ENTITY_SHAPES | undefined {
  const rest = parts.slice(2);
  if (rest.includes('LABEL')) return 'label';
  if (rest.includes('COMPACTION_RUN')) return 'compaction run';
  if (rest.includes('PLACE') || rest.includes('METADATA')) return 'place';
  if (parts.length === 2) return 'receipt';
  return undefined;
}

/**
 * Why a receipt-scoped key (`PK = IMAGE#…`, `SK = RECEIPT#…`) that {@link parseTableKey}
 * calls `other` is shaped like an entity the service acts on (receipt, place, label,
 * compaction run: an entity marker in the SK) yet malformed — a malformed id, a
 * lower-case label, a PK that is not `IMAGE#<uuid>`. Such a row is a data bug whose
 * change would otherwise be ignored silently. `undefined` for a valid key and for a
 * truly foreign row (lines, words, image-level rows, other PKs).
 *
 * @example
 * malformedKeyReason(receiptPk(id), 'RECEIPT#0000X#PLACE') // 'SK "RECEIPT#0000X#PLACE" looks like a place key, but RECEIPT id "0000X" is not 5 digits'
 * malformedKeyReason(receiptPk(id), lineSk(1, 2)) // undefined (a line: foreign)
 */
export function malformedKeyReason(pk: string, sk: string): string | undefined {
  if (!pk.startsWith('IMAGE#') || !sk.startsWith('RECEIPT#')) return undefined;
  const parts = sk.split('#');
  const shape = entityShape(parts);
  if (shape === undefined || parseTableKey(pk, sk).type !== 'other') return undefined;
  if (!PK_RE.test(pk)) {
    return `PK ${JSON.stringify(pk)} of a ${shape} key is not IMAGE#<uuid>`;
  }
  const problems: string[] = [];
  parts.forEach((part, i) => {
    const marker = parts[i - 1];
    if (marker !== undefined && ID_AFTER.has(marker) && !/^\d{5}$/.test(part)) {
      problems.push(`${marker} id ${JSON.stringify(part)} is not 5 digits`);
    }
  });
  const label = /#LABEL#(.*)$/.exec(sk)?.[1];
  if (shape === 'label' && label !== undefined && !/^[A-Z0-9_]+$/.test(label)) {
    problems.push(`label ${JSON.stringify(label)} is not upper-case letters, digits or _`);
  }
  const detail = problems.length > 0 ? problems.join('; ') : `it is not ${ENTITY_SHAPES[shape]}`;
  return `SK ${JSON.stringify(sk)} looks like a ${shape} key, but ${detail}`;
}
