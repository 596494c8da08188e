/**
 * The catalogue of one collection's versions as an operator needs it: every manifest
 * in the bucket (read through the compactor's `SnapshotRepository`), which one the
 * pointer names (live), which one it was moved from (previous), and how to resolve
 * `--to <version>` / `--steps N` against them.
 */
import type { CollectionName } from '@compaction/contracts';
import {
  type Pointer,
  parseVersionId,
  type Latest,
  type ManifestListing,
  type SnapshotManifest,
  mapLimit,
} from '@compaction/snapshot-store';
import type { AdminContext } from './context.js';
import { RefusedError, UsageError } from './errors.js';

/** One version of a collection. */
export interface VersionInfo {
  version: string;
  manifestKey: string;
  /** The manifest, when it was read (see `loadVersions`) and is valid. */
  manifest: SnapshotManifest | undefined;
  /** Why the manifest could not be read (then `manifest` is undefined). */
  error: string | undefined;
  /** When it was built: the manifest's `createdAt`, else the time in the version id, else the object's. */
  createdAt: string | undefined;
  /** The pointer names this version. */
  live: boolean;
  /** The pointer was moved from this version (a rollback to it undoes the last move). */
  previous: boolean;
  /** Bytes of all its files. */
  sizeBytes: number | undefined;
  /** Bytes of its files the version it was built from does not have (at most what its publish uploaded). */
  newBytes: number | undefined;
}

/** A collection's versions, oldest first, with its pointer and `latest.json`. */
export interface CollectionVersions {
  collection: CollectionName;
  pointer: Pointer | undefined;
  /** `latest.json`, or the reason it could not be read. */
  latest: Latest | undefined;
  latestError: string | undefined;
  versions: VersionInfo[];
}

/** Manifests read at once (small JSON objects). */
const READ_CONCURRENCY = 8;

/**
 * Lists every version of `collection` and, unless `readManifests` is false, reads each
 * manifest (an unreadable one is reported in `error`, not thrown).
 *
 * @example
 * const { pointer, versions } = await loadVersions(ctx, 'words');
 * versions.find((v) => v.live)?.manifest?.counts.vectors;
 */
export async function loadVersions(
  ctx: AdminContext,
  collection: CollectionName,
  options: { readManifests?: boolean } = {},
): Promise<CollectionVersions> {
  const repository = ctx.repository();
  const [pointer, listings, latest] = await Promise.all([
    ctx.pointers().read(collection),
    repository.listManifests(collection),
    repository.readLatest(collection).then(
      (value) => ({ value, error: undefined }),
      (err: unknown) => ({ value: undefined, error: (err as Error).message }),
    ),
  ]);
  // Without manifests (rollback: one listing, then only the two manifests it needs) the
  // cost stays flat however many versions are retained.
  const wanted = options.readManifests ?? true;
  const manifests = await mapLimit(listings, READ_CONCURRENCY, (listing) =>
    (wanted ? repository.readManifest(listing.manifestKey) : Promise.resolve(undefined)).then(
      (manifest) => ({ manifest, error: undefined }),
      (err: unknown) => ({ manifest: undefined, error: (err as Error).message }),
    ),
  );
  const byVersion = new Map<string, SnapshotManifest>();
  for (const m of manifests) if (m.manifest) byVersion.set(m.manifest.version, m.manifest);
  const versions = listings.map((listing, i): VersionInfo => {
    const { manifest, error } = manifests[i]!;
    const parent = manifest?.parentVersion ? byVersion.get(manifest.parentVersion) : undefined;
    return {
      version: listing.version,
      manifestKey: listing.manifestKey,
      manifest,
      error,
      createdAt: createdAtOf(listing, manifest),
      live: pointer?.version === listing.version,
      previous: pointer?.parentVersion === listing.version,
      sizeBytes: manifest ? sumSizes(manifest.files) : undefined,
      newBytes: manifest
        ? manifest.parentVersion === null
          ? sumSizes(manifest.files)
          : parent
            ? sumSizes(excludeShared(manifest.files, parent.files))
            : undefined
        : undefined,
    };
  });
  return {
    collection,
    pointer,
    latest: latest.value,
    latestError: latest.error,
    versions,
  };
}

/** The version named by `spec`: an exact id or a unique prefix of one. */
export function findVersion(all: CollectionVersions, spec: string): VersionInfo {
  const exact = all.versions.find((v) => v.version === spec);
  if (exact) return exact;
  const matches = all.versions.filter((v) => v.version.startsWith(spec));
  if (matches.length === 1) return matches[0]!;
  const list = `compaction-admin snapshots list ${all.collection}`;
  if (matches.length > 1) {
    throw new UsageError(
      `"${spec}" matches ${matches.length} versions of ${all.collection}: ${matches
        .slice(0, 5)
        .map((v) => v.version)
        .join(', ')}${matches.length > 5 ? ', …' : ''}`,
      `give the full version id (\`${list}\`)`,
    );
  }
  throw new RefusedError(
    `${all.collection} has no version "${spec}" (no manifest in the bucket)`,
    `pick one from \`${list}\`; a pruned version cannot come back`,
  );
}

/**
 * The version `steps` moves back along the live version's history: `--steps 1` is the
 * version the live one was built from (its manifest's `parentVersion`), `--steps 2`
 * that one's parent, and so on. Every compaction builds on the version the pointer
 * names, so this chain holds only versions that were live, never an orphan (a version
 * uploaded by a compaction that crashed or was fenced out before its swap).
 */
export async function stepsBack(
  ctx: AdminContext,
  all: CollectionVersions,
  steps: number,
): Promise<VersionInfo> {
  const list = `compaction-admin snapshots list ${all.collection}`;
  if (!all.pointer) {
    throw new RefusedError(`${all.collection} has no live version yet`, 'nothing to roll back');
  }
  const byVersion = new Map(all.versions.map((v) => [v.version, v]));
  let at = byVersion.get(all.pointer.version);
  if (!at) {
    throw new RefusedError(
      `the live version ${all.pointer.version} of ${all.collection} has no manifest in the bucket`,
      `--steps follows the live manifest's parents; name the target with --to (\`${list}\`)`,
    );
  }
  for (let step = 1; step <= steps; step++) {
    const manifest = at.manifest ?? (await ctx.repository().readManifest(at.manifestKey));
    const parent = manifest.parentVersion;
    if (parent === null) {
      throw new RefusedError(
        `${all.collection} has only ${step - 1} earlier live version(s) before ${all.pointer.version}; ` +
          `--steps ${steps} goes past the first`,
        `use a smaller --steps or --to (\`${list}\`)`,
      );
    }
    const next = byVersion.get(parent);
    if (!next) {
      throw new RefusedError(
        `--steps ${steps}: ${step} step(s) back, version ${parent} (the parent of ${at.version}) ` +
          'has been pruned',
        `use a smaller --steps or --to (\`${list}\`)`,
      );
    }
    at = next;
  }
  return at;
}

function createdAtOf(
  listing: ManifestListing,
  manifest: SnapshotManifest | undefined,
): string | undefined {
  if (manifest) return manifest.createdAt;
  const parsed = parseVersionId(listing.version);
  if (parsed) return parsed.createdAt.toISOString();
  return listing.lastModified?.toISOString();
}

function sumSizes(files: readonly { size: number }[]): number {
  return files.reduce((sum, f) => sum + f.size, 0);
}

function excludeShared<T extends { sha256: string }>(
  files: readonly T[],
  parent: readonly T[],
): T[] {
  const have = new Set(parent.map((f) => f.sha256));
  return files.filter((f) => !have.has(f.sha256));
}
