/**
 * Errors of the operator CLI and how every error becomes a message, a "what to do
 * next" line and an exit code.
 *
 * Exit codes (documented in `docs/operations.md` and the root `--help`):
 * - 0 ok;
 * - 1 refused or failed: verification failed, a confirmation was declined or
 *   impossible, the lock stayed busy, the pointer moved, a check failed, AWS said no;
 * - 2 usage error: bad or missing options, unknown collection, missing configuration;
 * - 130 interrupted (Ctrl-C / SIGTERM), after releasing the lock the command held.
 */
import {
  LockBusyError,
  LockLostError,
  StateItemInvalidError,
  SwapConflictError,
  SnapshotCorruptError,
  SnapshotManifestError,
  SnapshotNotFoundError,
} from '@compaction/snapshot-store';

/** The CLI's exit codes. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI raises itself, with the exit code it ends with and what to do next. */
export class AdminError extends Error {
  override readonly name: string = 'AdminError';
  constructor(
    message: string,
    /** What the operator should do next (one or two sentences). */
    readonly hint: string | undefined,
    readonly exitCode: ExitCode = EXIT.failed,
  ) {
    super(message);
  }
}

/** Bad or missing options: exit code 2. */
export class UsageError extends AdminError {
  override readonly name = 'UsageError';
  constructor(message: string, hint?: string) {
    super(message, hint, EXIT.usage);
  }
}

/** The CLI refused to act (verification failed, no confirmation, …): exit code 1. */
export class RefusedError extends AdminError {
  override readonly name = 'RefusedError';
  constructor(message: string, hint?: string) {
    super(message, hint, EXIT.failed);
  }
}

/** Ctrl-C (SIGINT) or SIGTERM stopped the command, after it released its lock: exit code 130. */
export class InterruptedError extends AdminError {
  override readonly name = 'InterruptedError';
  constructor(message: string, hint?: string) {
    super(message, hint, EXIT.interrupted);
  }
}

/** How an error is shown: its message, the next step, and the exit code. */
export interface ExplainedError {
  message: string;
  hint: string | undefined;
  exitCode: ExitCode;
}

/**
 * Turns any error into what the operator sees. Known errors of the lock, pointer and
 * snapshot code get a specific next step; AWS and network errors get the usual
 * culprits (names, region, credentials, endpoint).
 */
export function explainError(err: unknown): ExplainedError {
  if (err instanceof AdminError) {
    return { message: err.message, hint: err.hint, exitCode: err.exitCode };
  }
  if (err instanceof LockBusyError) {
    const holder = err.holder;
    const who = holder?.owner ?? 'another writer';
    const until = holder ? new Date(holder.leaseUntil).toISOString() : 'unknown';
    return {
      message: `collection ${err.collection} is locked by ${who} until ${until} (waited ${seconds(err.waitedMs)})`,
      hint:
        'retry in a few seconds or wait for the compaction to finish (one lasts at most the Lambda ' +
        'timeout, 5 min); raise --lock-wait to wait longer; `compaction-admin health` shows the holder',
      exitCode: EXIT.failed,
    };
  }
  if (err instanceof LockLostError) {
    return {
      message: `${err.message}; stopped before doing anything else`,
      hint: 'the process was paused past its lease (or the table throttled heartbeats); re-run the command',
      exitCode: EXIT.failed,
    };
  }
  if (err instanceof SwapConflictError) {
    return {
      message:
        `the live version of ${err.collection} moved while this command ran: expected ` +
        `${err.expectedVersion ?? '(none)'}, found ${err.found?.version ?? '(no pointer)'}`,
      hint: `run \`compaction-admin snapshots list ${err.collection}\` to see what is live now, then re-run`,
      exitCode: EXIT.failed,
    };
  }
  if (err instanceof SnapshotCorruptError || err instanceof SnapshotManifestError) {
    return {
      message: `refused: ${err.message}`,
      hint: 'this version cannot be trusted; pick another one (`compaction-admin snapshots list <collection>`)',
      exitCode: EXIT.failed,
    };
  }
  if (err instanceof SnapshotNotFoundError) {
    return {
      message: err.message,
      hint: 'check the version id with `compaction-admin snapshots list <collection>` and the bucket name',
      exitCode: EXIT.failed,
    };
  }
  if (err instanceof StateItemInvalidError) {
    return {
      message: err.message,
      hint: 'the item was edited by hand or written by other code; inspect it in the state table before acting',
      exitCode: EXIT.failed,
    };
  }
  return explainAwsError(err);
}

function explainAwsError(err: unknown): ExplainedError {
  const e = err as { name?: string; message?: string; code?: string; cause?: unknown };
  const name = e?.name ?? '';
  const message = e?.message ?? String(err);
  const code = e?.code ?? (e?.cause as { code?: string } | undefined)?.code ?? '';
  const failed = (hint: string): ExplainedError => ({ message, hint, exitCode: EXIT.failed });
  if (name === 'ResourceNotFoundException') {
    return failed('the table does not exist here: check --stage / --state-table and --region');
  }
  if (name === 'NoSuchBucket' || name === 'NotFound') {
    return failed(
      'the bucket or object does not exist here: check --stage / --bucket and --region',
    );
  }
  if (name === 'CredentialsProviderError' || /credential/i.test(message)) {
    return failed(
      'no usable AWS credentials: set AWS_PROFILE (and `aws sso login`) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
    );
  }
  if (/region is missing/i.test(message)) {
    return failed('set AWS_REGION or pass --region');
  }
  if (
    name === 'AccessDeniedException' ||
    name === 'AccessDenied' ||
    name === 'UnauthorizedOperation'
  ) {
    return failed(
      'your role lacks a permission for this action; use the operator role of this stage',
    );
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'].includes(code)) {
    return failed(
      'cannot reach the endpoint: check --endpoint / AWS_ENDPOINT_URL_* (are the local emulators running?) and your network',
    );
  }
  return failed('unexpected error; re-run with COMPACTION_ADMIN_DEBUG=1 for the stack trace');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
