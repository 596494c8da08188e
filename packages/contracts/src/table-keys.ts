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
