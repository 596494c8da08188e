/** Snapshots of the vector stores: manifest format, S3 repository, local warm cache. */
export {
  MANIFEST_FORMAT_VERSION,
  newVersionId,
  parseVersionId,
  parseSnapshotManifest,
  unsafePathReason,
  snapshotManifestSchema,
  snapshotFileSchema,
  deltaManifestSchema,
  latestSchema,
  versionIdSchema,
} from './manifest.js';
export type {
  SnapshotManifest,
  SnapshotManifestInput,
  SnapshotFile,
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
export type {
  SnapshotRepositoryOptions,
  PublishRequest,
  PublishResult,
  DownloadOptions,
  DownloadProgress,
  ManifestListing,
  BlobListing,
} from './repository.js';
export { LocalCache } from './local-cache.js';
export type { LocalCacheOptions, Checkout, CheckoutMode, CheckoutTarget } from './local-cache.js';
export {
  SnapshotError,
  SnapshotManifestError,
  SnapshotNotFoundError,
  SnapshotCorruptError,
  SnapshotPublishError,
} from './errors.js';
export type { SnapshotErrorCode, FileDigest } from './errors.js';
