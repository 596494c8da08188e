import { marshall } from '@aws-sdk/util-dynamodb';
import {
  compactionRunSk,
  labelSk,
  lineSk,
  placeSk,
  receiptPk,
  receiptSk,
  wordSk,
} from '@compaction/contracts';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';

export const IMAGE = '3f2a9c1e-0b7d-4e5f-9a8b-1c2d3e4f5a6b';
export const STREAM_ARN =
  'arn:aws:dynamodb:eu-west-1:123456789012:table/dev-receipts/stream/2026-11-24T18:00:00.000';

type Item = Record<string, unknown>;
let seq = 1_000_000;

export interface RecordSpec {
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  pk?: string;
  sk: string;
  /** Attributes besides PK/SK; the images carry the keys too, as real ones do. */
  oldImage?: Item;
  newImage?: Item;
  sequenceNumber?: string;
  eventId?: string;
  approximateCreationDateTime?: number;
}

/**
 * A stream record in the shape Lambda delivers (recorded from a real
 * NEW_AND_OLD_IMAGES stream: eventVersion 1.1, epoch-seconds creation time,
 * images marshalled and including the key attributes).
 */
export function streamRecord(spec: RecordSpec): DynamoDBRecord {
  const pk = spec.pk ?? receiptPk(IMAGE);
  const keys = { PK: pk, SK: spec.sk };
  const sequenceNumber = spec.sequenceNumber ?? `4${String(++seq).padStart(20, '0')}`;
  const dynamodb: NonNullable<DynamoDBRecord['dynamodb']> = {
    ApproximateCreationDateTime: spec.approximateCreationDateTime ?? 1_764_000_000,
    Keys: marshall(keys) as NonNullable<DynamoDBRecord['dynamodb']>['Keys'],
    SequenceNumber: sequenceNumber,
    SizeBytes: 120,
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  };
  const image = (item: Item) =>
    marshall({ ...keys, ...item }, { removeUndefinedValues: true }) as NonNullable<
      DynamoDBRecord['dynamodb']
    >['NewImage'];
  if (spec.oldImage) dynamodb.OldImage = image(spec.oldImage);
  if (spec.newImage) dynamodb.NewImage = image(spec.newImage);
  return {
    eventID: spec.eventId ?? `ev-${sequenceNumber.slice(-8)}`,
    eventName: spec.eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'eu-west-1',
    dynamodb,
    eventSourceARN: STREAM_ARN,
  };
}

export const event = (...records: DynamoDBRecord[]): DynamoDBStreamEvent => ({ Records: records });

export const PLACE = {
  merchant_name: 'Acme Market',
  canonical_merchant_name: 'ACME',
  merchant_category: 'grocery',
  address: '1 Main St',
  phone_number: '+1 555 0100',
  place_id: 'ChIJ123',
  updated_at: '2026-11-24T18:00:00Z',
};

export const LABEL = {
  label: 'TOTAL',
  validation_status: 'PENDING',
  label_proposed_by: 'llm',
  reasoning: 'looks like a total',
  timestamp_added: '2026-11-24T18:00:00Z',
};

export const RUN_PENDING = {
  run_id: 'run-1',
  lines_delta_prefix: 'deltas/run-1/lines/',
  words_delta_prefix: 'deltas/run-1/words/',
  lines_state: 'PENDING',
  words_state: 'PENDING',
};

export const sk = {
  receipt: receiptSk(1),
  place: placeSk(1),
  legacyPlace: `${receiptSk(1)}#METADATA`,
  label: labelSk(1, 2, 3, 'TOTAL'),
  run: compactionRunSk(1, 'run-1'),
  line: lineSk(1, 2),
  word: wordSk(1, 2, 3),
};
