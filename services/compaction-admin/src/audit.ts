/**
 * `compaction-admin audit [--collection c] [--since 7d]`: the trail of rollbacks,
 * prunes and vector-loss guard trips (who, when, from, to, why), read from the state
 * table through the compactor's `AuditLog`.
 */
import type { CollectionName } from '@compaction/contracts';
import type { AuditAction, AuditEntry } from '@compaction/snapshot-store';
import { Option, type Command } from 'commander';
import { addConnectionOptions, parseCollection, type AdminContext } from './context.js';
import { EXIT, type ExitCode } from './errors.js';
import { formatBytes, formatTime, type Output } from './output.js';
import type { CommandAction } from './command.js';
import { parsePositiveInt, parseSince } from './option-values.js';

export interface AuditOptions {
  collection?: CollectionName;
  since?: Date;
  action?: AuditAction;
  /** Show only the newest N entries. */
  limit?: number;
  json?: boolean;
}

/**
 * Prints the audit trail, oldest first (like a log: the newest entry is the last line).
 *
 * @example
 * await audit(ctx, out, { collection: 'words', since: new Date(Date.now() - 7 * 864e5) });
 */
export async function audit(
  ctx: AdminContext,
  out: Output,
  options: AuditOptions,
): Promise<ExitCode> {
  const entries = await ctx.audit().list({
    ...(options.collection ? { collection: options.collection } : {}),
    ...(options.since ? { since: options.since } : {}),
    ...(options.action ? { action: options.action } : {}),
  });
  const shown = options.limit !== undefined ? entries.slice(-options.limit) : entries;
  if (options.json) {
    out.json({ total: entries.length, entries: shown });
    return EXIT.ok;
  }
  if (entries.length === 0) {
    out.line(
      `no audit entries${options.collection ? ` for ${options.collection}` : ''}` +
        `${options.since ? ` since ${options.since.toISOString()}` : ''}`,
    );
    return EXIT.ok;
  }
  if (shown.length < entries.length) {
    out.line(`… ${entries.length - shown.length} older entr(y/ies) not shown (--limit)`);
  }
  const now = ctx.clock.now();
  out.table(
    ['AT', 'COLLECTION', 'ACTION', 'ACTOR', 'FROM', 'TO', 'REASON / DETAILS'],
    shown.map((e) => [
      formatTime(e.at, now),
      e.collection,
      e.action,
      e.actor,
      e.from,
      e.to,
      describe(e),
    ]),
  );
  return EXIT.ok;
}

/** The reason plus the details that matter for each action, in one cell. */
function describe(e: AuditEntry): string {
  const d = e.details ?? {};
  const parts: string[] = [];
  if (e.reason) parts.push(e.reason);
  if (e.action === 'prune') {
    parts.push(
      `deleted ${num(d['deletedVersions'])} version(s), ${num(d['deletedBlobs'])} blob(s), ` +
        `${formatBytes(Number(d['bytesFreed'] ?? 0))}` +
        (d['rule'] ? ` (${String(d['rule'])})` : '') +
        (d['complete'] === false ? ' — INCOMPLETE' : ''),
    );
  } else if (e.action === 'rollback') {
    if (d['vectorsBefore'] !== undefined && d['vectorsAfter'] !== undefined) {
      parts.push(`vectors ${num(d['vectorsBefore'])} → ${num(d['vectorsAfter'])}`);
    }
    if (d['verification']) parts.push(`verified: ${String(d['verification'])}`);
  } else if (e.action === 'guard' && !e.reason) {
    parts.push(
      `before ${num(d['before'])}, expected ${num(d['expected'])}, found ${num(d['after'])}`,
    );
  }
  return parts.join('; ');
}

function num(value: unknown): string {
  return typeof value === 'number'
    ? value.toLocaleString('en-US')
    : value === undefined
      ? '?'
      : String(value);
}

/**
 * Declares the `audit` command on `parent`: its arguments, options,
 * help text and action (the command file owns its flags).
 */
export function registerAudit(parent: Command, run: CommandAction): void {
  addConnectionOptions(
    parent
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
      run(
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
              ? { collection: parseCollection(opts.collection) }
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
}
