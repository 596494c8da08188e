/**
 * Typed errors of the snapshot store: lock, pointer and audit state (`StateError`)
 * and snapshots (`SnapshotError`). Each has a stable `code` that metrics, logs and
 * the CLI can key on; messages are for humans and may change.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { Pointer } from './pointer.js';

/** Stable codes of {@link StateError}s. */
export type StateErrorCode =
  'LOCK_BUSY' | 'LOCK_LOST' | 'POINTER_SWAP_CONFLICT' | 'FENCED_OUT' | 'STATE_ITEM_INVALID';

/** Base class of the lock, pointer and audit errors. */
export abstract class StateError extends Error {
  abstract readonly code: StateErrorCode;
}

/** Who held the lock when an acquire attempt was refused (read just after the refusal). */
export interface LockHolder {
  owner: string | undefined;
  /** Epoch ms the holder's lease runs until. */
  leaseUntil: number;
  fencingToken: number;
}

/**
 * The lock stayed busy for `maxWaitMs`. The caller should fail its messages back to
 * the queue: they will be retried once the holder is done.
 */
export class LockBusyError extends StateError {
  override readonly name = 'LockBusyError';
  readonly code = 'LOCK_BUSY';
  constructor(
    readonly collection: string,
    readonly owner: string,
    readonly waitedMs: number,
    readonly attempts: number,
    readonly holder: LockHolder | undefined,
  ) {
    super(
      `lock LOCK#${collection} still busy after ${waitedMs} ms and ${attempts} attempts` +
        (holder
          ? ` (held by ${holder.owner ?? '?'} until ${new Date(holder.leaseUntil).toISOString()})`
          : ''),
    );
  }
}

/** Why a held lock is no longer ours. */
export type LockLostReason = 'heartbeat-refused' | 'lease-expired' | 'released';

/**
 * The lock is no longer held by this handle: a heartbeat was refused (someone else
 * took the lock after our lease ran out), the lease expired by our own clock, or the
 * handle was released. Nothing may be published after this.
 */
export class LockLostError extends StateError {
  override readonly name = 'LockLostError';
  readonly code = 'LOCK_LOST';
  constructor(
    readonly collection: string,
    readonly owner: string,
    readonly fencingToken: number,
    readonly reason: LockLostReason,
  ) {
    super(`lock LOCK#${collection} (token ${fencingToken}, owner ${owner}) lost: ${reason}`);
  }
}

/**
 * A pointer swap (or rollback) was refused: the pointer is no longer at the expected
 * version, or a holder with a higher fencing token has moved it or advanced its fence. `found` is
 * the pointer as read right after the refusal (undefined when there is none).
 */
export class SwapConflictError extends StateError {
  override readonly name = 'SwapConflictError';
  readonly code = 'POINTER_SWAP_CONFLICT';
  constructor(
    readonly collection: string,
    readonly expectedVersion: string | null,
    readonly fencingToken: number,
    readonly found: Pointer | undefined,
  ) {
    super(
      `pointer POINTER#${collection} swap refused: expected version ${expectedVersion ?? '(none)'} ` +
        `at token ${fencingToken}, found ` +
        (found ? `version ${found.version} at token ${found.fencingToken}` : 'no pointer'),
    );
  }
}

/**
 * A holder with a newer fencing token (`newer`) has acted on the collection (moved its
 * pointer or advanced its fence) since this holder (`fencingToken`) took the lock: this
 * holder's lease ran out and was taken over. Whatever it was about to do must not happen.
 */
export class FencedOutError extends StateError {
  override readonly name = 'FencedOutError';
  readonly code = 'FENCED_OUT';
  constructor(
    readonly collection: string,
    readonly fencingToken: number,
    readonly newer: number,
  ) {
    super(
      `POINTER#${collection}: fenced out — token ${newer} has acted since this holder's token ${fencingToken}`,
    );
  }
}

/** A state-table item does not have the shape this code writes (hand-edited, or a bug). */
export class StateItemInvalidError extends StateError {
  override readonly name = 'StateItemInvalidError';
  readonly code = 'STATE_ITEM_INVALID';
  constructor(
    readonly pk: string,
    readonly reason: string,
  ) {
    super(`state item ${pk} is invalid: ${reason}`);
  }
}

/** True for DynamoDB's "your condition was false" refusal (and only for it). */
export function isConditionalCheckFailed(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (err instanceof Error && err.name === 'ConditionalCheckFailedException')
  );
}

/** Stable codes of {@link SnapshotError}s. */
export type SnapshotErrorCode =
  | 'SNAPSHOT_MANIFEST_INVALID'
  | 'SNAPSHOT_NOT_FOUND'
  | 'SNAPSHOT_CORRUPT'
  | 'SNAPSHOT_PUBLISH_FAILED';

/** Base class of the snapshot (manifest, blob, transfer, cache) errors. */
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
