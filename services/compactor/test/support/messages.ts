/**
 * Builders of valid change messages for tests (validated by the contracts schema, so
 * a builder bug cannot smuggle in a message production would refuse).
 */
import {
  validateChangeMessage,
  type ChangeMessage,
  type CollectionName,
  type FieldChange,
  type ValidationStatus,
} from '@compaction/contracts';
import type { MessageItem } from '../../src/compact.js';

export interface ReceiptArg {
  imageId: string;
  receiptId: number;
}

let eventCounter = 0;

/** Loosely typed on purpose: the schema check below is what guards the shape. */
function build(input: Record<string, unknown> & { seq: number | string }): ChangeMessage {
  const { seq, ...rest } = input;
  const raw = {
    v: 1,
    ...rest,
    source: {
      eventId: `evt-${++eventCounter}`,
      sequenceNumber: String(seq),
      approximateCreationTime: 1_700_000_000,
    },
  };
  const parsed = validateChangeMessage(raw);
  if (!parsed.ok) throw new Error(`test message invalid: ${parsed.rejection.reason}`);
  return parsed.message;
}

/** A place change; `fields` maps a place field to its new value (undefined = removed). */
export function placeMessage(args: {
  receipt: ReceiptArg;
  collection: CollectionName;
  seq: number | string;
  event?: 'INSERT' | 'MODIFY' | 'REMOVE';
  fields?: Record<string, string | null | undefined>;
}): ChangeMessage {
  const changes: Record<string, FieldChange> = {};
  for (const [field, value] of Object.entries(args.fields ?? {})) {
    changes[field] = value === undefined || value === null ? { old: 'x' } : { new: value };
  }
  return build({
    kind: 'place',
    collection: args.collection,
    event: args.event ?? 'MODIFY',
    receipt: args.receipt,
    changes,
    seq: args.seq,
  });
}

/** A label change on a word (words collection). */
export function labelMessage(args: {
  receipt: ReceiptArg;
  lineId: number;
  wordId: number;
  label: string;
  seq: number | string;
  event?: 'INSERT' | 'MODIFY' | 'REMOVE';
  status?: ValidationStatus;
  proposedBy?: string;
}): ChangeMessage {
  const event = args.event ?? 'INSERT';
  const status = args.status ?? 'PENDING';
  const changes: Record<string, FieldChange> =
    event === 'REMOVE'
      ? { validation_status: { old: status }, label_proposed_by: { old: args.proposedBy ?? 'llm' } }
      : {
          validation_status: { new: status },
          label_proposed_by: { new: args.proposedBy ?? 'llm' },
        };
  return build({
    kind: 'label',
    collection: 'words',
    event,
    receipt: args.receipt,
    word: { lineId: args.lineId, wordId: args.wordId, label: args.label },
    changes,
    seq: args.seq,
  });
}

/** A receipt removal. */
export function removalMessage(args: {
  receipt: ReceiptArg;
  collection: CollectionName;
  seq: number | string;
}): ChangeMessage {
  return build({
    kind: 'receipt-removed',
    collection: args.collection,
    event: 'REMOVE',
    receipt: args.receipt,
    changes: {},
    seq: args.seq,
  });
}

/** A delta merge request. */
export function deltaMessage(args: {
  receipt: ReceiptArg;
  collection: CollectionName;
  seq: number | string;
  runId: string;
  s3Prefix: string;
}): ChangeMessage {
  return build({
    kind: 'delta',
    collection: args.collection,
    event: 'MODIFY',
    receipt: args.receipt,
    changes: { [`${args.collection}_state`]: { old: 'PENDING', new: 'COMPLETED' } },
    delta: { runId: args.runId, s3Prefix: args.s3Prefix },
    seq: args.seq,
  });
}

/** Wraps messages with SQS-like message ids (`<prefix>-<index>`). */
export const items = (messages: readonly ChangeMessage[], prefix = 'm'): MessageItem[] =>
  messages.map((message, i) => ({ messageId: `${prefix}-${i}`, message }));
