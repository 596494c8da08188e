/**
 * The snapshot repository in S3: content-addressed blobs, immutable manifests and
 * the `latest.json` mirror (layout in `layout.ts`).
 *
 * Two rules make it safe to read while someone writes, in the spirit of Litestream's
 * replicas:
 * - a manifest is written only after every blob it names exists, so a manifest that
 *   can be read is complete;
 * - every byte read back is checked against the manifest (size and sha256) before
 *   anything is opened; a mismatch removes the download and raises
 *   {@link SnapshotCorruptError}.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MANIFEST_FILE, SnapshotIntegrityError, verifySnapshot } from '@compaction/chroma-core';
import { METRIC } from '@compaction/contracts';
import type { CollectionName } from '@compaction/contracts';
import { count, type MetricsSink } from './metrics.js';
import {
  SnapshotCorruptError,
  SnapshotManifestError,
  SnapshotNotFoundError,
  SnapshotPublishError,
  type FileDigest,
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
  deltaManifestSchema,
  latestSchema,
  parseJson,
  parseSnapshotManifest,
  parseWith,
  snapshotManifestSchema,
  unsafePathReason,
  type DeltaManifest,
  type Latest,
  type SnapshotFile,
  type SnapshotManifest,
  type SnapshotManifestInput,
} from './manifest.js';
import { mapLimit } from './concurrency.js';

const MiB = 1024 * 1024;

export interface SnapshotRepositoryOptions {
  s3: S3Client;
  bucket: string;
  logger?: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /**
   * The metrics of the collection this repository serves: `CompactionCorruptSnapshots`
   * is counted when a download is refused.
   */
  metrics?: MetricsSink;
  /** Files transferred at once. Default 4. */
  concurrency?: number;
  /** Multipart part size for large blobs (≥ 5 MiB). Default 8 MiB: larger files go multipart. */
  partSize?: number;
  /** Parts of one multipart upload in flight. Default 2 (memory: concurrency × this × partSize). */
  partsInFlight?: number;
}

export interface PublishRequest {
  collection: CollectionName;
  /** A closed store directory: every regular file under it becomes part of the snapshot. */
  dir: string;
  manifest: SnapshotManifestInput;
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
  /** Blobs S3 already had (unchanged files). */
  blobsSkipped: number;
  /** How many of the uploaded blobs went up as multipart uploads. */
  multipartUploads: number;
}

/** Progress of a download: bytes written so far out of the total. */
export interface DownloadProgress {
  path: string;
  bytesDownloaded: number;
  totalBytes: number;
}

export interface DownloadOptions {
  onProgress?: (progress: DownloadProgress) => void;
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

/**
 * Publishes, lists, downloads and deletes snapshots of the vector stores.
 *
 * @example
 * const repo = new SnapshotRepository({ s3, bucket });
 * const { manifestKey } = await repo.publish({ collection: 'words', dir, manifest: {
 *   formatVersion: 1, collection: 'words', version, parentVersion, fencingToken: handle.token,
 *   createdAt: new Date().toISOString(), counts: { vectors }, messagesApplied } });
 * // …swap the pointer, then:
 * await repo.writeLatest('words', { version, manifestKey });
 * // a reader:
 * const manifest = await repo.readManifest(manifestKey);
 * await repo.download(manifest, '/tmp/words'); // verified, or SnapshotCorruptError
 */
export class SnapshotRepository {
  readonly bucket: string;
  readonly #s3: S3Client;
  readonly #logger: SnapshotRepositoryOptions['logger'];
  readonly #metrics: MetricsSink | undefined;
  readonly #concurrency: number;
  readonly #partSize: number;
  readonly #partsInFlight: number;

  constructor(options: SnapshotRepositoryOptions) {
    this.#s3 = options.s3;
    this.bucket = options.bucket;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#concurrency = options.concurrency ?? 4;
    this.#partSize = options.partSize ?? 8 * MiB;
    this.#partsInFlight = options.partsInFlight ?? 2;
    if (this.#partSize < 5 * MiB)
      throw new RangeError('partSize must be at least 5 MiB (S3 minimum)');
  }

  /**
   * Publishes the closed store in `dir` as a new immutable version: hashes every
   * file, uploads the blobs S3 does not have yet, then writes the manifest. Does not
   * move any pointer: swap it (`PointerStore.swap`) and then {@link writeLatest}.
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
    const paths = await listFiles(dir);
    const files: SnapshotFile[] = await mapLimit(paths, this.#concurrency, async (path) => ({
      path,
      ...(await digestFile(join(dir, path))),
    }));
    const manifest = parseWith(snapshotManifestSchema, { ...request.manifest, files }, undefined);
    const key = manifestKeyOf(collection, version);

    // Identical files share one blob: upload each digest once.
    const unique = [...new Map(files.map((f) => [f.sha256, f])).values()];
    const outcomes = await mapLimit(unique, this.#concurrency, (file) =>
      this.#ensureBlob(collection, version, join(dir, file.path), file, request.uploadAll ?? false),
    );
    const uploaded = outcomes.filter((o) => o.uploaded);
    const result: PublishResult = {
      manifest,
      manifestKey: key,
      bytesUploaded: uploaded.reduce((sum, o) => sum + o.size, 0),
      blobsUploaded: uploaded.length,
      blobsSkipped: outcomes.length - uploaded.length,
      multipartUploads: uploaded.filter((o) => o.multipart).length,
    };

    // Written LAST: a manifest never names a blob that is not there yet.
    try {
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify(manifest, null, 2),
          ContentType: 'application/json',
          // Manifests are immutable; S3 refuses to overwrite one (version ids are unique anyway).
          IfNoneMatch: '*',
        }),
      );
    } catch (err) {
      if (httpStatus(err) === 412)
        throw new SnapshotPublishError(collection, version, `${key} already exists`);
      throw err;
    }
    this.#logger?.info('snapshot published', {
      collection,
      version,
      files: files.length,
      bytesUploaded: result.bytesUploaded,
      blobsUploaded: result.blobsUploaded,
      blobsSkipped: result.blobsSkipped,
    });
    return result;
  }

  /** Reads and validates a manifest; {@link SnapshotNotFoundError} or {@link SnapshotManifestError}. */
  async readManifest(manifestKey: string): Promise<SnapshotManifest> {
    const named = parseManifestKey(manifestKey);
    if (!named) throw new SnapshotManifestError(manifestKey, 'not a manifest key');
    const json = await this.#getText(manifestKey);
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
    const json = await this.#getText(key);
    return json === undefined ? undefined : parseWith(latestSchema, parseJson(json, key), key);
  }

  /** Mirrors the pointer for read-only consumers. Call only after a successful swap. */
  async writeLatest(collection: CollectionName, latest: Latest): Promise<void> {
    const body = parseWith(latestSchema, latest, latestKey(collection));
    await this.#s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: latestKey(collection),
        Body: JSON.stringify(body),
        ContentType: 'application/json',
        CacheControl: 'no-cache',
      }),
    );
  }

  /** Every manifest of `collection`, oldest version first. */
  async listManifests(collection: CollectionName): Promise<ManifestListing[]> {
    const out: ManifestListing[] = [];
    for await (const object of this.#list(snapshotsPrefix(collection))) {
      const named = object.Key ? parseManifestKey(object.Key) : undefined;
      if (!named || named.collection !== collection) continue;
      out.push({
        version: named.version,
        manifestKey: object.Key!,
        size: object.Size ?? 0,
        lastModified: object.LastModified,
      });
    }
    return out.sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  }

  /** Every blob of `collection` (for pruning: delete those no retained manifest names). */
  async listBlobs(collection: CollectionName): Promise<BlobListing[]> {
    const prefix = blobsPrefix(collection);
    const out: BlobListing[] = [];
    for await (const object of this.#list(prefix)) {
      if (!object.Key) continue;
      out.push({
        sha256: object.Key.slice(prefix.length),
        key: object.Key,
        size: object.Size ?? 0,
        lastModified: object.LastModified,
      });
    }
    return out;
  }

  /**
   * The stored size of the blob `sha256` (one HEAD request), or undefined when it does
   * not exist. A cheap, size-independent presence check: the operator CLI runs it on
   * every file of a version before pointing a collection back at it.
   */
  blobSize(collection: CollectionName, sha256: string): Promise<number | undefined> {
    return this.#headSize(blobKey(collection, sha256));
  }

  /** Deletes one blob. Only for pruning, after checking no retained manifest names it. */
  async deleteBlob(collection: CollectionName, sha256: string): Promise<void> {
    await this.#s3.send(
      new DeleteObjectCommand({ Bucket: this.bucket, Key: blobKey(collection, sha256) }),
    );
  }

  /** Deletes one version's manifest. Only for pruning versions no pointer can return to. */
  async deleteManifest(collection: CollectionName, version: string): Promise<void> {
    await this.#s3.send(
      new DeleteObjectCommand({ Bucket: this.bucket, Key: manifestKeyOf(collection, version) }),
    );
  }

  /**
   * Writes every file of `manifest` under `destDir` (which must not exist yet, or be
   * empty), checking each file's size and sha256 while it streams. Resolves only
   * once every file is verified; on any failure `destDir` is removed, and a mismatch
   * or missing blob raises {@link SnapshotCorruptError}.
   */
  async download(
    manifest: SnapshotManifest,
    destDir: string,
    options: DownloadOptions = {},
  ): Promise<{ bytesDownloaded: number }> {
    // The manifest may not come from readManifest: validate (paths included) again.
    const checked = parseWith(
      snapshotManifestSchema,
      manifest,
      manifestKeyOf(manifest.collection, manifest.version),
    );
    return this.#downloadFiles(
      checked.files,
      destDir,
      (file) => ({ bucket: this.bucket, key: blobKey(checked.collection, file.sha256) }),
      {
        collection: checked.collection,
        version: checked.version,
        where: manifestKeyOf(checked.collection, checked.version),
      },
      options,
    );
  }

  /**
   * Uploads a delta, the producer's side of {@link downloadDelta}: `dir` is a
   * chroma-core snapshot directory (the output of `exportSnapshot`), verified here
   * before anything goes up, then uploaded file by file under `s3Prefix` with its
   * `manifest.json` LAST, so a reader never finds a manifest naming a missing file.
   *
   * @example
   * await store.exportSnapshot(dir);
   * await repository.uploadDelta(dir, 'deltas/run-7/words/');
   */
  async uploadDelta(dir: string, s3Prefix: string): Promise<{ bytesUploaded: number }> {
    const manifest = await verifySnapshot(dir);
    const { bucket, prefix } = parseS3Prefix(s3Prefix, this.bucket);
    const put = async (path: string): Promise<void> => {
      await new Upload({
        client: this.#s3,
        params: {
          Bucket: bucket,
          Key: `${prefix}${path}`,
          Body: createReadStream(join(dir, path)),
        },
        partSize: this.#partSize,
        queueSize: this.#partsInFlight,
      }).done();
    };
    await mapLimit(manifest.files, this.#concurrency, (file) => put(file.path));
    await put(MANIFEST_FILE);
    return { bytesUploaded: manifest.files.reduce((sum, f) => sum + f.size, 0) };
  }

  /**
   * Downloads a delta: a chroma-core snapshot directory (its files plus its own
   * `manifest.json`) uploaded file by file under `s3Prefix` (`s3://bucket/prefix`, or
   * a key prefix in this repository's bucket). Every listed file is verified against
   * that manifest while it streams ({@link SnapshotCorruptError}), then the directory
   * as a whole with chroma-core's `verifySnapshot` (format, no unlisted file;
   * {@link SnapshotManifestError}). `destDir` must not exist yet, or be empty; on any
   * failure it is removed.
   */
  async downloadDelta(
    s3Prefix: string,
    destDir: string,
    options: DownloadOptions = {},
  ): Promise<{ bytesDownloaded: number; manifest: DeltaManifest }> {
    const { bucket, prefix } = parseS3Prefix(s3Prefix, this.bucket);
    const where = `s3://${bucket}/${prefix}${MANIFEST_FILE}`;
    const json = await this.#getText(`${prefix}${MANIFEST_FILE}`, bucket);
    if (json === undefined) throw new SnapshotNotFoundError(where);
    const manifest = parseWith(deltaManifestSchema, parseJson(json, where), where);
    if (manifest.files.some((f) => f.path === MANIFEST_FILE)) {
      throw new SnapshotManifestError(
        where,
        `a delta manifest cannot list ${MANIFEST_FILE} itself`,
      );
    }
    const result = await this.#downloadFiles(
      manifest.files,
      destDir,
      (file) => ({ bucket, key: `${prefix}${file.path}` }),
      { collection: undefined, version: `s3://${bucket}/${prefix}`, where },
      options,
    );
    try {
      await writeFile(join(destDir, MANIFEST_FILE), json, { flag: 'wx' });
      // Every byte is already verified; this adds chroma-core's own idea of a valid
      // snapshot directory (manifest shape, collections), the one the store opens.
      await verifySnapshot(destDir);
    } catch (err) {
      await rm(destDir, { recursive: true, force: true });
      if (err instanceof SnapshotIntegrityError)
        throw new SnapshotManifestError(where, err.message);
      throw err;
    }
    return { bytesDownloaded: result.bytesDownloaded, manifest };
  }

  async #downloadFiles(
    files: readonly SnapshotFile[],
    destDir: string,
    locate: (file: SnapshotFile) => { bucket: string; key: string },
    /** Names the snapshot in errors; `where` is its manifest's location. */
    source: { collection: string | undefined; version: string; where: string },
    options: DownloadOptions,
  ): Promise<{ bytesDownloaded: number }> {
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

    const totalBytes = files.reduce((sum, f) => sum + f.size, 0);
    let bytesDownloaded = 0;
    const abort = new AbortController();
    try {
      await mapLimit(
        files,
        this.#concurrency,
        async (file) => {
          const { bucket, key } = locate(file);
          const target = resolve(root, file.path);
          await mkdir(dirname(target), { recursive: true });
          const actual = await this.#fetchTo(bucket, key, target, abort.signal, (n) => {
            bytesDownloaded += n;
            options.onProgress?.({ path: file.path, bytesDownloaded, totalBytes });
          });
          if (!actual || actual.size !== file.size || actual.sha256 !== file.sha256) {
            throw new SnapshotCorruptError(
              source.collection,
              source.version,
              file.path,
              key,
              digestOf(file),
              actual,
            );
          }
        },
        abort,
      );
    } catch (err) {
      abort.abort();
      // Nothing half-downloaded survives: the caller can never open it by mistake.
      await rm(root, { recursive: true, force: true });
      if (err instanceof SnapshotCorruptError) {
        this.#logger?.error('corrupt snapshot refused', { error: err });
        if (this.#metrics) count(this.#metrics, METRIC.compactionCorruptSnapshots);
      }
      throw err;
    }
    return { bytesDownloaded };
  }

  /** Streams one object to `target`, returning what was written; undefined when the object is missing. */
  async #fetchTo(
    bucket: string,
    key: string,
    target: string,
    signal: AbortSignal,
    onBytes: (n: number) => void,
  ): Promise<FileDigest | undefined> {
    let body: Readable;
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), {
        abortSignal: signal,
      });
      body = out.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        onBytes(chunk.length);
        callback(null, chunk);
      },
    });
    // 'wx': a file is created exactly once; a duplicate path can never overwrite a verified one.
    await pipeline(body, tap, createWriteStream(target, { flags: 'wx' }), { signal });
    return { size, sha256: hash.digest('hex') };
  }

  /** Uploads the blob of `file` unless S3 already has it. */
  async #ensureBlob(
    collection: CollectionName,
    version: string,
    path: string,
    file: SnapshotFile,
    uploadAll: boolean,
  ): Promise<{ uploaded: boolean; size: number; multipart: boolean }> {
    const key = blobKey(collection, file.sha256);
    const existing = uploadAll ? undefined : await this.#headSize(key);
    if (existing === file.size) return { uploaded: false, size: file.size, multipart: false };
    if (existing !== undefined) {
      this.#logger?.warn('blob has the wrong size; uploading it again', {
        key,
        expected: file.size,
        existing,
      });
    }

    // Hash again while uploading: the bytes that went up are exactly the ones named.
    const hash = createHash('sha256');
    let size = 0;
    const source = createReadStream(path);
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    source.on('error', (err) => tap.destroy(err));
    const upload = new Upload({
      client: this.#s3,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: source.pipe(tap),
        ContentType: 'application/octet-stream',
      },
      partSize: this.#partSize,
      queueSize: this.#partsInFlight,
    });
    await upload.done();
    const sha256 = hash.digest('hex');
    if (sha256 !== file.sha256 || size !== file.size) {
      await this.#s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      throw new SnapshotPublishError(
        collection,
        version,
        `${path} changed while it was being published`,
      );
    }
    return { uploaded: true, size, multipart: upload.uploadId !== undefined };
  }

  async #headSize(key: string): Promise<number | undefined> {
    try {
      const out = await this.#s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async #getText(key: string, bucket: string = this.bucket): Promise<string | undefined> {
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async *#list(prefix: string) {
    for await (const page of paginateListObjectsV2(
      { client: this.#s3 },
      { Bucket: this.bucket, Prefix: prefix },
    )) {
      yield* page.Contents ?? [];
    }
  }
}

/** Splits `s3://bucket/prefix` (or a bare key prefix in `defaultBucket`), with a trailing `/`. */
export function parseS3Prefix(
  s3Prefix: string,
  defaultBucket: string,
): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(s3Prefix);
  const [bucket, raw] = m ? [m[1]!, m[2]!] : [defaultBucket, s3Prefix];
  const prefix = raw.replace(/^\/+/, '');
  return { bucket, prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/` };
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

async function digestFile(path: string): Promise<FileDigest> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

const digestOf = (file: SnapshotFile): FileDigest => ({ size: file.size, sha256: file.sha256 });

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return name === 'NotFound' || name === 'NoSuchKey' || httpStatus(err) === 404;
}
