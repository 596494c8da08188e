/**
 * Hostile input through the real handler (createHandler → createStreamProcessor, the
 * Powertools batch processor, the SQS client) against the SQS emulator: strings SQS
 * refuses, bodies near the SendMessageBatch byte limit, near-miss keys, delta prefixes
 * outside the allowed area. Every record must be delivered intact or rejected with its
 * reason; none may fail back for a reason a retry cannot change.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { parseChangeMessage, type ChangeMessage } from '@compaction/contracts';
import { useLocalAws, type ProvisionedResources } from '@compaction/local-aws';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
