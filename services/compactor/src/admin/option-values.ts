/**
 * Option values as operators type them: ages (`90s`, `30m`, `12h`, `7d`, `2w`), points
 * in time (an age ago, or an ISO date/time) and counts.
 */
import { UsageError } from './errors.js';

const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/**
 * Milliseconds of an age like `7d`. Throws a usage error naming `option` otherwise.
 *
 * @example
 * parseAge('7d', '--older-than') // 604800000
 */
export function parseAge(value: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(value.trim());
  if (!m) {
    throw new UsageError(
      `${option} "${value}" is not an age`,
      'write a number and a unit: s, m, h, d or w (e.g. 90s, 30m, 12h, 7d, 2w)',
    );
  }
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/**
 * A point in time: `now - age` for an age (`7d`), or an ISO date/time.
 *
 * @example
 * parseSince('24h', '--since', Date.now()) // a Date one day ago
 */
export function parseSince(value: string, option: string, now: number): Date {
  if (/^\d+(?:\.\d+)?\s*[smhdw]$/.test(value.trim()))
    return new Date(now - parseAge(value, option));
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `${option} "${value}" is neither an age nor an ISO date`,
      'use an age like 24h or 7d, or a date like 2025-03-01 or 2025-03-01T10:15:00Z',
    );
  }
  return date;
}

/**
 * A positive integer option value (`--keep`, `--steps`, …). Throws a usage error naming the option.
 */
export function parsePositiveInt(value: string, option: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${option} "${value}" is not a positive integer`, `e.g. ${option} 3`);
  }
  return n;
}
