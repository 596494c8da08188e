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
 * await confirm(io, { yes: opts.yes, question: 'Roll back words from A to B?', retry: retryWithYes(ctx.commandLine) });
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

/**
 * The command line the operator typed, every option and value quoted for a POSIX
 * shell, with `--yes` added: the "re-run with --yes" hint, which must do exactly what
 * was asked (the stage, the reason for the audit trail, `--full-verify`, …), not a
 * shorter command that acts differently.
 *
 * @example
 * retryWithYes(['rollback', 'words', '--reason', "bad batch"]);
 * // compaction-admin rollback words --reason 'bad batch' --yes
 */
export function retryWithYes(commandLine: readonly string[]): string {
  return ['compaction-admin', ...commandLine, '--yes'].map(shellQuote).join(' ');
}

/** One word for a POSIX shell: as is when it is plain, else in single quotes. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}
