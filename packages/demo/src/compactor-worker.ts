/**
 * The compactor in its own process, configured only by its environment (as on Lambda):
 * one SQS runner per collection queue calling the real handler. Used by the e2e suite
 * to kill a compactor mid-run.
 */
import { handler } from '@compaction/compactor';
import { COLLECTIONS, COMPACTOR_SETTINGS } from '@compaction/contracts';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startSqsRunner } from '@compaction/local-aws';

const sqs = new SQSClient({});
const urls = { lines: process.env.LINES_QUEUE_URL, words: process.env.WORDS_QUEUE_URL };
const runners = await Promise.all(
  COLLECTIONS.map((c) => {
    const queueUrl = urls[c];
    if (!queueUrl) throw new Error(`${c.toUpperCase()}_QUEUE_URL is not set`);
    return startSqsRunner({
      sqs,
      queueUrl,
      handler,
      batchSize: COMPACTOR_SETTINGS.batchSize,
      maxBatchingWindowMs: 250,
    });
  }),
);
process.stdout.write('compactor worker ready\n');
const stop = async (): Promise<void> => {
  await Promise.all(runners.map((r) => r.stop()));
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
