/**
 * The live version of a collection as a reader finds it, for `health`: a reader
 * follows `latest.json` to a manifest and downloads the blobs it names, and the next
 * compaction checks out the pointer's manifest. Either fails when one of those is
 * missing, unreadable or not what the pointer names.
 *
 * INVARIANT (checked here, kept by the compactor, rollback and prune): the pointer's
 * manifest parses, names the pointer's version, describes a store chroma-core can open
 * (`storeFormatProblems`) and every blob it lists exists with its size; `latest.json`
 * parses and names the pointer's version and manifest, with a fencing token not lower
 * than the pointer's. Nothing is downloaded: one GET per JSON file, one LIST of the blobs.
 */
import type { CollectionName } from '@compaction/contracts';
import { SnapshotError, type Pointer } from '@compaction/snapshot-store';
import type { AdminContext } from './context.js';
import { verifyVersion } from './verification.js';

/** What a reader of the live version would run into. Empty problem lists: it opens. */
export interface ReaderView {
  /** Problems of the pointer's manifest and its blobs. */
  manifest: string[];
  /** Blobs checked and their bytes, when the manifest was readable. */
  files: number;
  bytes: number;
  /** Problems of `latest.json`. */
  latest: string[];
}

/**
 * Opens the live version of `collection` the way a reader does, without downloading.
 * Rejects only when AWS cannot be asked (network, access).
 *
 * @example
 * const view = await readerView(ctx, 'words', pointer);
 * if (view.manifest.length + view.latest.length > 0) process.exitCode = 1;
 */
export async function readerView(
  ctx: AdminContext,
  collection: CollectionName,
  pointer: Pick<Pointer, 'version' | 'manifestKey' | 'fencingToken'>,
): Promise<ReaderView> {
  const [report, latest] = await Promise.all([
    verifyVersion(
      ctx,
      collection,
      { version: pointer.version, manifestKey: pointer.manifestKey },
      { depth: 'presence' },
    ),
    latestProblems(ctx, collection, pointer),
  ]);
  return { manifest: report.problems, files: report.files, bytes: report.bytes, latest };
}

async function latestProblems(
  ctx: AdminContext,
  collection: CollectionName,
  pointer: Pick<Pointer, 'version' | 'manifestKey' | 'fencingToken'>,
): Promise<string[]> {
  let latest;
  try {
    latest = await ctx.repository().readLatest(collection);
  } catch (err) {
    if (err instanceof SnapshotError) return [`unreadable: ${err.message}`];
    throw err;
  }
  if (!latest) return ['missing: readers find no live version'];
  const problems: string[] = [];
  if (latest.version !== pointer.version)
    problems.push(`names version ${latest.version}, the pointer ${pointer.version}`);
  if (latest.manifestKey !== pointer.manifestKey)
    problems.push(`names manifest ${latest.manifestKey}, the pointer ${pointer.manifestKey}`);
  if (latest.fencingToken !== undefined && latest.fencingToken < pointer.fencingToken)
    problems.push(
      `carries fencing token ${latest.fencingToken}, lower than the pointer's ${pointer.fencingToken}`,
    );
  return problems;
}
