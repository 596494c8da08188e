import {
  SendMessageBatchCommand,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  SQS_LIMITS,
  chunkEntries,
  sqsEntryBytes,
  type ChunkLimits,
  type SqsSized,
} from '@compaction/contracts';
import type { EntryFailure } from './errors.js';

/** One SQS message to send: the queue, the serialised body and optional attributes. */
export interface OutboundEntry {
  queueUrl: string;
  body: string;
  /** String message attributes; they count towards the SQS size limits like the body. */
  attributes?: Readonly<Record<string, string>>;
  /** The stream record's event id, for the retry log (not sent). */
  eventId?: string | undefined;
}

const toMessageAttributes = (
  attributes: Readonly<Record<string, string>>,
): Record<string, MessageAttributeValue> =>
  Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      { DataType: 'String', StringValue: value },
    ]),
  );

/** The outcome of one `publish` call: how many entries were sent, and which were not. */
export interface PublishResult {
  sent: number;
  /** Entries that could not be delivered after all attempts; empty when all were sent. */
  failures: EntryFailure[];
}

/** Sends entries to SQS; resolves (never rejects) once each entry is sent or given up on. */
export interface Publisher {
  publish(entries: readonly OutboundEntry[]): Promise<PublishResult>;
}

/** A retry of entries SQS reported as failed, for the caller's log. */
export interface RetryNotice {
  attempt: number;
  delayMs: number;
  entries: number;
  codes: string[];
  /** Event ids of the records whose entries are retried (distinct). */
  eventIds: string[];
}

export interface PublisherOptions {
  /** Attempts per entry, the first included; default 5. */
  maxAttempts?: number;
  /** Backoff base (ms): attempt n waits a random time in [0, min(max, base·2ⁿ⁻¹)]; default 50. */
  baseDelayMs?: number;
  /** Backoff cap (ms); default 1000. */
  maxDelayMs?: number;
  /** Entries per `SendMessageBatch` call; SQS allows at most 10 (the default). */
  maxBatchEntries?: number;
  /**
   * Sum of entry sizes (contracts `sqsEntryBytes`: body and attributes) per call; SQS allows
   * at most 1 MiB (the default, 1,048,576).
   */
  maxBatchBytes?: number;
  /** Size of one entry; SQS allows at most 1 MiB (the default). A larger entry fails as a sender fault. */
  maxMessageBytes?: number;
  /** `SendMessageBatch` calls in flight at once; default 8. */
  maxConcurrentCalls?: number;
  /** Injected for tests; default `setTimeout`. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected for tests; default `Math.random`. */
  random?: () => number;
  /** Called before each retry round (the record handler logs it). */
  onRetry?: (notice: RetryNotice) => void;
}

/** A `publish` call waiting for the next flush. */
interface Ticket {
  entries: readonly OutboundEntry[];
  resolve: (result: PublishResult) => void;
  sent: number;
  failures: EntryFailure[];
}

/** One entry of one ticket, tracked across attempts. */
interface Item extends SqsSized {
  entry: OutboundEntry;
  /** Position in its ticket's entries. */
  index: number;
  ticket: Ticket;
  attempts: number;
  done: boolean;
}

/** How one attempt of one item ended. */
type Attempt = { ok: true } | { ok: false; code: string; message: string; senderFault: boolean };

/**
 * Sends change messages with `SendMessageBatch`, batching ACROSS records.
 *
 * How: `publish()` only queues its entries and schedules a flush with `setImmediate`
 * (the DataLoader pattern). Powertools' `BatchProcessor` calls the record handler for
 * every record of the event in one synchronous `records.map(...)` (parallel mode, its
 * default), and our record handler builds its messages synchronously before calling
 * `publish()`, so every record of the invocation is queued before the flush runs. The
 * flush then packs all entries, from all records, by queue into calls of ≤ 10 entries
 * and ≤ 1 MiB of body and attributes (SQS's limits, contracts `SQS_LIMITS`) — 100 records
 * of 2 messages become ~20 calls instead of 100, and ten 150 KB rejects two calls, not
 * one call SQS refuses whole.
 * If records arrive in different ticks (sequential processing) it is still correct,
 * only less batched.
 *
 * Failures map back to records: every entry keeps its ticket (the `publish` call, i.e.
 * the record), and each ticket resolves with its own `sent` count and `failures`, so
 * the record handler fails exactly the records that lost an entry.
 *
 * Retries: only the entries SQS lists in `Failed` (or all entries of a call that
 * threw) are retried, regrouped into new calls, after a full-jitter exponential
 * backoff, up to `maxAttempts`. Entries SQS marks `SenderFault` are not retried (the
 * same request cannot succeed). Throttling and 5xx of whole calls are first retried by
 * the SDK's own retry strategy.
 *
 * @example
 * const publisher = new SqsBatchPublisher(new SQSClient({}));
 * const { failures } = await publisher.publish([{ queueUrl, body: JSON.stringify(msg) }]);
 */
export class SqsBatchPublisher implements Publisher {
  readonly #sqs: Pick<SQSClient, 'send'>;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #limits: Required<ChunkLimits>;
  readonly #maxConcurrentCalls: number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #onRetry: ((notice: RetryNotice) => void) | undefined;
  #pending: Ticket[] = [];
  #scheduled = false;

  constructor(sqs: Pick<SQSClient, 'send'>, options: PublisherOptions = {}) {
    this.#sqs = sqs;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#baseDelayMs = options.baseDelayMs ?? 50;
    this.#maxDelayMs = options.maxDelayMs ?? 1000;
    const limit = (value: number | undefined, max: number) => Math.min(max, value ?? max);
    this.#limits = {
      maxEntries: limit(options.maxBatchEntries, SQS_LIMITS.batchEntries),
      maxBytes: limit(options.maxBatchBytes, SQS_LIMITS.batchBytes),
      maxMessageBytes: limit(options.maxMessageBytes, SQS_LIMITS.messageBytes),
    };
    this.#maxConcurrentCalls = Math.max(1, options.maxConcurrentCalls ?? 8);
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.#random = options.random ?? Math.random;
    this.#onRetry = options.onRetry;
  }

  publish(entries: readonly OutboundEntry[]): Promise<PublishResult> {
    if (entries.length === 0) return Promise.resolve({ sent: 0, failures: [] });
    return new Promise<PublishResult>((resolve) => {
      this.#pending.push({ entries, resolve, sent: 0, failures: [] });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const tickets = this.#pending;
    this.#pending = [];
    this.#scheduled = false;
    const items: Item[] = tickets.flatMap((ticket) =>
      ticket.entries.map((entry, index) => ({
        entry,
        index,
        ticket,
        queueUrl: entry.queueUrl,
        bytes: sqsEntryBytes(entry),
        attempts: 0,
        done: false,
      })),
    );
    try {
      await this.#deliver(items);
    } catch (err) {
      // Not expected (#send never throws); fail whatever is unresolved rather than hang.
      for (const item of items) {
        if (!item.done) fail(item, 'PublisherError', (err as Error).message, false);
      }
    }
    for (const ticket of tickets) ticket.resolve({ sent: ticket.sent, failures: ticket.failures });
  }

  async #deliver(items: Item[]): Promise<void> {
    let todo = items;
    for (let attempt = 1; todo.length > 0; attempt++) {
      const { chunks, oversize } = chunkEntries(todo, this.#limits);
      for (const item of oversize) {
        const max = Math.min(this.#limits.maxBytes, this.#limits.maxMessageBytes);
        fail(item, 'MessageTooLong', `${item.bytes} bytes exceed ${max}`, true);
      }
      const retry: Item[] = [];
      const codes = new Set<string>();
      const eventIds = new Set<string>();
      await this.#pool(chunks, async (chunk) => {
        const outcomes = await this.#send(chunk);
        chunk.forEach((item, i) => {
          const outcome = outcomes[i]!;
          item.attempts = attempt;
          if (outcome.ok) {
            item.done = true;
            item.ticket.sent++;
          } else if (outcome.senderFault || attempt >= this.#maxAttempts) {
            fail(item, outcome.code, outcome.message, outcome.senderFault);
          } else {
            retry.push(item);
            codes.add(outcome.code);
            if (item.entry.eventId !== undefined) eventIds.add(item.entry.eventId);
          }
        });
      });
      if (retry.length > 0) {
        const delayMs = Math.round(
          this.#random() * Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1)),
        );
        this.#onRetry?.({
          attempt: attempt + 1,
          delayMs,
          entries: retry.length,
          codes: [...codes],
          eventIds: [...eventIds],
        });
        await this.#sleep(delayMs);
      }
      todo = retry;
    }
  }

  /** One `SendMessageBatch` call; never throws: a call that throws fails all its entries. */
  async #send(chunk: readonly Item[]): Promise<Attempt[]> {
    try {
      const out = await this.#sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: chunk[0]!.queueUrl,
          Entries: chunk.map((item, i) => ({
            Id: String(i),
            MessageBody: item.entry.body,
            ...(item.entry.attributes
              ? { MessageAttributes: toMessageAttributes(item.entry.attributes) }
              : {}),
          })),
        }),
      );
      const ok = new Set((out.Successful ?? []).map((s) => s.Id));
      const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
      return chunk.map((_, i): Attempt => {
        const id = String(i);
        const f = failed.get(id);
        if (f) {
          return {
            ok: false,
            code: f.Code ?? 'Unknown',
            message: f.Message ?? '',
            senderFault: f.SenderFault === true,
          };
        }
        if (ok.has(id)) return { ok: true };
        return {
          ok: false,
          code: 'MissingResult',
          message: 'entry absent from the response',
          senderFault: false,
        };
      });
    } catch (err) {
      const e = err as Error;
      return chunk.map(() => ({
        ok: false,
        code: e.name || 'Error',
        message: e.message,
        senderFault: false,
      }));
    }
  }

  /** Runs `fn` over `chunks` with at most `maxConcurrentCalls` in flight. */
  async #pool<T>(chunks: readonly T[], fn: (chunk: T) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks.length) await fn(chunks[next++]!);
    };
    await Promise.all(
      Array.from({ length: Math.min(this.#maxConcurrentCalls, chunks.length) }, worker),
    );
  }
}

function fail(item: Item, code: string, message: string, senderFault: boolean): void {
  item.done = true;
  item.ticket.failures.push({
    index: item.index,
    queueUrl: item.queueUrl,
    code,
    message,
    senderFault,
    attempts: item.attempts,
  });
}
