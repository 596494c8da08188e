/**
 * The warm cache of store directories in the Lambda's /tmp (`WORK_DIR`).
 *
 * Layout, per collection:
 * ```
 * <workDir>/<collection>/cache.json      marker: { version, dir, files: { path: [size, mtimeMs] }, manifest }
 * <workDir>/<collection>/store-<random>/ store directories (at most one is named by the marker)
 * <workDir>/<collection>/shadow-<random>/ copies for the shadow path
 * ```
 * INVARIANT: the marker names a directory only while that directory holds exactly
 * the marker's version. It is written (atomically, by rename) only by `commit()`,
 * after a successful publish and swap of that very directory, and it is removed
 * before a directory is handed out for modification. A crash at any point therefore
 * leaves at worst no marker (a cold start), never a marker that lies.
 *
 * Fingerprints are exact because they are pinned: when a directory's fingerprint is
 * taken (at commit, and after a download), every file's mtime is first set to two
 * seconds in the past. Any later write sets it to "now" (the kernel's coarse clock),
 * which differs, so (size, mtimeMs) equal ⇒ not written since — even for a write in
 * the same clock tick as the fingerprint, which a plain stat could not tell apart.
 * The publisher relies on this to keep an unchanged file's chunk list without reading it.
 */
import { randomBytes } from 'node:crypto';
import {
  cp,
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { CollectionName } from '@compaction/contracts';
import type { Pointer } from './pointer.js';
import type { SnapshotRepository } from './repository.js';
import { SnapshotManifestError } from './errors.js';
import { snapshotManifestSchema, storeFormatProblems, type SnapshotManifest } from './manifest.js';

export interface LocalCacheOptions {
  /** Root of the cache (`WORK_DIR`, default `/tmp/compaction` in the Lambda). */
  workDir: string;
  repository: SnapshotRepository;
}

/** `warm` reuses a cached directory at the pointer's version; `cold` always downloads. */
export type CheckoutMode = 'warm' | 'cold';

export interface Checkout {
  /** A directory holding the pointer's version (or empty), now the caller's to modify. */
  dir: string;
  /** True when the directory was reused from the cache (nothing downloaded). */
  fromCache: boolean;
  /** Bytes read from S3. */
  bytesDownloaded: number;
  /** Bytes copied (verified) from the cached directory of an older version instead. */
  bytesReused: number;
  /** The manifest of the version the directory holds (undefined when there is no pointer). */
  manifest: SnapshotManifest | undefined;
  /** Pinned fingerprint of the directory as handed out (see {@link LocalCache.unchangedFiles}). */
  fingerprint: Readonly<Record<string, readonly [size: number, mtimeMs: number]>>;
}

/** The part of a pointer a checkout needs. */
export type CheckoutTarget = Pick<Pointer, 'version' | 'manifestKey'>;

interface Marker {
  version: string;
  /** Directory name (not path) inside the collection's cache folder. */
  dir: string;
  /** Fingerprint at commit time: any later write to the directory invalidates it. */
  files: Record<string, [size: number, mtimeMs: number]>;
  /** The manifest of `version` (absent in markers written before it was kept). */
  manifest?: unknown;
}

/**
 * Hands out store directories at a given version, reusing the last committed one
 * when it is exactly that version.
 *
 * @example
 * const cache = new LocalCache({ workDir: '/tmp/compaction', repository });
 * const { dir } = await cache.checkout('words', pointer, { mode: 'warm' });
 * try {
 *   // open, apply, close the store in dir; publish; swap the pointer to `version`
 *   await cache.commit('words', dir, version);
 * } catch (err) {
 *   await cache.discard('words', dir);
 *   throw err;
 * }
 */
export class LocalCache {
  readonly workDir: string;
  readonly #repository: SnapshotRepository;

  constructor(options: LocalCacheOptions) {
    this.workDir = resolve(options.workDir);
    this.#repository = options.repository;
  }

  /**
   * A directory holding `pointer`'s version, for the caller to modify: the cached
   * one when `warm` and it holds exactly that version, otherwise a fresh verified
   * download (an empty directory when there is no pointer yet). Every other
   * directory of the collection is removed (leftovers of earlier invocations).
   */
  async checkout(
    collection: CollectionName,
    pointer: CheckoutTarget | undefined,
    options: { mode: CheckoutMode },
  ): Promise<Checkout> {
    const root = this.#collectionRoot(collection);
    await mkdir(root, { recursive: true });
    const marker = await this.#readMarker(collection);
    // Whatever happens next, the marked directory is about to change or be replaced:
    // the marker goes first, so no crash can leave it claiming a version.
    await rm(this.#markerPath(collection), { force: true });

    const cachedDir = marker ? join(root, marker.dir) : undefined;
    const cachedIntact =
      marker !== undefined && (await fingerprintMatches(cachedDir!, marker.files));
    if (options.mode === 'warm' && pointer && marker?.version === pointer.version && cachedIntact) {
      await this.#sweep(collection, cachedDir);
      // A marker written before manifests were kept has none: publishing then reads every file.
      const manifest = storedManifest(marker, pointer.version);
      return {
        dir: cachedDir!,
        fromCache: true,
        bytesDownloaded: 0,
        bytesReused: 0,
        manifest,
        fingerprint: marker.files,
      };
    }

    // Warm and one version (or more) behind: the cached directory seeds the download,
    // so only the chunks it lacks come from S3 (every chunk verified either way).
    const seedManifest =
      options.mode === 'warm' && cachedIntact ? storedManifest(marker, marker.version) : undefined;
    const seed = seedManifest ? { dir: cachedDir!, manifest: seedManifest } : undefined;
    await this.#sweep(collection, seed?.dir);
    const dir = join(root, `store-${randomBytes(6).toString('hex')}`);
    if (!pointer) {
      await this.#sweep(collection, undefined);
      await mkdir(dir);
      return {
        dir,
        fromCache: false,
        bytesDownloaded: 0,
        bytesReused: 0,
        manifest: undefined,
        fingerprint: {},
      };
    }
    try {
      const manifest = await this.#readManifest(pointer);
      const { bytesDownloaded, bytesReused } = await this.#repository.download(
        manifest,
        dir,
        seed ? { seed } : {},
      );
      return {
        dir,
        fromCache: false,
        bytesDownloaded,
        bytesReused,
        manifest,
        fingerprint: await pinnedFingerprint(dir),
      };
    } finally {
      if (seed) await rm(seed.dir, { recursive: true, force: true });
    }
  }

  /**
   * The files of `checkout.dir` not written since it was handed out (same pinned size
   * and mtime): byte-identical to the checked-out version's, so their chunk lists in
   * `checkout.manifest` still describe them.
   */
  async unchangedFiles(checkout: Pick<Checkout, 'dir' | 'fingerprint'>): Promise<Set<string>> {
    const now = await fingerprint(resolve(checkout.dir)).catch(() => ({}) as Marker['files']);
    const out = new Set<string>();
    for (const [path, [size, mtime]] of Object.entries(checkout.fingerprint)) {
      const got = now[path];
      if (got && got[0] === size && got[1] === mtime) out.add(path);
    }
    return out;
  }

  async #readManifest(pointer: CheckoutTarget): Promise<SnapshotManifest> {
    const manifest = await this.#repository.readManifest(pointer.manifestKey);
    if (manifest.version !== pointer.version) {
      throw new SnapshotManifestError(
        pointer.manifestKey,
        `pointer names version ${pointer.version}, manifest is ${manifest.version}`,
      );
    }
    // A manifest that parses but lacks the store's files would open as an empty store
    // and be published as a 0-vector version: refused before anything is downloaded.
    const problems = storeFormatProblems(manifest);
    if (problems.length > 0)
      throw new SnapshotManifestError(pointer.manifestKey, problems.join('; '));
    return manifest;
  }

  /**
   * Records that `dir` now holds `version` exactly: call after publishing `dir` and
   * swapping the pointer to `version`, with the store closed.
   */
  async commit(
    collection: CollectionName,
    dir: string,
    version: string,
    /** The manifest of `version`, kept so the next run neither re-reads it nor re-hashes unchanged files. */
    manifest?: SnapshotManifest,
  ): Promise<void> {
    const name = this.#ownDirName(collection, dir);
    const marker: Marker = {
      version,
      dir: name,
      files: await pinnedFingerprint(resolve(dir)),
      ...(manifest && manifest.version === version ? { manifest } : {}),
    };
    const path = this.#markerPath(collection);
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(marker));
    await rename(tmp, path); // atomic: readers see the old marker (or none) or the whole new one
  }

  /** Removes a directory that no longer matches any published version (after a failure). */
  async discard(collection: CollectionName, dir: string): Promise<void> {
    const name = this.#ownDirName(collection, dir);
    const marker = await this.#readMarker(collection);
    if (marker?.dir === name) await rm(this.#markerPath(collection), { force: true });
    await rm(join(this.#collectionRoot(collection), name), { recursive: true, force: true });
  }

  /** A copy of `dir` next to it, for the shadow path; remove it with {@link discard}. */
  async copyForShadow(dir: string): Promise<string> {
    const source = resolve(dir);
    const copy = join(dirname(source), `shadow-${randomBytes(6).toString('hex')}`);
    try {
      await cp(source, copy, { recursive: true, errorOnExist: true, force: false });
    } catch (err) {
      await rm(copy, { recursive: true, force: true });
      throw err;
    }
    return copy;
  }

  /** The version the cache holds for `collection` (with a still-matching directory), if any. */
  async cachedVersion(collection: CollectionName): Promise<string | undefined> {
    const marker = await this.#readMarker(collection);
    if (!marker) return undefined;
    const dir = join(this.#collectionRoot(collection), marker.dir);
    return (await fingerprintMatches(dir, marker.files)) ? marker.version : undefined;
  }

  #collectionRoot(collection: CollectionName): string {
    return join(this.workDir, collection);
  }

  #markerPath(collection: CollectionName): string {
    return join(this.#collectionRoot(collection), 'cache.json');
  }

  /** The name of `dir` inside the collection folder; refuses anything else. */
  #ownDirName(collection: CollectionName, dir: string): string {
    const root = this.#collectionRoot(collection);
    const abs = resolve(dir);
    if (dirname(abs) !== root || !/^(store|shadow)-[0-9a-f]+$/.test(basename(abs))) {
      throw new RangeError(
        `${dir} is not a ${collection} directory of the cache in ${this.workDir}`,
      );
    }
    return basename(abs);
  }

  async #readMarker(collection: CollectionName): Promise<Marker | undefined> {
    let text: string;
    try {
      text = await readFile(this.#markerPath(collection), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const marker = JSON.parse(text) as Partial<Marker>;
      const valid =
        typeof marker.version === 'string' &&
        typeof marker.dir === 'string' &&
        /^(store|shadow)-[0-9a-f]+$/.test(marker.dir) &&
        typeof marker.files === 'object' &&
        marker.files !== null;
      return valid ? (marker as Marker) : undefined;
    } catch {
      return undefined; // unreadable marker = no marker: a cold start, never a wrong version
    }
  }

  /** Removes every entry of the collection folder except `keep` (and the marker). */
  async #sweep(collection: CollectionName, keep: string | undefined): Promise<void> {
    const root = this.#collectionRoot(collection);
    for (const name of await readdir(root)) {
      const path = join(root, name);
      if (path === keep || name === 'cache.json') continue;
      await rm(path, { recursive: true, force: true });
    }
  }
}

/** The marker's manifest when it is a valid manifest of `version`. */
function storedManifest(marker: Marker, version: string): SnapshotManifest | undefined {
  const parsed = snapshotManifestSchema.safeParse(marker.manifest);
  return parsed.success && parsed.data.version === version ? parsed.data : undefined;
}

/** Sets every file's mtime two seconds into the past, then fingerprints `dir` (see the module comment). */
async function pinnedFingerprint(dir: string): Promise<Marker['files']> {
  const pinned = new Date(Math.floor(Date.now() / 1000) * 1000 - 2000);
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), pinned, pinned);
  }
  return fingerprint(dir);
}

/** Size and modification time of every regular file under `dir`, by relative path. */
async function fingerprint(dir: string): Promise<Marker['files']> {
  const out: Marker['files'] = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const s = await stat(path);
    out[relative(dir, path).split(sep).join('/')] = [s.size, s.mtimeMs];
  }
  return out;
}

async function fingerprintMatches(dir: string, expected: Marker['files']): Promise<boolean> {
  let actual: Marker['files'];
  try {
    actual = await fingerprint(dir);
  } catch {
    return false;
  }
  const keys = Object.keys(expected);
  if (keys.length !== Object.keys(actual).length) return false;
  return keys.every((k) => {
    const [size, mtime] = expected[k]!;
    const got = actual[k];
    return got !== undefined && got[0] === size && got[1] === mtime;
  });
}
