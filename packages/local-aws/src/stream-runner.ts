import {
  DescribeStreamCommand,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  TrimmedDataAccessException,
  type _Record as SdkStreamRecord,
  type DynamoDBStreamsClient,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import type {
  Context,
  DynamoDBBatchResponse,
  DynamoDBRecord,
  DynamoDBStreamEvent,
} from 'aws-lambda';
import { createLambdaContext, type LambdaFunctionSettings } from './lambda-context.js';
import { LOCAL_AWS_REGION } from './local-credentials.js';
import { EventSourceRunner } from './runner-lifecycle.js';
import { toLambdaStreamRecord } from './stream-records.js';

/** A Lambda handler for DynamoDB Streams, as our services export it. */
export type StreamHandler = (
  event: DynamoDBStreamEvent,
  context: Context,
) => Promise<DynamoDBBatchResponse | void> | DynamoDBBatchResponse | void;

/** Options of {@link startStreamRunner}; the names follow Lambda's event source mapping. */
export interface StreamRunnerOptions extends LambdaFunctionSettings {
  streams: DynamoDBStreamsClient;
  /** The table's `LatestStreamArn`. */
  streamArn: string;
  handler: StreamHandler;
  /** Most records per invocation. Default 100 (Lambda's default). */
  batchSize?: number;
  /** Lambda's `MaximumBatchingWindowInSeconds`, in ms. Default 0. */
  maxBatchingWindowMs?: number;
  /** Where to start in shards that are open at start. Default `TRIM_HORIZON`. */
  startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  /**
   * Retries of a failing batch before its records are discarded (`discard` event).
   * Default -1: retry until it succeeds (Lambda's default, up to the record's expiry).
   */
  retryAttempts?: number;
  /** After a failure, retry with half the batch (Lambda's `BisectBatchOnFunctionError`). Default false. */
  bisectBatchOnError?: boolean;
  /** Honour `batchItemFailures` (Lambda's `ReportBatchItemFailures`). Default true. */
  reportBatchItemFailures?: boolean;
  /** Pause between rounds that found nothing. Default 100 ms (Lambda: 4 polls per second). */
  pollIntervalMs?: number;
  /** First retry delay after a failed batch; doubles per attempt up to 2 s. Default 50 ms. */
  retryBackoffMs?: number;
}

interface ShardState {
  shardId: string;
  parentShardId: string | undefined;
  iterator: string | undefined;
  /** No more records will come (GetRecords returned no next iterator). */
  closed: boolean;
  buffer: SdkStreamRecord[];
  bufferedSince: number;
  lastFetched: string | undefined;
  attempts: number;
  retryAt: number;
  batchLimit: number;
}

const SHARD_REFRESH_MS = 1000;
const GET_RECORDS_LIMIT = 1000;

/**
 * Polls every shard of a DynamoDB stream (DescribeStream → GetShardIterator →
 * GetRecords) and invokes a handler with Lambda-shaped `DynamoDBStreamEvent`s, the way a
 * Lambda event source mapping does: per shard in order, parents before children; a
 * batch whose handler throws is retried; a `batchItemFailures` answer checkpoints the
 * records before the lowest failed sequence number and retries from it.
 *
 * Shards are handled one after the other in one loop (Lambda runs one invoke per shard
 * concurrently); DynamoDB Local has one open shard per stream, so that is the same here.
 */
export class StreamRunner extends EventSourceRunner {
  private readonly streams: DynamoDBStreamsClient;
  private readonly streamArn: string;
  private readonly handler: StreamHandler;
  private readonly batchSize: number;
  private readonly windowMs: number;
  private readonly retryAttempts: number;
  private readonly bisect: boolean;
  private readonly reportFailures: boolean;
  private readonly pollIntervalMs: number;
  private readonly retryBackoffMs: number;
  private readonly region: string;
  private readonly functionSettings: LambdaFunctionSettings;
  private readonly shards = new Map<string, ShardState>();
  private lastRefresh = 0;
  private refreshDue = true;

  /** Use {@link startStreamRunner}. */
  constructor(private readonly options: StreamRunnerOptions) {
    super(`stream runner (${options.streamArn.split('/')[1] ?? options.streamArn})`);
    this.streams = options.streams;
    this.streamArn = options.streamArn;
    this.handler = options.handler;
    this.batchSize = Math.max(1, options.batchSize ?? 100);
    this.windowMs = Math.max(0, options.maxBatchingWindowMs ?? 0);
    this.retryAttempts = options.retryAttempts ?? -1;
    this.bisect = options.bisectBatchOnError ?? false;
    this.reportFailures = options.reportBatchItemFailures ?? true;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.retryBackoffMs = options.retryBackoffMs ?? 50;
    this.region = options.region ?? LOCAL_AWS_REGION;
    this.functionSettings = {
      functionName: options.functionName,
      timeoutMs: options.timeoutMs,
      region: this.region,
    };
  }

  /**
   * Reads the shards and takes the starting iterators (so `LATEST` means "after this
   * call returned"), then starts polling.
   */
  async start(): Promise<this> {
    await this.refreshShards(this.options.startingPosition ?? 'TRIM_HORIZON');
    this.launch(1);
    return this;
  }

  private async describeShards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await this.streams.send(
        new DescribeStreamCommand({
          StreamArn: this.streamArn,
          ExclusiveStartShardId: exclusiveStartShardId,
        }),
      );
      shards.push(...(StreamDescription?.Shards ?? []));
      exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId);
    return shards;
  }

  private async iterator(
    shardId: string,
    type: ShardIteratorType,
    sequenceNumber?: string,
  ): Promise<string | undefined> {
    const { ShardIterator } = await this.streams.send(
      new GetShardIteratorCommand({
        StreamArn: this.streamArn,
        ShardId: shardId,
        ShardIteratorType: type,
        SequenceNumber: sequenceNumber,
      }),
    );
    return ShardIterator;
  }

  /** Adds shards not seen before; `initial` positions open shards found at start. */
  private async refreshShards(initial?: 'TRIM_HORIZON' | 'LATEST'): Promise<void> {
    for (const shard of await this.describeShards()) {
      if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
      const isClosed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      const state: ShardState = {
        shardId: shard.ShardId,
        parentShardId: shard.ParentShardId,
        iterator: undefined,
        closed: false,
        buffer: [],
        bufferedSince: 0,
        lastFetched: undefined,
        attempts: 0,
        retryAt: 0,
        batchLimit: this.batchSize,
      };
      if (initial === 'LATEST' && isClosed) {
        state.closed = true;
      } else {
        // Lambda starts shards that appear later at their beginning.
        state.iterator = await this.iterator(
          shard.ShardId,
          initial === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON',
        );
        state.closed = state.iterator === undefined;
      }
      this.shards.set(shard.ShardId, state);
    }
    this.lastRefresh = Date.now();
    this.refreshDue = false;
  }

  private finished(shard: ShardState): boolean {
    return shard.closed && shard.buffer.length === 0;
  }

  /** Shards whose records may be handled now: not finished, and their parent is done (or gone). */
  private readyShards(): ShardState[] {
    return [...this.shards.values()].filter((shard) => {
      if (this.finished(shard)) return false;
      const parent = shard.parentShardId ? this.shards.get(shard.parentShardId) : undefined;
      return parent === undefined || this.finished(parent);
    });
  }

  /** Tops the shard's buffer up to the batch size; returns how many records arrived. */
  private async fill(shard: ShardState): Promise<number> {
    const want = Math.min(GET_RECORDS_LIMIT, shard.batchLimit - shard.buffer.length);
    if (shard.closed || want <= 0) return 0;
    if (!shard.iterator) {
      shard.iterator = shard.lastFetched
        ? await this.iterator(shard.shardId, 'AFTER_SEQUENCE_NUMBER', shard.lastFetched)
        : await this.iterator(shard.shardId, 'TRIM_HORIZON');
    }
    let response;
    try {
      response = await this.streams.send(
        new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: want }),
      );
    } catch (error) {
      if (error instanceof ExpiredIteratorException) {
        shard.iterator = undefined; // taken again after the last record read, next round
        this.refreshDue = true;
        return 0;
      }
      if (error instanceof TrimmedDataAccessException) {
        shard.iterator = undefined;
        shard.lastFetched = undefined;
        return 0;
      }
      throw error;
    }
    const records = response.Records ?? [];
    if (records.length > 0 && shard.buffer.length === 0) shard.bufferedSince = Date.now();
    shard.buffer.push(...records);
    shard.lastFetched = records.at(-1)?.dynamodb?.SequenceNumber ?? shard.lastFetched;
    shard.iterator = response.NextShardIterator;
    if (!shard.iterator) {
      shard.closed = true;
      this.refreshDue = true; // its children may appear now
    }
    return records.length;
  }

  private shouldInvoke(shard: ShardState, now: number): boolean {
    if (shard.buffer.length === 0 || now < shard.retryAt) return false;
    return (
      shard.attempts > 0 ||
      shard.buffer.length >= shard.batchLimit ||
      shard.closed ||
      this.windowMs === 0 ||
      now - shard.bufferedSince >= this.windowMs
    );
  }

  /** Index of the first record to retry, or undefined when the whole batch succeeded. */
  private firstFailure(response: unknown, records: readonly DynamoDBRecord[]): number | undefined {
    if (!this.reportFailures || response === undefined || response === null) return undefined;
    if (typeof response !== 'object') return 0;
    const failures = (response as Partial<DynamoDBBatchResponse>).batchItemFailures;
    if (failures === undefined || failures === null) return undefined;
    if (!Array.isArray(failures)) return 0;
    let first: number | undefined;
    for (const failure of failures as unknown[]) {
      const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
      const index =
        typeof id === 'string' && id !== ''
          ? records.findIndex((r) => r.dynamodb?.SequenceNumber === id)
          : -1;
      // An empty, missing or unknown sequence number fails the whole batch, as in Lambda.
      if (index < 0) return 0;
      first = first === undefined ? index : Math.min(first, index);
    }
    return first;
  }

  private async invoke(shard: ShardState): Promise<void> {
    const size = Math.min(shard.buffer.length, shard.batchLimit);
    const records = shard.buffer
      .slice(0, size)
      .map((r) => toLambdaStreamRecord(r, this.streamArn, this.region));
    const startedAt = performance.now();
    this.count({ batches: 1, records: size });
    let failedFrom: number | undefined;
    let error: unknown;
    try {
      const response = await this.handler(
        { Records: records },
        createLambdaContext(this.functionSettings),
      );
      failedFrom = this.firstFailure(response, records);
    } catch (thrown) {
      error = thrown;
      failedFrom = 0;
      this.emit('handlerError', thrown);
    }
    const succeeded = failedFrom ?? size;
    // Checkpoint: the records before the first failure are done, whatever happens next.
    shard.buffer.splice(0, succeeded);
    const failed = size - succeeded;
    if (failed === 0) {
      shard.attempts = 0;
      shard.retryAt = 0;
      shard.batchLimit = this.batchSize;
    } else {
      shard.attempts++;
      if (this.retryAttempts >= 0 && shard.attempts > this.retryAttempts) {
        const dropped = shard.buffer.splice(0, failed);
        this.count({ discardedRecords: dropped.length });
        this.emit('discard', {
          records: dropped.length,
          firstSequenceNumber: dropped[0]?.dynamodb?.SequenceNumber,
          lastSequenceNumber: dropped.at(-1)?.dynamodb?.SequenceNumber,
          shardId: shard.shardId,
        });
        shard.attempts = 0;
        shard.retryAt = 0;
        shard.batchLimit = this.batchSize;
      } else {
        if (this.bisect && failed > 1) shard.batchLimit = Math.ceil(failed / 2);
        shard.retryAt =
          Date.now() + Math.min(2000, this.retryBackoffMs * 2 ** (shard.attempts - 1));
      }
    }
    if (shard.buffer.length > 0) shard.bufferedSince = Date.now();
    this.count({
      succeededRecords: succeeded,
      ...(failed > 0 ? { failedBatches: 1, failedRecords: failed } : {}),
    });
    this.emit('batch', {
      size,
      failed,
      durationMs: Math.round(performance.now() - startedAt),
      ...(error === undefined ? {} : { error }),
    });
  }

  /** How long to wait before the next round. */
  private nextRoundIn(now: number, empty: boolean): number {
    let wait = this.pollIntervalMs;
    for (const shard of this.shards.values()) {
      if (shard.buffer.length === 0) continue;
      if (shard.retryAt > now) wait = Math.min(wait, shard.retryAt - now);
      else if (this.windowMs > 0)
        wait = Math.min(wait, Math.max(1, shard.bufferedSince + this.windowMs - now));
    }
    return empty ? this.pollIntervalMs : wait;
  }

  protected async loop(): Promise<void> {
    while (!this.stopping) {
      if (this.refreshDue || Date.now() - this.lastRefresh >= SHARD_REFRESH_MS)
        await this.refreshShards();
      const ticket = this.beginPoll();
      let outcome: 'empty' | 'data' | 'error' = 'error';
      try {
        let active = false;
        for (const shard of this.readyShards()) {
          if (this.stopping) break;
          if ((await this.fill(shard)) > 0) active = true;
          if (this.shouldInvoke(shard, Date.now())) {
            await this.invoke(shard);
            active = true;
          }
          if (shard.buffer.length > 0) active = true;
        }
        outcome = active ? 'data' : 'empty';
      } finally {
        this.endPoll(ticket, outcome);
      }
      await this.pause(this.nextRoundIn(Date.now(), outcome === 'empty'));
    }
  }
}

/**
 * Starts a {@link StreamRunner}: a local stand-in for Lambda's DynamoDB Streams event
 * source mapping.
 *
 * @example
 * const runner = await startStreamRunner({
 *   streams: aws.clients.streams,
 *   streamArn: res.receiptsTable.streamArn,
 *   handler,                       // (event: DynamoDBStreamEvent) => Promise<DynamoDBBatchResponse>
 *   batchSize: 100,
 * });
 * await putItem(...);
 * await runner.waitForIdle();
 * await runner.stop();
 */
export function startStreamRunner(options: StreamRunnerOptions): Promise<StreamRunner> {
  return new StreamRunner(options).start();
}
