import {
  lineVectorId,
  summarizeLabels,
  VECTOR_KEY_FIELDS,
  wordVectorId,
  type CollectionName,
} from '@compaction/contracts';
import type { DemoReceipt } from './dataset.js';
import { embedText } from './embedding.js';

/** One vector as the embedding producer writes it into a delta. */
export interface ProducedVector {
  id: string;
  embedding: number[];
  document: string;
  metadata: Record<string, string | number | boolean>;
}

/**
 * The line and word vectors of a receipt as the embedding pipeline produces them: the
 * text embedded, the vector keys, the place copied in, and for words the label summary
 * known at embedding time (the compactor overlays newer state when it merges).
 *
 * @example
 * const { lines, words } = receiptVectors(receipt, { dimension: 384 });
 */
export function receiptVectors(
  receipt: DemoReceipt,
  options: { dimension?: number } = {},
): Record<CollectionName, ProducedVector[]> {
  const base = {
    [VECTOR_KEY_FIELDS.imageId]: receipt.imageId,
    [VECTOR_KEY_FIELDS.receiptId]: receipt.receiptId,
    ...receipt.place,
  };
  const lines: ProducedVector[] = [];
  const words: ProducedVector[] = [];
  for (const line of receipt.lines) {
    const lineRef = { imageId: receipt.imageId, receiptId: receipt.receiptId, lineId: line.lineId };
    lines.push({
      id: lineVectorId(lineRef),
      embedding: embedText(line.text, options),
      document: line.text,
      metadata: { ...base, [VECTOR_KEY_FIELDS.lineId]: line.lineId, text: line.text },
    });
    for (const word of line.words) {
      words.push({
        id: wordVectorId({ ...lineRef, wordId: word.wordId }),
        embedding: embedText(word.text, options),
        document: word.text,
        metadata: {
          ...base,
          [VECTOR_KEY_FIELDS.lineId]: line.lineId,
          [VECTOR_KEY_FIELDS.wordId]: word.wordId,
          text: word.text,
          ...summarizeLabels(word.labels),
        },
      });
    }
  }
  return { lines, words };
}
