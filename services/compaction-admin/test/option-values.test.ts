/**
 * Option values as operators type them: a date that is not on the calendar is refused
 * (exit 2), never rolled over into the next month.
 */
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { parseSince } from '../src/option-values.js';

const NOW = Date.parse('2025-03-10T12:00:00Z');

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    callback();
  }
}

describe('--since', () => {
  it('reads ages and valid ISO dates and date-times', () => {
    expect(parseSince('24h', '--since', NOW).toISOString()).toBe('2025-03-09T12:00:00.000Z');
    expect(parseSince('2025-03-01', '--since', NOW).toISOString()).toBe('2025-03-01T00:00:00.000Z');
    expect(parseSince('2024-02-29', '--since', NOW).toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(parseSince('2025-03-01T10:15:00Z', '--since', NOW).toISOString()).toBe(
      '2025-03-01T10:15:00.000Z',
    );
    expect(parseSince('2025-03-01T10:15:00.250+02:00', '--since', NOW).toISOString()).toBe(
      '2025-03-01T08:15:00.250Z',
    );
  });

  it.each([
    '2025-02-30',
    '2025-02-29',
    '2025-04-31',
    '2025-13-01',
    '2025-00-10',
    '2025-03-00',
    '2025-03-01T24:00:00Z',
    '2025-03-01T10:60:00Z',
    '2025-03-01T10:15:61Z',
    '2025-03-01T10:15:00+25:00',
    '2025-03-01junk',
    'yesterday',
  ])('refuses %s with a usage error', (value) => {
    expect(() => parseSince(value, '--since', NOW)).toThrowError(
      `--since "${value}" is neither an age nor a valid ISO date`,
    );
  });

  it('audit --since 2025-02-30 exits 2 with what to type instead', async () => {
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await runCli(['audit', '--since', '2025-02-30', '--state-table', 'unused'], {
      stdout,
      stderr,
      stdin: new PassThrough(),
      env: {},
    });
    expect(code).toBe(2);
    expect(stderr.text).toContain(
      'error: --since "2025-02-30" is neither an age nor a valid ISO date',
    );
    expect(stderr.text).toContain('next: use an age like 24h or 7d, or a date like 2025-03-01');
    expect(stdout.text).toBe('');
  });
});
