/**
 * Vector ids: `IMAGE#<uuid>#RECEIPT#<5d>#LINE#<5d>` for lines, `…#WORD#<5d>` for words.
 * Zero-padding keeps ids of one receipt contiguous and sortable.
 */

const pad5 = (n: number): string => String(n).padStart(5, '0');

export interface LineRef {
  imageId: string;
  receiptId: number;
  lineId: number;
}

export interface WordRef extends LineRef {
  wordId: number;
}

export type VectorRef = (LineRef & { kind: 'line' }) | (WordRef & { kind: 'word' });

/** The id prefix shared by every vector of one receipt, in both collections. */
export const receiptVectorPrefix = (imageId: string, receiptId: number): string =>
  `IMAGE#${imageId}#RECEIPT#${pad5(receiptId)}#`;

/** @example lineVectorId({ imageId, receiptId: 1, lineId: 2 }) // 'IMAGE#…#RECEIPT#00001#LINE#00002' */
export const lineVectorId = (ref: LineRef): string =>
  `${receiptVectorPrefix(ref.imageId, ref.receiptId)}LINE#${pad5(ref.lineId)}`;

/** @example wordVectorId({ imageId, receiptId: 1, lineId: 2, wordId: 3 }) // '…#LINE#00002#WORD#00003' */
export const wordVectorId = (ref: WordRef): string =>
  `${lineVectorId(ref)}#WORD#${pad5(ref.wordId)}`;

const VECTOR_ID_RE = /^IMAGE#([0-9a-f-]{36})#RECEIPT#(\d{5})#LINE#(\d{5})(?:#WORD#(\d{5}))?$/;

/** Parses a vector id, or returns undefined when it is not one of ours. */
export function parseVectorId(id: string): VectorRef | undefined {
  const m = VECTOR_ID_RE.exec(id);
  if (!m) return undefined;
  const base = { imageId: m[1]!, receiptId: Number(m[2]), lineId: Number(m[3]) };
  return m[4] === undefined
    ? { kind: 'line', ...base }
    : { kind: 'word', ...base, wordId: Number(m[4]) };
}
