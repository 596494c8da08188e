/**
 * Time source of the lock, pointer, audit and snapshot code.
 *
 * Every decision that depends on time (is my lease still valid? what is `now` in the
 * lock's condition expression?) reads an injected {@link Clock}, never `Date.now()`
 * directly, so tests can pause a lock holder past its lease without sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * A clock that only moves when told to. For tests and simulations: a holder whose
 * clock is not advanced is "paused", one advanced past its lease has lost it.
 *
 * @example
 * const clock = new ManualClock(Date.parse('2025-01-01T00:00:00Z'));
 * clock.advance(31_000); // 31 s later, instantly
 */
export class ManualClock implements Clock {
  #now: number;

  constructor(start: number = Date.now()) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  /** Moves the clock forward by `ms` (never backwards: real clocks used here are monotonic enough). */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError(`ManualClock cannot go backwards (${ms} ms)`);
    this.#now += ms;
  }
}
