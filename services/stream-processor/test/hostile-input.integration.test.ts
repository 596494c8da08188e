/**
 * Hostile input through the real handler (createHandler → createStreamProcessor, the
 * Powertools batch processor, the SQS client) against the SQS emulator: strings SQS
 * refuses, bodies near the SendMessageBatch byte limit, near-miss keys, delta prefixes
 * outside the allowed area. Every record must be delivered intact or rejected with its
 * reason; none may fail back for a reason a retry cannot change.
 */
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parseChangeMessage, type ChangeMessage } from '@compaction/contracts';
import { useLocalAws, type ProvisionedResources } from '@compaction/local-aws';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createHandler,
  createStreamProcessor,
  loadConfig,
  type StreamProcessorOptions,
  type StreamReject,
} from '../src/index.js';
import { injectSendFailures } from './fault-injection.js';
import { event, LABEL, PLACE, sk, streamRecord } from './fixtures.js';
import { drainQueue } from './queues.js';
import { RecordingLogger } from './recording-logger.js';

process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const aws = await useLocalAws();
let res: ProvisionedResources;
let urls: { lines: string; words: string; rejects: string };

const client = () =>
  new SQSClient({ endpoint: aws.endpoints.sqs, region: aws.region, credentials: aws.credentials });

beforeAll(async () => {
  res = await aws.provision();
  const config = loadConfig(res.env);
  urls = { ...config.queueUrls, rejects: config.rejectsQueueUrl };
});

beforeEach(async () => {
  for (const url of Object.values(urls)) await drainQueue(aws.clients.sqs, url, 1);
});

/** The real handler on a fresh client, with a recording logger. */
function realHandler(options: Partial<StreamProcessorOptions> = {}) {
  const sqs = client();
  const faults = injectSendFailures(sqs, () => false); // counts calls, injects nothing
  const logger = new RecordingLogger();
  const sp = createStreamProcessor({ env: res.env, sqs, logger, ...options });
  return { handler: createHandler(() => sp), sp, sqs, faults, logger };
}

const messagesOn = async (sqs: SQSClient, url: string): Promise<ChangeMessage[]> =>
  (await drainQueue(sqs, url)).map((body) => {
    const parsed = parseChangeMessage(body);
    if (!parsed.ok) throw new Error(`unparseable message: ${parsed.rejection.reason}`);
    return parsed.message;
  });

const rejectsOn = async (sqs: SQSClient): Promise<StreamReject[]> =>
  (await drainQueue(sqs, urls.rejects)).map((b) => JSON.parse(b) as StreamReject);

describe('characters SQS refuses (U+FFFF, U+FFFE, controls, lone surrogates)', () => {
  const hostile = 'Acme\uFFFF Market\uFFFE \u0000\u0001 \uD800 lone, \u{1F9FE} pair, \t tab';

  it('a place and a label carrying them are delivered and parse back to the very same strings', async () => {
    const { handler, sqs } = realHandler();
    const place = streamRecord({
      eventName: 'MODIFY',
      sk: sk.place,
      oldImage: PLACE,
      newImage: { ...PLACE, merchant_name: hostile },
    });
    const label = streamRecord({
      eventName: 'INSERT',
      sk: sk.label,
      newImage: { ...LABEL, reasoning: `why: ${hostile}`, label_proposed_by: '\uFFFE' },
    });
    const response = await handler(event(place, label));
    expect(response.batchItemFailures).toEqual([]);

    const lines = await messagesOn(sqs, urls.lines);
    const words = await messagesOn(sqs, urls.words);
    expect(lines.map((m) => m.changes.merchant_name)).toEqual([
      { old: PLACE.merchant_name, new: hostile },
    ]);
    const byKind = new Map(words.map((m) => [m.kind, m]));
    expect(byKind.get('place')!.changes.merchant_name!.new).toBe(hostile);
    expect(byKind.get('label')!.changes.reasoning).toEqual({ new: `why: ${hostile}` });
    expect(byKind.get('label')!.changes.label_proposed_by).toEqual({ new: '\uFFFE' });
    expect(await rejectsOn(sqs)).toEqual([]);
  });

  it('a rejected record carrying them reaches the rejects queue with its reason and the exact record', async () => {
    const { handler, sqs } = realHandler();
    const bad = streamRecord({
      eventName: 'INSERT',
      sk: sk.label,
      newImage: { ...LABEL, validation_status: 'VALID\uFFFF', reasoning: hostile },
    });
    const response = await handler(event(bad));
    expect(response.batchItemFailures).toEqual([]);
    const [reject, ...more] = await rejectsOn(sqs);
    expect(more).toEqual([]);
    expect(reject!.eventId).toBe(bad.eventID);
    expect(reject!.reason.code).toBe('unknown-validation-status');
    expect(reject!.reason.reason).toContain('"VALID\uFFFF"');
    expect(reject!.record).toEqual(bad);
    expect(reject!.recordTruncated).toBe(false);
  });
});

describe('size-aware SendMessageBatch calls (1 MiB per call, 1 MiB per message)', () => {
  const kb150 = (c: string) => c.repeat(150_000);

  it('ten ~150 KB invalid records all reach the rejects queue with their reasons', async () => {
    const { handler, sqs, faults, logger } = realHandler();
    const records = Array.from({ length: 10 }, (_, i) =>
      streamRecord({
        eventName: 'INSERT',
        sk: sk.label,
        newImage: { ...LABEL, validation_status: `MAYBE-${i}`, reasoning: kb150(String(i)) },
      }),
    );
    const response = await handler(event(...records));
    expect(response.batchItemFailures).toEqual([]);

    // 1.5 MB of rejects: more than one call, none over SQS's 1 MiB, no call refused.
    expect(faults.calls).toBeGreaterThanOrEqual(2);
    expect(faults.entriesPerCall.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...faults.bytesPerCall)).toBeLessThanOrEqual(1_048_576);

    const rejects = await rejectsOn(sqs);
    expect(rejects.map((r) => r.eventId).sort()).toEqual(records.map((r) => r.eventID).sort());
    for (const reject of rejects) {
      const i = records.findIndex((r) => r.eventID === reject.eventId);
      expect(reject.reason.code).toBe('unknown-validation-status');
      expect(reject.reason.reason).toContain(`"MAYBE-${i}"`);
      expect(reject.recordTruncated).toBe(false);
      expect(reject.record).toEqual(records[i]);
    }
    const warned = logger.at('warn').filter((e) => e.message === 'record rejected');
    expect(warned.map((w) => w.attributes.eventId).sort()).toEqual(
      records.map((r) => r.eventID).sort(),
    );
  });

  it('a record too large for one message is rejected with its reason, ids and keys (record truncated)', async () => {
    const { handler, sqs } = realHandler();
    const huge = streamRecord({
      eventName: 'MODIFY',
      sk: sk.label,
      oldImage: { ...LABEL, reasoning: 'a'.repeat(390_000) },
      newImage: { ...LABEL, validation_status: 'NOPE', reasoning: 'b'.repeat(390_000) },
    });
    // 390 + 390 + 300 KB: the record as delivered is over SQS's 1 MiB.
    huge.dynamodb!.NewImage!.extra = { S: 'c'.repeat(300_000) };
    const response = await handler(event(huge));
    expect(response.batchItemFailures).toEqual([]);
    const [reject] = await rejectsOn(sqs);
    expect(reject).toMatchObject({
      eventId: huge.eventID,
      sequenceNumber: huge.dynamodb!.SequenceNumber,
      reason: { code: 'unknown-validation-status' },
      recordTruncated: true,
      record: { eventID: huge.eventID, dynamodb: { Keys: huge.dynamodb!.Keys } },
    });
    expect(reject!.reason.reason).toContain('"NOPE"');
  });

  it('ten ~150 KB change messages per queue are delivered in calls within 1 MiB', async () => {
    const { handler, sqs, faults } = realHandler();
    const records = Array.from({ length: 10 }, (_, i) =>
      streamRecord({
        eventName: 'MODIFY',
        sk: sk.place,
        oldImage: PLACE,
        newImage: { ...PLACE, address: kb150(String(i)) },
      }),
    );
    const response = await handler(event(...records));
    expect(response.batchItemFailures).toEqual([]);
    expect(Math.max(...faults.bytesPerCall)).toBeLessThanOrEqual(1_048_576);
    expect(faults.calls).toBeGreaterThanOrEqual(4); // ≥ 2 per queue
    for (const url of [urls.lines, urls.words]) {
      const messages = await messagesOn(sqs, url);
      expect(messages.map((m) => m.source.eventId).sort()).toEqual(
        records.map((r) => r.eventID).sort(),
      );
      expect(messages.every((m) => (m.changes.address!.new as string).length === 150_000)).toBe(
        true,
      );
    }
  });
});

describe('near-miss keys', () => {
  it('are rejected with their reason and counted; truly foreign rows are still ignored and counted', async () => {
    const { handler, sqs, sp, logger } = realHandler();
    const rejected = vi.spyOn(sp.metrics, 'recordRejected');
    const ignored = vi.spyOn(sp.metrics, 'recordIgnored');
    const nearPlace = streamRecord({
      eventName: 'MODIFY',
      sk: 'RECEIPT#0000X#PLACE',
      oldImage: PLACE,
      newImage: { ...PLACE, merchant_name: 'Renamed' },
    });
    const nearLabel = streamRecord({
      eventName: 'INSERT',
      sk: 'RECEIPT#00001#LINE#0000A#WORD#00001#LABEL#TOTAL',
      newImage: LABEL,
    });
    const line = streamRecord({ eventName: 'INSERT', sk: sk.line, newImage: { text: 'x' } });
    const foreignPk = streamRecord({
      eventName: 'INSERT',
      pk: 'JOB#1',
      sk: sk.place,
      newImage: PLACE,
    });

    const response = await handler(event(nearPlace, nearLabel, line, foreignPk));
    expect(response.batchItemFailures).toEqual([]);

    const rejects = await rejectsOn(sqs);
    expect(rejects.map((r) => [r.eventId, r.reason.code]).sort()).toEqual(
      [
        [nearPlace.eventID, 'malformed-key'],
        [nearLabel.eventID, 'malformed-key'],
      ].sort(),
    );
    expect(rejects.find((r) => r.eventId === nearPlace.eventID)!.reason.reason).toContain(
      'RECEIPT id "0000X" is not 5 digits',
    );
    expect(rejects.find((r) => r.eventId === nearLabel.eventID)!.reason.reason).toContain(
      'LINE id "0000A" is not 5 digits',
    );
    expect(rejected.mock.calls).toEqual([['malformed-key'], ['malformed-key']]);
    expect(ignored.mock.calls).toEqual([['other-entity'], ['other-entity']]);
    expect(logger.at('warn').filter((e) => e.message === 'record rejected')).toHaveLength(2);
    expect(await drainQueue(sqs, urls.lines)).toEqual([]);
    expect(await drainQueue(sqs, urls.words)).toEqual([]);
  });
});

describe('delta prefixes', () => {
  const completed = (prefixes: { lines: string; words: string }, runId = 'run-1') =>
    streamRecord({
      eventName: 'INSERT',
      sk: `RECEIPT#00001#COMPACTION_RUN#${runId}`,
      newImage: {
        run_id: runId,
        lines_state: 'COMPLETED',
        words_state: 'COMPLETED',
        lines_delta_prefix: prefixes.lines,
        words_delta_prefix: prefixes.words,
      },
    });

  it('a prefix outside the delta area is rejected with its reason; a valid run is forwarded', async () => {
    const { handler, sqs, sp } = realHandler();
    const rejected = vi.spyOn(sp.metrics, 'recordRejected');
    const hostile = completed(
      { lines: 'deltas/run-2/lines/', words: 's3://someone-elses-bucket/../../' },
      'run-2',
    );
    const outside = completed({ lines: 'words/blobs/', words: 'deltas/run-3/words/' }, 'run-3');
    const valid = completed(
      { lines: 'deltas/run-4/lines/', words: 'deltas/run-4/words/' },
      'run-4',
    );
    const response = await handler(event(hostile, outside, valid));
    expect(response.batchItemFailures).toEqual([]);

    const rejects = await rejectsOn(sqs);
    expect(rejects.map((r) => [r.eventId, r.reason.code]).sort()).toEqual(
      [
        [hostile.eventID, 'delta-prefix-refused'],
        [outside.eventID, 'delta-prefix-refused'],
      ].sort(),
    );
    expect(rejects.find((r) => r.eventId === hostile.eventID)!.reason.reason).toBe(
      'words_delta_prefix: delta prefix "s3://someone-elses-bucket/../../" has a . or .. segment',
    );
    expect(rejects.find((r) => r.eventId === outside.eventID)!.reason.reason).toContain(
      'is not inside an allowed location (deltas/)',
    );
    expect(rejected.mock.calls).toEqual([['delta-prefix-refused'], ['delta-prefix-refused']]);
    // The rejected runs send nothing at all (not even their valid collection); the valid one both.
    const deltas = [...(await messagesOn(sqs, urls.lines)), ...(await messagesOn(sqs, urls.words))];
    expect(deltas.map((m) => m.kind === 'delta' && m.delta.s3Prefix).sort()).toEqual([
      'deltas/run-4/lines/',
      'deltas/run-4/words/',
    ]);
  });

  it('DELTA_PREFIX_ALLOW_LIST lets a listed bucket through and nothing else', async () => {
    const { handler, sqs } = realHandler({
      env: { ...res.env, DELTA_PREFIX_ALLOW_LIST: 'deltas/,s3://partner-bucket/embeddings/' },
    });
    const partner = completed(
      { lines: 's3://partner-bucket/embeddings/r5/lines/', words: 'deltas/r5/words/' },
      'r5',
    );
    const other = completed(
      { lines: 's3://partner-bucket/private/r6/', words: 'deltas/r6/words/' },
      'r6',
    );
    const response = await handler(event(partner, other));
    expect(response.batchItemFailures).toEqual([]);
    const lines = await messagesOn(sqs, urls.lines);
    expect(lines.map((m) => m.kind === 'delta' && m.delta.s3Prefix)).toEqual([
      's3://partner-bucket/embeddings/r5/lines/',
    ]);
    expect((await messagesOn(sqs, urls.words)).map((m) => m.source.eventId)).toEqual([
      partner.eventID,
    ]);
    const [reject] = await rejectsOn(sqs);
    expect(reject).toMatchObject({
      eventId: other.eventID,
      reason: { code: 'delta-prefix-refused' },
    });
  });
});

describe('correlation by the stream event id', () => {
  it('is in the change message, in every log line of its record, and in the reject body and attributes', async () => {
    const sqs = client();
    const flaky = streamRecord({
      eventName: 'MODIFY',
      sk: sk.place,
      oldImage: PLACE,
      newImage: { ...PLACE, merchant_name: 'Flaky Once' },
    });
    injectSendFailures(
      sqs,
      (body, _q, n) =>
        body.includes('Flaky Once') && n === 1 && { code: 'InternalError', senderFault: false },
    );
    const logger = new RecordingLogger();
    const handler = createHandler(() =>
      createStreamProcessor({
        env: res.env,
        sqs,
        logger,
        publisher: { sleep: async () => {}, random: () => 0 },
      }),
    );
    const bad = streamRecord({ eventName: 'INSERT', sk: 'RECEIPT#0000X#PLACE', newImage: PLACE });
    const line = streamRecord({ eventName: 'INSERT', sk: sk.line, newImage: { text: 'x' } });
    const response = await handler(event(flaky, bad, line));
    expect(response.batchItemFailures).toEqual([]);

    // The change message carries it in source.eventId.
    const sent = await messagesOn(sqs, urls.lines);
    expect(sent.map((m) => m.source.eventId)).toEqual([flaky.eventID]);
    await drainQueue(sqs, urls.words);

    // Every per-record log line names its record's event id.
    const logLine = (message: string) => logger.entries.find((e) => e.message === message)!;
    expect(logLine('record sent').attributes).toMatchObject({
      eventId: flaky.eventID,
      messages: ['lines/place', 'words/place'],
    });
    expect(logLine('retrying SQS entries reported as failed').attributes.eventIds).toEqual([
      flaky.eventID,
    ]);
    expect(logLine('record rejected').attributes).toMatchObject({
      eventId: bad.eventID,
      code: 'malformed-key',
    });
    expect(logLine('record ignored').attributes).toMatchObject({ eventId: line.eventID });

    // The reject names it in its body and in its message attributes.
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: urls.rejects,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
      }),
    );
    expect(out.Messages).toHaveLength(1);
    const [message] = out.Messages!;
    expect((JSON.parse(message!.Body!) as StreamReject).eventId).toBe(bad.eventID);
    expect(message!.MessageAttributes).toMatchObject({
      eventId: { DataType: 'String', StringValue: bad.eventID },
      rejectCode: { DataType: 'String', StringValue: 'malformed-key' },
    });
    await drainQueue(sqs, urls.rejects);
  });

  it('the batch line names the event ids of the failed records', async () => {
    const sqs = client();
    const doomed = streamRecord({ eventName: 'INSERT', sk: sk.label, newImage: LABEL });
    injectSendFailures(
      sqs,
      (body) => body.includes(doomed.eventID!) && { code: 'InternalError', senderFault: false },
    );
    const logger = new RecordingLogger();
    const handler = createHandler(() =>
      createStreamProcessor({
        env: res.env,
        sqs,
        logger,
        publisher: { maxAttempts: 2, sleep: async () => {}, random: () => 0 },
      }),
    );
    const fine = streamRecord({ eventName: 'REMOVE', sk: sk.receipt });
    const response = await handler(event(fine, doomed));
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: doomed.dynamodb!.SequenceNumber },
    ]);
    const batch = logger.at('warn').find((e) => e.message.startsWith('batch done with failed'))!;
    expect(batch.attributes.eventIds).toEqual([doomed.eventID]);
    const failed = logger.at('error').find((e) => e.message.startsWith('record failed'))!;
    expect(failed.attributes.eventId).toBe(doomed.eventID);
    await drainQueue(sqs, urls.lines);
    await drainQueue(sqs, urls.words);
  });
});
