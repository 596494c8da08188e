/**
 * How the CLI writes: plain aligned tables and lines for people on stdout, JSON for
 * machines on stdout, and everything transient (progress, waiting, prompts) on stderr
 * so `--json` output can be piped as is.
 */
import type { AdminIO } from './context.js';

/** Writes lines to the CLI's stdout and stderr. */
export class Output {
  constructor(private readonly io: Pick<AdminIO, 'stdout' | 'stderr'>) {}

  /** One line on stdout. */
  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** A value as pretty JSON on stdout (the `--json` form of every command). */
  json(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** One line on stderr: progress and notes that must not pollute stdout. */
  note(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }

  /** An aligned table on stdout; `null`/`undefined` cells print as `-`. */
  table(
    headers: readonly string[],
    rows: readonly (readonly (string | number | null | undefined)[])[],
  ): void {
    for (const line of formatTable(headers, rows)) this.line(line);
  }
}

/** Lines of an aligned table (two spaces between columns, no trailing blanks). */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly (string | number | null | undefined)[])[],
): string[] {
  const cells = [headers, ...rows].map((row) =>
    headers.map((_, i) => {
      const value = row[i];
      return value === null || value === undefined || value === '' ? '-' : String(value);
    }),
  );
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

/** Bytes for people: `0 B`, `512 B`, `1.5 kB`, `154.0 MB`, `1.20 GB` (powers of 1000). */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value >= 100 ? 1 : value >= 10 ? 1 : 2)} ${units[unit]}`;
}

/** A duration for people: `850 ms`, `1.2 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(abs)} ms`;
  if (abs < 60_000) return `${(abs / 1000).toFixed(1)} s`;
  const s = Math.round(abs / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** `2025-03-01 10:15:00Z (3 min ago)`: UTC, to the second, with the age. */
export function formatTime(iso: string | Date | undefined, now: number): string {
  if (iso === undefined) return '-';
  const date = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(date.getTime())) return String(iso);
  const stamp = date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
  const age = now - date.getTime();
  return `${stamp} (${age >= 0 ? `${formatDuration(age)} ago` : `in ${formatDuration(age)}`})`;
}
