import {
  CHANGE_MESSAGE_VERSION,
  COLLECTIONS,
  COMPACTION_RUN_FIELDS,
  DEFAULT_DELTA_PREFIXES,
  deltaPrefixRefusal,
  LABEL_FIELDS,
  PLACE_FIELDS,
  VALIDATION_STATUSES,
  toSqsJson,
  validateChangeMessage,
  type ChangeMessage,
  type ChangeMessageInput,
  type CollectionName,
  type TableEntity,
} from '@compaction/contracts';
import type { DynamoDBRecord } from 'aws-lambda';
import { classifyRecord, readImage, type ClassifiedRecord, type RecordMeta } from './classify.js';
import { diffFields, normalizeImage, type FieldImage } from './diff.js';
import { InvalidRecordError, type RecordRejection } from './errors.js';

/**
 * The largest change message we send, in bytes (256 KiB). SQS takes 1 MiB since August
 * 2025; this cap is deliberately lower, so that the compactor can dead-letter a message
 * with its reason inside SQS's limit and a batch of them stays well inside Lambda's 6 MB
 * invocation payload. A larger message rejects its record (`message-too-large`).
 */
export const MAX_MESSAGE_BYTES = 262_144;

/** Why a record sends nothing; the `reason` of the ignore log line. */
export const IGNORE_REASONS = [
  /** Lines, words, other entities, keys outside `IMAGE#<uuid>`. */
  'other-entity',
  /** A place or label write that changed none of its relevant fields. */
  'no-relevant-change',
  /** INSERT or MODIFY of a receipt row (only its REMOVE matters). */
  'receipt-upsert',
  /** A compaction-run write that completed no collection's state. */
  'run-not-completed',
  /** REMOVE of a compaction-run row. */
  'run-removed',
] as const;

export type IgnoreReason = (typeof IGNORE_REASONS)[number];

/** A validated change message with its serialised SQS body. */
export interface OutgoingMessage {
  message: ChangeMessage;
  body: string;
}

/** What to do with one stream record. */
export type RecordPlan =
  | { action: 'send'; meta: RecordMeta; messages: OutgoingMessage[] }
  | { action: 'ignore'; meta: RecordMeta; reason: IgnoreReason }
  | { action: 'reject'; meta?: RecordMeta; rejection: RecordRejection };

export interface PlanOptions extends BuildOptions {
  /** Largest allowed message body in bytes; default {@link MAX_MESSAGE_BYTES}. */
  maxMessageBytes?: number;
}

export interface BuildOptions {
  /** Where a delta prefix may point; default contracts `DEFAULT_DELTA_PREFIXES`. */
  deltaPrefixes?: readonly string[];
}

/**
 * Parses, classifies, diffs and builds one record's change messages, validating each
 * against the contracts schema and serialising it. Pure and synchronous; never throws
 * for bad input: a record that can never be parsed becomes a `reject` plan.
 *
 * A built message that the schema refuses is rejected (`invalid-message`) rather
 * than sent: whether a data shape the schema does not allow or a bug here, an invalid
 * message must not reach the queue, and retrying the record would not change it.
 *
 * @example
 * const plan = planRecord(record);
 * if (plan.action === 'send') for (const m of plan.messages) queue(m.message.collection, m.body);
 */
export function planRecord(record: DynamoDBRecord, options: PlanOptions = {}): RecordPlan {
  const maxBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  let classified: ClassifiedRecord;
  try {
    classified = classifyRecord(record);
  } catch (err) {
    if (err instanceof InvalidRecordError) return { action: 'reject', rejection: err.rejection };
    throw err;
  }
  const { meta } = classified;
  let built: ChangeMessageInput[] | IgnoreReason;
  try {
    built = buildMessages(classified, options);
  } catch (err) {
    if (err instanceof InvalidRecordError)
      return { action: 'reject', meta, rejection: err.rejection };
    throw err;
  }
  if (typeof built === 'string') return { action: 'ignore', meta, reason: built };

  const finalized = finalizeMessages(built, maxBytes);
  if (!Array.isArray(finalized)) return { action: 'reject', meta, rejection: finalized };
  return { action: 'send', meta, messages: finalized };
}

/**
 * Validates built messages against the contracts schema and serialises them. Returns
 * the outgoing messages, or the rejection of the whole record (`invalid-message`,
 * `message-too-large`) at the first one that cannot be sent: a record's messages go
 * all together or not at all.
 *
 * @example
 * const out = finalizeMessages(buildMessages(classified), MAX_MESSAGE_BYTES);
 */
export function finalizeMessages(
  inputs: readonly ChangeMessageInput[],
  maxBytes: number = MAX_MESSAGE_BYTES,
): OutgoingMessage[] | RecordRejection {
  const messages: OutgoingMessage[] = [];
  for (const input of inputs) {
    const result = validateChangeMessage(input);
    if (!result.ok) {
      return {
        code: 'invalid-message',
        reason: `built ${input.kind} message for ${input.collection} is invalid: ${result.rejection.reason}`,
      };
    }
    // Any string the table holds survives: characters SQS refuses (U+FFFF, U+FFFE, …)
    // become JSON escapes, which the compactor's JSON.parse restores to the same value.
    const body = toSqsJson(result.message);
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes > maxBytes) {
      return {
        code: 'message-too-large',
        reason: `${input.kind} message for ${input.collection} is ${bytes} bytes, over the ${maxBytes}-byte SQS limit`,
      };
    }
    messages.push({ message: result.message, body });
  }
  return messages;
}

type Entity<T extends TableEntity['type']> = Extract<TableEntity, { type: T }>;

/**
 * Builds the (unvalidated) change messages of a classified record, or says why it
 * sends none. Throws {@link InvalidRecordError} for a record that can never be parsed.
 * The rules are those of design.md "Source table" as decided for issue 4.
 *
 * @example
 * const out = buildMessages(classifyRecord(record));
 * if (typeof out === 'string') console.log('ignored:', out);
 */
export function buildMessages(
  classified: ClassifiedRecord,
  options: BuildOptions = {},
): ChangeMessageInput[] | IgnoreReason {
  const { entity } = classified;
  switch (entity.type) {
    case 'place':
      return placeMessages(classified, entity);
    case 'label':
      return labelMessages(classified, entity);
    case 'receipt':
      return receiptMessages(classified, entity);
    case 'compaction-run':
      return compactionRunMessages(
        classified,
        entity,
        options.deltaPrefixes ?? DEFAULT_DELTA_PREFIXES,
      );
    case 'other':
      return 'other-entity';
  }
}

const receiptOf = (entity: { imageId: string; receiptId: number }) => ({
  imageId: entity.imageId,
  receiptId: entity.receiptId,
});

const sourceOf = (meta: RecordMeta) => ({
  eventId: meta.eventId,
  sequenceNumber: meta.sequenceNumber,
  approximateCreationTime: meta.approximateCreationTime,
});

// Messages are written as full literals rather than `{ ...common, kind, … }`: on
// Node 20 spreading a fresh object and adding properties costs ~2 µs (a V8 slow path),
// more than the rest of the build; a literal costs ~30 ns (see bench/).

/**
 * The old and new images (normalised, relevant fields only) an event needs: INSERT
 * needs the new image, REMOVE the old one, MODIFY both.
 */
function images(
  { record, meta }: ClassifiedRecord,
  fields: readonly string[],
): { oldImage: FieldImage | undefined; newImage: FieldImage | undefined } {
  const needOld = meta.eventName !== 'INSERT';
  const needNew = meta.eventName !== 'REMOVE';
  const oldImage = needOld
    ? normalizeImage(readImage(record, 'OldImage', fields), fields)
    : undefined;
  const newImage = needNew
    ? normalizeImage(readImage(record, 'NewImage', fields), fields)
    : undefined;
  if (needOld && oldImage === undefined) {
    throw new InvalidRecordError('missing-image', `${meta.eventName} record has no OldImage`);
  }
  if (needNew && newImage === undefined) {
    throw new InvalidRecordError('missing-image', `${meta.eventName} record has no NewImage`);
  }
  return { oldImage, newImage };
}

/**
 * Place → one `place` message per collection, sent only when a PLACE_FIELD differs, and
 * then carrying ALL place fields (old/new; a field absent in the new image is removed).
 * The compactor orders changes per entity and drops older ones, so a message must
 * describe the whole place: were it to carry only the changed fields, a rename
 * overtaken by a later address change (SQS reordering, a retried record) would be
 * dropped as stale and lost for good.
 */
function placeMessages(
  c: ClassifiedRecord,
  entity: Entity<'place'>,
): ChangeMessageInput[] | IgnoreReason {
  const { oldImage, newImage } = images(c, PLACE_FIELDS);
  const changes = diffFields(oldImage, newImage, PLACE_FIELDS, PLACE_FIELDS);
  if (Object.keys(changes).length === 0) return 'no-relevant-change';
  return COLLECTIONS.map((collection) => ({
    v: CHANGE_MESSAGE_VERSION,
    kind: 'place',
    collection,
    event: c.meta.eventName,
    receipt: receiptOf(entity),
    changes,
    source: sourceOf(c.meta),
  }));
}

const KNOWN_STATUSES: ReadonlySet<unknown> = new Set(VALIDATION_STATUSES);
/** Sent with every label message, changed or not, so the consumer needs no prior state. */
const LABEL_ALWAYS = ['validation_status', 'label_proposed_by'] as const;

/**
 * Label → one `label` message to `words` with the LABEL_FIELDS that differ plus
 * `validation_status` and `label_proposed_by`. The image that describes the label
 * after the event (new for INSERT/MODIFY; old for REMOVE) must carry a known
 * `validation_status`.
 */
function labelMessages(
  c: ClassifiedRecord,
  entity: Entity<'label'>,
): ChangeMessageInput[] | IgnoreReason {
  const { oldImage, newImage } = images(c, LABEL_FIELDS);
  const current = c.meta.eventName === 'REMOVE' ? oldImage : newImage;
  const status = current?.validation_status;
  if (!KNOWN_STATUSES.has(status)) {
    throw new InvalidRecordError(
      'unknown-validation-status',
      `validation_status ${JSON.stringify(status)} is not one of ${VALIDATION_STATUSES.join(', ')}`,
    );
  }
  const changes = diffFields(oldImage, newImage, LABEL_FIELDS, LABEL_ALWAYS);
  if (Object.keys(changes).length === 0) return 'no-relevant-change';
  return [
    {
      v: CHANGE_MESSAGE_VERSION,
      kind: 'label',
      collection: 'words',
      event: c.meta.eventName,
      receipt: receiptOf(entity),
      word: { lineId: entity.lineId, wordId: entity.wordId, label: entity.label },
      changes,
      source: sourceOf(c.meta),
    },
  ];
}

/** Receipt REMOVE → `receipt-removed` to both collections; its INSERT/MODIFY → ignored. */
function receiptMessages(
  c: ClassifiedRecord,
  entity: Entity<'receipt'>,
): ChangeMessageInput[] | IgnoreReason {
  if (c.meta.eventName !== 'REMOVE') return 'receipt-upsert';
  return COLLECTIONS.map((collection) => ({
    v: CHANGE_MESSAGE_VERSION,
    kind: 'receipt-removed',
    collection,
    event: 'REMOVE',
    receipt: receiptOf(entity),
    changes: {},
    source: sourceOf(c.meta),
  }));
}

/** `completed`, ` COMPLETED`: meant as COMPLETED, written wrong. */
const isCompletedNearMiss = (state: string): boolean => state.trim().toUpperCase() === 'COMPLETED';

const runFields = (collection: CollectionName) =>
  [`${collection}_state`, `${collection}_delta_prefix`] as const;

/**
 * Compaction run → per collection, one `delta` message when `<c>_state` is COMPLETED
 * in the new image and was not in the old one (INSERT has none). A COMPLETED state
 * without a `<c>_delta_prefix`, or with one outside `deltaPrefixes`, rejects the whole
 * record (no partial sends): the compactor must never be sent to read someone else's
 * bucket or `deltas/../` (contracts `deltaPrefixRefusal`).
 */
function compactionRunMessages(
  c: ClassifiedRecord,
  entity: Entity<'compaction-run'>,
  deltaPrefixes: readonly string[],
): ChangeMessageInput[] | IgnoreReason {
  const { eventName } = c.meta;
  if (eventName === 'REMOVE') return 'run-removed';
  const { oldImage, newImage } = images(c, COMPACTION_RUN_FIELDS);
  const messages: ChangeMessageInput[] = [];
  for (const collection of COLLECTIONS) {
    const [stateField, prefixField] = runFields(collection);
    const state = newImage?.[stateField];
    if (typeof state === 'string' && state !== 'COMPLETED' && isCompletedNearMiss(state)) {
      throw new InvalidRecordError(
        'malformed-run-state',
        `${stateField} ${JSON.stringify(state)} is not COMPLETED (case or spaces differ)`,
      );
    }
    if (state !== 'COMPLETED' || oldImage?.[stateField] === 'COMPLETED') continue;
    const prefix = newImage?.[prefixField];
    if (typeof prefix !== 'string' || prefix === '') {
      throw new InvalidRecordError(
        'missing-delta-prefix',
        `${stateField} is COMPLETED but ${prefixField} is ${JSON.stringify(prefix ?? null)}`,
      );
    }
    const refusal = deltaPrefixRefusal(prefix, deltaPrefixes);
    if (refusal !== undefined) {
      throw new InvalidRecordError('delta-prefix-refused', `${prefixField}: ${refusal}`);
    }
    messages.push({
      v: CHANGE_MESSAGE_VERSION,
      kind: 'delta',
      collection,
      event: eventName,
      receipt: receiptOf(entity),
      changes: diffFields(oldImage, newImage, runFields(collection)),
      delta: { runId: entity.runId, s3Prefix: prefix },
      source: sourceOf(c.meta),
    });
  }
  return messages.length > 0 ? messages : 'run-not-completed';
}
