import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { createLambdaContext, type LambdaFunctionSettings } from './lambda-context.js';
import { LOCAL_AWS_REGION } from './local-credentials.js';
import { EventSourceRunner } from './runner-lifecycle.js';
import { toLambdaSqsRecord } from './sqs-records.js';

/** A Lambda handler for SQS, as our services export it. */
export type SqsHandler = (
  event: SQSEvent,
  context: Context,
) => Promise<SQSBatchResponse | void> | SQSBatchResponse | void;

/** Options of {@link startSqsRunner}; the names follow Lambda's event source mapping. */
export interface SqsRunnerOptions extends LambdaFunctionSettings {
  sqs: SQSClient;
  queueUrl: string;
  handler: SqsHandler;
  /** Most messages per invocation (Lambda allows up to 10 000). Default 10 (Lambda's default). */
  batchSize?: number;
  /** Lambda's `MaximumBatchingWindowInSeconds`, in ms: how long to gather a batch. Default 0. */
  maxBatchingWindowMs?: number;
  /** Concurrent invocations (Lambda's `ScalingConfig.MaximumConcurrency`). Default 1. */
  maxConcurrency?: number;
  /** Honour `batchItemFailures` (Lambda's `ReportBatchItemFailures`). Default true. */
  reportBatchItemFailures?: boolean;
  /** Pause between receives that found nothing. Default 100 ms. */
  pollIntervalMs?: number;
}

/** Splits `items` into chunks of `size`. */
function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

/**
 * Polls an SQS queue and invokes a handler with Lambda-shaped `SQSEvent`s, the way a
 * Lambda event source mapping does:
 * - a batch is gathered by receiving 10 at a time until `batchSize`, or until the
 *   batching window ends (window 0: until the queue has no more messages right now);
 * - messages the handler did not fail are deleted (DeleteMessageBatch); the ones listed
 *   in `batchItemFailures` — or all of them when the handler throws or reports an
 *   invalid item id — are left alone, so they come back after the visibility timeout and
 *   the queue's redrive policy moves them to the DLQ after `maxReceiveCount` receives.
 *
 * Receives are short polls (no long polling) so that `stop()` never abandons a message
 * mid-receive; a stop during a batching window delivers what was gathered.
 */
export class SqsRunner extends EventSourceRunner {
  private readonly sqs: SQSClient;
  private readonly queueUrl: string;
  private readonly handler: SqsHandler;
  private readonly batchSize: number;
  private readonly windowMs: number;
  private readonly reportFailures: boolean;
  private readonly pollIntervalMs: number;
  private readonly region: string;
  private readonly functionSettings: LambdaFunctionSettings;
  private queueArn = '';

  /** Use {@link startSqsRunner}. */
  constructor(private readonly options: SqsRunnerOptions) {
    super(`SQS runner (${options.queueUrl.split('/').at(-1)})`);
    this.sqs = options.sqs;
    this.queueUrl = options.queueUrl;
    this.handler = options.handler;
    this.batchSize = Math.max(1, options.batchSize ?? 10);
    this.windowMs = Math.max(0, options.maxBatchingWindowMs ?? 0);
    this.reportFailures = options.reportBatchItemFailures ?? true;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.region = options.region ?? LOCAL_AWS_REGION;
    this.functionSettings = {
      functionName: options.functionName,
      timeoutMs: options.timeoutMs,
      region: this.region,
    };
  }

  /** Looks up the queue ARN (for `eventSourceARN`) and starts polling. */
  async start(): Promise<this> {
    const { Attributes } = await this.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['QueueArn'] }),
    );
    this.queueArn = Attributes?.QueueArn ?? '';
    this.launch(Math.max(1, this.options.maxConcurrency ?? 1));
    return this;
  }

  private async receive(max: number): Promise<Message[]> {
    const { Messages } = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    return Messages ?? [];
  }

  protected async loop(): Promise<void> {
    while (!this.stopping) {
      const ticket = this.beginPoll();
      let first: Message[];
      try {
        first = await this.receive(Math.min(10, this.batchSize));
      } catch (error) {
        this.endPoll(ticket, 'error');
        throw error;
      }
      if (first.length === 0) {
        this.endPoll(ticket, 'empty');
        await this.pause(this.pollIntervalMs);
        continue;
      }
      this.holding(1);
      this.endPoll(ticket, 'data');
      try {
        const batch = await this.gather(first);
        await this.invoke(batch);
      } finally {
        this.holding(-1);
      }
    }
  }

  /** Receives more until the batch is full, the window ends, or (window 0) the queue is drained. */
  private async gather(batch: Message[]): Promise<Message[]> {
    const deadline = Date.now() + this.windowMs;
    let lastAsked = Math.min(10, this.batchSize);
    let lastGot = batch.length;
    while (batch.length < this.batchSize && !this.stopping) {
      if (this.windowMs === 0 ? lastGot < lastAsked : Date.now() >= deadline) break;
      lastAsked = Math.min(10, this.batchSize - batch.length);
      const ticket = this.beginPoll();
      try {
        const more = await this.receive(lastAsked);
        this.endPoll(ticket, 'data');
        batch.push(...more);
        lastGot = more.length;
      } catch (error) {
        this.endPoll(ticket, 'error');
        this.reportError(error);
        break;
      }
      if (lastGot === 0 && this.windowMs > 0) {
        await this.pause(Math.min(this.pollIntervalMs, deadline - Date.now()));
      }
    }
    return batch;
  }

  /** The message ids to keep, per Lambda's rules for `batchItemFailures`. */
  private failedIds(response: unknown, records: readonly SQSRecord[]): Set<string> {
    const all = new Set(records.map((r) => r.messageId));
    if (!this.reportFailures || response === undefined || response === null) return new Set();
    if (typeof response !== 'object') return all;
    const failures = (response as Partial<SQSBatchResponse>).batchItemFailures;
    if (failures === undefined || failures === null) return new Set();
    if (!Array.isArray(failures)) return all;
    const failed = new Set<string>();
    for (const failure of failures as unknown[]) {
      const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      // An empty, missing or unknown id makes the whole batch a failure, as in Lambda.
      if (typeof id !== 'string' || !all.has(id)) return all;
      failed.add(id);
    }
    return failed;
  }

  private async invoke(batch: Message[]): Promise<void> {
    const records = batch.map((m) => toLambdaSqsRecord(m, this.queueArn, this.region));
    const startedAt = performance.now();
    this.count({ batches: 1, records: records.length });
    let failed: Set<string>;
    let error: unknown;
    try {
      const response = await this.handler(
        { Records: records },
        createLambdaContext(this.functionSettings),
      );
      failed = this.failedIds(response, records);
    } catch (thrown) {
      error = thrown;
      failed = new Set(records.map((r) => r.messageId));
      this.emit('handlerError', thrown);
    }
    const done = records.filter((r) => !failed.has(r.messageId));
    const deleted = await this.deleteMessages(done);
    this.count({
      failedBatches: failed.size > 0 ? 1 : 0,
      failedRecords: failed.size,
      succeededRecords: deleted,
    });
    this.emit('batch', {
      size: records.length,
      failed: failed.size,
      durationMs: Math.round(performance.now() - startedAt),
      ...(error === undefined ? {} : { error }),
    });
  }

  private async deleteMessages(records: readonly SQSRecord[]): Promise<number> {
    const results = await Promise.all(
      chunks(records, 10).map(async (chunk) => {
        try {
          const { Failed } = await this.sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: this.queueUrl,
              Entries: chunk.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
            }),
          );
          if (Failed?.length) {
            this.reportError(new Error(`DeleteMessageBatch failed for ${JSON.stringify(Failed)}`));
          }
          return chunk.length - (Failed?.length ?? 0);
        } catch (error) {
          this.reportError(error);
          return 0;
        }
      }),
    );
    return results.reduce((a, b) => a + b, 0);
  }
}

/**
 * Starts an {@link SqsRunner}: a local stand-in for Lambda's SQS event source mapping.
 *
 * @example
 * const runner = await startSqsRunner({
 *   sqs: aws.clients.sqs,
 *   queueUrl: res.queues.words.queue.url,
 *   handler,                       // (event: SQSEvent) => Promise<SQSBatchResponse>
 *   batchSize: 1000,
 *   maxBatchingWindowMs: 0,
 * });
 * await runner.waitForIdle();
 * await runner.stop();
 */
export function startSqsRunner(options: SqsRunnerOptions): Promise<SqsRunner> {
  return new SqsRunner(options).start();
}
