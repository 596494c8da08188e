/**
 * The publisher, record handler and Powertools batch processor against the local SQS
 * emulator (fauxqs, via @compaction/local-aws), with failures injected at the client
 * boundary (see fault-injection.ts).
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { parseChangeMessage } from '@compaction/contracts';
import { useLocalAws, type ProvisionedResources } from '@compaction/local-aws';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createHandler,
  createRecordHandler,
  createStreamProcessor,
  loadConfig,
  MetricTally,
  SqsBatchPublisher,
  type RetryNotice,
  type StreamReject,
} from '../src/index.js';
import { injectSendFailures } from './fault-injection.js';
import { event, LABEL, PLACE, sk, streamRecord } from './fixtures.js';
import { drainQueue } from './queues.js';
import { RecordingLogger } from './recording-logger.js';

// EMF lines would only clutter the output here; metrics are checked through MetricTally.
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const aws = await useLocalAws();
let res: ProvisionedResources;
let urls: { lines: string; words: string; rejects: string };

/** A fresh client per test, so each test's fault middleware is its own. */
const client = () =>
  new SQSClient({ endpoint: aws.endpoints.sqs, region: aws.region, credentials: aws.credentials });
const noSleep = { sleep: async () => {}, random: () => 0 };

beforeAll(async () => {
  res = await aws.provision();
  const config = loadConfig(res.env);
  urls = { ...config.queueUrls, rejects: config.rejectsQueueUrl };
});

beforeEach(async () => {
  // Each test starts from empty queues.
  for (const url of Object.values(urls)) await drainQueue(aws.clients.sqs, url, 1);
});

describe('SqsBatchPublisher', () => {
  it('packs the entries of many records published in one tick into ≤10-entry calls per queue', async () => {
    const sqs = client();
    const faults = injectSendFailures(sqs, () => false);
    const publisher = new SqsBatchPublisher(sqs);
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        publisher.publish([
          { queueUrl: urls.lines, body: JSON.stringify({ record: i, c: 'lines' }) },
          { queueUrl: urls.words, body: JSON.stringify({ record: i, c: 'words' }) },
        ]),
      ),
    );
    expect(results.every((r) => r.sent === 2 && r.failures.length === 0)).toBe(true);
    expect(faults.calls).toBe(6); // 25 per queue → 10 + 10 + 5, twice; not 25 calls
    expect([...faults.entriesPerCall].sort((a, b) => a - b)).toEqual([5, 5, 10, 10, 10, 10]);
    expect((await drainQueue(sqs, urls.lines)).length).toBe(25);
    expect((await drainQueue(sqs, urls.words)).length).toBe(25);
  });

  it('keeps each call within 1 MiB of bodies and attributes', async () => {
    const sqs = client();
    const faults = injectSendFailures(sqs, () => false);
    const publisher = new SqsBatchPublisher(sqs);
    const big = (i: number) => JSON.stringify({ i, pad: 'x'.repeat(200_000) });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        publisher.publish([
          { queueUrl: urls.words, body: big(i), attributes: { eventId: `e${i}`.repeat(2_000) } },
        ]),
      ),
    );
    expect(results.every((r) => r.sent === 1)).toBe(true);
    // 5 × ~204 KB of body + ~4 KB of attributes each fit; a sixth would cross 1 MiB.
    expect(faults.entriesPerCall).toEqual([5, 5, 2]);
    expect(Math.max(...faults.bytesPerCall)).toBeLessThanOrEqual(1_048_576);
    expect((await drainQueue(sqs, urls.words)).length).toBe(12);
  });

  it('fails an entry over 1 MiB with its attributes as a sender fault, without a call', async () => {
    const sqs = client();
    const faults = injectSendFailures(sqs, () => false);
    const publisher = new SqsBatchPublisher(sqs, noSleep);
    const result = await publisher.publish([
      {
        queueUrl: urls.words,
        body: 'x'.repeat(1_048_576 - 10),
        attributes: { eventId: 'e-12345' },
      },
      { queueUrl: urls.words, body: 'small' },
    ]);
    expect(result.sent).toBe(1);
    expect(result.failures).toMatchObject([
      { index: 0, code: 'MessageTooLong', senderFault: true, attempts: 0 },
    ]);
    expect(faults.entriesPerCall).toEqual([1]);
    expect(await drainQueue(sqs, urls.words)).toEqual(['small']);
  });

  it('retries only the entries SQS reported as failed, with backoff, and delivers each once', async () => {
    const sqs = client();
    const flaky = (body: string) => body.includes('"flaky":true');
    const faults = injectSendFailures(
      sqs,
      (body, _q, n) => flaky(body) && n <= 2 && { code: 'InternalError', senderFault: false },
    );
    const retries: RetryNotice[] = [];
    const delays: number[] = [];
    const publisher = new SqsBatchPublisher(sqs, {
      baseDelayMs: 10,
      random: () => 1,
      sleep: async (ms) => void delays.push(ms),
      onRetry: (n) => retries.push(n),
    });
    const bodies = Array.from({ length: 8 }, (_, i) => JSON.stringify({ i, flaky: i % 3 === 0 }));
    const result = await publisher.publish(bodies.map((body) => ({ queueUrl: urls.lines, body })));
    expect(result).toEqual({ sent: 8, failures: [] });
    // 1 call of 8, then two retry calls carrying only the 3 flaky entries.
    expect(faults.entriesPerCall).toEqual([8, 3, 3]);
    expect(retries.map((r) => [r.attempt, r.entries, r.codes])).toEqual([
      [2, 3, ['InternalError']],
      [3, 3, ['InternalError']],
    ]);
    expect(delays).toEqual([10, 20]); // full jitter with random() = 1: base·2ⁿ⁻¹
    expect((await drainQueue(sqs, urls.lines)).sort()).toEqual([...bodies].sort());
  });

  it('gives up after maxAttempts and says which entry of which publish() failed', async () => {
    const sqs = client();
    injectSendFailures(
      sqs,
      (body) => body === 'b' && { code: 'InternalError', senderFault: false },
    );
    const publisher = new SqsBatchPublisher(sqs, { maxAttempts: 3, ...noSleep });
    const [r1, r2] = await Promise.all([
      publisher.publish([{ queueUrl: urls.words, body: 'a' }]),
      publisher.publish([
        { queueUrl: urls.words, body: 'c' },
        { queueUrl: urls.words, body: 'b' },
      ]),
    ]);
    expect(r1).toEqual({ sent: 1, failures: [] });
    expect(r2!.sent).toBe(1);
    expect(r2!.failures).toEqual([
      {
        index: 1,
        queueUrl: urls.words,
        code: 'InternalError',
        message: 'injected failure (submission 3)',
        senderFault: false,
        attempts: 3,
      },
    ]);
    expect((await drainQueue(sqs, urls.words)).sort()).toEqual(['a', 'c']);
  });

  it('does not retry an entry SQS marks as a sender fault', async () => {
    const sqs = client();
    const faults = injectSendFailures(
      sqs,
      (body) => body === 'bad' && { code: 'InvalidMessageContents', senderFault: true },
    );
    const publisher = new SqsBatchPublisher(sqs, noSleep);
    const result = await publisher.publish([
      { queueUrl: urls.lines, body: 'bad' },
      { queueUrl: urls.lines, body: 'good' },
    ]);
    expect(result.failures).toMatchObject([
      { index: 0, code: 'InvalidMessageContents', senderFault: true, attempts: 1 },
    ]);
    expect(faults.calls).toBe(1);
  });

  it('fails every entry of a call that throws (unknown queue), after its attempts', async () => {
    const publisher = new SqsBatchPublisher(client(), { maxAttempts: 2, ...noSleep });
    const missing = urls.lines.replace(/[^/]+$/, 'no-such-queue');
    const result = await publisher.publish([
      { queueUrl: missing, body: 'x' },
      { queueUrl: urls.lines, body: 'y' },
    ]);
    expect(result.sent).toBe(1);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ index: 0, queueUrl: missing, attempts: 2 });
    expect(await drainQueue(aws.clients.sqs, urls.lines)).toEqual(['y']);
  });
});

describe('record handler and batch processor on the emulator', () => {
  it('sends, ignores and rejects in one batch; the malformed record goes to the rejects queue and the batch goes on', async () => {
    const logger = new RecordingLogger();
    const tally = new MetricTally();
    const sqs = client();
    const recordHandler = createRecordHandler({
      config: loadConfig(res.env),
      publisher: new SqsBatchPublisher(sqs),
      logger,
      metrics: tally,
    });
    const place = streamRecord({
      eventName: 'MODIFY',
      sk: sk.place,
      oldImage: PLACE,
      newImage: { ...PLACE, merchant_name: 'Acme Supermarket' },
    });
    const flip = streamRecord({
      eventName: 'MODIFY',
      sk: sk.label,
      oldImage: LABEL,
      newImage: { ...LABEL, validation_status: 'VALID' },
    });
    const line = streamRecord({ eventName: 'INSERT', sk: sk.line, newImage: { text: 'x' } });
    const malformed = streamRecord({ eventName: 'INSERT', sk: sk.place, newImage: PLACE });
    malformed.dynamodb!.NewImage!.merchant_name = {} as never;
    const unknownStatus = streamRecord({
      eventName: 'INSERT',
      sk: sk.label,
      newImage: { ...LABEL, validation_status: 'MAYBE' },
    });

    const outcomes = await Promise.all(
      [place, flip, line, malformed, unknownStatus].map(recordHandler),
    );
    expect(outcomes.map((o) => o.action)).toEqual([
      'sent',
      'sent',
      'ignored',
      'rejected',
      'rejected',
    ]);

    const lines = (await drainQueue(sqs, urls.lines)).map((b) => parseChangeMessage(b));
    const words = (await drainQueue(sqs, urls.words)).map((b) => parseChangeMessage(b));
    expect(lines.map((r) => r.ok && r.message.kind)).toEqual(['place']);
    expect(words.map((r) => r.ok && r.message.kind).sort()).toEqual(['label', 'place']);

    const rejects = (await drainQueue(sqs, urls.rejects)).map((b) => JSON.parse(b) as StreamReject);
    expect(rejects.map((r) => [r.sequenceNumber, r.reason.code]).sort()).toEqual(
      [
        [malformed.dynamodb!.SequenceNumber, 'malformed-image'],
        [unknownStatus.dynamodb!.SequenceNumber, 'unknown-validation-status'],
      ].sort(),
    );
    const rejectOf = rejects.find((r) => r.reason.code === 'malformed-image')!;
    expect(rejectOf.record).toEqual(malformed);
    expect(rejectOf.reason.reason).toContain('NewImage.merchant_name');

    expect(tally.counts).toMatchObject({
      processed: 5,
      ignored: 1,
      rejected: 2,
      sendFailures: 0,
      sent: { 'lines/place': 1, 'words/place': 1, 'words/label': 1 },
    });
    const warns = logger.at('warn').filter((e) => e.message === 'record rejected');
    expect(warns.map((w) => w.attributes.sequenceNumber).sort()).toEqual(
      [malformed.dynamodb!.SequenceNumber, unknownStatus.dynamodb!.SequenceNumber].sort(),
    );
    expect(
      warns.every((w) => typeof w.attributes.eventId === 'string' && w.attributes.reason),
    ).toBe(true);
  });

  it('reports exactly the records that lost an entry in batchItemFailures, and counts the failures', async () => {
    const sqs = client();
    const target = streamRecord({
      eventName: 'MODIFY',
      sk: sk.place,
      oldImage: PLACE,
      newImage: { ...PLACE, address: '2 Main St' },
    });
    const seq = target.dynamodb!.SequenceNumber!;
    // Only the words copy of the place message fails, on every attempt.
    injectSendFailures(
      sqs,
      (body, queueUrl) =>
        body.includes(seq) &&
        queueUrl === urls.words && { code: 'InternalError', senderFault: false },
    );
    const logger = new RecordingLogger();
    const handler = createHandler(() =>
      createStreamProcessor({
        env: res.env,
        sqs,
        logger,
        publisher: { maxAttempts: 2, ...noSleep },
      }),
    );
    const others = [
      streamRecord({ eventName: 'INSERT', sk: sk.label, newImage: LABEL }),
      streamRecord({ eventName: 'REMOVE', sk: sk.receipt }),
    ];
    const response = await handler(event(others[0]!, target, others[1]!));
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: seq }] });

    const failure = logger.at('error').find((e) => e.message.startsWith('record failed'))!;
    expect(failure.attributes).toMatchObject({
      eventId: target.eventID,
      sequenceNumber: seq,
      messages: 2,
      sent: 1,
    });
    expect(
      logger.at('warn').some((e) => e.message.startsWith('batch done with failed records')),
    ).toBe(true);
    // The lines copy of the failed record did arrive (the retry will repeat it).
    const lines = (await drainQueue(sqs, urls.lines)).map(
      (b) => JSON.parse(b) as { kind: string; source: { sequenceNumber: string } },
    );
    expect(lines.filter((m) => m.source.sequenceNumber === seq).map((m) => m.kind)).toEqual([
      'place',
    ]);
    await drainQueue(sqs, urls.words);
  });

  it('fails (never drops) a rejected record whose reject cannot be published', async () => {
    const sqs = client();
    injectSendFailures(
      sqs,
      (_b, queueUrl) => queueUrl === urls.rejects && { code: 'InternalError', senderFault: false },
    );
    const logger = new RecordingLogger();
    const handler = createHandler(() =>
      createStreamProcessor({
        env: res.env,
        sqs,
        logger,
        publisher: { maxAttempts: 2, ...noSleep },
      }),
    );
    const bad = streamRecord({
      eventName: 'INSERT',
      sk: sk.label,
      newImage: { ...LABEL, validation_status: 'MAYBE' },
    });
    const good = streamRecord({ eventName: 'INSERT', sk: sk.label, newImage: LABEL });
    const response = await handler(event(good, bad));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: bad.dynamodb!.SequenceNumber }]);
    const err = logger
      .at('error')
      .find((e) => e.message.startsWith('reject could not be published'))!;
    expect(err.attributes).toMatchObject({
      eventId: bad.eventID,
      sequenceNumber: bad.dynamodb!.SequenceNumber,
    });
    expect(await drainQueue(sqs, urls.rejects)).toEqual([]);
    await drainQueue(sqs, urls.words);
  });
});
