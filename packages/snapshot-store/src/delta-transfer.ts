/**
 * Deltas: chroma-core snapshot directories (the output of `exportSnapshot`) that the
 * embedding producer uploads file by file under an S3 prefix, with their own
 * `manifest.json` last, and the compactor downloads and verifies before merging.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, SnapshotIntegrityError, verifySnapshot } from '@compaction/chroma-core';
import { mapLimit } from './concurrency.js';
import { SnapshotManifestError, SnapshotNotFoundError } from './errors.js';
import { deltaManifestSchema, parseJson, parseWith, type DeltaManifest } from './manifest.js';
import type { ObjectStore } from './object-store.js';
import type { DownloadOptions, SnapshotAssembler } from './snapshot-assembler.js';

/**
 * Uploads and downloads deltas.
 *
 * @example
 * await store.exportSnapshot(dir);
 * await deltas.upload(dir, 'deltas/run-7/words/');
 * await deltas.download('s3://bucket/deltas/run-7/words/', '/tmp/delta-7');
 */
export class DeltaTransfer {
  readonly #objects: ObjectStore;
  readonly #assembler: SnapshotAssembler;
  readonly #concurrency: number;

  constructor(options: {
    objects: ObjectStore;
    assembler: SnapshotAssembler;
    concurrency: number;
  }) {
    this.#objects = options.objects;
    this.#assembler = options.assembler;
    this.#concurrency = options.concurrency;
  }

  /**
   * Verifies the chroma-core snapshot directory `dir`, then uploads it file by file
   * under `s3Prefix` with its `manifest.json` LAST, so a reader never finds a manifest
   * naming a missing file.
   */
  async upload(dir: string, s3Prefix: string): Promise<{ bytesUploaded: number }> {
    const manifest = await verifySnapshot(dir);
    const { bucket, prefix } = parseS3Prefix(s3Prefix, this.#objects.bucket);
    const put = (path: string) =>
      this.#objects.putFile(`${prefix}${path}`, join(dir, path), bucket);
    await mapLimit(manifest.files, this.#concurrency, (file) => put(file.path));
    await put(MANIFEST_FILE);
    return { bytesUploaded: manifest.files.reduce((sum, f) => sum + f.size, 0) };
  }

  /**
   * Downloads the delta under `s3Prefix` into `destDir` (absent or empty): every listed
   * file verified against the delta's manifest while it streams
   * (`SnapshotCorruptError`), then the directory as a whole with chroma-core's
   * `verifySnapshot` ({@link SnapshotManifestError}). On failure `destDir` is removed.
   */
  async download(
    s3Prefix: string,
    destDir: string,
    options: DownloadOptions = {},
  ): Promise<{ bytesDownloaded: number; manifest: DeltaManifest }> {
    const { bucket, prefix } = parseS3Prefix(s3Prefix, this.#objects.bucket);
    const where = `s3://${bucket}/${prefix}${MANIFEST_FILE}`;
    const json = await this.#objects.getText(`${prefix}${MANIFEST_FILE}`, bucket);
    if (json === undefined) throw new SnapshotNotFoundError(where);
    const manifest = parseWith(deltaManifestSchema, parseJson(json, where), where);
    if (manifest.files.some((f) => f.path === MANIFEST_FILE)) {
      throw new SnapshotManifestError(
        where,
        `a delta manifest cannot list ${MANIFEST_FILE} itself`,
      );
    }
    const { bytesDownloaded } = await this.#assembler.downloadFiles(
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
    return { bytesDownloaded, manifest };
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
