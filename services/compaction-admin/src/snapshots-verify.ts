/**
 * `compaction-admin snapshots verify <collection> [version]`: downloads a version (the
 * live one by default), checks every file's sha256, opens the store and checks the
 * manifest's vector count and digest. Exit code 0 when it can be trusted, 1 when not.
 */
import type { CollectionName } from '@compaction/contracts';
import type { Command } from 'commander';
import { addConnectionOptions, parseCollection, type AdminContext } from './context.js';
import { EXIT, RefusedError, UsageError, type ExitCode } from './errors.js';
import { formatBytes, formatDuration, type Output } from './output.js';
import { stderrProgress } from './progress.js';
import { verifyVersion, type VerificationReport, type VerifyDepth } from './verification.js';
import { findVersion, loadVersions, type VersionInfo } from './versions.js';
import type { CommandAction } from './command.js';

export interface SnapshotsVerifyOptions {
  json?: boolean;
  /** Verify every version in the bucket, oldest first. */
  all?: boolean;
  /** Only check that every blob exists with its size (HEAD), download nothing. */
  quick?: boolean;
  /** Where downloads go (default: the OS temp directory). */
  workDir?: string;
}

/**
 * Verifies one version (or all) of `collection` and prints a report per version.
 *
 * @example
 * const code = await snapshotsVerify(ctx, out, 'words', undefined, {}); // the live version
 */
export async function snapshotsVerify(
  ctx: AdminContext,
  out: Output,
  collection: CollectionName,
  version: string | undefined,
  options: SnapshotsVerifyOptions,
): Promise<ExitCode> {
  const all = await loadVersions(ctx, collection);
  let targets: { version: string; manifestKey: string }[];
  if (options.all) {
    targets = all.versions;
  } else if (version !== undefined) {
    targets = [findVersion(all, version)];
  } else if (all.pointer) {
    // The pointer's own manifest key, even when the listing lost it: that is what readers open.
    targets = [{ version: all.pointer.version, manifestKey: all.pointer.manifestKey }];
  } else {
    throw new RefusedError(
      `${collection} has no live version to verify`,
      `name one: compaction-admin snapshots verify ${collection} <version> (see \`snapshots list\`)`,
    );
  }
  const depth: VerifyDepth = options.quick ? 'presence' : 'store';
  const progress = options.json ? undefined : stderrProgress(ctx.io, () => ctx.clock.now());
  const reports: VerificationReport[] = [];
  for (const target of targets) {
    const report = await verifyVersion(ctx, collection, target, {
      depth,
      ...(options.workDir ? { workDir: options.workDir } : {}),
      ...(progress ? { progress } : {}),
    });
    reports.push(report);
    if (!options.json)
      printReport(
        out,
        report,
        all.versions.find((v) => v.version === target.version),
      );
  }
  const ok = reports.every((r) => r.ok);
  if (options.json) {
    out.json({ collection, ok, reports });
  } else if (reports.length > 1) {
    const bad = reports.filter((r) => !r.ok);
    out.line(
      bad.length === 0
        ? `all ${reports.length} versions OK`
        : `${bad.length} of ${reports.length} versions FAILED: ${bad.map((r) => r.version).join(', ')}`,
    );
  }
  if (!ok && !options.json) {
    out.line(
      `next: do not roll back to a failed version; if the live one failed, roll back to a good one ` +
        `(compaction-admin rollback ${collection} --to <version>) and investigate the bucket`,
    );
  }
  return ok ? EXIT.ok : EXIT.failed;
}

function printReport(out: Output, r: VerificationReport, info: VersionInfo | undefined): void {
  const what = `${r.collection}@${r.version}${info?.live ? ' (live)' : ''}`;
  const checked =
    r.depth === 'presence'
      ? 'every blob present with its size'
      : r.depth === 'content'
        ? 'every sha256'
        : 'every sha256, vector count and store digest';
  if (r.ok) {
    const counts = r.counts ? `, ${r.counts.store.toLocaleString('en-US')} vectors` : '';
    out.line(
      `OK      ${what}: ${r.files} files, ${formatBytes(r.bytes)}${counts}; ${checked} (${formatDuration(r.durationMs)})`,
    );
    return;
  }
  out.line(`FAILED  ${what}:`);
  for (const problem of r.problems) out.line(`  - ${problem}`);
}

/**
 * Declares the `snapshots verify` command on `parent`: its arguments, options,
 * help text and action (the command file owns its flags).
 */
export function registerSnapshotsVerify(parent: Command, run: CommandAction): void {
  addConnectionOptions(
    parent
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
      run(
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
          return snapshotsVerify(ctx, out, parseCollection(collection), version, {
            ...(opts.all ? { all: true } : {}),
            ...(opts.quick ? { quick: true } : {}),
            ...(opts.workDir ? { workDir: opts.workDir } : {}),
            ...(opts.json ? { json: true } : {}),
          });
        },
      ),
    );
}
