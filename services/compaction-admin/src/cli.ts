/**
 * The `compaction-admin` program (commander): commands, options, help texts, and the
 * one place where results and errors become exit codes.
 *
 * Every command builds its clients from the connection options (`context.ts`) and
 * works through the compactor's own lock, pointer, audit and snapshot code: the CLI
 * and the compactor cannot disagree on the protocol because there is only one.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerAudit } from './audit.js';
import type { CommandAction } from './command.js';
import {
  createAdminContext,
  type AdminContext,
  type AdminIO,
  type ConnectionOptions,
} from './context.js';
import { EXIT, explainError, type ExitCode } from './errors.js';
import { registerHealth } from './health.js';
import { Output } from './output.js';
import { registerPrune } from './prune.js';
import { registerRollback } from './rollback.js';
import { registerSnapshotsList } from './snapshots-list.js';
import { registerSnapshotsVerify } from './snapshots-verify.js';

const ROOT_HELP = `
Exit codes:
  0  ok
  1  refused or failed: verification failed, not confirmed, lock busy, the pointer moved,
     a health check failed, AWS refused (the message says what to do next)
  2  usage error: bad or missing option, unknown collection, no table/bucket named
  130 interrupted (Ctrl-C): a rollback or prune stopped at a safe point and released its lock

Configuration (every command):
  --stage dev                       every name from the stage (dev-compaction-state, …)
  --state-table / --bucket          or single names (env STATE_TABLE, SNAPSHOT_BUCKET)
  --endpoint http://127.0.0.1:4566  one endpoint for all clients (path-style S3); else the
                                    SDK's AWS_ENDPOINT_URL_DYNAMODB/_S3/_SQS, AWS_REGION,
                                    AWS_PROFILE / credentials, exactly like the Lambdas

At 3 a.m.:
  compaction-admin health --stage prod
  compaction-admin snapshots list words --stage prod
  compaction-admin rollback words --steps 1 --dry-run --stage prod
  compaction-admin rollback words --steps 1 --reason "bad labels in batch" --stage prod
  compaction-admin audit --since 24h --stage prod

Guide: services/compaction-admin/docs/operations.md`;

/**
 * Builds the program. `exit` receives each command's exit code.
 *
 * @example
 * const program = buildProgram(io, (code) => (exitCode = code));
 * await program.parseAsync(['health', '--stage', 'dev'], { from: 'user' });
 */
export function buildProgram(
  io: AdminIO,
  exit: (code: ExitCode) => void,
  argv: readonly string[] = [],
): Command {
  const program = new Command('compaction-admin')
    .description(
      'Operate the receipt compaction service: list and verify snapshots, roll a collection back, ' +
        'prune old versions, read the audit trail, check health.',
    )
    .version(packageVersion(), '-V, --version')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      getOutHelpWidth: () => io.stdout.columns ?? 100,
      getErrHelpWidth: () => io.stderr.columns ?? 100,
    })
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .showSuggestionAfterError()
    .addHelpText('after', ROOT_HELP);

  /** Wraps an action: context from the command's options, exit code out, clients closed. */
  const action: CommandAction =
    <A extends unknown[]>(fn: (ctx: AdminContext, out: Output, ...args: A) => Promise<ExitCode>) =>
    async (...args: unknown[]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const opts = cmd.opts<ConnectionOptions>();
      const ctx = createAdminContext(io, opts, (key) => cmd.getOptionValueSource(key), argv);
      try {
        exit(await fn(ctx, new Output(io), ...(args.slice(0, -1) as A)));
      } finally {
        ctx.close();
      }
    };

  const snapshots = program
    .command('snapshots')
    .description('list and verify the snapshot versions of a collection');

  registerSnapshotsList(snapshots, action);
  registerSnapshotsVerify(snapshots, action);
  registerRollback(program, action);
  registerPrune(program, action);
  registerAudit(program, action);
  registerHealth(program, action);

  return program;
}

/**
 * Runs the CLI on `argv` (the arguments after the program name) and resolves with the
 * exit code. Never throws: every error is printed with what to do next.
 *
 * @example
 * const code = await runCli(['snapshots', 'list', 'words', '--stage', 'dev'], io);
 */
export async function runCli(argv: readonly string[], io: AdminIO): Promise<number> {
  let code: ExitCode = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c), argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; everything else commander refuses is a usage error.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const explained = explainError(err);
    io.stderr.write(`error: ${explained.message}\n`);
    if (explained.hint) io.stderr.write(`next: ${explained.hint}\n`);
    if (io.env['COMPACTION_ADMIN_DEBUG'] && err instanceof Error && err.stack) {
      io.stderr.write(`${err.stack}\n`);
    }
    return explained.exitCode;
  }
}

/**
 * The version of the package the CLI ships in (its package.json), for `--version`.
 * Both this file (`src/cli.ts`) and the bundle the bin runs (`dist/main.js`) sit one
 * directory below the package root, so the same relative URL finds it in either.
 */
function packageVersion(): string {
  const url = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}
