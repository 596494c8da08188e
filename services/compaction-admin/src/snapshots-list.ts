/**
 * `compaction-admin snapshots list <collection>`: every version in the bucket, newest
 * first, with its time, vector count, size, parent and which one is live.
 */
import type { CollectionName } from '@compaction/contracts';
import type { Command } from 'commander';
import { addConnectionOptions, parseCollection, type AdminContext } from './context.js';
import { EXIT, type ExitCode } from './errors.js';
import { formatBytes, formatTime, type Output } from './output.js';
import { loadVersions, type CollectionVersions, type VersionInfo } from './versions.js';
import type { CommandAction } from './command.js';
import { parsePositiveInt } from './option-values.js';

export interface SnapshotsListOptions {
  json?: boolean;
  /** Show only the newest N versions. */
  limit?: number;
}

/** One version as `--json` prints it. */
export interface VersionJson {
  version: string;
  manifestKey: string;
  createdAt: string | null;
  live: boolean;
  previous: boolean;
  vectors: number | null;
  sizeBytes: number | null;
  newBytes: number | null;
  files: number | null;
  parentVersion: string | null;
  fencingToken: number | null;
  messagesApplied: number | null;
  compactionPath: string | null;
  error: string | null;
}

/**
 * Prints the versions of `collection`. Exit code 0 (an unreadable manifest is shown,
 * not fatal: finding it is the point of looking).
 *
 * @example
 * await snapshotsList(ctx, out, 'words', { json: true });
 */
export async function snapshotsList(
  ctx: AdminContext,
  out: Output,
  collection: CollectionName,
  options: SnapshotsListOptions,
): Promise<ExitCode> {
  const all = await loadVersions(ctx, collection);
  const newestFirst = [...all.versions].reverse();
  const shown = options.limit !== undefined ? newestFirst.slice(0, options.limit) : newestFirst;
  const latestAgrees = latestAgreesWithPointer(all);

  if (options.json) {
    out.json({
      collection,
      live: all.pointer ?? null,
      latest: all.latest ?? null,
      latestError: all.latestError ?? null,
      latestAgreesWithPointer: latestAgrees,
      total: all.versions.length,
      versions: shown.map(versionJson),
    });
    return EXIT.ok;
  }

  const now = ctx.clock.now();
  if (!all.pointer) {
    out.line(`${collection}: no live version (the pointer has never been set)`);
  } else {
    out.line(
      `${collection}: live ${all.pointer.version}, pointer moved ${formatTime(all.pointer.updatedAt, now)} ` +
        `under token ${all.pointer.fencingToken}` +
        (all.pointer.parentVersion ? ` from ${all.pointer.parentVersion}` : ''),
    );
  }
  if (all.pointer && !latestAgrees) {
    out.line(
      `warning: ${collection}/latest.json names ${all.latest?.version ?? '(nothing)'}` +
        `${all.latestError ? ` (${all.latestError})` : ''}, the pointer ${all.pointer.version}; ` +
        `read-only consumers see the former. Repair: compaction-admin rollback ${collection} --to ${all.pointer.version}`,
    );
  }
  if (all.pointer && !all.versions.some((v) => v.live)) {
    out.line(
      `warning: the live version ${all.pointer.version} has no manifest in the bucket; ` +
        `run \`compaction-admin snapshots verify ${collection}\` and roll back to a listed version`,
    );
  }
  if (all.versions.length === 0) {
    out.line('no versions in the bucket');
    return EXIT.ok;
  }
  out.line();
  out.table(
    ['STATE', 'VERSION', 'CREATED', 'VECTORS', 'SIZE', 'NEW', 'PARENT'],
    shown.map((v) => [
      stateOf(v),
      v.version,
      formatTime(v.createdAt, now),
      v.manifest?.counts.vectors.toLocaleString('en-US'),
      v.sizeBytes === undefined ? undefined : formatBytes(v.sizeBytes),
      v.newBytes === undefined ? undefined : formatBytes(v.newBytes),
      v.manifest ? (v.manifest.parentVersion ?? '(first)') : undefined,
    ]),
  );
  if (shown.length < newestFirst.length) {
    out.line(`… ${newestFirst.length - shown.length} older version(s) not shown (--limit)`);
  }
  for (const v of shown.filter((x) => x.error)) out.line(`INVALID ${v.version}: ${v.error}`);
  out.line();
  out.line(
    'live = what readers and the next compaction use; prev = what the pointer was moved from;',
  );
  out.line('NEW = bytes not shared with the parent (incremental upload).');
  return EXIT.ok;
}

/** `latest.json` mirrors the pointer (true when there is no pointer to mirror). */
export function latestAgreesWithPointer(all: CollectionVersions): boolean {
  if (!all.pointer) return true;
  return (
    all.latest?.version === all.pointer.version &&
    all.latest.manifestKey === all.pointer.manifestKey
  );
}

function stateOf(v: VersionInfo): string | undefined {
  if (v.error) return 'INVALID';
  if (v.live) return 'live';
  if (v.previous) return 'prev';
  return undefined;
}

function versionJson(v: VersionInfo): VersionJson {
  const m = v.manifest;
  return {
    version: v.version,
    manifestKey: v.manifestKey,
    createdAt: v.createdAt ?? null,
    live: v.live,
    previous: v.previous,
    vectors: m?.counts.vectors ?? null,
    sizeBytes: v.sizeBytes ?? null,
    newBytes: v.newBytes ?? null,
    files: m?.files.length ?? null,
    parentVersion: m ? m.parentVersion : null,
    fencingToken: m?.fencingToken ?? null,
    messagesApplied: m?.messagesApplied ?? null,
    compactionPath: m?.compactionPath ?? null,
    error: v.error ?? null,
  };
}

/**
 * Declares the `snapshots list` command on `parent`: its arguments, options,
 * help text and action (the command file owns its flags).
 */
export function registerSnapshotsList(parent: Command, run: CommandAction): void {
  addConnectionOptions(
    parent
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
      run((ctx, out, collection: string, opts: { json?: boolean; limit?: string }) =>
        snapshotsList(ctx, out, parseCollection(collection), {
          ...(opts.json ? { json: true } : {}),
          ...(opts.limit !== undefined ? { limit: parsePositiveInt(opts.limit, '--limit') } : {}),
        }),
      ),
    );
}
