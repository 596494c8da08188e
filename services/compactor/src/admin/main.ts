/**
 * The process entry of `compaction-admin` (started by `bin/compaction-admin.js`): the
 * real streams and environment in, the exit code out.
 */
import { runCli } from './cli.js';
import type { AdminIO } from './context.js';

/**
 * Runs the CLI on this process's arguments and resolves with its exit code.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  // `compaction-admin … | head` closes stdout early: stop quietly, like other CLIs,
  // instead of crashing with an unhandled EPIPE.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const io: AdminIO = {
    stdout: process.stdout,
    stderr: process.stderr,
    // A getter: touching process.stdin creates its handle, which only the confirmation
    // prompt needs.
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  };
  return runCli(argv, io);
}
