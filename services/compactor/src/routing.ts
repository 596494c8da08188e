/**
 * Which collection a record belongs to, and whether it can be applied at all.
 *
 * The source queue decides the collection (each collection has its own queue, named
 * by `resourceNames`); a message whose `collection` field disagrees with its queue
 * is refused, as is anything `parseChangeMessage` refuses. The compactor also refuses
 * what it could parse but never apply (a label INSERT/MODIFY without a known new
 * `validation_status`).
 */
import {
  COLLECTIONS,
  VALIDATION_STATUSES,
  isCollectionName,
  parseChangeMessage,
  resourceNames,
  type ChangeMessage,
  type CollectionName,
} from '@compaction/contracts';
import type { RejectionCode } from './errors.js';

/** `-<collection>-changes`: how every stage names a collection's queue (from `resourceNames`). */
const QUEUE_SUFFIXES: ReadonlyArray<[CollectionName, string]> = COLLECTIONS.map((c) => {
  const probe = 'stage';
  return [c, resourceNames(probe).queues[c].queue.slice(probe.length)];
});

/** The queue name of an SQS ARN (`arn:aws:sqs:<region>:<account>:<name>`). */
export function queueNameOfArn(arn: string): string {
  return arn.slice(arn.lastIndexOf(':') + 1);
}

/**
 * The collection whose change queue `queueName` is, in any stage; undefined for any
 * other queue (including the dead-letter queues).
 *
 * @example
 * collectionOfQueue('dev-words-changes') // 'words'
 */
export function collectionOfQueue(queueName: string): CollectionName | undefined {
  for (const [collection, suffix] of QUEUE_SUFFIXES) {
    if (queueName.endsWith(suffix) && queueName.length > suffix.length) return collection;
  }
  return undefined;
}

export type ClassifiedRecord =
  { ok: true; message: ChangeMessage } | { ok: false; code: RejectionCode; reason: string };

/**
 * Parses and checks one SQS body that came from `sourceCollection`'s queue.
 *
 * @example
 * const r = classifyBody(record.body, 'words');
 * if (!r.ok) await deadLetter(record, r.code, r.reason);
 */
export function classifyBody(body: string, sourceCollection: CollectionName): ClassifiedRecord {
  const parsed = parseChangeMessage(body);
  if (!parsed.ok) {
    const named = parsed.rejection.code === 'invalid' ? collectionField(body) : undefined;
    if (named !== undefined && !isCollectionName(named)) {
      return {
        ok: false,
        code: 'unknown-collection',
        reason: `unknown collection ${JSON.stringify(named)} (known: ${COLLECTIONS.join(', ')})`,
      };
    }
    return { ok: false, code: parsed.rejection.code, reason: parsed.rejection.reason };
  }
  const message = parsed.message;
  if (message.collection !== sourceCollection) {
    return {
      ok: false,
      code: 'collection-mismatch',
      reason: `message for collection ${message.collection} arrived on the ${sourceCollection} queue`,
    };
  }
  const unusable = applyPrecondition(message);
  if (unusable) return { ok: false, code: 'invalid', reason: unusable };
  return { ok: true, message };
}

const KNOWN_STATUSES: ReadonlySet<unknown> = new Set(VALIDATION_STATUSES);

/** Why a schema-valid message still cannot be applied, or undefined. */
export function applyPrecondition(message: ChangeMessage): string | undefined {
  if (message.kind === 'label' && message.event !== 'REMOVE') {
    const status = message.changes['validation_status']?.new;
    if (!KNOWN_STATUSES.has(status)) {
      return `label ${message.event} needs changes.validation_status.new in ${VALIDATION_STATUSES.join(', ')} (got ${JSON.stringify(status ?? null)})`;
    }
  }
  return undefined;
}

function collectionField(body: string): unknown {
  try {
    const raw = JSON.parse(body) as unknown;
    return typeof raw === 'object' && raw !== null && 'collection' in raw
      ? raw.collection
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The stream event id (`source.eventId`) of a body, when it is JSON that has one, even
 * if the message is otherwise invalid: the correlation id of its log lines and DLQ entry.
 *
 * @example
 * eventIdOfBody('{"source":{"eventId":"e-1"}}') // 'e-1'
 */
export function eventIdOfBody(body: string): string | undefined {
  try {
    const raw = JSON.parse(body) as { source?: { eventId?: unknown } } | null;
    const id = raw?.source?.eventId;
    return typeof id === 'string' && id !== '' ? id : undefined;
  } catch {
    return undefined;
  }
}
