/**
 * What a command file needs to declare its command: the action wrapper the program
 * gives it (`cli.ts`), which builds the context from the command's options, prints the
 * command's exit code and closes the clients.
 */
import type { AdminContext } from './context.js';
import type { ExitCode } from './errors.js';
import type { Output } from './output.js';

/**
 * Wraps a command's action: `fn` gets the context, the output and commander's
 * arguments (positional values, then the options object), and resolves with the exit
 * code.
 *
 * @example
 * parent.command('health').action(run((ctx, out, opts: { json?: boolean }) => health(ctx, out, opts)));
 */
export type CommandAction = <A extends unknown[]>(
  fn: (ctx: AdminContext, out: Output, ...args: A) => Promise<ExitCode>,
) => (...args: unknown[]) => Promise<void>;
