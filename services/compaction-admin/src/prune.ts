/**
 * `compaction-admin prune <collection> --keep N | --older-than 7d`: deletes old
 * versions and the blobs no remaining version needs.
 *
 * RETENTION (the rule, kept in `planPrune` and nowhere else): a version is retained
 * when it is among the newest `--keep` versions, or newer than `--older-than` (both
 * given: either suffices), or it is the live version, the live manifest's parent, or
 * the version the pointer was last moved from (so the last move — a rollback included —
 * can always be undone). A blob is deleted only when NO retained manifest names it;
 * blobs are content-addressed and shared between versions, so "belongs to a deleted
 * version" is never enough.
 *
 * The prune holds the collection lock while it deletes, and advances the collection's
 * fence (`PointerStore.advanceFence`) before its first delete, so a compaction that
 * lost its lease while paused has its late swap refused by the table. The lock serialises writers:
 * a compaction uploads its blobs (skipping those that already exist) and writes its
 * manifest before it swaps the pointer, all under the lock. Without the lock we could
 * list blobs, see one that no manifest names yet — uploaded or reused by a compaction
 * that has not written its manifest — and delete it from under a version about to go
 * live. With the lock, no compaction is between those steps while we decide and delete.
 * Under the lock the plan is computed again and only what is in both the confirmed
 * plan and the fresh one is deleted.
 *
 * Deleting manifests first, then blobs, keeps every intermediate state safe: a prune
 * stopped at any point (Ctrl-C, a lost lock) leaves at worst unreferenced blobs that
 * the next prune removes.
 */
import { performance } from 'node:perf_hooks';
import { COMPACTOR_SETTINGS, type CollectionName } from '@compaction/contracts';
import { type LockHandle, manifestBlobs, mapLimit } from '@compaction/snapshot-store';
import type { Command } from 'commander';
import { confirm, retryWithYes } from './confirm.js';
import { addConnectionOptions, parseCollection, type AdminContext } from './context.js';
import { EXIT, RefusedError, UsageError, type ExitCode } from './errors.js';
import { withCollectionLock } from './locking.js';
import { formatBytes, formatDuration, formatTime, type Output } from './output.js';
import { loadVersions } from './versions.js';
import type { CommandAction } from './command.js';
import { parseAge, parsePositiveInt, parseSeconds } from './option-values.js';

export interface PruneOptions {
  /** Retain the newest N versions. */
  keep?: number;
  /** Retain versions newer than this age (ms), as typed (`7d`) for the report. */
  olderThan?: { ms: number; text: string };
  dryRun?: boolean;
  yes?: boolean;
  reason?: string;
  /** Longest wait for the collection lock, in ms. */
  lockWaitMs: number;
  json?: boolean;
}

/** Why a version is retained. */
export type RetainReason = 'newest' | 'recent' | 'live' | 'parent-of-live' | 'previous-live';

/** What a prune deletes and keeps. */
export interface PrunePlan {
  collection: CollectionName;
  live: string | null;
  retained: { version: string; createdAt: string | null; reasons: RetainReason[] }[];
  deleteVersions: { version: string; manifestKey: string; createdAt: string | null }[];
  deleteBlobs: { sha256: string; size: number }[];
  keptBlobs: number;
  bytesFreed: number;
}

export interface PruneResult {
  plan: PrunePlan;
  status: 'dry-run' | 'nothing-to-do' | 'pruned';
  deletedVersions: number;
  deletedBlobs: number;
  bytesFreed: number;
  lock: { token: number; waitedMs: number } | null;
  auditId: string | null;
  durationMs: number;
}

/** The order reasons are shown in: the safety rules first, then the operator's. */
const REASON_ORDER: readonly RetainReason[] = [
  'live',
  'parent-of-live',
  'previous-live',
  'newest',
  'recent',
];

/** Requests in flight while deleting. */
const DELETE_CONCURRENCY = 8;
/** Manifest deletions between two reads of the fence. */
const FENCE_CHECK_EVERY = 64;
/** Blobs per DeleteObjects request (S3's limit), one request between two reads of the fence. */
const DELETE_BATCH = 1000;
/** Version ids listed in one audit entry (the counts are always complete). */
const AUDIT_LIST_LIMIT = 200;

/**
 * Computes what a prune of `collection` would delete, or refuses when it cannot be
 * sure (the live manifest or a retained one is unreadable).
 *
 * @example
 * const plan = await planPrune(ctx, 'words', { keep: 5 });
 * plan.deleteBlobs.length; // blobs no retained manifest names
 */
export async function planPrune(
  ctx: AdminContext,
  collection: CollectionName,
  options: Pick<PruneOptions, 'keep' | 'olderThan'>,
): Promise<PrunePlan> {
  const all = await loadVersions(ctx, collection);
  const list = `compaction-admin snapshots list ${collection}`;
  const reasons = new Map<string, RetainReason[]>();
  const retain = (version: string | null | undefined, reason: RetainReason): void => {
    if (!version) return;
    reasons.set(version, [...(reasons.get(version) ?? []), reason]);
  };

  const pointer = all.pointer;
  if (pointer) {
    const live = all.versions.find((v) => v.live);
    if (!live?.manifest) {
      throw new RefusedError(
        `refusing to prune ${collection}: the live version ${pointer.version} ` +
          (live ? `has an unreadable manifest (${live.error})` : 'has no manifest in the bucket'),
        `fix the live version first (\`compaction-admin snapshots verify ${collection}\`, then roll back to a good one)`,
      );
    }
    retain(live.version, 'live');
    retain(live.manifest.parentVersion, 'parent-of-live');
    retain(pointer.parentVersion, 'previous-live');
  }
  if (options.keep !== undefined) {
    for (const v of all.versions.slice(-options.keep)) retain(v.version, 'newest');
  }
  if (options.olderThan !== undefined) {
    const cutoff = ctx.clock.now() - options.olderThan.ms;
    for (const v of all.versions) {
      // An unknown age is not "old": keep it.
      const at = v.createdAt ? Date.parse(v.createdAt) : Number.NaN;
      if (!(at < cutoff)) retain(v.version, 'recent');
    }
  }

  const referenced = new Set<string>();
  const retained: PrunePlan['retained'] = [];
  const deleteVersions: PrunePlan['deleteVersions'] = [];
  for (const v of all.versions) {
    const why = reasons.get(v.version);
    if (!why) {
      deleteVersions.push({
        version: v.version,
        manifestKey: v.manifestKey,
        createdAt: v.createdAt ?? null,
      });
      continue;
    }
    if (!v.manifest) {
      throw new RefusedError(
        `refusing to prune ${collection}: retained version ${v.version} has an unreadable manifest (${v.error}), ` +
          'so the blobs it needs are unknown',
        `inspect ${v.manifestKey}; if the version is garbage, retain fewer versions so it is deleted (\`${list}\`)`,
      );
    }
    for (const blob of manifestBlobs(v.manifest)) referenced.add(blob.sha256);
    retained.push({
      version: v.version,
      createdAt: v.createdAt ?? null,
      reasons: REASON_ORDER.filter((r) => why.includes(r)),
    });
  }
  const blobs = await ctx.repository().listBlobs(collection);
  const deleteBlobs = blobs
    .filter((b) => !referenced.has(b.sha256))
    .map((b) => ({ sha256: b.sha256, size: b.size }));
  return {
    collection,
    live: pointer?.version ?? null,
    retained,
    deleteVersions,
    deleteBlobs,
    keptBlobs: blobs.length - deleteBlobs.length,
    bytesFreed: deleteBlobs.reduce((sum, b) => sum + b.size, 0),
  };
}

/**
 * Prunes `collection` (or shows what would go with `dryRun`).
 *
 * @example
 * await prune(ctx, out, 'words', { keep: 10, yes: true, lockWaitMs: 90_000 });
 */
export async function prune(
  ctx: AdminContext,
  out: Output,
  collection: CollectionName,
  options: PruneOptions,
): Promise<ExitCode> {
  const t0 = performance.now();
  if (options.keep === undefined && options.olderThan === undefined) {
    throw new UsageError(
      'say what to keep: --keep <n> and/or --older-than <age>',
      `e.g. compaction-admin prune ${collection} --keep 10 --dry-run`,
    );
  }
  const plan = await planPrune(ctx, collection, options);
  const result: PruneResult = {
    plan,
    status: 'dry-run',
    deletedVersions: 0,
    deletedBlobs: 0,
    bytesFreed: 0,
    lock: null,
    auditId: null,
    durationMs: 0,
  };
  const finish = (status: PruneResult['status']): ExitCode => {
    result.status = status;
    result.durationMs = performance.now() - t0;
    if (options.json) out.json(result);
    else printOutcome(out, result);
    return EXIT.ok;
  };

  if (!options.json) printPlan(out, plan, ctx.clock.now());
  if (plan.deleteVersions.length === 0 && plan.deleteBlobs.length === 0)
    return finish('nothing-to-do');
  if (options.dryRun) return finish('dry-run');

  const rule = [
    options.keep !== undefined ? `--keep ${options.keep}` : '',
    options.olderThan ? `--older-than ${options.olderThan.text}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  await confirm(ctx.io, {
    yes: options.yes ?? false,
    question:
      `Delete ${plan.deleteVersions.length} version(s) and ${plan.deleteBlobs.length} blob(s) ` +
      `(${formatBytes(plan.bytesFreed)}) of ${collection}? This cannot be undone.`,
    retry: retryWithYes(ctx.commandLine),
  });

  await withCollectionLock(ctx, out, collection, options.lockWaitMs, async (handle) => {
    result.lock = { token: handle.token, waitedMs: handle.waitedMs };
    // Before anything is deleted: from here on the table refuses every pointer swap
    // under an older token, so a compaction paused past its lease cannot make live a
    // version whose manifest or blobs this prune is about to delete.
    await ctx.pointers().advanceFence({ collection, fencingToken: handle.token, by: ctx.actor });
    const fresh = await planPrune(ctx, collection, options);
    const confirmedVersions = new Set(plan.deleteVersions.map((v) => v.version));
    const confirmedBlobs = new Set(plan.deleteBlobs.map((b) => b.sha256));
    const versions = fresh.deleteVersions.filter((v) => confirmedVersions.has(v.version));
    const blobs = fresh.deleteBlobs.filter((b) => confirmedBlobs.has(b.sha256));
    if (
      versions.length !== plan.deleteVersions.length ||
      blobs.length !== plan.deleteBlobs.length
    ) {
      out.note(
        'the versions changed while waiting for the lock; deleting only what is still unretained',
      );
    }
    const deleted: string[] = [];
    let failure: unknown;
    try {
      const fence = (): Promise<void> => ctx.pointers().assertFence(collection, handle.token);
      await deleteAll(
        handle,
        fence,
        versions,
        (v) => ctx.repository().deleteManifest(collection, v.version),
        (v) => {
          deleted.push(v.version);
          result.deletedVersions++;
        },
      );
      if (versions.length > 0 && !options.json) {
        out.note(`deleted ${versions.length} manifest(s) of ${collection}`);
      }
      await deleteBlobGroups(ctx, collection, handle, fence, blobs, (group, deletedShas) => {
        const bySha = new Map(group.map((b) => [b.sha256, b]));
        for (const sha256 of deletedShas) {
          result.deletedBlobs++;
          result.bytesFreed += bySha.get(sha256)?.size ?? 0;
        }
        if (!options.json) {
          out.note(
            `deleted ${result.deletedBlobs}/${blobs.length} blob(s) of ${collection} ` +
              `(${formatBytes(result.bytesFreed)})`,
          );
        }
      });
    } catch (err) {
      failure = err;
    }
    // Audited whenever anything was deleted, a partial prune included.
    if (result.deletedVersions > 0 || result.deletedBlobs > 0) {
      const entry = await ctx.audit().append({
        action: 'prune',
        collection,
        actor: ctx.actor,
        ...(fresh.live ? { to: fresh.live } : {}),
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
        details: {
          rule,
          complete: failure === undefined,
          deletedVersions: result.deletedVersions,
          deletedBlobs: result.deletedBlobs,
          bytesFreed: result.bytesFreed,
          versions: deleted.slice(0, AUDIT_LIST_LIMIT),
          ...(deleted.length > AUDIT_LIST_LIMIT ? { versionsTruncated: true } : {}),
          retained: fresh.retained.map((r) => r.version).slice(0, AUDIT_LIST_LIMIT),
          fencingToken: handle.token,
        },
      });
      result.auditId = entry.id;
    }
    if (failure !== undefined) throw failure;
  });
  return finish('pruned');
}

/**
 * Deletes `items` in groups, checking before every group that the lock is still ours
 * (by this machine's clock) and that no newer holder has advanced the fence (by the
 * table). S3 cannot make a delete conditional on our table, so these checks are what
 * keeps a prune whose lease was taken over from deleting under its successor; the
 * window left is one group's requests, sent within the lease's margin.
 */
async function deleteAll<T>(
  handle: LockHandle,
  assertFence: () => Promise<void>,
  items: readonly T[],
  remove: (item: T) => Promise<void>,
  done: (item: T) => void,
): Promise<void> {
  for (let i = 0; i < items.length; i += FENCE_CHECK_EVERY) {
    handle.assertHeld();
    await assertFence();
    await mapLimit(items.slice(i, i + FENCE_CHECK_EVERY), DELETE_CONCURRENCY, async (item) => {
      handle.assertHeld();
      await remove(item);
      done(item);
    });
  }
}

/**
 * Deletes `blobs` with DeleteObjects, one request of at most {@link DELETE_BATCH} keys
 * per group, checking before every group (like {@link deleteAll}) that the lock is
 * still ours and the fence not advanced: the window left is one request. `done` is
 * told what S3 deleted after every group; a blob S3 refused ends the prune (exit 1)
 * once the group's deletions are counted.
 */
async function deleteBlobGroups(
  ctx: AdminContext,
  collection: CollectionName,
  handle: LockHandle,
  assertFence: () => Promise<void>,
  blobs: readonly { sha256: string; size: number }[],
  done: (group: readonly { sha256: string; size: number }[], deleted: readonly string[]) => void,
): Promise<void> {
  for (let i = 0; i < blobs.length; i += DELETE_BATCH) {
    handle.assertHeld();
    await assertFence();
    const group = blobs.slice(i, i + DELETE_BATCH);
    const { deleted, failed } = await ctx.repository().deleteBlobs(
      collection,
      group.map((b) => b.sha256),
    );
    done(group, deleted);
    if (failed.length > 0) {
      throw new RefusedError(
        `S3 did not delete ${failed.length} blob(s) of ${collection}, e.g. ${failed[0]!.sha256} (${failed[0]!.reason}); ` +
          'stopped (what was deleted is audited)',
        "check the role's s3:DeleteObject permission and the bucket policy, then re-run the prune: it deletes what is left",
      );
    }
  }
}

const REASON_TEXT: Record<RetainReason, string> = {
  newest: 'newest',
  recent: 'recent',
  live: 'LIVE',
  'parent-of-live': 'parent of live',
  'previous-live': 'previous live (undo)',
};

function printPlan(out: Output, plan: PrunePlan, now: number): void {
  out.line(`prune ${plan.collection}: live ${plan.live ?? '(none)'}`);
  out.line();
  out.table(
    ['ACTION', 'VERSION', 'CREATED', 'WHY'],
    [
      ...[...plan.retained]
        .reverse()
        .map((r) => [
          'keep',
          r.version,
          formatTime(r.createdAt ?? undefined, now),
          r.reasons.map((x) => REASON_TEXT[x]).join(', '),
        ]),
      ...[...plan.deleteVersions]
        .reverse()
        .map((d) => [
          'DELETE',
          d.version,
          formatTime(d.createdAt ?? undefined, now),
          'not retained',
        ]),
    ],
  );
  out.line();
  out.line(
    `blobs: delete ${plan.deleteBlobs.length} (${formatBytes(plan.bytesFreed)}) that no retained version names; ` +
      `keep ${plan.keptBlobs}`,
  );
}

function printOutcome(out: Output, r: PruneResult): void {
  switch (r.status) {
    case 'nothing-to-do':
      out.line('nothing to prune');
      return;
    case 'dry-run':
      out.line('dry run: nothing deleted');
      return;
    case 'pruned':
      out.line(
        `pruned ${r.plan.collection}: ${r.deletedVersions} version(s), ${r.deletedBlobs} blob(s), ` +
          `${formatBytes(r.bytesFreed)} freed in ${formatDuration(r.durationMs)}; audit ${r.auditId ?? '-'}`,
      );
  }
}

/**
 * Declares the `prune` command on `parent`: its arguments, options,
 * help text and action (the command file owns its flags).
 */
export function registerPrune(parent: Command, run: CommandAction): void {
  addConnectionOptions(
    parent
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
        String(COMPACTOR_SETTINGS.lock.maxWaitMs / 1000),
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
      run(
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
          prune(ctx, out, parseCollection(collection), {
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
}
