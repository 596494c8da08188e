import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, createHandler, createStreamProcessor } from '../src/index.js';
import { event, sk, streamRecord } from './fixtures.js';

const env = {
  LINES_QUEUE_URL: 'http://127.0.0.1:1/000000000000/t-lines-changes',
  WORDS_QUEUE_URL: 'http://127.0.0.1:1/000000000000/t-words-changes',
  REJECTS_QUEUE_URL: 'http://127.0.0.1:1/000000000000/t-stream-rejects',
};

function captureStdout(): string[] {
  const lines: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(...String(chunk).split('\n').filter(Boolean));
    return true;
  });
  return lines;
}

describe('handler module', () => {
  afterEach(() => vi.restoreAllMocks());

  it('imports without any environment variable, and names the missing one on first use', async () => {
    for (const name of Object.keys(env)) delete process.env[name];
    const { handler } = await import('../src/handler.js');
    expect(typeof handler).toBe('function');
    await expect(handler(event(), undefined)).rejects.toBeInstanceOf(ConfigError);
    await expect(handler(event(), undefined)).rejects.toThrow(/LINES_QUEUE_URL/);
  });

  it('runs a batch of records that send nothing without touching SQS, and publishes EMF', async () => {
    const out = captureStdout();
    const handler = createHandler(() =>
      createStreamProcessor({
        env,
        logger: new Logger({ serviceName: 'stream-processor', logLevel: 'INFO' }),
        metrics: new Metrics({ namespace: 'ReceiptCompaction', serviceName: 'stream-processor' }),
      }),
    );
    const response = await handler(
      event(
        streamRecord({ eventName: 'INSERT', sk: sk.line, newImage: { text: 'TOTAL' } }),
        streamRecord({
          eventName: 'MODIFY',
          sk: sk.receipt,
          oldImage: { a: 1 },
          newImage: { a: 2 },
        }),
      ),
    );
    vi.restoreAllMocks();
    expect(response).toEqual({ batchItemFailures: [] });
    const json = out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json.find((l) => l.message === 'batch done')).toMatchObject({
      records: 2,
      service: 'stream-processor',
    });
    expect(json.find((l) => '_aws' in l)).toMatchObject({
      StreamProcessorProcessedRecords: 2,
      StreamProcessorIgnoredRecords: 2,
    });
  });
});
