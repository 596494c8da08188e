/**
 * `compaction-admin rollback <collection> --to <version> | --steps N`: points a
 * collection back at an older retained version. Versions are immutable and verified,
 * so recovery is a pointer swap: about a second at any collection size.
 *
 * Order (each step is the reason the next one is safe):
 * 1. resolve the target against the bucket's listing and the pointer;
 * 2. verify it before touching anything (every blob present with its size; with
 *    `--full-verify` every sha256) — a corrupt or incomplete version is refused;
 * 3. show the plan; stop here on `--dry-run`; otherwise confirm (`--yes`, or a `y` on a
 *    terminal; without a terminal and without `--yes`, refuse);
 * 4. take the collection lock with the compactor's `LeaseLock` (a running compaction
 *    holds it: wait for it, bounded by `--lock-wait`), so no compaction can publish
 *    between our read and our write, and advance the collection's fence, so no holder
 *    whose lease we took over (a paused compaction, a prune) can act after us;
 * 5. verify the target again, under the lock (a prune may have deleted it meanwhile);
 * 6. `PointerStore.rollback` under the lock's fencing token, expecting the live version
 *    the operator confirmed — if a compaction published while we waited, refuse rather
 *    than silently discard its work;
 * 7. `latest.json` (readers), then the audit entry, then release.
 *
 * The compactor's warm cache needs nothing: it is keyed by version (the marker names
 * the version its directory holds, and a checkout reuses it only when that equals the
 * pointer's version), so the next compaction simply downloads the rolled-back version.
 */
import { performance } from 'node:perf_hooks';
import { COMPACTOR_SETTINGS, type CollectionName } from '@compaction/contracts';
import {
  mirrorPointer,
  type Pointer,
  type SnapshotManifest,
  type AuditEntry,
} from '@compaction/snapshot-store';
import { Option, type Command } from 'commander';
import { confirm, retryWithYes } from './confirm.js';
import { addConnectionOptions, parseCollection, type AdminContext } from './context.js';
import { AdminError, EXIT, RefusedError, UsageError, type ExitCode } from './errors.js';
import { withCollectionLock } from './locking.js';
import { formatBytes, formatDuration, formatTime, type Output } from './output.js';
import { stderrProgress } from './progress.js';
import { verifyVersion, type VerificationReport } from './verification.js';
import { findVersion, loadVersions, stepsBack, type VersionInfo } from './versions.js';
import type { CommandAction } from './command.js';
import { parsePositiveInt, parseSeconds } from './option-values.js';

export interface RollbackOptions {
  /** Target version id (or a unique prefix). */
  to?: string;
  /** Or: this many versions older than the live one. */
  steps?: number;
  dryRun?: boolean;
  yes?: boolean;
  /** Download and check every sha256 of the target before moving (slower; scales with size). */
  fullVerify?: boolean;
  reason?: string;
  /** Longest wait for the collection lock, in ms. */
  lockWaitMs: number;
  json?: boolean;
  workDir?: string;
}

/** A version as the rollback report shows it. */
export interface VersionSummary {
  version: string;
  manifestKey: string;
  vectors: number | null;
  createdAt: string | null;
  sizeBytes: number | null;
  /** Why the manifest could not be read (the live version may be the broken one). */
  error?: string;
}

export interface RollbackResult {
  collection: CollectionName;
  status: 'rolled-back' | 'dry-run' | 'already-live' | 'latest-repaired';
  before: VersionSummary;
  after: VersionSummary;
  /** `forward` when the target is newer than the live version (undoing a rollback). */
  direction: 'back' | 'forward' | 'none';
  verification: VerificationReport;
  lock: { token: number; waitedMs: number } | null;
  auditId: string | null;
  durationMs: number;
}

/**
 * Runs the rollback (or its dry run) and prints before/after.
 *
 * @example
 * await rollback(ctx, out, 'words', { steps: 1, yes: true, reason: 'bad batch', lockWaitMs: 90_000 });
 */
export async function rollback(
  ctx: AdminContext,
  out: Output,
  collection: CollectionName,
  options: RollbackOptions,
): Promise<ExitCode> {
  const t0 = performance.now();
  if ((options.to === undefined) === (options.steps === undefined)) {
    throw new UsageError(
      'give exactly one of --to <version> and --steps <n>',
      `e.g. compaction-admin rollback ${collection} --steps 1 --dry-run`,
    );
  }
  const all = await loadVersions(ctx, collection, { readManifests: false });
  const pointer = all.pointer;
  if (!pointer) {
    throw new RefusedError(
      `${collection} has no live version yet; there is nothing to roll back`,
      'check --stage / --state-table: is this the right table?',
    );
  }
  const target =
    options.to !== undefined
      ? findVersion(all, options.to)
      : await stepsBack(ctx, all, options.steps!);
  const repository = ctx.repository();
  const progress = options.json ? undefined : stderrProgress(ctx.io, () => ctx.clock.now());

  // The live manifest is read for the report only: it may be the broken one.
  const [beforeManifest, verification] = await Promise.all([
    repository.readManifest(pointer.manifestKey).then(
      (m) => ({ manifest: m, error: undefined }),
      (err: unknown) => ({ manifest: undefined, error: (err as Error).message }),
    ),
    verifyVersion(ctx, collection, target, {
      depth: options.fullVerify ? 'content' : 'presence',
      ...(options.workDir ? { workDir: options.workDir } : {}),
      ...(progress ? { progress } : {}),
    }),
  ]);
  const before = summary(pointer, beforeManifest.manifest, beforeManifest.error);
  const targetManifest = verification.ok
    ? await repository.readManifest(target.manifestKey)
    : undefined;
  const after = summary(target, targetManifest, verification.ok ? undefined : 'not verified');
  const direction =
    target.version === pointer.version
      ? 'none'
      : target.version < pointer.version
        ? 'back'
        : 'forward';
  const result: RollbackResult = {
    collection,
    status: 'dry-run',
    before,
    after,
    direction,
    verification,
    lock: null,
    auditId: null,
    durationMs: 0,
  };
  const finish = (status: RollbackResult['status']): ExitCode => {
    result.status = status;
    result.durationMs = performance.now() - t0;
    if (options.json) out.json(result);
    else printOutcome(out, result, options);
    return EXIT.ok;
  };

  if (!options.json) printPlan(out, result, ctx.clock.now(), target);
  if (!verification.ok) {
    if (options.json) out.json({ ...result, status: 'refused' });
    throw new RefusedError(
      `refusing to roll back ${collection} to ${target.version}: it failed verification\n` +
        verification.problems.map((p) => `  - ${p}`).join('\n'),
      `pick another version (\`compaction-admin snapshots list ${collection}\`); nothing was changed`,
    );
  }

  if (direction === 'none') {
    // Already live. The only thing that can still be wrong is the read-only mirror.
    const latestOk =
      all.latest?.version === pointer.version && all.latest.manifestKey === pointer.manifestKey;
    if (latestOk || options.dryRun) return finish(latestOk ? 'already-live' : 'dry-run');
    return withCollectionLock(ctx, out, collection, options.lockWaitMs, async (handle) => {
      const now = await ctx.pointers().read(collection);
      if (now?.version !== pointer.version) throw movedWhileWaiting(collection, pointer, now);
      handle.assertHeld();
      await mirrorPointer({ pointers: ctx.pointers(), repository }, collection, now);
      result.lock = { token: handle.token, waitedMs: handle.waitedMs };
      return finish('latest-repaired');
    });
  }
  if (options.dryRun) return finish('dry-run');

  await confirm(ctx.io, {
    yes: options.yes ?? false,
    question: `Roll ${collection} ${direction} from ${pointer.version} to ${target.version}?`,
    retry: retryWithYes(ctx.commandLine),
  });

  let auditEntry: AuditEntry | undefined;
  await withCollectionLock(ctx, out, collection, options.lockWaitMs, async (handle) => {
    result.lock = { token: handle.token, waitedMs: handle.waitedMs };
    // Re-read under the lock: a compaction that held it may have published meanwhile.
    // PointerStore.rollback would refuse that too (it expects the confirmed version);
    // reading first lets us say why in plain words.
    // Fence first: from here on no holder with an older token (a prune or a compaction
    // whose lease we took over) can move the pointer, and a prune still deleting sees
    // the newer fence before its next group of deletes.
    await ctx.pointers().advanceFence({ collection, fencingToken: handle.token, by: ctx.actor });
    const now = await ctx.pointers().read(collection);
    if (now?.version !== pointer.version) throw movedWhileWaiting(collection, pointer, now);
    // The target was verified before the confirmation, without the lock: a prune may
    // have deleted it since. Verify it again, under the lock and the fence, at the
    // depth the operator asked for.
    const again = await verifyVersion(ctx, collection, target, {
      depth: options.fullVerify ? 'content' : 'presence',
      ...(options.workDir ? { workDir: options.workDir } : {}),
    });
    if (!again.ok) {
      throw new RefusedError(
        `refusing to roll back ${collection} to ${target.version}: it no longer verifies under the lock ` +
          '(deleted or damaged after the confirmation)\n' +
          again.problems.map((p) => `  - ${p}`).join('\n'),
        `pick another version (\`compaction-admin snapshots list ${collection}\`); nothing was changed`,
      );
    }
    handle.assertHeld();
    const moved = await ctx.pointers().rollback({
      collection,
      toVersion: target.version,
      toManifestKey: target.manifestKey,
      fencingToken: handle.token,
      expectedCurrentVersion: pointer.version,
    });
    // From here on the rollback has happened: report every later failure, never hide it.
    let latestError: unknown;
    try {
      await mirrorPointer({ pointers: ctx.pointers(), repository }, collection, moved);
    } catch (err) {
      latestError = err;
    }
    try {
      auditEntry = await ctx.audit().append({
        action: 'rollback',
        collection,
        actor: ctx.actor,
        from: pointer.version,
        to: target.version,
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
        details: {
          direction,
          fencingToken: handle.token,
          verification: verification.depth,
          lockWaitedMs: Math.round(handle.waitedMs),
          ...(options.steps !== undefined ? { steps: options.steps } : {}),
          vectorsBefore: before.vectors,
          vectorsAfter: after.vectors,
        },
      });
    } catch (err) {
      throw new AdminError(
        `rolled back ${collection} to ${target.version}, but the audit entry could not be written: ${(err as Error).message}`,
        `record it by hand (who, why, from ${pointer.version} to ${target.version}); the rollback itself is done`,
      );
    }
    if (latestError !== undefined) {
      throw new AdminError(
        `rolled back ${collection} to ${target.version} (pointer moved, audited), but ${collection}/latest.json ` +
          `could not be rewritten: ${(latestError as Error).message}`,
        `read-only consumers still see ${pointer.version}; repair with: compaction-admin rollback ${collection} --to ${target.version} --yes`,
      );
    }
  });
  result.auditId = auditEntry?.id ?? null;
  return finish('rolled-back');
}

function movedWhileWaiting(
  collection: CollectionName,
  confirmed: Pointer,
  now: Pointer | undefined,
): AdminError {
  return new RefusedError(
    `the live version of ${collection} moved from ${confirmed.version} to ${now?.version ?? '(none)'} ` +
      'while this command waited for the lock (a compaction published); nothing was changed',
    `look again (\`compaction-admin snapshots list ${collection}\`) and re-run the rollback if it is still ` +
      'needed; stop the compactor first if it keeps publishing bad versions',
  );
}

function summary(
  v: Pick<VersionInfo, 'version' | 'manifestKey'>,
  manifest: SnapshotManifest | undefined,
  error: string | undefined,
): VersionSummary {
  return {
    version: v.version,
    manifestKey: v.manifestKey,
    vectors: manifest?.counts.vectors ?? null,
    createdAt: manifest?.createdAt ?? null,
    sizeBytes: manifest ? manifest.files.reduce((sum, f) => sum + f.size, 0) : null,
    ...(manifest ? {} : error ? { error } : {}),
  };
}

function describe(v: VersionSummary, now: number): string {
  if (v.error) return `${v.version}  (manifest: ${v.error})`;
  const vectors = v.vectors === null ? '?' : v.vectors.toLocaleString('en-US');
  const size = v.sizeBytes === null ? '?' : formatBytes(v.sizeBytes);
  return `${v.version}  (${vectors} vectors, ${size}, built ${formatTime(v.createdAt ?? undefined, now)})`;
}

function printPlan(out: Output, r: RollbackResult, now: number, target: VersionInfo): void {
  out.line(
    `rollback ${r.collection}${r.direction === 'forward' ? ' (forward: the target is newer than the live version)' : ''}`,
  );
  out.line(`  live now  ${describe(r.before, now)}`);
  out.line(`  target    ${describe(r.after, now)}`);
  const v = r.verification;
  out.line(
    v.ok
      ? `  verified  ${v.files} files, ${formatBytes(v.bytes)}: ${
          v.depth === 'presence'
            ? 'every blob present with its size (HEAD)'
            : 'every sha256 (downloaded)'
        } in ${formatDuration(v.durationMs)}`
      : `  verify    FAILED (${v.problems.length} problem(s))`,
  );
  if (v.ok && r.direction !== 'none') {
    if (r.before.vectors !== null && r.after.vectors !== null) {
      const delta = r.after.vectors - r.before.vectors;
      out.line(
        `  vectors   ${r.before.vectors.toLocaleString('en-US')} → ${r.after.vectors.toLocaleString('en-US')} (${delta >= 0 ? '+' : ''}${delta.toLocaleString('en-US')})`,
      );
    }
    if (r.direction === 'back') {
      out.line(
        `  note      changes applied after ${target.version} leave the live store; if they were good, re-drive them from the receipts table`,
      );
    }
  }
}

function printOutcome(out: Output, r: RollbackResult, options: RollbackOptions): void {
  switch (r.status) {
    case 'dry-run':
      out.line(
        r.direction === 'none'
          ? `dry run: ${r.after.version} is already live; latest.json would be repaired`
          : `dry run: nothing changed (without --dry-run this moves the pointer${options.yes ? '' : ' after a confirmation'})`,
      );
      return;
    case 'already-live':
      out.line(`${r.after.version} is already live and latest.json agrees; nothing to do`);
      return;
    case 'latest-repaired':
      out.line(
        `${r.after.version} was already live; ${r.collection}/latest.json rewritten to match the pointer`,
      );
      return;
    case 'rolled-back':
      out.line(`rolled ${r.collection} ${r.direction} in ${formatDuration(r.durationMs)}`);
      out.line(`  before  ${r.before.version}`);
      out.line(`  after   ${r.after.version}`);
      out.line(
        `  lock token ${r.lock?.token}, waited ${formatDuration(r.lock?.waitedMs ?? 0)}; audit ${r.auditId ?? '-'}`,
      );
      out.line(
        '  the next compaction builds on the new live version (its warm cache is keyed by version and re-downloads it)',
      );
  }
}

/**
 * Declares the `rollback` command on `parent`: its arguments, options,
 * help text and action (the command file owns its flags).
 */
export function registerRollback(parent: Command, run: CommandAction): void {
  addConnectionOptions(
    parent
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
        String(COMPACTOR_SETTINGS.lock.maxWaitMs / 1000),
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
      run(
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
          rollback(ctx, out, parseCollection(collection), {
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
}
