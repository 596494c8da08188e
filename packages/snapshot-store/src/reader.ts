/**
 * The reader for consumers: the live version of a collection, opened read-only from a
 * local directory, kept up to date by following `<collection>/latest.json`.
 *
 * INVARIANT: the store a reader serves is always a whole published version whose every
 * byte was checked against its manifest (sha256 per chunk, sizes per file). A new
 * version is verified before it replaces the one being served; when it cannot be (a
 * missing or corrupt chunk, an invalid manifest, a store that does not open), refresh()
 * throws and the previous version keeps serving. A `latest.json` whose fencing token is
 * lower than the one served is ignored, so a late writer cannot move a reader backwards.
 *
 * Refresh is proportional to the change: when the local directory still holds the
 * served version (pinned fingerprint) and both versions are format 2, only the chunks
 * that differ are fetched (into memory, verified), then the store is closed, the
 * chunks are written in place, and the store reopened; if it does not open, the
 * overwritten bytes are put back and the previous version reopened. Otherwise the new
 * version is assembled in a fresh directory, seeded with the chunks the old one has.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdir,
  open,
  readdir,
  rm,
  stat,
  truncate,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '@aws-lambda-powertools/logger';
import { ChromaStore, type Collection } from '@compaction/chroma-core';
import type { CollectionName } from '@compaction/contracts';
import { readChunk } from './chunker.js';
import { mapLimit } from './concurrency.js';
import { SnapshotCorruptError, SnapshotManifestError, SnapshotNotFoundError } from './errors.js';
import { blobKey, latestKey } from './layout.js';
import {
  latestSchema,
  parseJson,
  parseWith,
  storeFormatProblems,
  type ChunkedFile,
  type SnapshotManifest,
  type SnapshotManifestV2,
} from './manifest.js';
import { ObjectStore } from './object-store.js';
import { SnapshotRepository } from './repository.js';

/** The read side of a collection: what a consumer may call. */
export type ReadOnlyCollection = Pick<Collection, 'name' | 'get' | 'query' | 'count' | 'peek'>;

export interface OpenLatestOptions {
  s3: S3Client;
  bucket: string;
  collection: CollectionName;
  /** A directory of the reader's own (created if absent); its previous content is removed. */
  cacheDir: string;
  logger?: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /** Passed to `ChromaStore.open` (its query-result cache). Default chroma-core's. */
  resultCacheBytes?: number;
}

export interface RefreshResult {
  /** True when a newer version is now served. */
  changed: boolean;
  version: string;
  /** Bytes read from S3 (latest.json and the manifest included). */
  bytesFetched: number;
  /** `in-place` (changed chunks only), `assembled` (a new directory) or `none`. */
  mode: 'in-place' | 'assembled' | 'none';
}

/** What the reader serves. */
interface Served {
  dir: string;
  manifest: SnapshotManifest;
  fencingToken: number;
  store: ChromaStore;
  fingerprint: Map<string, string>;
}

/** Above this share of the store's bytes, a refresh assembles a new directory instead of patching. */
const IN_PLACE_MAX_SHARE = 0.25;

/**
 * Opens the live version of `collection`: reads `latest.json`, downloads the version
 * (every byte verified) into `cacheDir` and opens it. `SnapshotNotFoundError` before the
 * first publish.
 *
 * @example
 * const reader = await openLatest({ s3, bucket, collection: 'words', cacheDir: '/tmp/words' });
 * const words = await reader.collection();
 * const hits = await words.query({ queryEmbeddings: [v], nResults: 10 });
 * await reader.refresh(); // follows latest.json; fetches only the chunks that changed
 * await reader.close();
 */
export async function openLatest(options: OpenLatestOptions): Promise<SnapshotReader> {
  const reader = new SnapshotReader(options);
  await reader.refresh();
  return reader;
}

/** A read-only, refreshable view of a collection's live version. See {@link openLatest}. */
export class SnapshotReader {
  readonly collectionName: CollectionName;
  readonly #options: OpenLatestOptions;
  readonly #repository: SnapshotRepository;
  readonly #objects: ObjectStore;
  readonly #root: string;
  #served: Served | undefined;
  #refreshing: Promise<RefreshResult> | undefined;

  constructor(options: OpenLatestOptions) {
    this.#options = options;
    this.collectionName = options.collection;
    this.#root = resolve(options.cacheDir);
    this.#repository = new SnapshotRepository({
      s3: options.s3,
      bucket: options.bucket,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    this.#objects = new ObjectStore({
      s3: options.s3,
      bucket: options.bucket,
      partSize: 8 * 1024 * 1024,
      partsInFlight: 2,
    });
  }

  /** The version served. */
  get version(): string {
    return this.#current().manifest.version;
  }

  /** The fencing token of the `latest.json` the served version came from (0 when it had none). */
  get fencingToken(): number {
    return this.#current().fencingToken;
  }

  /** The manifest of the version served. */
  get manifest(): SnapshotManifest {
    return this.#current().manifest;
  }

  /**
   * The served version's collection (default: the reader's), read-only. Call again after
   * `refresh()`: a handle of the previous version is closed once a new one is served.
   */
  async collection(name: string = this.collectionName): Promise<ReadOnlyCollection> {
    return this.#current().store.getCollection(name);
  }

  /** Follows `latest.json` to a newer version (see the module comment); concurrent calls share one. */
  refresh(): Promise<RefreshResult> {
    this.#refreshing ??= this.#refresh().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  /** Closes the store and removes the local copy. */
  async close(): Promise<void> {
    const served = this.#served;
    this.#served = undefined;
    if (served) {
      await served.store.close();
      await rm(served.dir, { recursive: true, force: true });
    }
  }

  #current(): Served {
    if (!this.#served) throw new Error(`reader of ${this.collectionName} is closed`);
    return this.#served;
  }

  async #refresh(): Promise<RefreshResult> {
    const { collection } = this.#options;
    const key = latestKey(collection);
    const latestJson = await this.#objects.getText(key);
    if (latestJson === undefined) throw new SnapshotNotFoundError(key);
    const latest = parseWith(latestSchema, parseJson(latestJson, key), key);
    let bytesFetched = Buffer.byteLength(latestJson);
    const served = this.#served;
    const token = latest.fencingToken ?? 0;
    if (served && (latest.version === served.manifest.version || token < served.fencingToken)) {
      if (token < served.fencingToken) {
        this.#options.logger?.warn('latest.json is older than the version served; ignored', {
          collection,
          latest,
          served: served.manifest.version,
          servedToken: served.fencingToken,
        });
      }
      return { changed: false, version: served.manifest.version, bytesFetched, mode: 'none' };
    }
    const manifest = await this.#repository.readManifest(latest.manifestKey);
    bytesFetched += Buffer.byteLength(JSON.stringify(manifest));
    const problems = storeFormatProblems(manifest);
    if (problems.length > 0)
      throw new SnapshotManifestError(latest.manifestKey, problems.join('; '));

    if (served && (await this.#intact(served))) {
      const plan = changedChunks(served.manifest, manifest);
      if (plan && manifest.formatVersion === 2) {
        bytesFetched += await this.#patchInPlace(served, manifest, token, plan);
        return { changed: true, version: manifest.version, bytesFetched, mode: 'in-place' };
      }
    }
    bytesFetched += await this.#assemble(manifest, token);
    return { changed: true, version: manifest.version, bytesFetched, mode: 'assembled' };
  }

  /** Downloads `manifest` into a new directory (seeded by the served one), opens it, swaps. */
  async #assemble(manifest: SnapshotManifest, token: number): Promise<number> {
    await mkdir(this.#root, { recursive: true });
    const served = this.#served;
    const dir = join(this.#root, `v-${randomBytes(6).toString('hex')}`);
    const seed =
      served && (await this.#intact(served))
        ? { dir: served.dir, manifest: served.manifest }
        : undefined;
    const { bytesDownloaded } = await this.#repository.download(
      manifest,
      dir,
      seed ? { seed } : {},
    );
    let store: ChromaStore;
    try {
      store = await this.#open(dir);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    this.#served = { dir, manifest, fencingToken: token, store, fingerprint: await pin(dir) };
    if (served) {
      await served.store.close();
      await rm(served.dir, { recursive: true, force: true });
    }
    // Leftovers of an earlier process: everything but the served directory goes.
    for (const name of await readdir(this.#root)) {
      if (join(this.#root, name) !== dir)
        await rm(join(this.#root, name), { recursive: true, force: true });
    }
    return bytesDownloaded;
  }

  /** Fetches (verified) the changed chunks, then swaps them in under a closed store; reverts on failure. */
  async #patchInPlace(
    served: Served,
    manifest: SnapshotManifestV2,
    token: number,
    plan: ChunkPlan,
  ): Promise<number> {
    const fetched = await mapLimit(plan.chunks, 8, async ({ file, index }) => {
      const chunk = file.chunks[index]!;
      const key = blobKey(manifest.collection, chunk.sha256);
      const bytes = await this.#objects.getBytes(key);
      const sha256 = bytes && createHash('sha256').update(bytes).digest('hex');
      if (!bytes || sha256 !== chunk.sha256 || bytes.length !== chunk.size) {
        throw new SnapshotCorruptError(
          manifest.collection,
          manifest.version,
          file.path,
          key,
          { size: chunk.size, sha256: chunk.sha256 },
          bytes && { size: bytes.length, sha256: sha256! },
        );
      }
      return { path: file.path, offset: index * manifest.chunkSize, bytes };
    });
    const bytesFetched = fetched.reduce((s, f) => s + f.bytes.length, 0);

    // From here the served store is closed; every step is undone on failure.
    await served.store.close();
    const undo: Array<() => Promise<void>> = [];
    try {
      for (const path of plan.removed) {
        const abs = join(served.dir, path);
        const old = await readWhole(abs);
        await unlink(abs);
        undo.push(() => writeFile(abs, old));
      }
      for (const file of manifest.files) {
        const abs = join(served.dir, file.path);
        const before = await stat(abs).then(
          (s) => s.size,
          () => undefined,
        );
        if (before === undefined) {
          await mkdir(dirname(abs), { recursive: true });
          await writeFile(abs, '');
          undo.push(() => rm(abs, { force: true }));
        } else if (before !== file.size) {
          const tail =
            before > file.size ? await readRange(abs, file.size, before - file.size) : undefined;
          await truncate(abs, file.size);
          undo.push(async () => {
            await truncate(abs, before);
            if (tail) await writeAt(abs, file.size, tail);
          });
        }
      }
      for (const { path, offset, bytes } of fetched) {
        const abs = join(served.dir, path);
        const size = (await stat(abs)).size;
        const old =
          offset < size
            ? await readRange(abs, offset, Math.min(bytes.length, size - offset))
            : undefined;
        await writeAt(abs, offset, bytes);
        if (old) undo.push(() => writeAt(abs, offset, old));
      }
      const store = await this.#open(served.dir);
      this.#served = {
        dir: served.dir,
        manifest,
        fencingToken: token,
        store,
        fingerprint: await pin(served.dir),
      };
      return bytesFetched;
    } catch (err) {
      for (const step of undo.reverse()) await step();
      this.#served = {
        ...served,
        store: await this.#open(served.dir),
        fingerprint: await pin(served.dir),
      };
      throw err;
    }
  }

  #open(dir: string): Promise<ChromaStore> {
    // Every byte was verified against the manifest, which names what a compactor closed:
    // quick_check and the index sha256 would re-check what the sha256 already proves.
    return ChromaStore.open(dir, {
      integrityCheck: false,
      ...(this.#options.resultCacheBytes !== undefined
        ? { resultCacheBytes: this.#options.resultCacheBytes }
        : {}),
    });
  }

  /** True when the served directory still holds exactly what was verified (pinned fingerprint). */
  async #intact(served: Served): Promise<boolean> {
    try {
      const now = await fingerprint(served.dir);
      return (
        now.size === served.fingerprint.size &&
        [...now].every(([path, print]) => served.fingerprint.get(path) === print)
      );
    } catch {
      return false;
    }
  }
}

interface ChunkPlan {
  chunks: Array<{ file: ChunkedFile; index: number }>;
  removed: string[];
}

/** The chunks of `next` that differ from `served` at the same place, or undefined when patching does not pay. */
function changedChunks(served: SnapshotManifest, next: SnapshotManifest): ChunkPlan | undefined {
  if (served.formatVersion !== 2 || next.formatVersion !== 2) return undefined;
  if (served.chunkSize !== next.chunkSize) return undefined;
  const before = new Map(served.files.map((f) => [f.path, f]));
  const chunks: ChunkPlan['chunks'] = [];
  let bytes = 0;
  for (const file of next.files) {
    const old = before.get(file.path);
    file.chunks.forEach((c, index) => {
      if (old?.chunks[index]?.sha256 !== c.sha256) {
        chunks.push({ file, index });
        bytes += c.size;
      }
    });
  }
  const total = next.files.reduce((s, f) => s + f.size, 0);
  if (bytes > IN_PLACE_MAX_SHARE * total) return undefined;
  const paths = new Set(next.files.map((f) => f.path));
  return { chunks, removed: served.files.map((f) => f.path).filter((p) => !paths.has(p)) };
}

/** Pins every file's mtime two seconds back, then fingerprints (see local-cache.ts). */
async function pin(dir: string): Promise<Map<string, string>> {
  const pinned = new Date(Math.floor(Date.now() / 1000) * 1000 - 2000);
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) await utimes(join(entry.parentPath, entry.name), pinned, pinned);
  }
  return fingerprint(dir);
}

async function fingerprint(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const abs = join(entry.parentPath, entry.name);
    const s = await stat(abs);
    out.set(relative(dir, abs).split(sep).join('/'), `${s.size}:${s.mtimeMs}`);
  }
  return out;
}

async function readWhole(path: string): Promise<Buffer> {
  const size = (await stat(path)).size;
  return size === 0 ? Buffer.alloc(0) : readRange(path, 0, size);
}

function readRange(path: string, offset: number, size: number): Promise<Buffer> {
  // readChunk reads `size` bytes at index·chunkSize: one "chunk" of that size at that offset.
  return offset % size === 0
    ? readChunk(path, size, offset / size, size)
    : readAt(path, offset, size);
}

async function readAt(path: string, offset: number, size: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, offset);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function writeAt(path: string, offset: number, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, offset);
  } finally {
    await handle.close();
  }
}
