/**
 * The warm cache of store directories in the Lambda's /tmp (`WORK_DIR`).
 *
 * Layout, per collection:
 * ```
 * <workDir>/<collection>/cache.json      marker: { version, dir, files: { path: [size, mtimeMs] } }
 * <workDir>/<collection>/store-<random>/ store directories (at most one is named by the marker)
 * <workDir>/<collection>/shadow-<random>/ copies for the shadow path
 * ```
 * INVARIANT: the marker names a directory only while that directory holds exactly
 * the marker's version. It is written (atomically, by rename) only by `commit()`,
 * after a successful publish and swap of that very directory, and it is removed
 * before a directory is handed out for modification. A crash at any point therefore
 * leaves at worst no marker (a cold start), never a marker that lies.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { CollectionName } from '@compaction/contracts';
import type { Pointer } from './pointer.js';
import type { SnapshotRepository } from './repository.js';
import { SnapshotManifestError } from './errors.js';

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
  bytesDownloaded: number;
}

/** The part of a pointer a checkout needs. */
export type CheckoutTarget = Pick<Pointer, 'version' | 'manifestKey'>;

interface Marker {
  version: string;
  /** Directory name (not path) inside the collection's cache folder. */
  dir: string;
  /** Fingerprint at commit time: any later write to the directory invalidates it. */
  files: Record<string, [size: number, mtimeMs: number]>;
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

    if (options.mode === 'warm' && pointer && marker?.version === pointer.version) {
      const dir = join(root, marker.dir);
      if (await fingerprintMatches(dir, marker.files)) {
        await this.#sweep(collection, dir);
        return { dir, fromCache: true, bytesDownloaded: 0 };
      }
    }

    await this.#sweep(collection, undefined);
    const dir = join(root, `store-${randomBytes(6).toString('hex')}`);
    if (!pointer) {
      await mkdir(dir);
      return { dir, fromCache: false, bytesDownloaded: 0 };
    }
    const manifest = await this.#repository.readManifest(pointer.manifestKey);
    if (manifest.version !== pointer.version) {
      throw new SnapshotManifestError(
        pointer.manifestKey,
        `pointer names version ${pointer.version}, manifest is ${manifest.version}`,
      );
    }
    const { bytesDownloaded } = await this.#repository.download(manifest, dir);
    return { dir, fromCache: false, bytesDownloaded };
  }

  /**
   * Records that `dir` now holds `version` exactly: call after publishing `dir` and
   * swapping the pointer to `version`, with the store closed.
   */
  async commit(collection: CollectionName, dir: string, version: string): Promise<void> {
    const name = this.#ownDirName(collection, dir);
    const marker: Marker = { version, dir: name, files: await fingerprint(resolve(dir)) };
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
