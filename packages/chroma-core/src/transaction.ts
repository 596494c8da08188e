/**
 * Transactions that span SQLite and the in-memory HNSW indexes.
 *
 * Invariant: an HNSW index only ever reflects committed SQLite state. Every write
 * call runs in a SQLite transaction (a savepoint when nested) and registers its index
 * mutation as a deferred effect instead of applying it. Effects of a nested call are
 * handed to the enclosing frame when it succeeds and dropped when it throws (its
 * savepoint is rolled back); the outermost commit applies them in order. A rollback
 * therefore needs no undo: the index was never touched.
 *
 * Inside an open transaction the index lags behind SQLite for collections with
 * pending effects; `hasPending` lets queries fall back to exact search over SQLite,
 * which sees the uncommitted rows.
 */
import type { Db } from './database.js';
import { InvalidOperationError } from './errors.js';

/** Called around every outermost transaction (see `PageChangeTracker`). */
export interface CommitObserver {
  beforeBegin(): void;
  /** Inside the transaction, after its body, before SQLite commits. */
  beforeCommit(): void;
  /** After it committed or rolled back. */
  afterEnd(): void;
}

/** An index mutation to apply after commit. */
export interface DeferredEffect {
  /** uuid of the collection whose index it changes. */
  collection: string;
  apply(): void;
}

/** Runs write calls in (nested) SQLite transactions and applies their index effects after commit. */
export class TransactionRunner {
  private readonly db: Db;
  private readonly frames: DeferredEffect[][] = [];
  private readonly applyEffects: (effects: DeferredEffect[]) => void;
  private readonly observer: CommitObserver | undefined;

  constructor(
    db: Db,
    applyEffects: (effects: DeferredEffect[]) => void,
    observer?: CommitObserver,
  ) {
    this.db = db;
    this.applyEffects = applyEffects;
    this.observer = observer;
  }

  /** True inside `run`. */
  get active(): boolean {
    return this.frames.length > 0;
  }

  /**
   * Runs `fn` atomically: all of its SQLite writes commit or none do, and its index
   * effects are applied only once the outermost transaction has committed.
   */
  run<T>(fn: () => T): T {
    const frame: DeferredEffect[] = [];
    const outermost = this.frames.length === 0;
    const observer = outermost ? this.observer : undefined;
    observer?.beforeBegin();
    this.frames.push(frame);
    let result: T;
    try {
      result = this.db.transaction(
        observer
          ? () => {
              const value = fn();
              observer.beforeCommit();
              return value;
            }
          : fn,
      )();
    } catch (err) {
      if (err instanceof TypeError && /cannot return a promise/i.test(err.message)) {
        throw new InvalidOperationError(
          'a transaction body must be synchronous (use the *Sync methods)',
        );
      }
      throw err;
    } finally {
      this.frames.pop();
      observer?.afterEnd();
    }
    const parent = this.frames.at(-1);
    if (parent) {
      for (const effect of frame) parent.push(effect);
    } else if (frame.length > 0) {
      this.applyEffects(frame);
    }
    return result;
  }

  /** Registers an index mutation of the current transaction. */
  defer(effect: DeferredEffect): void {
    const frame = this.frames.at(-1);
    if (!frame) throw new InvalidOperationError('internal: deferred effect outside a transaction');
    frame.push(effect);
  }

  /** True when an open transaction has index effects for `collection` not yet applied. */
  hasPending(collection: string): boolean {
    return this.frames.some((frame) => frame.some((e) => e.collection === collection));
  }
}
