export * from './collections.js';
export * from './table-keys.js';
export * from './vector-ids.js';
export * from './vector-metadata.js';
export * from './change-message.js';
export * from './resources.js';
export * from './metrics.js';
export * from './sqs-body.js';
