import { convertToNative } from '@aws-sdk/util-dynamodb';
import { malformedKeyReason, parseTableKey, type TableEntity } from '@compaction/contracts';
import type { DynamoDBRecord } from 'aws-lambda';
import { InvalidRecordError } from './errors.js';

type WireAttributeValue = Parameters<typeof convertToNative>[0];

/** The stream event of a record. */
export type StreamEventName = 'INSERT' | 'MODIFY' | 'REMOVE';

const EVENT_NAMES: ReadonlySet<string> = new Set<StreamEventName>(['INSERT', 'MODIFY', 'REMOVE']);

/** The parts of a stream record every change message carries in `source`. */
export interface RecordMeta {
  eventId: string;
  eventName: StreamEventName;
  sequenceNumber: string;
  /** `ApproximateCreationDateTime`, epoch seconds. */
  approximateCreationTime: number;
}

/** A stream record whose envelope and keys were read, with the entity its keys designate. */
export interface ClassifiedRecord {
  meta: RecordMeta;
  entity: TableEntity;
  record: DynamoDBRecord;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a record's envelope (event name and id, sequence number, creation time) and
 * classifies its keys with contracts `parseTableKey`. Images are not touched here:
 * a record of an entity nobody cares about is ignored without unmarshalling them.
 *
 * Throws {@link InvalidRecordError} (`malformed-record`, `missing-keys`) for a record
 * that can never be parsed, and (`malformed-key`) for a key shaped like an entity the
 * service acts on but malformed (contracts `malformedKeyReason`): such a row is a data
 * bug, rejected with its reason rather than ignored as a foreign row.
 *
 * @example
 * const { meta, entity } = classifyRecord(record);
 * if (entity.type === 'other') return; // ignored
 */
export function classifyRecord(record: DynamoDBRecord): ClassifiedRecord {
  if (!isObject(record))
    throw new InvalidRecordError('malformed-record', 'record is not an object');
  const { eventID, eventName } = record;
  const stream = record.dynamodb;
  if (typeof eventID !== 'string' || eventID === '') {
    throw new InvalidRecordError('malformed-record', 'eventID is missing');
  }
  if (typeof eventName !== 'string' || !EVENT_NAMES.has(eventName)) {
    throw new InvalidRecordError(
      'malformed-record',
      `eventName ${JSON.stringify(eventName)} is not INSERT, MODIFY or REMOVE`,
    );
  }
  if (!isObject(stream)) throw new InvalidRecordError('malformed-record', 'dynamodb is missing');
  const sequenceNumber = stream.SequenceNumber;
  if (typeof sequenceNumber !== 'string' || !/^\d{1,40}$/.test(sequenceNumber)) {
    throw new InvalidRecordError(
      'malformed-record',
      `dynamodb.SequenceNumber ${JSON.stringify(sequenceNumber)} is not a decimal string`,
    );
  }
  const approximateCreationTime = creationSeconds(stream.ApproximateCreationDateTime);
  const keys: unknown = stream.Keys;
  if (!isObject(keys)) throw new InvalidRecordError('missing-keys', 'dynamodb.Keys is missing');
  const pk = stringKey(keys, 'PK');
  const sk = stringKey(keys, 'SK');
  const entity = parseTableKey(pk, sk);
  if (entity.type === 'other') {
    const reason = malformedKeyReason(pk, sk);
    if (reason !== undefined) throw new InvalidRecordError('malformed-key', reason);
  }
  return {
    meta: {
      eventId: eventID,
      eventName: eventName as StreamEventName,
      sequenceNumber,
      approximateCreationTime,
    },
    entity,
    record,
  };
}

/**
 * Lambda delivers `ApproximateCreationDateTime` as epoch seconds; a `Date` (what the
 * SDK's DynamoDB Streams client returns) is accepted too, so a local runner that
 * forwards SDK records unchanged still works.
 */
function creationSeconds(value: unknown): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  if (value instanceof Date && Number.isFinite(value.getTime())) return value.getTime() / 1000;
  throw new InvalidRecordError(
    'malformed-record',
    `dynamodb.ApproximateCreationDateTime ${JSON.stringify(value)} is not epoch seconds`,
  );
}

function stringKey(keys: Record<string, unknown>, name: string): string {
  const attr = keys[name];
  const value = isObject(attr) ? attr.S : undefined;
  if (typeof value !== 'string' || value === '') {
    throw new InvalidRecordError(
      'missing-keys',
      `dynamodb.Keys.${name} is missing or not a string`,
    );
  }
  return value;
}

/**
 * Unmarshalls the named attributes of one image with `@aws-sdk/util-dynamodb`
 * (`convertToNative`, attribute by attribute, so a broken attribute is named in the
 * reason). Attributes the entity does not use are never read: a malformed irrelevant
 * attribute does not make a record unusable.
 *
 * Returns `undefined` when the record has no such image; throws
 * {@link InvalidRecordError} (`malformed-image`) when the image or one of the named
 * attributes cannot be unmarshalled.
 *
 * @example
 * const place = readImage(record, 'NewImage', PLACE_FIELDS); // { merchant_name: 'Acme', … }
 */
export function readImage(
  record: DynamoDBRecord,
  which: 'NewImage' | 'OldImage',
  fields: readonly string[],
): Record<string, unknown> | undefined {
  const image: unknown = record.dynamodb?.[which];
  if (image === undefined) return undefined;
  if (!isObject(image)) throw new InvalidRecordError('malformed-image', `${which} is not a map`);
  const out: Record<string, unknown> = {};
  for (const field of fields) {
    const attr = image[field];
    if (attr === undefined) continue;
    try {
      out[field] = convertToNative(attr as WireAttributeValue);
    } catch (err) {
      throw new InvalidRecordError(
        'malformed-image',
        `${which}.${field} cannot be unmarshalled: ${(err as Error).message}`,
      );
    }
  }
  return out;
}
