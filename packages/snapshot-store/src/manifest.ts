/**
 * The snapshot manifest (`<collection>/snapshots/<version>/manifest.json`) and
 * snapshot version ids.
 *
 * A manifest is immutable and written after every blob it names, so a manifest that
 * exists is complete. Its `files` are what a reader writes under one directory to
 * get a store `ChromaStore.open` opens (design.md, "Reader contract").
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { COLLECTIONS, COMPACTION_PATHS } from '@compaction/contracts';
import type { Clock } from './clock.js';
import { SnapshotManifestError } from './errors.js';

/** The manifest format this code writes and reads. */
export const MANIFEST_FORMAT_VERSION = 1;

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

/** The manifest of one snapshot version. */
export const snapshotManifestSchema = z.object({
  formatVersion: z.literal(MANIFEST_FORMAT_VERSION),
  collection: z.enum(COLLECTIONS),
  version: versionIdSchema,
  /** The version this one was built from; null for the first. */
  parentVersion: versionIdSchema.nullable(),
  /** Token of the lock holder that built it. */
  fencingToken: z.int().positive(),
  /** ISO time. */
  createdAt: z.iso.datetime(),
  files: fileList,
  /** `vectors` always; other counts (e.g. per kind) as the builder likes. */
  counts: z.object({ vectors: z.int().nonnegative() }).catchall(z.number()),
  /** Change messages applied on top of the parent. */
  messagesApplied: z.int().nonnegative(),
  /** Content digest of the store (chroma-core), compared by the shadow path and `verify`. */
  storeDigest: z.string().optional(),
  /** Code path that built it. */
  compactionPath: z.enum(COMPACTION_PATHS).optional(),
});
export type SnapshotManifest = z.infer<typeof snapshotManifestSchema>;

/** What a caller of `publish` supplies: everything but the file list, which is computed. */
export type SnapshotManifestInput = Omit<SnapshotManifest, 'files'>;

/**
 * The `manifest.json` of a chroma-core snapshot directory (a delta). Only `files` is
 * relied on; chroma-core may add fields, which are kept.
 */
export const deltaManifestSchema = z.looseObject({ files: fileList });
export type DeltaManifest = z.infer<typeof deltaManifestSchema>;

/** `<collection>/latest.json`: the pointer mirrored for read-only consumers. */
export const latestSchema = z.object({ version: versionIdSchema, manifestKey: z.string().min(1) });
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
}

/**
 * Every blob `manifest` needs, each once. Prune keeps exactly these for every retained
 * version, and verification checks exactly these: the one place that knows how a
 * manifest's files map to blobs.
 */
export function manifestBlobs(manifest: Pick<SnapshotManifest, 'files'>): BlobRef[] {
  const out = new Map<string, BlobRef>();
  for (const file of manifest.files) out.set(file.sha256, { sha256: file.sha256, size: file.size });
  return [...out.values()];
}
