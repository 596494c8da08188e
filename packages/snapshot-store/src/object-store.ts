/**
 * Verified S3 I/O: the only place that talks to S3 for snapshots and deltas. Reads
 * count and hash what they receive (through {@link DigestTap}); writes of chunks are
 * single-part PUTs with `Content-MD5`, which S3 checks on receipt, and are accepted only
 * when the ETag S3 answers equals that MD5 (an emulator that does not check
 * `Content-MD5` still answers the MD5 of what it stored, so the check holds there too).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { DigestTap } from './digest-tap.js';
import type { FileDigest } from './errors.js';

/** An object as a listing sees it. */
export interface StoredObject {
  key: string;
  size: number;
  /** The ETag without quotes: the MD5 of the bytes for a single-part upload (SSE-S3 or none). */
  etag: string | undefined;
  lastModified: Date | undefined;
}

export interface ObjectStoreOptions {
  s3: S3Client;
  bucket: string;
  /** Multipart part size for whole-file uploads (≥ 5 MiB). */
  partSize: number;
  /** Parts of one multipart upload in flight. */
  partsInFlight: number;
}

/** A chunk upload whose ETag does not match the MD5 that was sent. */
export class ChunkUploadMismatch extends Error {
  override readonly name = 'ChunkUploadMismatch';
  constructor(
    readonly key: string,
    readonly md5: string,
    readonly etag: string | undefined,
  ) {
    super(`S3 stored ${key} with ETag ${etag ?? '(none)'}, its MD5 is ${md5}`);
  }
}

/**
 * Reads, writes, lists and deletes objects of one bucket (reads may name another).
 *
 * @example
 * const objects = new ObjectStore({ s3, bucket, partSize: 8 * MiB, partsInFlight: 2 });
 * await objects.putChunk('words/blobs/<sha256>', bytes, md5Hex);
 */
export class ObjectStore {
  readonly bucket: string;
  readonly #s3: S3Client;
  readonly #partSize: number;
  readonly #partsInFlight: number;

  constructor(options: ObjectStoreOptions) {
    this.#s3 = options.s3;
    this.bucket = options.bucket;
    this.#partSize = options.partSize;
    this.#partsInFlight = options.partsInFlight;
  }

  /** The object as UTF-8 text, or undefined when it does not exist. */
  async getText(key: string, bucket: string = this.bucket): Promise<string | undefined> {
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The object's bytes, or undefined when it does not exist. The caller verifies them. */
  async getBytes(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    try {
      const out = await this.#s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
        signal ? { abortSignal: signal } : {},
      );
      return Buffer.from((await out.Body?.transformToByteArray()) ?? new Uint8Array());
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Streams one object into a new file `target` (never overwriting one), returning the
   * size and sha256 of what was written; undefined when the object does not exist.
   */
  async fetchTo(
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
    const tap = new DigestTap(onBytes);
    // 'wx': a file is created exactly once; a duplicate path can never overwrite a verified one.
    await pipeline(body, tap, createWriteStream(target, { flags: 'wx' }), { signal });
    return tap.digest();
  }

  /**
   * Uploads `bytes` as one single-part object with `Content-MD5` and checks that S3's
   * ETag is that MD5; otherwise deletes the object and throws {@link ChunkUploadMismatch}.
   */
  async putChunk(key: string, bytes: Buffer, md5Hex: string): Promise<void> {
    const out = await this.#s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes,
        ContentMD5: Buffer.from(md5Hex, 'hex').toString('base64'),
        ContentType: 'application/octet-stream',
      }),
    );
    const etag = unquote(out.ETag);
    if (etag !== md5Hex) {
      // Best effort: the compactor's role may not delete (only prune does), and a bad
      // object left behind is harmless — it is never reused unproven, and prune removes it.
      await this.delete(key).catch(() => undefined);
      throw new ChunkUploadMismatch(key, md5Hex, etag);
    }
  }

  /**
   * Uploads the file at `path` (multipart when large), hashing what goes up: the digest
   * returned is of the bytes S3 received, whatever happened to the file meanwhile.
   */
  async putFile(
    key: string,
    path: string,
    bucket: string = this.bucket,
  ): Promise<{ digest: FileDigest; multipart: boolean }> {
    const source = createReadStream(path);
    const tap = new DigestTap();
    source.on('error', (err) => tap.destroy(err));
    const upload = new Upload({
      client: this.#s3,
      params: {
        Bucket: bucket,
        Key: key,
        Body: source.pipe(tap),
        ContentType: 'application/octet-stream',
      },
      partSize: this.#partSize,
      queueSize: this.#partsInFlight,
    });
    await upload.done();
    return { digest: tap.digest(), multipart: upload.uploadId !== undefined };
  }

  /**
   * Writes a JSON document. With `ifNoneMatch`, S3 refuses to overwrite an existing
   * object and this resolves to false.
   */
  async putJson(
    key: string,
    body: string,
    options: { ifNoneMatch?: boolean; cacheControl?: string } = {},
  ): Promise<boolean> {
    try {
      await this.#s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          ...(options.cacheControl ? { CacheControl: options.cacheControl } : {}),
        }),
      );
      return true;
    } catch (err) {
      if (options.ifNoneMatch && httpStatus(err) === 412) return false;
      throw err;
    }
  }

  /** The stored size of `key` (one HEAD request), or undefined when it does not exist. */
  async size(key: string): Promise<number | undefined> {
    try {
      const out = await this.#s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return out.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Every object under `prefix` (one request per 1,000 objects). */
  async *list(prefix: string): AsyncGenerator<StoredObject> {
    for await (const page of paginateListObjectsV2(
      { client: this.#s3 },
      { Bucket: this.bucket, Prefix: prefix },
    )) {
      for (const o of page.Contents ?? []) if (o.Key) yield stored(o);
    }
  }

  async delete(key: string): Promise<void> {
    await this.#s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}

function stored(o: _Object): StoredObject {
  return {
    key: o.Key!,
    size: o.Size ?? 0,
    etag: unquote(o.ETag),
    lastModified: o.LastModified,
  };
}

const unquote = (etag: string | undefined): string | undefined => etag?.replace(/^"|"$/g, '');

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata
    ?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return name === 'NotFound' || name === 'NoSuchKey' || httpStatus(err) === 404;
}
