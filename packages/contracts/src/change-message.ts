import { z } from 'zod';
import { COLLECTIONS } from './collections.js';

/**
 * Change message v1: the SQS body the stream processor sends and the compactor
 * consumes. Both ends validate it with the same schema (design.md, "Change message v1").
 */
export const CHANGE_MESSAGE_VERSION = 1;

const uuidLike = z.guid().transform((s) => s.toLowerCase());
const positiveInt = z.int().nonnegative();
const jsonScalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const jsonValue = z.union([jsonScalar, z.array(jsonScalar)]);

const fieldChange = z.strictObject({
  old: jsonValue.optional(),
  new: jsonValue.optional(),
});

const source = z.strictObject({
  eventId: z.string().min(1),
  /** DynamoDB stream sequence number: a decimal string, compared numerically. */
  sequenceNumber: z.string().regex(/^\d{1,40}$/, 'sequenceNumber must be a decimal string'),
  approximateCreationTime: z.number().nonnegative(),
});

const receipt = z.strictObject({ imageId: uuidLike, receiptId: positiveInt });
const event = z.enum(['INSERT', 'MODIFY', 'REMOVE']);
const collection = z.enum(COLLECTIONS);

const common = {
  v: z.literal(CHANGE_MESSAGE_VERSION),
  event,
  receipt,
  changes: z.record(z.string(), fieldChange),
  source,
};

const placeMessage = z.strictObject({ ...common, kind: z.literal('place'), collection });

const labelMessage = z.strictObject({
  ...common,
  kind: z.literal('label'),
  collection: z.literal('words'),
  word: z.strictObject({
    lineId: positiveInt,
    wordId: positiveInt,
    label: z.string().regex(/^[A-Z0-9_]+$/, 'label must be upper-case letters, digits or _'),
  }),
});

const receiptRemovedMessage = z.strictObject({
  ...common,
  kind: z.literal('receipt-removed'),
  collection,
  event: z.literal('REMOVE'),
});

const deltaMessage = z.strictObject({
  ...common,
  kind: z.literal('delta'),
  collection,
  event: z.enum(['INSERT', 'MODIFY']),
  delta: z.strictObject({ runId: z.string().min(1), s3Prefix: z.string().min(1) }),
});

/** The zod schema of a change message; prefer {@link parseChangeMessage}. */
export const changeMessageSchema = z.discriminatedUnion('kind', [
  placeMessage,
  labelMessage,
  receiptRemovedMessage,
  deltaMessage,
]);

export type ChangeMessage = z.infer<typeof changeMessageSchema>;
export type PlaceChangeMessage = z.infer<typeof placeMessage>;
export type LabelChangeMessage = z.infer<typeof labelMessage>;
export type ReceiptRemovedMessage = z.infer<typeof receiptRemovedMessage>;
export type DeltaChangeMessage = z.infer<typeof deltaMessage>;
export type ChangeKind = ChangeMessage['kind'];
export type FieldChange = z.infer<typeof fieldChange>;
/** What a producer builds; `receipt.imageId` is normalised to lower case by parsing. */
export type ChangeMessageInput = z.input<typeof changeMessageSchema>;

/** Why a message body was refused; stable codes for metrics and the DLQ reason. */
export type ChangeMessageRejection =
  | { code: 'not-json'; reason: string }
  | { code: 'unsupported-version'; reason: string }
  | { code: 'invalid'; reason: string };

export type ParseResult =
  { ok: true; message: ChangeMessage } | { ok: false; rejection: ChangeMessageRejection };

/**
 * Parses and validates an SQS body. Never throws: a refusal carries a code and a
 * human-readable reason, so the caller can dead-letter it with that reason.
 *
 * @example
 * const r = parseChangeMessage(record.body);
 * if (!r.ok) throw new InvalidChangeMessageError(r.rejection);
 */
export function parseChangeMessage(body: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    return {
      ok: false,
      rejection: { code: 'not-json', reason: `body is not JSON: ${(err as Error).message}` },
    };
  }
  if (typeof raw === 'object' && raw !== null && 'v' in raw && raw.v !== CHANGE_MESSAGE_VERSION) {
    return {
      ok: false,
      rejection: {
        code: 'unsupported-version',
        reason: `unsupported message version ${JSON.stringify(raw.v)}`,
      },
    };
  }
  return validateChangeMessage(raw);
}

/** Validates an already-decoded message object. */
export function validateChangeMessage(raw: unknown): ParseResult {
  const result = changeMessageSchema.safeParse(raw);
  if (result.success) return { ok: true, message: result.data };
  return { ok: false, rejection: { code: 'invalid', reason: z.prettifyError(result.error) } };
}

/** Thrown where a refused message must fail a batch item; carries the rejection. */
export class InvalidChangeMessageError extends Error {
  override readonly name = 'InvalidChangeMessageError';
  constructor(readonly rejection: ChangeMessageRejection) {
    super(`invalid change message (${rejection.code}): ${rejection.reason}`);
  }
}

/**
 * The entity whose last-applied stream sequence number orders a message: changes to
 * one entity apply in sequence order; older or repeated ones are no-ops.
 */
export function entityKey(message: ChangeMessage): string {
  const r = `${message.receipt.imageId}#${message.receipt.receiptId}`;
  switch (message.kind) {
    case 'place':
      return `place#${r}`;
    case 'label':
      return `label#${r}#${message.word.lineId}#${message.word.wordId}#${message.word.label}`;
    case 'receipt-removed':
      return `receipt#${r}`;
    case 'delta':
      return `delta#${r}#${message.delta.runId}`;
  }
}

/** Compares two DynamoDB stream sequence numbers (decimal strings of any length). */
export function compareSequenceNumbers(a: string, b: string): -1 | 0 | 1 {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
