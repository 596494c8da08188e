/**
 * The confirmation rule of every command that changes something:
 * - `--yes`: go ahead;
 * - stdin is a terminal: ask, and go ahead only on `y`/`yes`;
 * - otherwise (a pipe, cron, CI): refuse. A script must say `--yes` explicitly, so a
 *   command pasted into the wrong shell never acts unattended.
 */
import { createInterface } from 'node:readline/promises';
import type { AdminIO } from './context.js';
import { RefusedError } from './errors.js';

/**
 * Resolves when the operator agreed to `question`; rejects with a {@link RefusedError}
 * (exit code 1) when they did not, or could not be asked.
 *
 * @example
 * await confirm(io, { yes: opts.yes, question: 'Roll back words from A to B?', retry: 'compaction-admin rollback words --to B --yes' });
 */
export async function confirm(
  io: Pick<AdminIO, 'stdin' | 'stderr'>,
  request: { yes: boolean; question: string; retry: string },
): Promise<void> {
  if (request.yes) return;
  if (!io.stdin.isTTY) {
    throw new RefusedError(
      'refusing to act without confirmation: stdin is not a terminal and --yes was not given',
      `check the plan (add --dry-run), then re-run with --yes: ${request.retry}`,
    );
  }
  // The prompt goes to stderr: stdout stays clean for --json.
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  // Ctrl-C or end of input at the prompt is a "no" (readline would otherwise pause the
  // input and leave the question pending).
  const abort = new AbortController();
  rl.on('SIGINT', () => abort.abort());
  rl.on('close', () => abort.abort());
  try {
    let answer: string;
    try {
      answer = await rl.question(`${request.question} [y/N] `, { signal: abort.signal });
    } catch (err) {
      if (abort.signal.aborted)
        throw new RefusedError('interrupted; nothing was changed', undefined);
      throw err;
    }
    answer = answer.trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      throw new RefusedError('not confirmed; nothing was changed', undefined);
    }
  } finally {
    rl.close();
  }
}
