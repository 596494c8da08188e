/**
 * `compaction-admin health`: can we reach the tables, the bucket and the queues; what
 * the lock and the pointer of each collection say; whether the live version opens the
 * way a reader opens it (`reader-view.ts`); how deep the dead-letter queues are. Exit
 * code 1 when something is unreachable, a reader would fail on the live version or
 * `latest.json`, or a dead-letter queue is not empty (each with the reason and what to
 * do), 0 otherwise.
 */
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { COLLECTIONS, type CollectionName } from '@compaction/contracts';
import type { Pointer } from '@compaction/snapshot-store';
import type { Command } from 'commander';
import { addConnectionOptions, type AdminContext, type QueueRef } from './context.js';
import { EXIT, explainError, type ExitCode } from './errors.js';
import { readLockState } from './locking.js';
import { formatBytes, formatDuration, formatTime, type Output } from './output.js';
import { readerView } from './reader-view.js';
import type { CommandAction } from './command.js';

export interface HealthOptions {
  json?: boolean;
}

/** One line of the health report. */
export interface HealthCheck {
  check: string;
  target: string;
  /** `fail` makes the exit code 1; `warn` is worth a look; `skip` was not checked. */
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
  /** What to do about it (fail, warn and skip). */
  hint?: string;
}

/**
 * Runs every check at once and prints them.
 *
 * @example
 * const code = await health(ctx, out, { json: true });
 */
export async function health(
  ctx: AdminContext,
  out: Output,
  options: HealthOptions,
): Promise<ExitCode> {
  const checks = (
    await Promise.all([
      tableCheck(ctx, 'receipts table', ctx.receiptsTable(), '--receipts-table or --stage'),
      tableCheck(
        ctx,
        'state table',
        optional(() => ctx.stateTable()),
        '--state-table or --stage',
      ),
      bucketCheck(ctx),
      ...COLLECTIONS.flatMap((c) => [
        queueCheck(ctx, `${c} queue`, ctx.queues(c).queue, false),
        queueCheck(ctx, `${c} DLQ`, ctx.queues(c).deadLetterQueue, true),
      ]),
      queueCheck(ctx, 'rejects queue', ctx.rejectsQueue(), true),
      ...COLLECTIONS.map((c) => lockCheck(ctx, c)),
      ...COLLECTIONS.map((c) => pointerCheck(ctx, c)),
    ])
  ).flat();
  const failed = checks.filter((c) => c.status === 'fail');
  const ok = failed.length === 0;
  if (options.json) {
    out.json({ ok, checks });
  } else {
    out.table(
      ['CHECK', 'TARGET', 'STATUS', 'DETAIL'],
      checks.map((c) => [c.check, c.target, c.status.toUpperCase(), c.detail]),
    );
    // One line per distinct next step (an unreachable endpoint fails every check alike).
    const notes = new Map<string, string[]>();
    for (const c of checks) {
      if (!c.hint || c.status === 'ok') continue;
      const key = `${c.status.toUpperCase()}\u0000${c.hint}`;
      notes.set(key, [...(notes.get(key) ?? []), c.check]);
    }
    if (notes.size > 0) out.line();
    for (const [key, names] of notes) {
      const [status, hint] = key.split('\u0000') as [string, string];
      out.line(`${status} ${names.join(', ')}: ${hint}`);
    }
    out.line();
    const skipped = checks.filter((c) => c.status === 'skip').length;
    out.line(
      ok
        ? `healthy${skipped ? ` (${skipped} check(s) not run: see SKIP above)` : ''}`
        : `UNHEALTHY: ${failed.map((c) => c.check).join(', ')}`,
    );
  }
  return ok ? EXIT.ok : EXIT.failed;
}

function optional(get: () => string): string | undefined {
  try {
    return get();
  } catch {
    return undefined;
  }
}

/** A check that could not run because AWS said no: fail, with the explained next step. */
function unreachable(check: string, target: string, err: unknown): HealthCheck {
  const { message, hint } = explainError(err);
  return {
    check,
    target,
    status: 'fail',
    detail: `unreachable: ${message}`,
    ...(hint ? { hint } : {}),
  };
}

async function tableCheck(
  ctx: AdminContext,
  check: string,
  name: string | undefined,
  how: string,
): Promise<HealthCheck> {
  if (!name)
    return {
      check,
      target: '-',
      status: 'skip',
      detail: 'not configured',
      hint: `name it with ${how}`,
    };
  try {
    const out = await ctx.ddb.send(new DescribeTableCommand({ TableName: name }));
    const status = out.Table?.TableStatus ?? 'UNKNOWN';
    return status === 'ACTIVE'
      ? { check, target: name, status: 'ok', detail: 'ACTIVE' }
      : {
          check,
          target: name,
          status: 'warn',
          detail: status,
          hint: 'the table is not ACTIVE; writes may fail until it is',
        };
  } catch (err) {
    return unreachable(check, name, err);
  }
}

async function bucketCheck(ctx: AdminContext): Promise<HealthCheck> {
  const check = 'snapshot bucket';
  const bucket = optional(() => ctx.bucket());
  if (!bucket)
    return {
      check,
      target: '-',
      status: 'skip',
      detail: 'not configured',
      hint: 'name it with --bucket or --stage',
    };
  try {
    await ctx.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return { check, target: bucket, status: 'ok', detail: 'reachable' };
  } catch (err) {
    return unreachable(check, bucket, err);
  }
}

async function queueCheck(
  ctx: AdminContext,
  check: string,
  queue: QueueRef | undefined,
  deadLetter: boolean,
): Promise<HealthCheck> {
  if (!queue) {
    return {
      check,
      target: '-',
      status: 'skip',
      detail: 'not configured',
      hint: 'pass --stage, or set the queue URL variables the Lambdas use (LINES_QUEUE_URL, LINES_DLQ_URL, …)',
    };
  }
  const target = queue.name ?? queue.url ?? '?';
  try {
    const url = await ctx.queueUrl(queue);
    const out = await ctx.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const visible = Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
    const inFlight = Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    const detail = `${visible} waiting, ${inFlight} in flight`;
    if (deadLetter && visible + inFlight > 0) {
      return {
        check,
        target,
        status: 'fail',
        detail,
        hint:
          `${visible + inFlight} message(s) need a human: read them with their reason attributes ` +
          `(aws sqs receive-message --queue-url ${url} --attribute-names All --message-attribute-names All), ` +
          'fix the cause, then redrive them (aws sqs start-message-move-task) or delete them',
      };
    }
    return { check, target, status: 'ok', detail };
  } catch (err) {
    return unreachable(check, target, err);
  }
}

async function lockCheck(ctx: AdminContext, collection: CollectionName): Promise<HealthCheck> {
  const check = `${collection} lock`;
  const table = optional(() => ctx.stateTable());
  if (!table) return { check, target: '-', status: 'skip', detail: 'no state table' };
  try {
    const lock = await readLockState(ctx, collection);
    const now = ctx.clock.now();
    if (lock.status === 'never')
      return { check, target: table, status: 'ok', detail: 'never taken' };
    if (lock.status === 'held') {
      return {
        check,
        target: table,
        status: 'ok',
        detail: `held by ${lock.owner} (token ${lock.fencingToken}), lease ${formatDuration(lock.leaseLeftMs ?? 0)} left`,
      };
    }
    if (lock.owner !== undefined) {
      // Never released: the holder died (or was killed) mid-compaction. Harmless: the
      // next writer takes the lock over, and its higher token fences the old holder out.
      return {
        check,
        target: table,
        status: 'warn',
        detail: `lease of ${lock.owner} (token ${lock.fencingToken}) expired ${formatTime(new Date(lock.leaseUntil ?? 0), now)} without a release`,
        hint: 'a holder died mid-compaction; the next compaction takes over (check the compactor logs for a crash or timeout)',
      };
    }
    return {
      check,
      target: table,
      status: 'ok',
      detail: `free (last ${lock.lastOwner ?? '?'}, token ${lock.fencingToken}, released ${formatTime(lock.releasedAt, now)})`,
    };
  } catch (err) {
    return unreachable(check, table, err);
  }
}

async function pointerCheck(ctx: AdminContext, collection: CollectionName): Promise<HealthCheck[]> {
  const check = `${collection} pointer`;
  const table = optional(() => ctx.stateTable());
  if (!table) return [{ check, target: '-', status: 'skip', detail: 'no state table' }];
  try {
    const pointer = await ctx.pointers().read(collection);
    const now = ctx.clock.now();
    if (!pointer) {
      return [
        {
          check,
          target: table,
          status: 'warn',
          detail: 'no live version yet',
          hint: 'normal before the first compaction',
        },
      ];
    }
    const checks: HealthCheck[] = [
      {
        check,
        target: table,
        status: 'ok',
        detail: `${pointer.version}, moved ${formatTime(pointer.updatedAt, now)} (token ${pointer.fencingToken})`,
      },
    ];
    const bucket = optional(() => ctx.bucket());
    if (bucket) checks.push(...(await liveVersionChecks(ctx, collection, pointer, bucket)));
    return checks;
  } catch (err) {
    return [unreachable(check, table, err)];
  }
}

/**
 * The live version as a reader opens it (`reader-view.ts`): its manifest and blobs,
 * and `latest.json`. Anything a reader or the next compaction would fail on fails.
 */
async function liveVersionChecks(
  ctx: AdminContext,
  collection: CollectionName,
  pointer: Pointer,
  bucket: string,
): Promise<HealthCheck[]> {
  const live = `${collection} live version`;
  const mirror = `${collection} latest.json`;
  try {
    const view = await readerView(ctx, collection, pointer);
    return [
      view.manifest.length === 0
        ? {
            check: live,
            target: bucket,
            status: 'ok',
            detail: `manifest readable, ${view.files} file(s) (${formatBytes(view.bytes)}) present`,
          }
        : {
            check: live,
            target: bucket,
            status: 'fail',
            detail: view.manifest.join('; '),
            hint:
              `readers and the next compaction cannot open ${pointer.version}: roll back to a version that ` +
              `verifies (compaction-admin rollback ${collection} --steps 1 --dry-run), then find out what wrote to the bucket`,
          },
      view.latest.length === 0
        ? { check: mirror, target: bucket, status: 'ok', detail: 'mirrors the pointer' }
        : {
            check: mirror,
            target: bucket,
            status: 'fail',
            detail: view.latest.join('; '),
            hint:
              'readers follow latest.json, not the pointer; right after a swap it lags for a moment ' +
              `(re-run health), otherwise repair it with compaction-admin rollback ${collection} --to ${pointer.version}`,
          },
    ];
  } catch (err) {
    return [unreachable(live, bucket, err)];
  }
}

/**
 * Declares the `health` command on `parent`: its arguments, options,
 * help text and action (the command file owns its flags).
 */
export function registerHealth(parent: Command, run: CommandAction): void {
  addConnectionOptions(
    parent
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
    .action(run((ctx, out, opts: { json?: boolean }) => health(ctx, out, opts)));
}
