/**
 * A lock's heartbeat on a worker thread, so synchronous work on the main thread (one
 * SQLite transaction over a large batch, loading or writing an HNSW index) longer than
 * the lease never loses the lock. Node offers no other way to run a timer while the
 * event loop is blocked. One worker (`heartbeat-worker.mjs`) serves every lock of the
 * process and outlives them (unref'd: it never keeps a process alive); it sends the
 * same conditional heartbeat as `lock.ts` and shares each lease's end through a
 * SharedArrayBuffer that the main thread reads synchronously in `assertHeld()`.
 */
import { Worker } from 'node:worker_threads';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { LockLostReason } from './errors.js';

type LostReason = Exclude<LockLostReason, 'released'>;

const REASONS: Record<number, LostReason | undefined> = {
  1: 'heartbeat-refused',
  2: 'lease-expired',
};

export interface HeartbeatThreadOptions {
  /** Its config (region, endpoint, credentials) is handed to the worker's own client. */
  ddb: DynamoDBDocumentClient;
  table: string;
  pk: string;
  owner: string;
  token: number;
  leaseMs: number;
  heartbeatMs: number;
  /** The lease's end at acquisition (epoch ms). */
  leaseUntil: number;
  /** Called on the main thread when the worker learns the lock is lost. */
  onLost: (reason: LostReason) => void;
  onWarn: (message: string) => void;
}

interface WorkerMessage {
  type: 'lost' | 'warn' | 'stopped' | 'ready';
  id: number;
  reason?: LostReason;
  message?: string;
}

interface Listener {
  onLost: (reason: LostReason) => void;
  onWarn: (message: string) => void;
  onStopped?: () => void;
}

let shared:
  | { worker: Worker; listeners: Map<number, Listener>; ready: Promise<void>; waiters: number }
  | undefined;

/**
 * Waits for an answer of the worker (ready, stopped) with the worker referenced, so the
 * process does not end while it waits — and unreferenced again once nobody waits, so a
 * finished process is never kept alive by it.
 */
async function awaiting<T>(state: NonNullable<typeof shared>, answer: Promise<T>): Promise<T> {
  if (state.waiters++ === 0) state.worker.ref();
  try {
    return await answer;
  } finally {
    if (--state.waiters === 0) state.worker.unref();
  }
}
let nextId = 1;

/** The process's heartbeat worker, started on first use. */
function heartbeatWorker(): NonNullable<typeof shared> {
  if (shared) return shared;
  // execArgv: [] — the worker is plain JavaScript and must not inherit the parent's
  // flags (`--input-type`, a TypeScript loader) that do not apply to it.
  const worker = new Worker(new URL('./heartbeat-worker.mjs', import.meta.url), { execArgv: [] });
  const listeners = new Map<number, Listener>();
  // A lock is handed out only once the worker has loaded and can beat: on a cold,
  // busy machine loading it takes long enough to matter next to a short lease.
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') resolve();
    });
  });
  worker.on('message', (message: WorkerMessage) => {
    const listener = listeners.get(message.id);
    if (message.type === 'lost') listener?.onLost(message.reason!);
    else if (message.type === 'warn') listener?.onWarn(message.message ?? '');
    else if (message.type === 'stopped') {
      listeners.delete(message.id);
      listener?.onStopped?.();
    }
  });
  worker.on('error', (err) => {
    for (const listener of listeners.values()) listener.onWarn(`heartbeat thread: ${err.message}`);
  });
  // A dead worker is replaced on the next lock; locks it served fall back to their
  // own lease arithmetic (assertHeld fails once the lease runs out).
  worker.on('exit', () => {
    if (shared?.worker === worker) shared = undefined;
    for (const listener of listeners.values()) listener.onStopped?.();
    listeners.clear();
  });
  // After the listeners (adding a 'message' listener refs the worker again): a worker
  // that holds nobody's attention never keeps the process alive; see `awaiting`.
  worker.unref();
  shared = { worker, listeners, ready, waiters: 0 };
  return shared;
}

/** One lock's heartbeat on the shared worker. */
export class HeartbeatThread {
  readonly #id: number;
  readonly #lease: BigInt64Array;
  readonly #state: Int32Array;
  #stopped: Promise<void> | undefined;

  private constructor(id: number, buffer: SharedArrayBuffer) {
    this.#id = id;
    this.#lease = new BigInt64Array(buffer, 0, 1);
    this.#state = new Int32Array(buffer, 8, 1);
  }

  /** Starts beating, once the worker is ready. The first heartbeat goes out `heartbeatMs` later. */
  static async start(options: HeartbeatThreadOptions): Promise<HeartbeatThread> {
    const buffer = new SharedArrayBuffer(16);
    Atomics.store(new BigInt64Array(buffer, 0, 1), 0, BigInt(options.leaseUntil));
    const config = options.ddb.config;
    const endpoint = config.endpoint ? await config.endpoint() : undefined;
    const client = {
      region: await config.region(),
      credentials: await config.credentials(),
      ...(endpoint
        ? {
            endpoint: `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}${endpoint.path}`,
          }
        : {}),
    };
    const id = nextId++;
    const state = heartbeatWorker();
    const { worker, listeners, ready } = state;
    await awaiting(state, ready);
    listeners.set(id, { onLost: options.onLost, onWarn: options.onWarn });
    worker.postMessage({
      type: 'start',
      lock: {
        id,
        table: options.table,
        pk: options.pk,
        owner: options.owner,
        token: options.token,
        leaseMs: options.leaseMs,
        heartbeatMs: options.heartbeatMs,
        client,
        shared: buffer,
      },
    });
    return new HeartbeatThread(id, buffer);
  }

  /** The lease's end as the worker last renewed it (epoch ms). */
  get leaseUntil(): number {
    return Number(Atomics.load(this.#lease, 0));
  }

  /** Why the worker found the lock lost, or undefined while it is held. */
  get lost(): LostReason | undefined {
    return REASONS[Atomics.load(this.#state, 0)];
  }

  /** Stops this lock's heartbeat; resolves once the worker has dropped it. */
  stop(): Promise<void> {
    const current = shared;
    const listener = current?.listeners.get(this.#id);
    if (!current || !listener) return (this.#stopped ??= Promise.resolve());
    this.#stopped ??= awaiting(
      current,
      new Promise<void>((resolve) => {
        listener.onStopped = resolve;
        current.worker.postMessage({ type: 'stop', id: this.#id });
      }),
    );
    return this.#stopped;
  }
}
