/**
 * The version store in S3: immutable manifests, the content-addressed blobs they name,
 * and the `latest.json` mirror (layout in `layout.ts`). Bytes move through
 * {@link ObjectStore} (verified S3 I/O) and {@link SnapshotAssembler} (verified
 * downloads); deltas through {@link DeltaTransfer}.
 *
 * Two rules make it safe to read while someone writes, in the spirit of Litestream's
 * replicas:
 * - a manifest is written only after every blob it names exists and is proven to hold
 *   the bytes it names, so a manifest that can be read is complete;
 * - every byte read back is checked against the manifest (sha256) before anything is
 *   opened; a mismatch removes the download and raises {@link SnapshotCorruptError}.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DeleteObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '@aws-lambda-powertools/logger';
import { METRIC, type CollectionName } from '@compaction/contracts';
import { chunkFile, chunkWrittenPages, readChunk, type WrittenPages } from './chunker.js';

/** Chunks kept from the parent on a written-pages claim that are re-hashed anyway. */
const PAGE_CLAIM_SPOT_CHECKS = 2;
import { mapLimit } from './concurrency.js';
import { DeltaTransfer } from './delta-transfer.js';
import { DigestTap } from './digest-tap.js';
import {
  SnapshotManifestError,
  SnapshotNotFoundError,
  SnapshotPublishError,
  type SnapshotCorruptError,
} from './errors.js';
import {
  blobKey,
  blobsPrefix,
  latestKey,
  manifestKey as manifestKeyOf,
  parseManifestKey,
  snapshotsPrefix,
} from './layout.js';
import {
  DEFAULT_CHUNK_SIZE,
  latestSchema,
  parseJson,
  parseSnapshotManifest,
  parseWith,
  snapshotManifestSchema,
  type ChunkedFile,
  type DeltaManifest,
  type Latest,
  type SnapshotFile,
  type SnapshotManifest,
  type SnapshotManifestInput,
} from './manifest.js';
import { count, type MetricsSink } from './metrics.js';
import { ChunkUploadMismatch, ObjectStore, type StoredObject } from './object-store.js';
import {
  SnapshotAssembler,
  type DownloadOptions,
  type DownloadResult,
} from './snapshot-assembler.js';

const MiB = 1024 * 1024;

export interface SnapshotRepositoryOptions {
  s3: S3Client;
  bucket: string;
  logger?: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /**
   * The metrics of the collection this repository serves: `CompactionCorruptSnapshots`
   * is counted when a download is refused, `CompactionPageClaimsRefuted` when a publish's
   * written-pages claim is refuted.
   */
  metrics?: MetricsSink;
  /** Requests in flight at once (chunk uploads and downloads, whole files). Default 8. */
  concurrency?: number;
  /** Chunk size of the format-2 versions it publishes. Default {@link DEFAULT_CHUNK_SIZE}. */
  chunkSize?: number;
  /** Multipart part size for whole-file uploads (format 1, deltas; ≥ 5 MiB). Default 8 MiB. */
  partSize?: number;
  /** Parts of one multipart upload in flight. Default 2. */
  partsInFlight?: number;
}

export interface PublishRequest {
  collection: CollectionName;
  /** A closed store directory: every regular file under it becomes part of the snapshot. */
  dir: string;
  manifest: SnapshotManifestInput;
  /**
   * The version `dir` was checked out at, and the files of `dir` still byte-identical
   * to it (see `LocalCache.unchangedFiles`): those keep the parent's chunk list without
   * being read. Only used when both versions are format 2 with the same chunk size.
   */
  parent?: {
    manifest: SnapshotManifest;
    unchanged: ReadonlySet<string>;
    /**
     * Files of `dir` that differ from the parent's only in these pages (chroma-core's
     * `pagesWrittenSinceOpen()` on a store opened on the checkout): only the chunks
     * holding them are read. The claim is spot-checked on a few other chunks; a wrong
     * one costs a full read of the file and is reported (`pageClaimsRefuted`).
     */
    writtenPages?: ReadonlyMap<string, WrittenPages>;
  };
  /**
   * Upload every blob even when S3 already has it: the legacy reference path's full
   * upload, kept so the incremental path can be compared with it. Default false.
   */
  uploadAll?: boolean;
}

export interface PublishResult {
  manifest: SnapshotManifest;
  manifestKey: string;
  /** Blob bytes uploaded (the manifest itself is not counted). */
  bytesUploaded: number;
  blobsUploaded: number;
  /** Blobs S3 already had, proven to hold the right bytes (ETag = MD5). */
  blobsSkipped: number;
  /** How many of the uploaded blobs went up as multipart uploads (format 1 only). */
  multipartUploads: number;
  /** Bytes read and hashed to list the files (unchanged files of the parent are not read). */
  bytesHashed: number;
  /** Files whose `writtenPages` claim a spot check refuted (they were read whole). */
  pageClaimsRefuted: string[];
  /** Bytes of the manifest written. */
  manifestBytes: number;
  /**
   * Where the time went, ms: listing and hashing the files, then waiting for the LIST
   * that proves reusable blobs (it runs meanwhile), uploading, writing the manifest.
   */
  timingsMs: { hash: number; list: number; upload: number; manifest: number };
}

/** One manifest found by {@link SnapshotRepository.listManifests}. */
export interface ManifestListing {
  version: string;
  manifestKey: string;
  size: number;
  lastModified: Date | undefined;
}

/** One blob found by {@link SnapshotRepository.listBlobs}. */
export interface BlobListing {
  sha256: string;
  key: string;
  size: number;
  lastModified: Date | undefined;
}

/** A blob to upload or to prove: the chunk (or whole file) and where its bytes are. */
interface BlobJob {
  sha256: string;
  md5: string | undefined;
  size: number;
  absPath: string;
  /** Chunk index in its file, or undefined for a whole-file (format 1) blob. */
  index: number | undefined;
}

/**
 * Publishes, lists, downloads and deletes snapshots of the vector stores.
 *
 * @example
 * const repo = new SnapshotRepository({ s3, bucket });
 * const { manifestKey } = await repo.publish({ collection: 'words', dir, manifest: {
 *   formatVersion: 2, collection: 'words', version, parentVersion, fencingToken: handle.token,
 *   createdAt: new Date().toISOString(), counts: { vectors }, messagesApplied } });
 * // …swap the pointer, then:
 * await repo.writeLatest('words', { version, manifestKey });
 * // a reader:
 * const manifest = await repo.readManifest(manifestKey);
 * await repo.download(manifest, '/tmp/words'); // verified, or SnapshotCorruptError
 */
export class SnapshotRepository {
  readonly bucket: string;
  readonly chunkSize: number;
  readonly #s3: S3Client;
  readonly #objects: ObjectStore;
  readonly #assembler: SnapshotAssembler;
  readonly #deltas: DeltaTransfer;
  readonly #logger: SnapshotRepositoryOptions['logger'];
  readonly #metrics: MetricsSink | undefined;
  readonly #concurrency: number;

  constructor(options: SnapshotRepositoryOptions) {
    this.bucket = options.bucket;
    this.#s3 = options.s3;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#concurrency = options.concurrency ?? 8;
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    const partSize = options.partSize ?? 8 * MiB;
    if (partSize < 5 * MiB) throw new RangeError('partSize must be at least 5 MiB (S3 minimum)');
    if (this.chunkSize % 4096 !== 0 || this.chunkSize > 5 * 1024 * MiB)
      throw new RangeError(
        'chunkSize must be a multiple of 4096 bytes (SQLite pages), at most 5 GiB',
      );
    this.#objects = new ObjectStore({
      s3: options.s3,
      bucket: options.bucket,
      partSize,
      partsInFlight: options.partsInFlight ?? 2,
    });
    this.#assembler = new SnapshotAssembler({
      objects: this.#objects,
      concurrency: this.#concurrency,
      logger: options.logger,
      metrics: options.metrics,
    });
    this.#deltas = new DeltaTransfer({
      objects: this.#objects,
      assembler: this.#assembler,
      concurrency: this.#concurrency,
    });
  }

  /**
   * Publishes the closed store in `dir` as a new immutable version: lists every file
   * (chunked, format 2 — unchanged files of the parent without reading them), uploads
   * the blobs S3 does not provably have, then writes the manifest. Does not move any
   * pointer: swap it (`PointerStore.swap`) and then {@link writeLatest}.
   *
   * An object already in S3 is reused only when its ETag is the MD5 the manifest
   * records for it (S3 computed it from the bytes it received; never the size alone):
   * one LIST of the collection's blobs proves every reused blob at once, whether it
   * belongs to the parent or not, so a blob overwritten with same-size garbage is
   * uploaded again instead of being named by the new version.
   */
  async publish(request: PublishRequest): Promise<PublishResult> {
    const { collection, dir } = request;
    const { version } = request.manifest;
    if (request.manifest.collection !== collection) {
      throw new SnapshotPublishError(
        collection,
        version,
        `manifest names collection ${request.manifest.collection}`,
      );
    }
    const started = performance.now();
    // The LIST that proves reusable blobs waits on S3 while the files are hashed.
    const inventoryPromise = request.uploadAll
      ? Promise.resolve(new Map<string, StoredObject>())
      : this.#inventory(collection);
    inventoryPromise.catch(() => undefined); // awaited below; never an unhandled rejection
    const paths = await listFiles(dir);
    const listed =
      request.manifest.formatVersion === 1
        ? await this.#listWholeFiles(dir, paths)
        : await this.#listChunkedFiles(dir, paths, request.parent);
    const hashedAt = performance.now();
    const manifest = parseWith(
      snapshotManifestSchema,
      {
        ...request.manifest,
        ...(request.manifest.formatVersion === 2 ? { chunkSize: this.chunkSize } : {}),
        files: listed.files,
      },
      undefined,
    );
    const key = manifestKeyOf(collection, version);

    // Identical chunks (and files) share one blob: each is proven or uploaded once.
    const unique = [...new Map(listed.blobs.map((b) => [b.sha256, b])).values()];
    const inventory = await inventoryPromise;
    const listedAt = performance.now();
    let bytesUploaded = 0;
    let blobsUploaded = 0;
    let multipartUploads = 0;
    await mapLimit(unique, this.#concurrency, async (blob) => {
      const existing = inventory.get(blob.sha256);
      if (
        existing &&
        blob.md5 !== undefined &&
        existing.etag === blob.md5 &&
        existing.size === blob.size
      )
        return;
      if (existing) {
        this.#logger?.warn('blob in S3 is not proven to hold its bytes; uploading it again', {
          key: existing.key,
          size: existing.size,
          etag: existing.etag,
          expected: { size: blob.size, md5: blob.md5 },
        });
      }
      const multipart = await this.#upload(collection, version, blob);
      bytesUploaded += blob.size;
      blobsUploaded += 1;
      if (multipart) multipartUploads += 1;
    });

    const uploadedAt = performance.now();
    // Written LAST: a manifest never names a blob that is not there yet.
    const body = JSON.stringify(manifest);
    if (!(await this.#objects.putJson(key, body, { ifNoneMatch: true })))
      throw new SnapshotPublishError(collection, version, `${key} already exists`);
    const result: PublishResult = {
      manifest,
      manifestKey: key,
      bytesUploaded,
      blobsUploaded,
      blobsSkipped: unique.length - blobsUploaded,
      multipartUploads,
      bytesHashed: listed.bytesHashed,
      pageClaimsRefuted: listed.refuted,
      manifestBytes: Buffer.byteLength(body),
      timingsMs: {
        hash: Math.round(hashedAt - started),
        list: Math.round(listedAt - hashedAt),
        upload: Math.round(uploadedAt - listedAt),
        manifest: Math.round(performance.now() - uploadedAt),
      },
    };
    this.#logger?.info('snapshot published', {
      collection,
      version,
      files: manifest.files.length,
      bytesUploaded,
      bytesHashed: listed.bytesHashed,
      blobsUploaded,
      blobsSkipped: result.blobsSkipped,
      timingsMs: result.timingsMs,
    });
    return result;
  }

  /** Reads and validates a manifest; {@link SnapshotNotFoundError} or {@link SnapshotManifestError}. */
  async readManifest(manifestKey: string): Promise<SnapshotManifest> {
    const named = parseManifestKey(manifestKey);
    if (!named) throw new SnapshotManifestError(manifestKey, 'not a manifest key');
    const json = await this.#objects.getText(manifestKey);
    if (json === undefined) throw new SnapshotNotFoundError(manifestKey);
    const manifest = parseSnapshotManifest(json, manifestKey);
    if (manifest.collection !== named.collection || manifest.version !== named.version) {
      throw new SnapshotManifestError(
        manifestKey,
        `describes ${manifest.collection}@${manifest.version}, not what its key names`,
      );
    }
    return manifest;
  }

  /** The `latest.json` mirror of `collection`, or undefined before the first publish. */
  async readLatest(collection: CollectionName): Promise<Latest | undefined> {
    const key = latestKey(collection);
    const json = await this.#objects.getText(key);
    return json === undefined ? undefined : parseWith(latestSchema, parseJson(json, key), key);
  }

  /** Mirrors the pointer for read-only consumers. Call only after a successful swap. */
  async writeLatest(collection: CollectionName, latest: Latest): Promise<void> {
    const body = parseWith(latestSchema, latest, latestKey(collection));
    await this.#objects.putJson(latestKey(collection), JSON.stringify(body), {
      cacheControl: 'no-cache',
    });
  }

  /** Every manifest of `collection`, oldest version first. */
  async listManifests(collection: CollectionName): Promise<ManifestListing[]> {
    const out: ManifestListing[] = [];
    for await (const object of this.#objects.list(snapshotsPrefix(collection))) {
      const named = parseManifestKey(object.key);
      if (!named || named.collection !== collection) continue;
      out.push({
        version: named.version,
        manifestKey: object.key,
        size: object.size,
        lastModified: object.lastModified,
      });
    }
    return out.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  }

  /** Every blob of `collection` (for pruning: delete those no retained manifest names). */
  async listBlobs(collection: CollectionName): Promise<BlobListing[]> {
    const prefix = blobsPrefix(collection);
    const out: BlobListing[] = [];
    for await (const object of this.#objects.list(prefix)) {
      out.push({
        sha256: object.key.slice(prefix.length),
        key: object.key,
        size: object.size,
        lastModified: object.lastModified,
      });
    }
    return out;
  }

  /**
   * The stored size of the blob `sha256` (one HEAD request), or undefined when it does
   * not exist. A cheap, size-independent presence check: the operator CLI runs it on
   * every blob of a version before pointing a collection back at it.
   */
  blobSize(collection: CollectionName, sha256: string): Promise<number | undefined> {
    return this.#objects.size(blobKey(collection, sha256));
  }

  /** Deletes one blob. Only for pruning, after checking no retained manifest names it. */
  async deleteBlob(collection: CollectionName, sha256: string): Promise<void> {
    await this.#objects.delete(blobKey(collection, sha256));
  }

  /**
   * Deletes blobs of `collection` with DeleteObjects, at most 1,000 keys per request
   * (S3's limit), one request after the other. Resolves with the blobs S3 reports
   * deleted (one already gone counts) and those it did not: its `Errors`, and any key
   * it reported neither way. Only for pruning, after checking no retained manifest
   * names them.
   *
   * @example
   * const { deleted, failed } = await repository.deleteBlobs('words', unreferenced);
   * if (failed.length > 0) throw new Error(`${failed.length} blob(s) not deleted`);
   */
  async deleteBlobs(
    collection: CollectionName,
    sha256s: readonly string[],
  ): Promise<{ deleted: string[]; failed: { sha256: string; reason: string }[] }> {
    const prefix = blobsPrefix(collection);
    const deleted: string[] = [];
    const failed: { sha256: string; reason: string }[] = [];
    for (let i = 0; i < sha256s.length; i += 1000) {
      const group = sha256s.slice(i, i + 1000);
      const wanted = new Set(group);
      const out = await this.#s3.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: group.map((sha256) => ({ Key: blobKey(collection, sha256) })) },
        }),
      );
      const reported = new Set<string>();
      for (const d of out.Deleted ?? []) {
        const sha256 = d.Key?.slice(prefix.length) ?? '';
        if (d.Key?.startsWith(prefix) && wanted.has(sha256) && !reported.has(sha256)) {
          reported.add(sha256);
          deleted.push(sha256);
        }
      }
      for (const e of out.Errors ?? []) {
        const sha256 = e.Key?.slice(prefix.length) ?? '';
        reported.add(sha256);
        failed.push({ sha256, reason: `${e.Code ?? 'Error'}: ${e.Message ?? 'no message'}` });
      }
      for (const sha256 of group) {
        if (!reported.has(sha256)) failed.push({ sha256, reason: 'not reported by S3' });
      }
    }
    return { deleted, failed };
  }

  /** Deletes one version's manifest. Only for pruning versions no pointer can return to. */
  async deleteManifest(collection: CollectionName, version: string): Promise<void> {
    await this.#objects.delete(manifestKeyOf(collection, version));
  }

  /**
   * Writes every file of `manifest` (either format) under `destDir` (which must not
   * exist yet, or be empty), checking every byte against the manifest. Resolves only
   * once every file is verified; on any failure `destDir` is removed, and a mismatch or
   * missing blob raises {@link SnapshotCorruptError}. With `options.seed` (a local
   * directory holding another version), chunks it has are copied from it, verified,
   * instead of downloaded.
   */
  async download(
    manifest: SnapshotManifest,
    destDir: string,
    options: DownloadOptions = {},
  ): Promise<DownloadResult> {
    // The manifest may not come from readManifest: validate (paths included) again.
    const where = manifestKeyOf(manifest.collection, manifest.version);
    const checked = parseWith(snapshotManifestSchema, manifest, where);
    return this.#assembler.assemble(
      checked,
      destDir,
      { collection: checked.collection, version: checked.version, where },
      options,
    );
  }

  /**
   * Uploads a delta, the producer's side of {@link downloadDelta} (see `DeltaTransfer`).
   *
   * @example
   * await store.exportSnapshot(dir);
   * await repository.uploadDelta(dir, 'deltas/run-7/words/');
   */
  uploadDelta(dir: string, s3Prefix: string): Promise<{ bytesUploaded: number }> {
    return this.#deltas.upload(dir, s3Prefix);
  }

  /** Downloads and verifies a delta (see `DeltaTransfer.download`). */
  downloadDelta(
    s3Prefix: string,
    destDir: string,
    options: DownloadOptions = {},
  ): Promise<{ bytesDownloaded: number; manifest: DeltaManifest }> {
    return this.#deltas.download(s3Prefix, destDir, options);
  }

  /** Format 1: each file one blob, hashed whole. */
  async #listWholeFiles(
    dir: string,
    paths: string[],
  ): Promise<{ files: SnapshotFile[]; blobs: BlobJob[]; bytesHashed: number; refuted: string[] }> {
    const files = await mapLimit(paths, this.#concurrency, async (path) => ({
      path,
      ...(await DigestTap.ofFile(join(dir, path))),
    }));
    const blobs = files.map((f) => ({
      sha256: f.sha256,
      // Whole files go up multipart and are never proven by an ETag: always uploaded.
      md5: undefined,
      size: f.size,
      absPath: join(dir, f.path),
      index: undefined,
    }));
    return { files, blobs, bytesHashed: files.reduce((s, f) => s + f.size, 0), refuted: [] };
  }

  /**
   * Format 2: each file a chunk list. A file the caller vouches for as unchanged since
   * the parent (same size, same chunk size) keeps the parent's list unread; any other
   * file is read and every chunk hashed, MD5s taken from the parent where known.
   */
  async #listChunkedFiles(
    dir: string,
    paths: string[],
    parent: PublishRequest['parent'],
  ): Promise<{ files: ChunkedFile[]; blobs: BlobJob[]; bytesHashed: number; refuted: string[] }> {
    const previous =
      parent?.manifest.formatVersion === 2 && parent.manifest.chunkSize === this.chunkSize
        ? new Map(parent.manifest.files.map((f) => [f.path, f]))
        : new Map<string, ChunkedFile>();
    const knownMd5 = new Map<string, string>();
    for (const f of previous.values()) for (const c of f.chunks) knownMd5.set(c.sha256, c.md5);
    let bytesHashed = 0;
    const refuted: string[] = [];
    const files = await mapLimit(paths, this.#concurrency, async (path) => {
      const abs = join(dir, path);
      const before = previous.get(path);
      if (before && parent!.unchanged.has(path) && (await stat(abs)).size === before.size)
        return before;
      const written = parent?.writtenPages?.get(path);
      if (before && written) {
        const listed = await chunkWrittenPages(
          abs,
          path,
          this.chunkSize,
          before,
          written,
          knownMd5,
          PAGE_CLAIM_SPOT_CHECKS,
        );
        bytesHashed += listed.bytesHashed;
        if (!listed.trusted) {
          refuted.push(path);
          if (this.#metrics) count(this.#metrics, METRIC.compactionPageClaimsRefuted);
          this.#logger?.warn('written-pages claim refuted by a spot check; file read whole', {
            path,
            pages: written.pages.size,
          });
        }
        return listed.file;
      }
      const file = await chunkFile(abs, path, this.chunkSize, knownMd5);
      bytesHashed += file.size;
      return file;
    });
    const blobs: BlobJob[] = [];
    for (const f of files) {
      f.chunks.forEach((c, index) =>
        blobs.push({
          sha256: c.sha256,
          md5: c.md5,
          size: c.size,
          absPath: join(dir, f.path),
          index,
        }),
      );
    }
    return { files, blobs, bytesHashed, refuted };
  }

  /** The collection's blobs in S3 by sha256, with their ETags (one LIST per 1,000). */
  async #inventory(collection: CollectionName): Promise<Map<string, StoredObject>> {
    const prefix = blobsPrefix(collection);
    const out = new Map<string, StoredObject>();
    for await (const o of this.#objects.list(prefix)) out.set(o.key.slice(prefix.length), o);
    return out;
  }

  /** Uploads one blob; true when it went up as a multipart upload. */
  async #upload(collection: CollectionName, version: string, blob: BlobJob): Promise<boolean> {
    const key = blobKey(collection, blob.sha256);
    if (blob.index === undefined || blob.md5 === undefined) {
      const { digest, multipart } = await this.#objects.putFile(key, blob.absPath);
      if (digest.sha256 !== blob.sha256 || digest.size !== blob.size) {
        // Best effort, as in ObjectStore.putChunk: the original error is what matters.
        await this.#objects.delete(key).catch(() => undefined);
        throw new SnapshotPublishError(
          collection,
          version,
          `${blob.absPath} changed while it was being published`,
        );
      }
      return multipart;
    }
    const bytes = await readChunk(blob.absPath, this.chunkSize, blob.index, blob.size);
    try {
      // Content-MD5 makes S3 refuse bytes that are not the ones listed; the ETag check
      // proves what it stored (and catches a chunk that changed since it was listed).
      await this.#objects.putChunk(key, bytes, blob.md5);
    } catch (err) {
      if (err instanceof ChunkUploadMismatch || isBadDigest(err)) {
        throw new SnapshotPublishError(
          collection,
          version,
          `${blob.absPath} chunk ${blob.index} changed while it was being published`,
        );
      }
      throw err;
    }
    return false;
  }
}

/** Regular files under `dir`, as sorted `/`-separated relative paths. Symlinks are refused. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.isSymbolicLink())
      throw new Error(`refusing to publish symlink ${join(entry.parentPath, entry.name)}`);
    if (entry.isFile())
      out.push(relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
  }
  return out.sort();
}

function isBadDigest(err: unknown): boolean {
  return (err as { name?: string } | undefined)?.name === 'BadDigest';
}

export type { SnapshotCorruptError };
export { parseS3Prefix } from './delta-transfer.js';
export type { DownloadOptions, DownloadProgress, DownloadResult } from './snapshot-assembler.js';
