/**
 * The snapshot manifest (`<collection>/snapshots/<version>/manifest.json`) and
 * snapshot version ids.
 *
 * A manifest is immutable and written after every blob it names, so a manifest that
 * exists is complete. Its `files` are what a reader writes under one directory to
 * get a store `ChromaStore.open` opens (design.md, "Reader contract").
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { COLLECTIONS, COMPACTION_PATHS } from '@compaction/contracts';
import type { Clock } from './clock.js';
import { SnapshotManifestError } from './errors.js';

/**
 * The manifest format this code writes: 2, files as content-addressed chunks. Format 1
 * (each file one whole-file blob) is still read, downloaded and verified: versions
 * published before chunks existed stay live and can be rolled back to.
 */
export const MANIFEST_FORMAT_VERSION = 2;

/**
 * Default chunk size of format 2: 256 KiB = 64 SQLite pages. Chosen by measurement
 * (README, "Chunks"): a one-row change touches 3–6 pages spread over the file, so the
 * upload is a few chunks; smaller chunks mean more objects to list and a longer manifest.
 */
export const DEFAULT_CHUNK_SIZE = 256 * 1024;

const VERSION_ID_RE = /^(\d{12})-(\d{8}T\d{6}Z)-([0-9a-f]{4})$/;
const MAX_TOKEN = 999_999_999_999;

/**
 * A new snapshot version id: `<12-digit fencing token>-<UTC yyyymmddThhmmssZ>-<4 hex>`,
 * e.g. `000000000042-20250301T101500Z-9f3c`. Ids sort (as strings) in publish order
 * because fencing tokens strictly increase from one lock holder to the next; the time
 * is for humans, the random suffix keeps two publishes of one holder apart.
 *
 * @example
 * newVersionId(handle.token, clock) // '000000000007-20250301T101500Z-0b1e'
 */
export function newVersionId(fencingToken: number, clock: Clock): string {
  if (!Number.isSafeInteger(fencingToken) || fencingToken < 1 || fencingToken > MAX_TOKEN) {
    throw new RangeError(`fencing token ${fencingToken} must be an integer in 1..${MAX_TOKEN}`);
  }
  const stamp = new Date(clock.now())
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `${String(fencingToken).padStart(12, '0')}-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** The parts of a version id, or undefined when `version` is not one. */
export function parseVersionId(
  version: string,
): { fencingToken: number; createdAt: Date } | undefined {
  const m = VERSION_ID_RE.exec(version);
  if (!m) return undefined;
  const t = m[2]!;
  const iso = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`;
  return { fencingToken: Number(m[1]), createdAt: new Date(iso) };
}

/**
 * Why `path` is not a safe relative file path inside a snapshot directory, or
 * undefined when it is. Manifests come from S3, so a path must never be able to
 * point outside the directory it is written to (`../`, absolute, drive letters).
 */
export function unsafePathReason(path: string): string | undefined {
  if (path.length === 0) return 'empty path';
  if (path.includes('\0')) return 'NUL byte in path';
  if (path.includes('\\')) return 'backslash in path (paths use /)';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'absolute path';
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return `path segment "${segment}"`;
  }
  return undefined;
}

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lower-case hex digits');

const safePath = z.string().superRefine((path, ctx) => {
  const reason = unsafePathReason(path);
  if (reason)
    ctx.addIssue({ code: 'custom', message: `unsafe path ${JSON.stringify(path)}: ${reason}` });
});

/** One file of a snapshot: where it goes and what its bytes are. */
export const snapshotFileSchema = z.object({
  path: safePath,
  size: z.int().nonnegative(),
  sha256: sha256Hex,
});
export type SnapshotFile = z.infer<typeof snapshotFileSchema>;

const fileList = z.array(snapshotFileSchema).superRefine((files, ctx) => {
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path))
      ctx.addIssue({ code: 'custom', message: `duplicate path ${JSON.stringify(f.path)}` });
    seen.add(f.path);
  }
});

/** A snapshot version id (see {@link newVersionId}). */
export const versionIdSchema = z.string().regex(VERSION_ID_RE, 'not a snapshot version id');

const md5Hex = z.string().regex(/^[0-9a-f]{32}$/, 'md5 must be 32 lower-case hex digits');

/**
 * One chunk of a format-2 file: its bytes are the blob `<collection>/blobs/<sha256>`.
 * `md5` is what S3 reports as the ETag of a single-part upload of those bytes: it is
 * sent as `Content-MD5` on upload and is how an object already in S3 is proven to hold
 * exactly these bytes before a new version reuses it.
 */
export const chunkSchema = z.object({
  sha256: sha256Hex,
  md5: md5Hex,
  size: z.int().positive(),
});
export type Chunk = z.infer<typeof chunkSchema>;

/**
 * A file of a format-2 manifest: chunk `i` holds bytes `[i·chunkSize, (i+1)·chunkSize)`.
 * `sha256` names the file's content: for a file of at most one chunk, the sha256 of its
 * bytes (so it is also its blob's name, as in format 1); for a longer file, the sha256
 * of its chunk list ({@link chunkListId}), which is never a blob name. Equal `sha256`
 * ⇔ equal bytes, in both formats.
 */
export const chunkedFileSchema = snapshotFileSchema.extend({ chunks: z.array(chunkSchema) });
export type ChunkedFile = z.infer<typeof chunkedFileSchema>;

/** The sha256 naming a file of several chunks: over the chunk size and the chunks' sha256s. */
export function chunkListId(chunkSize: number, chunks: readonly Pick<Chunk, 'sha256'>[]): string {
  const hash = createHash('sha256').update(`chunks:${chunkSize}:`);
  for (const c of chunks) hash.update(c.sha256);
  return hash.digest('hex');
}

/** The `sha256` a format-2 file entry must carry (see {@link chunkedFileSchema}). */
export function chunkedFileId(
  chunkSize: number,
  file: Pick<ChunkedFile, 'size' | 'chunks'>,
): string {
  if (file.chunks.length === 0) return EMPTY_SHA256;
  if (file.chunks.length === 1) return file.chunks[0]!.sha256;
  return chunkListId(chunkSize, file.chunks);
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** Why `file`'s chunks do not tile it at `chunkSize`, or undefined when they do. */
function chunkLayoutProblem(chunkSize: number, file: ChunkedFile): string | undefined {
  const expected = Math.ceil(file.size / chunkSize);
  if (file.chunks.length !== expected)
    return `${file.path}: ${file.chunks.length} chunks, ${expected} expected`;
  for (let i = 0; i < file.chunks.length; i++) {
    const want = Math.min(chunkSize, file.size - i * chunkSize);
    if (file.chunks[i]!.size !== want)
      return `${file.path}: chunk ${i} has ${file.chunks[i]!.size} bytes, ${want} expected`;
  }
  if (file.sha256 !== chunkedFileId(chunkSize, file))
    return `${file.path}: sha256 does not name its chunks`;
  return undefined;
}

const manifestFields = {
  collection: z.enum(COLLECTIONS),
  version: versionIdSchema,
  /** The version this one was built from; null for the first. */
  parentVersion: versionIdSchema.nullable(),
  /** Token of the lock holder that built it. */
  fencingToken: z.int().positive(),
  /** ISO time. */
  createdAt: z.iso.datetime(),
  /** `vectors` always; other counts (e.g. per kind) as the builder likes. */
  counts: z.object({ vectors: z.int().nonnegative() }).catchall(z.number()),
  /** Change messages applied on top of the parent. */
  messagesApplied: z.int().nonnegative(),
  /** Content digest of the store (chroma-core), compared by the shadow path and `verify`. */
  storeDigest: z.string().optional(),
  /** Code path that built it. */
  compactionPath: z.enum(COMPACTION_PATHS).optional(),
};

/** Format 1: every file is one whole-file blob named by its sha256. */
export const snapshotManifestV1Schema = z.object({
  formatVersion: z.literal(1),
  ...manifestFields,
  files: fileList,
});
export type SnapshotManifestV1 = z.infer<typeof snapshotManifestV1Schema>;

/** Format 2: every file is a list of fixed-size content-addressed chunks. */
export const snapshotManifestV2Schema = z
  .object({
    formatVersion: z.literal(2),
    ...manifestFields,
    /** Bytes per chunk (a multiple of SQLite's 4096-byte page); the last chunk of a file may be shorter. */
    chunkSize: z.int().positive().multipleOf(4096),
    files: z.array(chunkedFileSchema),
  })
  .superRefine((m, ctx) => {
    const seen = new Set<string>();
    for (const f of m.files) {
      if (seen.has(f.path))
        ctx.addIssue({ code: 'custom', message: `duplicate path ${JSON.stringify(f.path)}` });
      seen.add(f.path);
      const problem = chunkLayoutProblem(m.chunkSize, f);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }
  });
export type SnapshotManifestV2 = z.infer<typeof snapshotManifestV2Schema>;

/** The manifest of one snapshot version, in either format. */
export const snapshotManifestSchema = z.discriminatedUnion('formatVersion', [
  snapshotManifestV1Schema,
  snapshotManifestV2Schema,
]);
export type SnapshotManifest = z.infer<typeof snapshotManifestSchema>;

/**
 * What a caller of `publish` supplies: everything but the file list (and chunk size),
 * which publishing computes. `formatVersion` 2 unless a format-1 version is wanted.
 */
export type SnapshotManifestInput = Omit<SnapshotManifestV1, 'files' | 'formatVersion'> & {
  formatVersion: 1 | 2;
};

/**
 * The `manifest.json` of a chroma-core snapshot directory (a delta). Only `files` is
 * relied on; chroma-core may add fields, which are kept.
 */
export const deltaManifestSchema = z.looseObject({ files: fileList });
export type DeltaManifest = z.infer<typeof deltaManifestSchema>;

/** `<collection>/latest.json`: the pointer mirrored for read-only consumers. */
export const latestSchema = z.object({
  version: versionIdSchema,
  manifestKey: z.string().min(1),
  /**
   * The pointer's fencing token when this was written (absent in files written before
   * it existed). S3 cannot refuse a late write on our table's fence, so readers do: a
   * reader never follows a `latest.json` whose token is lower than the one it serves.
   */
  fencingToken: z.int().positive().optional(),
});
export type Latest = z.infer<typeof latestSchema>;

/**
 * Validates `raw` against `schema`, throwing {@link SnapshotManifestError} (naming
 * `key`) with every problem found.
 */
export function parseWith<T>(schema: z.ZodType<T>, raw: unknown, key: string | undefined): T {
  const result = schema.safeParse(raw);
  if (!result.success) throw new SnapshotManifestError(key, z.prettifyError(result.error));
  return result.data;
}

/** Parses a manifest's bytes (JSON) and validates them. */
export function parseSnapshotManifest(json: string, key?: string): SnapshotManifest {
  return parseWith(snapshotManifestSchema, parseJson(json, key), key);
}

/** `JSON.parse` that throws {@link SnapshotManifestError} instead of a SyntaxError. */
export function parseJson(json: string, key: string | undefined): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    throw new SnapshotManifestError(key, `not JSON: ${(err as Error).message}`);
  }
}

/** One blob a manifest needs: its content address and its size. */
export interface BlobRef {
  sha256: string;
  size: number;
  /** The first file that needs it (for messages). */
  path: string;
}

/**
 * Every blob `manifest` needs, each once. Prune keeps exactly these for every retained
 * version, and verification checks exactly these: the one place that knows how a
 * manifest's files map to blobs.
 */
export function manifestBlobs(
  manifest: Pick<SnapshotManifestV1, 'files'> | Pick<SnapshotManifestV2, 'files'>,
): BlobRef[] {
  const out = new Map<string, BlobRef>();
  for (const file of manifest.files) {
    if ('chunks' in file) {
      for (const c of file.chunks) {
        if (!out.has(c.sha256))
          out.set(c.sha256, { sha256: c.sha256, size: c.size, path: file.path });
      }
    } else if (!out.has(file.sha256)) {
      out.set(file.sha256, { sha256: file.sha256, size: file.size, path: file.path });
    }
  }
  return [...out.values()];
}

/** Files every store directory has (chroma-core's on-disk format). */
export const STORE_FILES = ['chroma.sqlite3', 'vectors.sqlite3'] as const;

/**
 * Why `manifest` cannot describe a store chroma-core would open as what it claims, or
 * an empty list: a required file is missing, or it claims vectors but lists no HNSW
 * index (with its sidecar). A manifest that parses is not enough — `{ files: [] }` would
 * open as an empty store and be published as a 0-vector version. Every verify mode,
 * the compactor's checkout and the reader refuse such a manifest before downloading.
 */
export function storeFormatProblems(
  manifest: Pick<SnapshotManifest, 'files' | 'counts'>,
): string[] {
  const paths = new Set(manifest.files.map((f) => f.path));
  const problems = STORE_FILES.filter((p) => !paths.has(p)).map(
    (p) => `the manifest lists no ${p} (every store has one)`,
  );
  if (manifest.counts.vectors > 0) {
    const indexes = [...paths].filter((p) => /^index\/[^/]+\.hnsw$/.test(p));
    if (indexes.length === 0) {
      problems.push(
        `the manifest claims ${manifest.counts.vectors} vectors but lists no HNSW index (index/<uuid>.hnsw)`,
      );
    }
    for (const index of indexes) {
      if (!paths.has(`${index}.json`)) problems.push(`${index} is listed without its sidecar`);
    }
  }
  return problems;
}
