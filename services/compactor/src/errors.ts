/**
 * Typed errors of the compactor's apply logic, orchestration, flags and config. Each
 * has a stable `code` that metrics, logs and DLQ reasons key on; messages are for
 * humans and may change. Lock/pointer errors live in `state/errors.ts`, snapshot
 * errors in `snapshots/errors.ts`.
 */

/** Stable codes of {@link CompactorError}s. */
export type CompactorErrorCode =
  'CONFIG_INVALID' | 'DELTA_INVALID' | 'VECTOR_LOSS_GUARD' | 'RECORD_FAILED' | 'INJECTED_FAULT';

/** Base class of the errors raised by the compactor's own modules. */
export abstract class CompactorError extends Error {
  abstract readonly code: CompactorErrorCode;
}

/** An environment variable (or AppConfig value) has a value the compactor cannot use. */
export class ConfigError extends CompactorError {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`configuration ${variable}: ${reason}`);
  }
}

/**
 * Why a delta message was refused; the message alone is dead-lettered with it, the
 * rest of its batch is applied.
 *
 * - `delta-prefix-refused`     the prefix lies outside `DELTA_PREFIX_ALLOW_LIST` (contracts `deltaPrefixRefusal`)
 * - `delta-unreachable`        no manifest under the prefix, or S3 refuses to read it (403, no such bucket)
 * - `delta-invalid`            the manifest or a file fails verification, or the store has no such collection
 * - `delta-dimension-mismatch` its vectors' dimension differs from the collection's
 * - `delta-foreign-receipt`    a record belongs to a receipt the message does not name
 */
export type DeltaRefusalCode =
  | 'delta-prefix-refused'
  | 'delta-unreachable'
  | 'delta-invalid'
  | 'delta-dimension-mismatch'
  | 'delta-foreign-receipt';

/** Why a record was refused: the DLQ `rejectionCode` attribute. */
export type RejectionCode =
  | 'not-json'
  | 'unsupported-version'
  | 'invalid'
  | 'unknown-collection'
  | 'collection-mismatch'
  | DeltaRefusalCode;

/**
 * A delta named by a message cannot be merged (`refusal` says why: unreachable,
 * invalid, wrong dimension, a record of another receipt, …). Only that message fails:
 * it is dead-lettered with the refusal as its reason; the rest of its batch is applied.
 */
export class DeltaInvalidError extends CompactorError {
  override readonly name = 'DeltaInvalidError';
  readonly code = 'DELTA_INVALID';
  /** The DLQ `rejectionCode`; default `delta-invalid`. */
  readonly refusal: DeltaRefusalCode;
  constructor(
    readonly messageId: string,
    readonly s3Prefix: string,
    readonly reason: string,
    options?: { cause?: unknown; refusal?: DeltaRefusalCode },
  ) {
    super(
      `delta ${s3Prefix} (message ${messageId}) cannot be merged: ${reason}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.refusal = options?.refusal ?? 'delta-invalid';
  }
}

/**
 * The store lost more vectors than this batch's removals explain (beyond the allowed
 * share). Nothing is published; the previous version stays live.
 */
export class VectorLossGuardError extends CompactorError {
  override readonly name = 'VectorLossGuardError';
  readonly code = 'VECTOR_LOSS_GUARD';
  constructor(
    readonly collection: string,
    /** Vectors before the batch. */
    readonly before: number,
    /** Vectors the batch should have left: before + new ids − deleted by removals. */
    readonly expected: number,
    /** Vectors actually left. */
    readonly after: number,
    readonly maxLossShare: number,
  ) {
    super(
      `vector-loss guard on ${collection}: expected ${expected} vectors after the batch, found ${after} ` +
        `(${before} before; unexplained loss ${expected - after} > ${(maxLossShare * 100).toFixed(1)}% of ${before})`,
    );
  }
}

/**
 * A record whose effect is not durably published (its collection's compaction failed,
 * or its delta was refused). Thrown for it inside Powertools' batch processing so it
 * is reported in `batchItemFailures` and comes back from the queue.
 */
export class RecordFailedError extends CompactorError {
  override readonly name = 'RecordFailedError';
  readonly code = 'RECORD_FAILED';
  constructor(
    readonly messageId: string,
    readonly reason: string,
  ) {
    super(`record ${messageId} failed: ${reason}`);
  }
}

/** Thrown by a test-only fault hook (see `CompactionFaults`) to simulate a crash. */
export class InjectedFaultError extends CompactorError {
  override readonly name = 'InjectedFaultError';
  readonly code = 'INJECTED_FAULT';
  constructor(readonly phase: string) {
    super(`injected fault at ${phase}`);
  }
}
