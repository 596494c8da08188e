/**
 * The process entry of `compaction-admin` (started by `bin/compaction-admin.js`): the
 * real streams and environment in, the exit code out.
 */
import { runCli } from './cli.js';
import type { AdminIO, Interrupt } from './context.js';

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
    interrupt: onInterrupt(),
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

/**
 * Ctrl-C (SIGINT) and SIGTERM. Inside a section that holds or waits for a collection
 * lock (`withCollectionLock`), the first one asks the command to stop at its next safe
 * point and release the lock (it then ends with exit code 130); a second one ends the
 * process at once. Anywhere else the process ends at once with exit code 130, as
 * without a handler.
 */
function onInterrupt(): Interrupt {
  const controller = new AbortController();
  let sections = 0;
  const handle = (name: NodeJS.Signals): void => {
    if (sections === 0 || controller.signal.aborted) {
      if (sections > 0)
        process.stderr.write(
          'interrupted again: quitting now; the lock stays held until its lease runs out\n',
        );
      process.exit(130);
    }
    controller.abort(name);
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
  return {
    signal: controller.signal,
    enter() {
      sections++;
      let left = false;
      return () => {
        if (!left) sections--;
        left = true;
      };
    },
  };
}
