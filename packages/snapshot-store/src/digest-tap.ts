/**
 * The one streaming sha256 of the package: every byte that crosses S3 in either
 * direction, and every local file that is named by its content, is counted and hashed
 * by a {@link DigestTap} as it passes.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import type { FileDigest } from './errors.js';

/**
 * A pass-through stream that hashes (sha256) and counts what flows through it.
 *
 * @example
 * const tap = new DigestTap();
 * await pipeline(body, tap, createWriteStream(target));
 * tap.digest(); // { size, sha256 }
 */
export class DigestTap extends Transform {
  readonly #hash: Hash = createHash('sha256');
  readonly #onBytes: ((n: number) => void) | undefined;
  #size = 0;

  constructor(onBytes?: (n: number) => void) {
    super();
    this.#onBytes = onBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    this.#onBytes?.(chunk.length);
    callback(null, chunk);
  }

  /** Size and sha256 of everything that went through (call once, at the end). */
  digest(): FileDigest {
    return { size: this.#size, sha256: this.#hash.digest('hex') };
  }

  /** Size and sha256 of the file at `path`. */
  static async ofFile(path: string): Promise<FileDigest> {
    const tap = new DigestTap();
    for await (const _ of createReadStream(path).pipe(tap)) {
      // bytes are hashed as they pass; nothing else to do with them
    }
    return tap.digest();
  }
}
