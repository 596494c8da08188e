/**
 * Writes snapshot files into a directory, every byte verified before it counts:
 * whole-file blobs (format 1, deltas) stream through a sha256 check; chunked files
 * (format 2) are assembled chunk by chunk, each chunk taken from a local copy of an
 * older version when it has it (a cache one version behind) and from S3 otherwise,
 * and checked against its sha256 either way. On any failure the directory is removed,
 * so nothing half-written can ever be opened.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Logger } from '@aws-lambda-powertools/logger';
import { METRIC } from '@compaction/contracts';
import { readChunk } from './chunker.js';
import { mapLimit } from './concurrency.js';
import { SnapshotCorruptError, SnapshotManifestError, type FileDigest } from './errors.js';
import { blobKey } from './layout.js';
import {
  unsafePathReason,
  type ChunkedFile,
  type SnapshotFile,
  type SnapshotManifest,
  type SnapshotManifestV2,
} from './manifest.js';
import { count, type MetricsSink } from './metrics.js';
import type { ObjectStore } from './object-store.js';

/** Progress of a download: bytes written so far out of the total. */
export interface DownloadProgress {
  path: string;
  bytesDownloaded: number;
  totalBytes: number;
}

export interface DownloadOptions {
  onProgress?: (progress: DownloadProgress) => void;
  /**
   * A local directory holding another version of the same collection and that
   * version's manifest: chunks it has are copied from it (and verified) instead of
   * downloaded.
   */
  seed?: { dir: string; manifest: SnapshotManifest };
}

export interface DownloadResult {
  /** Bytes read from S3. */
  bytesDownloaded: number;
  /** Bytes copied from the seed directory. */
  bytesReused: number;
}

/** Names the snapshot in errors; `where` is its manifest's location. */
export interface DownloadSource {
  collection: string | undefined;
  version: string;
  where: string;
}

/** Where a chunk's bytes are in a local directory. */
interface LocalChunk {
  path: string;
  index: number;
  chunkSize: number;
  size: number;
}

/**
 * Downloads and verifies snapshot files.
 *
 * @example
 * const assembler = new SnapshotAssembler({ objects, concurrency: 8 });
 * await assembler.assemble(manifest, '/tmp/words-new', { seed: { dir: cachedDir, manifest: cachedManifest } });
 */
export class SnapshotAssembler {
  readonly #objects: ObjectStore;
  readonly #concurrency: number;
  readonly #logger: Pick<Logger, 'error'> | undefined;
  readonly #metrics: MetricsSink | undefined;

  constructor(options: {
    objects: ObjectStore;
    concurrency: number;
    logger?: Pick<Logger, 'error'> | undefined;
    metrics?: MetricsSink | undefined;
  }) {
    this.#objects = options.objects;
    this.#concurrency = options.concurrency;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
  }

  /** Writes every file of `manifest` (either format) under `destDir` (absent or empty). */
  async assemble(
    manifest: SnapshotManifest,
    destDir: string,
    source: DownloadSource,
    options: DownloadOptions = {},
  ): Promise<DownloadResult> {
    if (manifest.formatVersion === 1) {
      return this.downloadFiles(
        manifest.files,
        destDir,
        (file) => ({
          bucket: this.#objects.bucket,
          key: blobKey(manifest.collection, file.sha256),
        }),
        source,
        options,
      );
    }
    return this.#assembleChunked(manifest, destDir, source, options);
  }

  /**
   * Streams whole-file objects into `destDir` (absent or empty), checking each file's
   * size and sha256 while it streams.
   */
  async downloadFiles(
    files: readonly SnapshotFile[],
    destDir: string,
    locate: (file: SnapshotFile) => { bucket: string; key: string },
    source: DownloadSource,
    options: DownloadOptions = {},
  ): Promise<DownloadResult> {
    const root = await this.#prepare(files, destDir, source);
    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    let bytesDownloaded = 0;
    await this.#guard(root, async (abort) => {
      await mapLimit(
        files,
        this.#concurrency,
        async (file) => {
          const { bucket, key } = locate(file);
          const target = resolve(root, file.path);
          await mkdir(dirname(target), { recursive: true });
          const actual = await this.#objects.fetchTo(bucket, key, target, abort.signal, (n) => {
            bytesDownloaded += n;
            options.onProgress?.({ path: file.path, bytesDownloaded, totalBytes });
          });
          if (!actual || actual.size !== file.size || actual.sha256 !== file.sha256) {
            throw new SnapshotCorruptError(
              source.collection,
              source.version,
              file.path,
              key,
              { size: file.size, sha256: file.sha256 },
              actual,
            );
          }
        },
        abort,
      );
    });
    return { bytesDownloaded, bytesReused: 0 };
  }

  async #assembleChunked(
    manifest: SnapshotManifestV2,
    destDir: string,
    source: DownloadSource,
    options: DownloadOptions,
  ): Promise<DownloadResult> {
    const root = await this.#prepare(manifest.files, destDir, source);
    const local = options.seed ? localChunks(options.seed.manifest) : new Map<string, LocalChunk>();
    const seedRoot = options.seed ? resolve(options.seed.dir) : undefined;
    const totalBytes = manifest.files.reduce((sum, f) => sum + f.size, 0);
    let bytesDownloaded = 0;
    let bytesReused = 0;
    const jobs: Array<{ file: ChunkedFile; index: number }> = [];
    for (const file of manifest.files)
      for (let index = 0; index < file.chunks.length; index++) jobs.push({ file, index });

    await this.#guard(root, async (abort) => {
      // Every file exists (empty ones too) before chunks are written into them at their offsets.
      for (const file of manifest.files) {
        const target = resolve(root, file.path);
        await mkdir(dirname(target), { recursive: true });
        await (await open(target, 'wx')).close();
      }
      await mapLimit(
        jobs,
        this.#concurrency,
        async ({ file, index }) => {
          const chunk = file.chunks[index]!;
          const key = blobKey(manifest.collection, chunk.sha256);
          let bytes: Buffer | undefined;
          const near = local.get(chunk.sha256);
          if (near && seedRoot) {
            bytes = await readChunk(
              join(seedRoot, near.path),
              near.chunkSize,
              near.index,
              near.size,
            ).catch(() => undefined);
            if (bytes && sha256(bytes) === chunk.sha256) bytesReused += bytes.length;
            else bytes = undefined; // the local copy changed: fall back to S3
          }
          if (!bytes) {
            const fetched = await this.#objects.getBytes(key, abort.signal);
            const actual: FileDigest | undefined = fetched && {
              size: fetched.length,
              sha256: sha256(fetched),
            };
            if (!fetched || actual!.size !== chunk.size || actual!.sha256 !== chunk.sha256) {
              throw new SnapshotCorruptError(
                source.collection,
                source.version,
                file.path,
                key,
                { size: chunk.size, sha256: chunk.sha256 },
                actual,
              );
            }
            bytes = fetched;
            bytesDownloaded += bytes.length;
            options.onProgress?.({ path: file.path, bytesDownloaded, totalBytes });
          }
          const handle = await open(resolve(root, file.path), 'r+');
          try {
            await handle.write(bytes, 0, bytes.length, index * manifest.chunkSize);
          } finally {
            await handle.close();
          }
        },
        abort,
      );
      for (const file of manifest.files) {
        const { size } = await stat(resolve(root, file.path));
        if (size !== file.size) {
          throw new SnapshotCorruptError(
            source.collection,
            source.version,
            file.path,
            source.where,
            { size: file.size, sha256: file.sha256 },
            { size, sha256: '(assembled)' },
          );
        }
      }
    });
    return { bytesDownloaded, bytesReused };
  }

  /** Checks every path stays inside `destDir`, which must be absent or empty. */
  async #prepare(
    files: readonly { path: string }[],
    destDir: string,
    source: DownloadSource,
  ): Promise<string> {
    const root = resolve(destDir);
    for (const file of files) {
      // Defence in depth (the schema already refuses these): never write outside root.
      const target = resolve(root, file.path);
      if (unsafePathReason(file.path) || !target.startsWith(root + sep)) {
        throw new SnapshotManifestError(source.where, `unsafe path ${JSON.stringify(file.path)}`);
      }
    }
    await mkdir(root, { recursive: true });
    if ((await readdir(root)).length > 0) throw new Error(`download target ${root} is not empty`);
    return root;
  }

  /** Runs `work`; on failure removes `root` (after every write in flight has settled). */
  async #guard(root: string, work: (abort: AbortController) => Promise<void>): Promise<void> {
    const abort = new AbortController();
    try {
      await work(abort);
    } catch (err) {
      abort.abort();
      await rm(root, { recursive: true, force: true });
      if (err instanceof SnapshotCorruptError) {
        this.#logger?.error('corrupt snapshot refused', { error: err });
        if (this.#metrics) count(this.#metrics, METRIC.compactionCorruptSnapshots);
      }
      throw err;
    }
  }
}

/** Where each chunk of `manifest` lies in a directory holding that version. */
function localChunks(manifest: SnapshotManifest): Map<string, LocalChunk> {
  const out = new Map<string, LocalChunk>();
  for (const file of manifest.files) {
    if ('chunks' in file) {
      file.chunks.forEach((c, index) =>
        out.set(c.sha256, {
          path: file.path,
          index,
          chunkSize: (manifest as SnapshotManifestV2).chunkSize,
          size: c.size,
        }),
      );
    } else if (file.size > 0) {
      // A whole file of format 1 is a chunk of a format-2 file when it is that file's only chunk.
      out.set(file.sha256, { path: file.path, index: 0, chunkSize: file.size, size: file.size });
    }
  }
  return out;
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
