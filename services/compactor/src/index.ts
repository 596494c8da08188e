/**
 * @compaction/compactor — SQS change batches → lock → apply → verified snapshot →
 * fenced pointer swap. This file is the package's only public face.
 *
 * @example
 * import { compactCollection } from '@compaction/compactor';
 *
 * const result = await compactCollection({ collection: 'words', messages, path: 'batched', deps });
 * result.status; // 'published' | 'unchanged'
 */

// Orchestration and the batch domain.
export { compactCollection } from './compact.js';
export type {
  CompactCollectionInput,
  CompactionDeps,
  CompactionFaults,
  CompactionResult,
  FaultContext,
  FaultPhase,
  MessageItem,
  Phase,
  ShadowComparison,
} from './compact.js';
export { compactRecords } from './batch.js';
export type { BatchDeps, RecordOutcome } from './batch.js';

// Lambda wiring (the entry point itself is `src/handler.ts`).
export { handler } from './handler.js';
export { createHandler } from './create-handler.js';
export type { CompactorHandler } from './create-handler.js';
export { createCompactorRuntime, SERVICE_NAME } from './runtime.js';
export type { CompactorLogger, CompactorRuntime, CompactorRuntimeOptions } from './runtime.js';

// Apply paths and entity state.
export * from './apply/index.js';

// Flags, config, routing, dead-lettering, metrics, errors.
export {
  FlagSource,
  FLAGS_MAX_AGE_SECONDS,
  batchBucket,
  powertoolsAppConfigFetcher,
  routeBatch,
} from './flags.js';
export type {
  AppConfigFetcher,
  AppConfigSource,
  CompactionFlags,
  FlagSourceOptions,
} from './flags.js';
export { loadConfig, parseFlagValues } from './config.js';
export type { CompactorConfig, LockSettings } from './config.js';
export { applyPrecondition, classifyBody, collectionOfQueue, queueNameOfArn } from './routing.js';
export type { ClassifiedRecord } from './routing.js';
export { DLQ_ATTRIBUTES, DeadLetters } from './dead-letter.js';
export type { DeadLetterOptions, Rejection } from './dead-letter.js';
export {
  CompactorError,
  ConfigError,
  DeltaInvalidError,
  InjectedFaultError,
  RecordFailedError,
  VectorLossGuardError,
} from './errors.js';
export type { CompactorErrorCode, DeltaRefusalCode, RejectionCode } from './errors.js';
