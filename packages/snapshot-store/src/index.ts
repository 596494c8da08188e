/**
 * @compaction/snapshot-store — the lock-safe snapshot protocol of the vector stores:
 * a lease lock with fencing tokens, the fenced pointer, the audit trail, immutable
 * content-addressed snapshots verified before they are opened, the warm local cache,
 * delta transfer, and the clock and metrics sink they all take as arguments.
 * This file is the package's only public face; the protocol and its invariants are in
 * the README.
 *
 * @example
 * import { LeaseLock, PointerStore, SnapshotRepository } from '@compaction/snapshot-store';
 *
 * const handle = await new LeaseLock({ ddb, table, collection: 'words', owner, ...lease }).acquire();
 * const pointer = await new PointerStore({ ddb, table }).read('words');
 */

// Time and metrics: injected everywhere.
export { systemClock, ManualClock } from './clock.js';
export type { Clock } from './clock.js';
export { MetricUnit, RecordingMetrics, count, powertoolsSink } from './metrics.js';
export type { MetricsSink, MetricUnitValue, RecordedMetric } from './metrics.js';
export { mapLimit } from './concurrency.js';

// State table: lock, pointer, audit.
export { LeaseLock, lockKey } from './lock.js';
export type { LeaseLockOptions, LockHandle } from './lock.js';
export { PointerStore, pointerKey } from './pointer.js';
export type {
  Pointer,
  PointerStoreOptions,
  SwapRequest,
  RollbackRequest,
  FenceRequest,
} from './pointer.js';
export { mirrorPointer } from './latest-mirror.js';
export { AuditLog } from './audit.js';
export type {
  AuditAction,
  AuditEntry,
  AuditEntryInput,
  AuditListFilter,
  AuditLogOptions,
} from './audit.js';

// Snapshots: manifest format, layout, S3 repository, local warm cache.
export {
  MANIFEST_FORMAT_VERSION,
  DEFAULT_CHUNK_SIZE,
  newVersionId,
  parseVersionId,
  parseSnapshotManifest,
  manifestBlobs,
  storeFormatProblems,
  snapshotManifestSchema,
  latestSchema,
} from './manifest.js';
export type {
  SnapshotManifest,
  SnapshotManifestInput,
  SnapshotManifestV1,
  SnapshotManifestV2,
  SnapshotFile,
  ChunkedFile,
  Chunk,
  BlobRef,
  DeltaManifest,
  Latest,
} from './manifest.js';
export {
  blobKey,
  manifestKey,
  latestKey,
  snapshotsPrefix,
  blobsPrefix,
  parseManifestKey,
} from './layout.js';
export { SnapshotRepository, parseS3Prefix } from './repository.js';
export type { WrittenPages } from './chunker.js';
export type {
  SnapshotRepositoryOptions,
  PublishRequest,
  PublishResult,
  DownloadOptions,
  DownloadProgress,
  DownloadResult,
  ManifestListing,
  BlobListing,
} from './repository.js';
export { LocalCache } from './local-cache.js';
export { openLatest, SnapshotReader } from './reader.js';
export type { OpenLatestOptions, ReadOnlyCollection, RefreshResult } from './reader.js';
export type { LocalCacheOptions, Checkout, CheckoutMode, CheckoutTarget } from './local-cache.js';

// Typed errors.
export {
  StateError,
  LockBusyError,
  LockLostError,
  SwapConflictError,
  FencedOutError,
  StateItemInvalidError,
  isConditionalCheckFailed,
  SnapshotError,
  SnapshotManifestError,
  SnapshotNotFoundError,
  SnapshotCorruptError,
  SnapshotPublishError,
} from './errors.js';
export type {
  StateErrorCode,
  LockHolder,
  LockLostReason,
  SnapshotErrorCode,
  FileDigest,
} from './errors.js';
