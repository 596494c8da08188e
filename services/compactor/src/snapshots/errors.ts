/**
 * Typed errors of the snapshot repository and the local cache. Each has a stable
 * `code` that metrics, logs and the CLI can key on; messages are for humans.
 */

/** Stable codes of {@link SnapshotError}s. */
export type SnapshotErrorCode =
  | 'SNAPSHOT_MANIFEST_INVALID'
  | 'SNAPSHOT_NOT_FOUND'
  | 'SNAPSHOT_CORRUPT'
  | 'SNAPSHOT_PUBLISH_FAILED';

/** Base class of every error raised by `src/snapshots`. */
export abstract class SnapshotError extends Error {
  abstract readonly code: SnapshotErrorCode;
}

/**
 * A manifest (or `latest.json`, or a delta's `manifest.json`) is not JSON, does not
 * have the expected shape, names an unsafe path (absolute, `..`), or disagrees with
 * the key it was read from.
 */
export class SnapshotManifestError extends SnapshotError {
  override readonly name = 'SnapshotManifestError';
  readonly code = 'SNAPSHOT_MANIFEST_INVALID';
  constructor(
    /** Where the manifest came from (S3 key), when known. */
    readonly key: string | undefined,
    readonly reason: string,
  ) {
    super(`invalid snapshot manifest${key ? ` ${key}` : ''}: ${reason}`);
  }
}

/** A manifest or `latest.json` that should exist does not. */
export class SnapshotNotFoundError extends SnapshotError {
  override readonly name = 'SnapshotNotFoundError';
  readonly code = 'SNAPSHOT_NOT_FOUND';
  constructor(readonly key: string) {
    super(`snapshot object ${key} does not exist`);
  }
}

/** Size and digest of a file's content. */
export interface FileDigest {
  size: number;
  sha256: string;
}

/**
 * A downloaded file does not match its manifest entry (or its blob is missing). The
 * download was abandoned and its directory removed; nothing was opened.
 */
export class SnapshotCorruptError extends SnapshotError {
  override readonly name = 'SnapshotCorruptError';
  readonly code = 'SNAPSHOT_CORRUPT';
  constructor(
    /** The collection, or undefined for a delta (which names none). */
    readonly collection: string | undefined,
    /** The snapshot version, or the S3 prefix of a delta. */
    readonly version: string,
    /** The file's path inside the snapshot. */
    readonly path: string,
    /** The S3 key its bytes were read from. */
    readonly key: string,
    readonly expected: FileDigest,
    /** What was read; undefined when the blob does not exist. */
    readonly actual: FileDigest | undefined,
  ) {
    super(
      `corrupt snapshot ${collection ?? 'delta'}@${version}: ${path} (${key}) ` +
        (actual
          ? `expected ${expected.size} bytes sha256 ${expected.sha256}, got ${actual.size} bytes sha256 ${actual.sha256}`
          : 'is missing'),
    );
  }
}

/** Publishing could not complete (a file changed while it was uploaded, a manifest already exists…). */
export class SnapshotPublishError extends SnapshotError {
  override readonly name = 'SnapshotPublishError';
  readonly code = 'SNAPSHOT_PUBLISH_FAILED';
  constructor(
    readonly collection: string,
    readonly version: string,
    readonly reason: string,
  ) {
    super(`cannot publish ${collection}@${version}: ${reason}`);
  }
}
