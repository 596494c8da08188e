/**
 * @compaction/receipt-fixtures — test data for the demo and the services' tests:
 * realistic, reproducible receipts, a deterministic local text embedding, the vectors the
 * embedding pipeline would produce for a receipt, and a writer that puts receipts into
 * the receipts table the way the source system does. It depends on no service, so every
 * service's tests and the demo can import it without a cycle.
 * This file is the package's only public face.
 *
 * @example
 * import { buildDataset, ReceiptsTable } from '@compaction/receipt-fixtures';
 *
 * const receipts = buildDataset({ receipts: 10, seed: 7 });
 * await new ReceiptsTable(documentClient, receiptsTableName).putReceipts(receipts);
 */

// Receipts: the data set, one receipt, their vector counts.
export { buildDataset, buildReceipt, countVectors } from './dataset.js';
export type { DatasetOptions, DemoLine, DemoPlace, DemoReceipt, DemoWord } from './dataset.js';
export { SeededRandom } from './random.js';

// Vectors: the local embedding and what the embedding pipeline makes of a receipt.
export { cosineSimilarity, embedText } from './embedding.js';
export type { EmbeddingOptions } from './embedding.js';
export { receiptVectors } from './vectors.js';
export type { ProducedVector } from './vectors.js';

// The receipts table, written as the source system writes it.
export { ReceiptsTable, receiptItems } from './receipts-table.js';
export type { LabelRef, RunState } from './receipts-table.js';
