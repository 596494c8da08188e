/**
 * How the CLI decides a version can be trusted, at three depths:
 *
 * - `presence` (rollback's default): the manifest parses and names itself, and every
 *   blob it lists exists with the manifest's size — one LIST of the collection's blobs
 *   (1,000 per request), nothing downloaded;
 * - `content` (`rollback --full-verify`): additionally downloads every file through
 *   `SnapshotRepository.download`, which checks each sha256 while it streams — the
 *   very check the compactor runs before it opens a store;
 * - `store` (`snapshots verify`): additionally opens the downloaded store with
 *   chroma-core and checks the manifest's vector count and store digest.
 *
 * Nothing here moves a pointer or writes to the bucket; downloads go to a temporary
 * directory that is always removed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ChromaStore } from '@compaction/chroma-core';
import type { CollectionName } from '@compaction/contracts';
import {
  SnapshotCorruptError,
  SnapshotError,
  type SnapshotManifest,
  manifestBlobs,
  storeFormatProblems,
} from '@compaction/snapshot-store';
import type { AdminContext } from './context.js';
import type { Progress } from './progress.js';

/** How deep to verify (see the module comment). */
export type VerifyDepth = 'presence' | 'content' | 'store';

/** What a verification found. `ok` is false as soon as one problem is found. */
export interface VerificationReport {
  collection: CollectionName;
  version: string;
  manifestKey: string;
  depth: VerifyDepth;
  ok: boolean;
  /** Human-readable problems, one per line; empty when `ok`. */
  problems: string[];
  files: number;
  bytes: number;
  /** Vector counts, when the store was opened. */
  counts?: { manifest: number; store: number };
  /** Store digests, when the store was opened (`manifest` is absent in older manifests). */
  digest?: { manifest: string | undefined; store: string };
  durationMs: number;
}

export interface VerifyOptions {
  depth: VerifyDepth;
  /** Where to download (default: the OS temp directory). */
  workDir?: string;
  progress?: Progress;
}

/**
 * Verifies one version. Resolves with a report (problems included) for anything wrong
 * with the version itself; rejects only when AWS cannot be asked (network, access).
 *
 * @example
 * const report = await verifyVersion(ctx, 'words', { version, manifestKey }, { depth: 'presence' });
 * if (!report.ok) console.error(report.problems.join('\n'));
 */
export async function verifyVersion(
  ctx: AdminContext,
  collection: CollectionName,
  target: { version: string; manifestKey: string },
  options: VerifyOptions,
): Promise<VerificationReport> {
  const t0 = performance.now();
  const repository = ctx.repository();
  const report: VerificationReport = {
    collection,
    version: target.version,
    manifestKey: target.manifestKey,
    depth: options.depth,
    ok: false,
    problems: [],
    files: 0,
    bytes: 0,
    durationMs: 0,
  };
  const done = (): VerificationReport => {
    report.ok = report.problems.length === 0;
    report.durationMs = performance.now() - t0;
    return report;
  };

  let manifest: SnapshotManifest;
  try {
    manifest = await repository.readManifest(target.manifestKey);
  } catch (err) {
    if (err instanceof SnapshotError) {
      report.problems.push(`manifest: ${err.message}`);
      return done();
    }
    throw err;
  }
  if (manifest.collection !== collection || manifest.version !== target.version) {
    report.problems.push(
      `manifest ${target.manifestKey} describes ${manifest.collection}@${manifest.version}`,
    );
    return done();
  }
  report.files = manifest.files.length;
  report.bytes = manifest.files.reduce((sum, f) => sum + f.size, 0);
  // Every depth: a manifest that parses but cannot be the store it claims is refused
  // before a byte is downloaded.
  report.problems.push(...storeFormatProblems(manifest).map((p) => `manifest: ${p}`));
  if (report.problems.length > 0) return done();

  // Presence first, at every depth: it names every missing blob at once, where a
  // download stops at the first.
  report.problems.push(...(await missingOrResized(ctx, collection, manifest)));
  if (report.problems.length > 0 || options.depth === 'presence') return done();

  const dir = await mkdtemp(join(options.workDir ?? tmpdir(), `compaction-admin-${collection}-`));
  try {
    // download() refuses to write into a non-empty directory and removes it on failure.
    const into = join(dir, 'store');
    options.progress?.start(report.bytes, `${collection}@${manifest.version}`);
    let downloaded = false;
    try {
      await repository.download(manifest, into, {
        onProgress: (p) => options.progress?.update(p.bytesDownloaded),
      });
      downloaded = true;
    } catch (err) {
      if (err instanceof SnapshotCorruptError) {
        report.problems.push(`${err.path}: ${err.message}`);
        return done();
      }
      throw err;
    } finally {
      options.progress?.stop(downloaded);
    }
    if (options.depth === 'store')
      report.problems.push(...(await checkStore(into, manifest, report)));
    return done();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** One problem per blob of the manifest that is missing or has another size than it says. */
async function missingOrResized(
  ctx: AdminContext,
  collection: CollectionName,
  manifest: SnapshotManifest,
): Promise<string[]> {
  // One LIST of the collection's blobs (1,000 per request) instead of a HEAD per blob: a
  // 100k-vector version has ~1,900 chunks, which cost seconds as HEADs.
  const stored = new Map(
    (await ctx.repository().listBlobs(collection)).map((b) => [b.sha256, b.size]),
  );
  const problems: string[] = [];
  for (const blob of manifestBlobs(manifest)) {
    const size = stored.get(blob.sha256);
    if (size === undefined) {
      problems.push(`${blob.path}: blob ${blob.sha256} is missing`);
    } else if (size !== blob.size) {
      problems.push(
        `${blob.path}: blob ${blob.sha256} has ${size} bytes, the manifest says ${blob.size}`,
      );
    }
  }
  return problems;
}

/** Opens the verified download and compares its vector count and digest with the manifest. */
async function checkStore(
  dir: string,
  manifest: SnapshotManifest,
  report: VerificationReport,
): Promise<string[]> {
  const problems: string[] = [];
  let store: ChromaStore;
  try {
    store = await ChromaStore.open(dir, {
      onIndexRebuilt: (event) =>
        problems.push(`the HNSW index had to be rebuilt on open (${event.reason})`),
    });
  } catch (err) {
    return [`the store does not open: ${(err as Error).message}`];
  }
  try {
    const info = (await store.listCollections()).find((c) => c.name === manifest.collection);
    const count = info?.count ?? 0;
    const digest = store.digest();
    report.counts = { manifest: manifest.counts.vectors, store: count };
    report.digest = { manifest: manifest.storeDigest, store: digest };
    if (count !== manifest.counts.vectors) {
      problems.push(
        `the store holds ${count} vectors, the manifest says ${manifest.counts.vectors}`,
      );
    }
    if (manifest.storeDigest !== undefined && manifest.storeDigest !== digest) {
      problems.push(`the store digest is ${digest}, the manifest says ${manifest.storeDigest}`);
    }
  } finally {
    await store.close();
  }
  return problems;
}
