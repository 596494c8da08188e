/**
 * Typed errors of the stream processor. Each one names a way a record can end; the
 * record handler turns them into a reject (never retried), a failure (retried by
 * Lambda) or a configuration error (the function cannot start).
 */

/**
 * Stable codes of records that can never be turned into change messages. They are the
 * `reason.code` of a reject on the rejects queue and appear in the reject log line.
 */
export const REJECT_CODES = [
  /** `eventID`, `eventName`, `dynamodb`, `SequenceNumber` or `ApproximateCreationDateTime` absent or malformed. */
  'malformed-record',
  /** `dynamodb.Keys` absent, not unmarshallable, or `PK`/`SK` not strings. */
  'missing-keys',
  /** The image the entity needs is absent (e.g. a KEYS_ONLY stream or a MODIFY without OldImage). */
  'missing-image',
  /** An image that `unmarshall` refuses, or a relevant field with a value JSON cannot carry. */
  'malformed-image',
  /**
   * A receipt-scoped key shaped like an entity the service acts on (receipt, place,
   * label, compaction run) but malformed: `RECEIPT#0000X#PLACE`, a lower-case label, a PK
   * that is not `IMAGE#<uuid>` (contracts `malformedKeyReason`). Ignoring it would lose
   * the change silently.
   */
  'malformed-key',
  /** A label whose current `validation_status` is not one of `VALIDATION_STATUSES`. */
  'unknown-validation-status',
  /**
   * A compaction run's `<collection>_state` that is COMPLETED but for case or spaces
   * (`completed`, `COMPLETED `): the producer meant COMPLETED, and ignoring it would lose
   * the delta.
   */
  'malformed-run-state',
  /** A compaction run state is COMPLETED but its `<collection>_delta_prefix` is absent or empty. */
  'missing-delta-prefix',
  /**
   * A completed run's `<collection>_delta_prefix` outside the allowed locations
   * (`DELTA_PREFIX_ALLOW_LIST`), or with `..`/empty segments, or empty of content:
   * contracts `deltaPrefixRefusal`.
   */
  'delta-prefix-refused',
  /** A built message failed the change-message schema (a data shape the schema refuses, or a build bug). */
  'invalid-message',
  /** A built message is larger than one SQS message may be. */
  'message-too-large',
] as const;

export type RejectCode = (typeof REJECT_CODES)[number];

/** Why a record was rejected: a stable code and a human-readable reason. */
export interface RecordRejection {
  code: RejectCode;
  reason: string;
}

/**
 * Thrown while reading a record that can never be parsed. Caught by `planRecord`, which
 * turns it into a reject plan; it never escapes to the batch processor.
 */
export class InvalidRecordError extends Error {
  override readonly name = 'InvalidRecordError';
  constructor(
    readonly code: RejectCode,
    reason: string,
  ) {
    super(reason);
  }

  get rejection(): RecordRejection {
    return { code: this.code, reason: this.message };
  }
}

/** One SQS entry that could not be delivered, after the publisher's retries. */
export interface EntryFailure {
  /** Position of the entry in the `publish()` call that carried it. */
  index: number;
  queueUrl: string;
  /** SQS error code (`InternalError`, …) or the SDK error name for a call that threw. */
  code: string;
  message: string;
  /** SQS `SenderFault`: retrying the same entry cannot succeed. */
  senderFault: boolean;
  attempts: number;
}

/**
 * Thrown by the record handler when some of a record's messages (or its reject) could
 * not be sent. The batch processor reports the record's sequence number in
 * `batchItemFailures`, so Lambda retries from there: the record is never dropped.
 */
export class PublishFailedError extends Error {
  override readonly name = 'PublishFailedError';
  constructor(
    readonly sequenceNumber: string | undefined,
    readonly failures: readonly EntryFailure[],
  ) {
    const first = failures[0];
    super(
      `${failures.length} message(s) of record ${sequenceNumber ?? '<no sequence number>'} not sent` +
        (first
          ? ` (first: ${first.code}: ${first.message} after ${first.attempts} attempt(s))`
          : ''),
    );
  }
}

/** A required setting is missing or malformed; the function cannot run. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
