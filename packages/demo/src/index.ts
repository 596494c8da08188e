export * from './embedding.js';
export * from './random.js';
export * from './dataset.js';
export * from './receipts-table.js';
