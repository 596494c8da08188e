/**
 * The `compaction-admin` program (commander): commands, options, help texts, and the
 * one place where results and errors become exit codes.
 *
 * Every command builds its clients from the connection options (`context.ts`) and
 * works through the compactor's own lock, pointer, audit and snapshot code: the CLI
 * and the compactor cannot disagree on the protocol because there is only one.
 */
import { Command, CommanderError, Option } from 'commander';
import type { CollectionName } from '@compaction/contracts';
import type { AuditAction } from '@compaction/snapshot-store';
import { CONFIG_DEFAULTS } from '../config.js';
import { audit } from './audit.js';
import {
  addConnectionOptions,
  createAdminContext,
  parseCollection,
  type AdminContext,
  type AdminIO,
  type ConnectionOptions,
} from './context.js';
import { EXIT, UsageError, explainError, type ExitCode } from './errors.js';
import { health } from './health.js';
import { parseAge, parsePositiveInt, parseSince } from './option-values.js';
import { Output } from './output.js';
import { prune } from './prune.js';
import { rollback } from './rollback.js';
import { snapshotsList } from './snapshots-list.js';
import { snapshotsVerify } from './snapshots-verify.js';

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

Guide: services/compactor/docs/operations.md`;

/** The collection argument, validated in the action so its error carries a next step. */
function collectionArg(value: string): CollectionName {
  return parseCollection(value);
}

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
    .version('0.1.0', '-V, --version')
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
  const action =
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

  addConnectionOptions(
    snapshots
      .command('list')
      .description('versions newest first: time, vectors, size, parent, which one is live')
      .argument('<collection>', 'lines or words')
      .option('--json', 'print JSON (machines)')
      .option('--limit <n>', 'show only the newest n versions'),
  )
    .addHelpText(
      'after',
      `
Columns: STATE (live = the pointer's version; prev = the version the pointer was moved
from), VERSION (<fencing token>-<UTC time>-<random>; sorts in publish order), CREATED,
VECTORS, SIZE (all files), NEW (bytes not shared with the parent), PARENT.

Examples:
  compaction-admin snapshots list words --stage prod
  compaction-admin snapshots list lines --stage prod --json | jq '.versions[0]'`,
    )
    .action(
      action((ctx, out, collection: string, opts: { json?: boolean; limit?: string }) =>
        snapshotsList(ctx, out, collectionArg(collection), {
          ...(opts.json ? { json: true } : {}),
          ...(opts.limit !== undefined ? { limit: parsePositiveInt(opts.limit, '--limit') } : {}),
        }),
      ),
    );

  addConnectionOptions(
    snapshots
      .command('verify')
      .description(
        'download a version (default: the live one), check every sha256, the vector count and the store digest',
      )
      .argument('<collection>', 'lines or words')
      .argument('[version]', 'version id or a unique prefix (default: the live version)')
      .option('--all', 'verify every version in the bucket')
      .option('--quick', 'only check every blob exists with its size (HEAD); download nothing')
      .option(
        '--work-dir <dir>',
        'where to download (default: the OS temp directory; needs the version size free)',
      )
      .option('--json', 'print JSON (machines)'),
  )
    .addHelpText(
      'after',
      `
Exit code 0 when every checked version is intact, 1 when one is not (each problem is
listed). A progress bar shows on a terminal for large downloads; downloads are removed
afterwards.

Examples:
  compaction-admin snapshots verify words --stage prod
  compaction-admin snapshots verify words 000000000041-20250301T101500Z-9f3c --stage prod
  compaction-admin snapshots verify lines --all --quick --stage prod`,
    )
    .action(
      action(
        (
          ctx,
          out,
          collection: string,
          version: string | undefined,
          opts: { all?: boolean; quick?: boolean; workDir?: string; json?: boolean },
        ) => {
          if (opts.all && version !== undefined) {
            throw new UsageError('give a version or --all, not both');
          }
          return snapshotsVerify(ctx, out, collectionArg(collection), version, {
            ...(opts.all ? { all: true } : {}),
            ...(opts.quick ? { quick: true } : {}),
            ...(opts.workDir ? { workDir: opts.workDir } : {}),
            ...(opts.json ? { json: true } : {}),
          });
        },
      ),
    );

  addConnectionOptions(
    program
      .command('rollback')
      .description(
        'point a collection back at an older retained version (verified, locked, audited)',
      )
      .argument('<collection>', 'lines or words')
      .addOption(
        new Option('--to <version>', 'target version id (or a unique prefix)').conflicts('steps'),
      )
      .option('--steps <n>', 'target = n versions older than the live one, in version order')
      .option('--dry-run', 'verify and show before/after; change nothing')
      .option('--yes', 'do not ask for confirmation (required without a terminal)')
      .option(
        '--full-verify',
        'also download the target and check every sha256 (slower: scales with size)',
      )
      .option('--reason <text>', 'why, for the audit trail')
      .option(
        '--lock-wait <seconds>',
        'longest wait for a running compaction to release the lock',
        String(CONFIG_DEFAULTS.lock.maxWaitMs / 1000),
      )
      .option('--work-dir <dir>', 'where --full-verify downloads (default: the OS temp directory)')
      .option('--json', 'print JSON (machines)'),
  )
    .addHelpText(
      'after',
      `
What it does, in order:
  1. resolves the target: --to <version>, or --steps n = n steps back along the live
     version's parents (--steps 1 = the version the live one was built from): only
     versions that were live, never an orphan left by a crashed compaction;
  2. verifies the target before touching anything: the manifest parses and every blob
     exists with the manifest's size (HEAD; same cost at any size). --full-verify also
     downloads it and checks every sha256. A corrupt or incomplete target is refused;
  3. shows before/after; --dry-run stops here. Otherwise asks for confirmation on a
     terminal; without a terminal it refuses unless --yes is given;
  4. takes the collection lock (the compactor's own lease lock): a running compaction
     finishes first; waits at most --lock-wait seconds; advances the collection's fence
     (no holder with an older token can publish after this) and verifies the target
     again under the lock;
  5. swaps the pointer under the lock's fencing token, expecting the live version you
     confirmed (if a compaction published meanwhile, it refuses: look again and re-run);
  6. rewrites <collection>/latest.json for readers and writes an audit entry.

After a rollback the compactor needs nothing: its warm cache is keyed by version, so the
next compaction downloads the rolled-back version and builds on it. Changes applied after
the target version are no longer in the live store; re-drive them from the receipts table
if they were good. Undo a rollback by rolling "forward": --to <the previous live version>
(shown as "prev" in snapshots list). If the target is already live, only latest.json is
repaired when it disagrees.

Examples:
  compaction-admin rollback words --steps 1 --dry-run --stage prod
  compaction-admin rollback words --to 000000000041-20250301T101500Z-9f3c --reason "bad batch" --stage prod
  compaction-admin rollback lines --steps 2 --full-verify --yes --stage prod`,
    )
    .action(
      action(
        (
          ctx,
          out,
          collection: string,
          opts: {
            to?: string;
            steps?: string;
            dryRun?: boolean;
            yes?: boolean;
            fullVerify?: boolean;
            reason?: string;
            lockWait: string;
            workDir?: string;
            json?: boolean;
          },
        ) =>
          rollback(ctx, out, collectionArg(collection), {
            ...(opts.to !== undefined ? { to: opts.to } : {}),
            ...(opts.steps !== undefined ? { steps: parsePositiveInt(opts.steps, '--steps') } : {}),
            ...(opts.dryRun ? { dryRun: true } : {}),
            ...(opts.yes ? { yes: true } : {}),
            ...(opts.fullVerify ? { fullVerify: true } : {}),
            ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
            lockWaitMs: parseSeconds(opts.lockWait, '--lock-wait'),
            ...(opts.workDir ? { workDir: opts.workDir } : {}),
            ...(opts.json ? { json: true } : {}),
          }),
      ),
    );

  addConnectionOptions(
    program
      .command('prune')
      .description('delete old versions and every blob no retained version needs')
      .argument('<collection>', 'lines or words')
      .option('--keep <n>', 'retain the newest n versions')
      .option(
        '--older-than <age>',
        'retain versions newer than this age (e.g. 7d, 12h); older ones go',
      )
      .option('--dry-run', 'show what would be deleted; delete nothing')
      .option('--yes', 'do not ask for confirmation (required without a terminal)')
      .option('--reason <text>', 'why, for the audit trail')
      .option(
        '--lock-wait <seconds>',
        'longest wait for a running compaction to release the lock',
        String(CONFIG_DEFAULTS.lock.maxWaitMs / 1000),
      )
      .option('--json', 'print JSON (machines)'),
  )
    .addHelpText(
      'after',
      `
Retained (never deleted): the newest --keep versions, versions newer than --older-than
(with both, either suffices), the live version, the live version's parent, and the
version the pointer was last moved from (so the last move can be undone). A blob is
deleted only when no retained version names it: blobs are shared between versions.

The prune holds the collection lock while it deletes, so no compaction can publish a
version that reuses a blob being deleted. It recomputes the plan under the lock and
deletes only what is in both plans. Stopping it midway (Ctrl-C) is safe: manifests go
first, then blobs; the next prune finishes the job. Audited with counts.

Examples:
  compaction-admin prune words --keep 10 --dry-run --stage prod
  compaction-admin prune words --older-than 14d --keep 5 --yes --stage prod`,
    )
    .action(
      action(
        (
          ctx,
          out,
          collection: string,
          opts: {
            keep?: string;
            olderThan?: string;
            dryRun?: boolean;
            yes?: boolean;
            reason?: string;
            lockWait: string;
            json?: boolean;
          },
        ) =>
          prune(ctx, out, collectionArg(collection), {
            ...(opts.keep !== undefined ? { keep: parsePositiveInt(opts.keep, '--keep') } : {}),
            ...(opts.olderThan !== undefined
              ? {
                  olderThan: { ms: parseAge(opts.olderThan, '--older-than'), text: opts.olderThan },
                }
              : {}),
            ...(opts.dryRun ? { dryRun: true } : {}),
            ...(opts.yes ? { yes: true } : {}),
            ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
            lockWaitMs: parseSeconds(opts.lockWait, '--lock-wait'),
            ...(opts.json ? { json: true } : {}),
          }),
      ),
    );

  addConnectionOptions(
    program
      .command('audit')
      .description(
        'the trail of rollbacks, prunes and vector-loss guard trips (who, when, from, to, why)',
      )
      .option('--collection <collection>', 'only this collection (lines or words)')
      .option('--since <when>', 'only entries since an age ago (24h, 7d) or an ISO date/time')
      .addOption(
        new Option('--action <action>', 'only this action').choices(['rollback', 'prune', 'guard']),
      )
      .option('--limit <n>', 'show only the newest n entries')
      .option('--json', 'print JSON (machines)'),
  )
    .addHelpText(
      'after',
      `
Entries live in the state table (items AUDIT#<collection>#<time>#<random>) and are never
updated. "guard" entries are written by the compactor when it refused to publish a batch
that lost more vectors than its removals explain (MAX_VECTOR_LOSS_SHARE, default 5 %);
the previous version stayed live.

Examples:
  compaction-admin audit --since 24h --stage prod
  compaction-admin audit --collection words --action guard --stage prod --json`,
    )
    .action(
      action(
        (
          ctx,
          out,
          opts: {
            collection?: string;
            since?: string;
            action?: AuditAction;
            limit?: string;
            json?: boolean;
          },
        ) =>
          audit(ctx, out, {
            ...(opts.collection !== undefined
              ? { collection: collectionArg(opts.collection) }
              : {}),
            ...(opts.since !== undefined
              ? { since: parseSince(opts.since, '--since', ctx.clock.now()) }
              : {}),
            ...(opts.action ? { action: opts.action } : {}),
            ...(opts.limit !== undefined ? { limit: parsePositiveInt(opts.limit, '--limit') } : {}),
            ...(opts.json ? { json: true } : {}),
          }),
      ),
    );

  addConnectionOptions(
    program
      .command('health')
      .description(
        'reach the tables, bucket and queues; lock, pointer and live version per collection; DLQ depths',
      )
      .option('--json', 'print JSON (machines)'),
  )
    .addHelpText(
      'after',
      `
Exit code 1 when something is unreachable, a dead-letter queue (a collection DLQ or
the stream rejects queue) is not empty, or a reader would fail on a live version: its
manifest must parse, name the pointer's version and describe a whole store, every blob
must exist with its size (HEAD), and latest.json must parse and name the pointer's
version and manifest. Every failing line says what to do. Queues are
found by name with --stage, or from LINES_QUEUE_URL, LINES_DLQ_URL, WORDS_QUEUE_URL,
WORDS_DLQ_URL, REJECTS_QUEUE_URL; what is not configured is shown as SKIP.

Example:
  compaction-admin health --stage prod`,
    )
    .action(action((ctx, out, opts: { json?: boolean }) => health(ctx, out, opts)));

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

function parseSeconds(value: string, option: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`${option} "${value}" is not a number of seconds`, `e.g. ${option} 120`);
  }
  return n * 1000;
}
