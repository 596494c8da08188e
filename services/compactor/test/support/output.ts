/**
 * What the code under test writes to stdout and stderr, kept instead of printed: for the
 * env-configured handler, which builds its own Powertools Logger and Metrics so no
 * recording sink can be passed (Powertools writes through its own `Console` on
 * `process.stdout`/`process.stderr`, past vitest's console capture). If the test fails,
 * the kept lines are printed after all, with the failure.
 */
import { onTestFailed, onTestFinished, vi } from 'vitest';

/** A line of CloudWatch embedded metric format, as Powertools Metrics writes it. */
export const isEmfLine = (line: string): boolean => line.startsWith('{"_aws":');

/**
 * Starts keeping this test's stdout and stderr lines; restored when the test ends.
 *
 * @example
 * const output = captureOutput();
 * await handler(event);
 * expect(output.lines.filter(isEmfLine)).toEqual([]);
 */
export function captureOutput(): { readonly lines: readonly string[] } {
  const lines: string[] = [];
  const stderr = process.stderr.write.bind(process.stderr);
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array, ...rest) => {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    });
  }
  onTestFailed(() => {
    stderr(`output of the failed test:\n${lines.join('\n')}\n`);
  });
  onTestFinished(() => {
    vi.mocked(process.stdout.write).mockRestore();
    vi.mocked(process.stderr.write).mockRestore();
  });
  return { lines };
}
