import { EventEmitter } from 'node:events';
import { RunnerStoppedError, WaitTimeoutError } from './errors.js';

/** Counters of an event-source runner. They only grow. */
export interface RunnerStats {
  /** Receive / GetRecords rounds. */
  polls: number;
  /** Rounds that found nothing to do. */
  emptyPolls: number;
  /** Rounds that failed (the runner logs, backs off and carries on). */
  pollErrors: number;
  /** Handler invocations. */
  batches: number;
  /** Records handed to the handler, redeliveries included. */
  records: number;
  /** Invocations that threw or reported at least one failed item. */
  failedBatches: number;
  /** Records the handler threw on or reported as failed. */
  failedRecords: number;
  /** Records done with: SQS messages deleted, stream records checkpointed. */
  succeededRecords: number;
  /** Stream records given up on after the retry attempts (Lambda's on-failure path). */
  discardedRecords: number;
}

/** What one handler invocation did. */
export interface BatchReport {
  size: number;
  /** Items not done with (reported in `batchItemFailures`, or all of them when the handler threw). */
  failed: number;
  durationMs: number;
  /** What the handler threw, if it threw. */
  error?: unknown;
}

/** Records dropped by a stream runner after its retry attempts. */
export interface DiscardReport {
  records: number;
  firstSequenceNumber: string | undefined;
  lastSequenceNumber: string | undefined;
  shardId: string;
}

/** Events every runner emits. */
export type RunnerEvents = {
  batch: [report: BatchReport];
  handlerError: [error: unknown];
  pollError: [error: unknown];
  discard: [report: DiscardReport];
  idle: [];
  stopped: [];
};

/** Options of `waitForIdle` / `waitUntil`. */
export interface WaitOptions {
  /**
   * Rejects with `WaitTimeoutError` after this long. Default 45 000 ms: room for a 2-core
   * machine busy with a test run, and still inside a 60 s test timeout, so the runner's
   * own error (with its stats) is what a stuck test reports.
   */
  timeoutMs?: number;
}

interface IdleWaiter {
  after: number;
  fresh: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

interface StatsWaiter {
  predicate: (stats: RunnerStats) => boolean;
  resolve: (stats: RunnerStats) => void;
  reject: (error: unknown) => void;
  timer: NodeJS.Timeout;
}

const DEFAULT_WAIT_MS = 45_000;

/**
 * The lifecycle shared by the stream and SQS runners: poll loops, counters, events,
 * idle detection, and a stop that waits for the batch in flight.
 *
 * Idle means: since `waitForIdle()` was called, a poll that *started after the call*
 * returned nothing, and at that moment no other poll was running and no records were
 * held or being handled. Calling `waitForIdle()` wakes paused loops, so the answer comes
 * from a fresh poll, not from an interval.
 */
export abstract class EventSourceRunner extends EventEmitter<RunnerEvents> {
  private readonly counters: RunnerStats = {
    polls: 0,
    emptyPolls: 0,
    pollErrors: 0,
    batches: 0,
    records: 0,
    failedBatches: 0,
    failedRecords: 0,
    succeededRecords: 0,
    discardedRecords: 0,
  };
  private pollTicket = 0;
  private busyCount = 0;
  private readonly idleWaiters = new Set<IdleWaiter>();
  private readonly statsWaiters = new Set<StatsWaiter>();
  private readonly wakers = new Set<() => void>();
  private state: 'created' | 'running' | 'stopping' | 'stopped' = 'created';
  private loopsDone: Promise<void> = Promise.resolve();
  private stopPromise: Promise<void> | undefined;
  private warnedPollErrors = 0;

  protected constructor(readonly runnerName: string) {
    super();
  }

  /** A snapshot of the counters. */
  get stats(): RunnerStats {
    return { ...this.counters };
  }

  /** True between start and `stop()`. */
  get running(): boolean {
    return this.state === 'running';
  }

  protected get stopping(): boolean {
    return this.state !== 'running';
  }

  /** Starts `count` concurrent poll loops. */
  protected launch(count: number): void {
    this.state = 'running';
    const loops = Array.from({ length: count }, (_, i) => this.guardedLoop(i));
    this.loopsDone = Promise.all(loops).then(() => undefined);
  }

  /** One poll loop; returns when `stopping` is true. Errors it throws are counted and retried. */
  protected abstract loop(index: number): Promise<void>;

  private async guardedLoop(index: number): Promise<void> {
    while (!this.stopping) {
      try {
        await this.loop(index);
      } catch (error) {
        this.reportError(error);
        await this.pause(1000);
      }
    }
  }

  /** Counts a failed AWS call, emits `pollError` (or warns when nobody listens). */
  protected reportError(error: unknown): void {
    this.count({ pollErrors: 1 });
    if (this.listenerCount('pollError') > 0) {
      this.emit('pollError', error);
    } else if (this.warnedPollErrors++ % 50 === 0) {
      console.warn(`[local-aws] ${this.runnerName}: poll failed, retrying:`, error);
    }
  }

  protected count(changes: Partial<RunnerStats>): void {
    for (const [key, value] of Object.entries(changes) as [keyof RunnerStats, number][]) {
      this.counters[key] += value;
    }
    for (const waiter of this.statsWaiters) {
      if (waiter.predicate(this.stats)) {
        this.statsWaiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(this.stats);
      }
    }
  }

  /** Call when a poll starts; pass the ticket to {@link endPoll}. */
  protected beginPoll(): number {
    this.busyCount++;
    this.count({ polls: 1 });
    return ++this.pollTicket;
  }

  /**
   * Call when a poll ends: `empty` = it found nothing and nothing is held; `data` = it
   * found (or still holds) records; `error` = it failed (says nothing about idleness).
   */
  protected endPoll(ticket: number, outcome: 'empty' | 'data' | 'error'): void {
    this.busyCount--;
    for (const waiter of this.idleWaiters) {
      if (outcome === 'data') waiter.fresh = false;
      else if (outcome === 'empty' && ticket > waiter.after) waiter.fresh = true;
    }
    if (outcome === 'empty') this.count({ emptyPolls: 1 });
    this.settleIdle();
    if (outcome === 'empty' && this.busyCount === 0) this.emit('idle');
  }

  /** Marks records held (`+1`) or released (`-1`) by a loop. */
  protected holding(delta: 1 | -1): void {
    this.busyCount += delta;
    this.settleIdle();
  }

  private settleIdle(): void {
    if (this.busyCount !== 0) return;
    for (const waiter of this.idleWaiters) {
      if (!waiter.fresh) continue;
      this.idleWaiters.delete(waiter);
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
  }

  /** Waits `ms`, or less when woken by `stop()` or `waitForIdle()`. */
  protected pause(ms: number): Promise<void> {
    if (this.stopping || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake();
  }

  /**
   * Resolves when the runner is idle (see the class comment): everything that was
   * available when you called it has been handed to the handler and settled.
   *
   * @example
   * await sendMessages(...);
   * await runner.waitForIdle();
   * expect(runner.stats.batches).toBe(1);
   */
  waitForIdle(options: WaitOptions = {}): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') {
      return Promise.reject(new RunnerStoppedError(this.runnerName));
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
    return new Promise<void>((resolve, reject) => {
      const waiter: IdleWaiter = {
        after: this.pollTicket,
        fresh: false,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.idleWaiters.delete(waiter);
          reject(new WaitTimeoutError(`${this.runnerName} to become idle`, timeoutMs));
        }, timeoutMs),
      };
      this.idleWaiters.add(waiter);
      this.wakeAll();
    });
  }

  /**
   * Resolves with the counters as soon as `predicate(stats)` holds (checked on every change).
   *
   * @example
   * await runner.waitUntil((s) => s.succeededRecords >= 3);
   */
  waitUntil(
    predicate: (stats: RunnerStats) => boolean,
    options: WaitOptions = {},
  ): Promise<RunnerStats> {
    if (predicate(this.stats)) return Promise.resolve(this.stats);
    if (this.state === 'stopped' || this.state === 'stopping') {
      return Promise.reject(new RunnerStoppedError(this.runnerName));
    }
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_MS;
    return new Promise<RunnerStats>((resolve, reject) => {
      const waiter: StatsWaiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.statsWaiters.delete(waiter);
          reject(
            new WaitTimeoutError(
              `${this.runnerName} stats condition (now ${JSON.stringify(this.stats)})`,
              timeoutMs,
            ),
          );
        }, timeoutMs),
      };
      this.statsWaiters.add(waiter);
    });
  }

  /**
   * Stops polling and resolves once the batch in flight (if any) has been handled and
   * settled (deleted / checkpointed). Pending waits reject with `RunnerStoppedError`.
   * Idempotent.
   */
  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      if (this.state === 'created') this.state = 'stopped';
      else this.state = 'stopping';
      this.wakeAll();
      await this.loopsDone;
      this.state = 'stopped';
      const error = new RunnerStoppedError(this.runnerName);
      for (const waiter of this.idleWaiters) {
        clearTimeout(waiter.timer);
        waiter.reject(error);
      }
      this.idleWaiters.clear();
      for (const waiter of this.statsWaiters) {
        clearTimeout(waiter.timer);
        waiter.reject(error);
      }
      this.statsWaiters.clear();
      this.emit('stopped');
    })();
    return this.stopPromise;
  }
}
