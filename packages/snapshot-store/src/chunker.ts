/**
 * Cuts a file into the fixed-size content-addressed chunks of a format-2 manifest.
 *
 * Every chunk's sha256 is computed (it names the chunk); its MD5 (what S3 reports as
 * the ETag, needed to upload it or to prove an existing object) is taken from `known`
 * when an earlier manifest already listed a chunk with that sha256, and computed only
 * for chunks never seen before — the few a small change produces.
 */
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
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

/** Pages of a database file written since a known version of it (1-based page numbers). */
export interface WrittenPages {
  pageSize: number;
  pages: ReadonlySet<number>;
}

/**
 * The chunk list of a file that, apart from `written` pages, is byte-identical to
 * `before` (the same file in the parent version): only the chunks holding a written
 * page, the chunks past the parent's end and a last chunk whose size changed are read
 * and hashed; the others keep the parent's entries.
 *
 * The claim is spot-checked: `spotChecks` chunks kept from the parent, picked at
 * random, are read and hashed too. When one differs the claim was wrong, and the whole
 * file is hashed instead (`trusted: false`, for the caller to report) — a wrong claim
 * costs time, never a wrong manifest.
 *
 * @example
 * const { file } = await chunkWrittenPages(abs, 'chroma.sqlite3', 256 * 1024, parentFile,
 *   { pageSize: 4096, pages: new Set([1, 77]) }, parentMd5s, 2);
 */
export async function chunkWrittenPages(
  absPath: string,
  path: string,
  chunkSize: number,
  before: ChunkedFile,
  written: WrittenPages,
  known: ReadonlyMap<string, string>,
  spotChecks: number,
): Promise<{ file: ChunkedFile; bytesHashed: number; trusted: boolean }> {
  const size = (await stat(absPath)).size;
  const count = Math.ceil(size / chunkSize);
  const dirty = new Set<number>();
  for (const page of written.pages) {
    const first = Math.floor(((page - 1) * written.pageSize) / chunkSize);
    const last = Math.floor((page * written.pageSize - 1) / chunkSize);
    for (let i = first; i <= last; i++) dirty.add(i);
  }
  const chunkBytes = (i: number) => Math.min(chunkSize, size - i * chunkSize);
  const kept: number[] = [];
  for (let i = 0; i < count; i++) {
    const parent = before.chunks[i];
    if (!parent || parent.size !== chunkBytes(i)) dirty.add(i);
    else if (!dirty.has(i)) kept.push(i);
  }
  const checks = new Set<number>();
  while (checks.size < Math.min(spotChecks, kept.length))
    checks.add(kept[Math.floor(Math.random() * kept.length)]!);

  const handle = await open(absPath, 'r');
  let bytesHashed = 0;
  try {
    const buffer = Buffer.allocUnsafe(chunkSize);
    const hash = async (i: number): Promise<Chunk> => {
      const bytes = buffer.subarray(0, chunkBytes(i));
      if ((await readFull(handle, bytes, i * chunkSize)) !== bytes.length)
        throw new Error(`${absPath}: chunk ${i} is short`);
      bytesHashed += bytes.length;
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const md5 = known.get(sha256) ?? createHash('md5').update(bytes).digest('hex');
      return { sha256, md5, size: bytes.length };
    };
    for (const i of checks) {
      if ((await hash(i)).sha256 !== before.chunks[i]!.sha256) {
        const file = await chunkFile(absPath, path, chunkSize, known);
        return { file, bytesHashed: bytesHashed + file.size, trusted: false };
      }
    }
    const chunks: Chunk[] = [];
    for (let i = 0; i < count; i++) chunks.push(dirty.has(i) ? await hash(i) : before.chunks[i]!);
    const file = { path, size, sha256: chunkedFileId(chunkSize, { size, chunks }), chunks };
    return { file, bytesHashed, trusted: true };
  } finally {
    await handle.close();
  }
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
