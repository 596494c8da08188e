/**
 * The handler's test harness on the emulators: a runtime on a fixture's resources in
 * its own container directory (recorded logs and metrics), SQS records as Lambda
 * delivers them, and queue reads.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import {
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { ENV, type ChangeMessage, type CollectionName } from '@compaction/contracts';
import { RecordingMetrics } from '@compaction/snapshot-store';
import type { CompactorRuntimeOptions } from '../../src/runtime.js';
import { TEST_LOCK, type CompactorFixture } from './fixture.js';
import { RecordingLogger } from './logger.js';

/** Runtime options on `fx`'s resources, with a fresh work directory, logger and metrics. */
export async function handlerRuntime(
  fx: CompactorFixture,
  extra: Partial<CompactorRuntimeOptions> = {},
  env: Record<string, string> = {},
) {
  const workDir = await mkdtemp(join(fx.scratch, 'lambda-'));
  const metrics = new Map<string, RecordingMetrics>();
  const logger = new RecordingLogger();
  const options: CompactorRuntimeOptions = {
    env: {
      ...fx.aws.env,
      ...fx.res.env,
      [ENV.workDir]: workDir,
      [ENV.lockLeaseMs]: String(TEST_LOCK.leaseMs),
      [ENV.lockHeartbeatMs]: String(TEST_LOCK.heartbeatMs),
      [ENV.lockMaxWaitMs]: String(TEST_LOCK.maxWaitMs),
      ...env,
    },
    logger,
    metricsFor: (c) => {
      let m = metrics.get(c);
      if (!m) metrics.set(c, (m = new RecordingMetrics()));
      return m;
    },
    ...extra,
  };
  const metricsOf = (c: CollectionName | 'unknown') => metrics.get(c) ?? new RecordingMetrics();
  return { options, workDir, logger, metricsOf };
}

/** Sends change messages to `collection`'s queue. */
export async function sendMessages(
  fx: CompactorFixture,
  collection: CollectionName,
  messages: readonly (ChangeMessage | string)[],
): Promise<void> {
  for (const m of messages) {
    await fx.sqs.send(
      new SendMessageCommand({
        QueueUrl: fx.res.queues[collection].queue.url,
        MessageBody: typeof m === 'string' ? m : JSON.stringify(m),
      }),
    );
  }
}

/**
 * Receives (and leaves invisible) every message of `url`, attributes included. With
 * `atLeast`, keeps polling (delayed messages) until that many arrived or `waitSeconds`.
 */
export async function drainQueue(
  fx: CompactorFixture,
  url: string,
  options: { atLeast?: number; waitSeconds?: number } = {},
): Promise<Message[]> {
  const out: Message[] = [];
  const waitSeconds = options.atLeast ? (options.waitSeconds ?? 20) : 0;
  const until = Date.now() + waitSeconds * 1000;
  for (;;) {
    const got = await fx.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        WaitTimeSeconds: waitSeconds > 0 ? 1 : 0,
      }),
    );
    if (got.Messages?.length) out.push(...got.Messages);
    else if (out.length >= (options.atLeast ?? 0) || Date.now() >= until) return out;
  }
}

/** Visible plus in-flight messages of `url`. */
export async function queueDepth(fx: CompactorFixture, url: string): Promise<number> {
  const out = await fx.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/** An SQS record of `collection`'s queue, as Lambda delivers it. */
export function sqsRecord(
  fx: CompactorFixture,
  collection: CollectionName | 'other',
  body: string,
  id: string,
): SQSRecord {
  const queue =
    collection === 'other' ? 'somebody-elses-queue' : fx.res.queues[collection].queue.name;
  return {
    messageId: id,
    receiptHandle: `rh-${id}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:us-east-1:000000000000:${queue}`,
    awsRegion: 'us-east-1',
  };
}
