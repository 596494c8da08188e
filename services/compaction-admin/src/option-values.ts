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
  const date = parseIsoDate(value.trim());
  if (date === undefined) {
    throw new UsageError(
      `${option} "${value}" is neither an age nor a valid ISO date`,
      'use an age like 24h or 7d, or a date like 2025-03-01 or 2025-03-01T10:15:00Z',
    );
  }
  return date;
}

const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * An ISO date or date-time whose every field exists on the calendar, or undefined.
 * `Date` alone rolls over (2025-02-30 becomes 2025-03-02), so the fields are checked
 * first: a mistyped day must be refused, not silently moved into the next month.
 */
function parseIsoDate(value: string): Date | undefined {
  const m = ISO_DATE.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour = 0, minute = 0, second = 0] = m
    .slice(1, 7)
    .map((field) => (field === undefined ? undefined : Number(field))) as number[];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  if (month! < 1 || month! > 12 || day! < 1 || day! > daysInMonth) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const offset = m[7];
  if (offset && offset !== 'Z' && (Number(offset.slice(1, 3)) > 23 || Number(offset.slice(4)) > 59))
    return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
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

/**
 * A number of seconds (`--lock-wait`), in milliseconds. Throws a usage error naming the option.
 *
 * @example
 * parseSeconds('120', '--lock-wait') // 120000
 */
export function parseSeconds(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`${option} "${value}" is not a number of seconds`, `e.g. ${option} 120`);
  }
  return n * 1000;
}
