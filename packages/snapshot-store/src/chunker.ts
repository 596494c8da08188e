/**
 * Cuts a file into the fixed-size content-addressed chunks of a format-2 manifest.
 *
 * Every chunk's sha256 is computed (it names the chunk); its MD5 (what S3 reports as
 * the ETag, needed to upload it or to prove an existing object) is taken from `known`
 * when an earlier manifest already listed a chunk with that sha256, and computed only
 * for chunks never seen before — the few a small change produces.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { chunkedFileId, type Chunk, type ChunkedFile } from './manifest.js';

/**
 * The chunk list of the file at `absPath`, listed as `path`.
 *
 * @example
 * const file = await chunkFile('/tmp/store/chroma.sqlite3', 'chroma.sqlite3', 256 * 1024, parentMd5s);
 * file.chunks.length; // ceil(size / chunkSize)
 */
export async function chunkFile(
  absPath: string,
  path: string,
  chunkSize: number,
  known: ReadonlyMap<string, string>,
): Promise<ChunkedFile> {
  const handle = await open(absPath, 'r');
  const chunks: Chunk[] = [];
  let size = 0;
  try {
    const buffer = Buffer.allocUnsafe(chunkSize);
    for (;;) {
      const filled = await readFull(handle, buffer, size);
      if (filled === 0) break;
      const bytes = buffer.subarray(0, filled);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const md5 = known.get(sha256) ?? createHash('md5').update(bytes).digest('hex');
      chunks.push({ sha256, md5, size: filled });
      size += filled;
      if (filled < chunkSize) break;
    }
  } finally {
    await handle.close();
  }
  return { path, size, sha256: chunkedFileId(chunkSize, { size, chunks }), chunks };
}

/** Reads the bytes of chunk `index` of the file at `absPath`. */
export async function readChunk(
  absPath: string,
  chunkSize: number,
  index: number,
  size: number,
): Promise<Buffer> {
  const handle = await open(absPath, 'r');
  try {
    const buffer = Buffer.allocUnsafe(size);
    const filled = await readFull(handle, buffer, index * chunkSize);
    if (filled !== size)
      throw new Error(`${absPath}: chunk ${index} has ${filled} bytes, ${size} expected`);
    return buffer;
  } finally {
    await handle.close();
  }
}

/** Fills `buffer` from `position` until it is full or the file ends; the bytes read. */
async function readFull(
  handle: Awaited<ReturnType<typeof open>>,
  buffer: Buffer,
  position: number,
): Promise<number> {
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(
      buffer,
      filled,
      buffer.length - filled,
      position + filled,
    );
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}
