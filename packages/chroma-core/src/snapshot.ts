/**
 * Snapshots: a store directory plus `manifest.json`
 * `{ formatVersion, createdAt, files: [{ path, size, sha256 }], collections: [{ name, count, dimension, space }] }`.
 *
 * Invariant (enforced by `verifySnapshot`): a snapshot directory holds exactly the
 * files its manifest lists, byte for byte. An unlisted file is an error, not noise —
 * a stray `chroma.sqlite3-journal` or index file would change what `ChromaStore.open`
 * sees, so it must not pass verification.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import {
  FORMAT_VERSION,
  INDEX_DIR,
  MANIFEST_FILE,
  SQLITE_FILE,
  VECTORS_FILE,
} from './constants.js';
import { isOpenDirectory, type StoreCore } from './core.js';
import { isCorruption } from './database.js';
import {
  CorruptDatabaseError,
  InvalidArgumentError,
  InvalidOperationError,
  SnapshotIntegrityError,
} from './errors.js';
import type { RecordTable } from './records.js';
import type { SnapshotCollectionEntry, SnapshotFileEntry, SnapshotManifest } from './types.js';
import { indexPaths } from './vector-index.js';

const SPACES: ReadonlySet<string> = new Set(['cosine', 'l2', 'ip']);
const SHA256_RE = /^[0-9a-f]{64}$/;

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every regular file under `dir` except the manifest, as sorted `/`-separated relative paths. */
async function listFiles(dir: string, onOther?: (path: string) => never): Promise<string[]> {
  const out: string[] = [];
  const walk = async (folder: string): Promise<void> => {
    for (const entry of await readdir(folder, { withFileTypes: true })) {
      const full = join(folder, entry.name);
      const rel = relative(dir, full).split(sep).join('/');
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        if (rel !== MANIFEST_FILE) out.push(rel);
      } else if (onOther) onOther(rel);
      else throw new InvalidArgumentError(`${full} is neither a file nor a directory`);
    }
  };
  await walk(dir);
  return out.sort();
}

function collectionEntries(records: RecordTable): SnapshotCollectionEntry[] {
  return records.collections().map((c) => ({
    name: c.name,
    count: c.count,
    dimension: c.dimension,
    space: c.space,
  }));
}

async function buildManifest(
  dir: string,
  collections: SnapshotCollectionEntry[],
): Promise<SnapshotManifest> {
  const files: SnapshotFileEntry[] = [];
  for (const path of await listFiles(dir)) {
    const full = join(dir, ...path.split('/'));
    files.push({ path, size: statSync(full).size, sha256: await sha256Of(full) });
  }
  return { formatVersion: FORMAT_VERSION, createdAt: new Date().toISOString(), files, collections };
}

function writeJsonAtomically(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

/**
 * Implementation of `store.exportSnapshot`. The consistent cut is synchronous — dirty
 * indexes are persisted, SQLite is copied with `VACUUM INTO` (an online, transactional
 * copy) and the index files are copied, all in one tick — so no write can land between
 * the database copy and the index copy. Hashing and the manifest follow; the snapshot
 * is assembled in a sibling temp directory and renamed into place.
 */
export async function exportSnapshot(core: StoreCore, destDir: string): Promise<SnapshotManifest> {
  core.assertOpen();
  if (core.tx.active)
    throw new InvalidOperationError('exportSnapshot cannot run inside store.transaction()');
  const dest = resolve(destDir);
  const inside = relative(core.dir, dest);
  if (inside === '' || (!inside.startsWith('..') && !isAbsolute(inside))) {
    throw new InvalidArgumentError(
      `snapshot destination ${dest} is inside the store directory ${core.dir}`,
    );
  }
  if (existsSync(dest) && (!statSync(dest).isDirectory() || readdirSync(dest).length > 0)) {
    throw new InvalidArgumentError(
      `snapshot destination ${dest} exists and is not an empty directory`,
    );
  }
  const tmp = `${dest}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    mkdirSync(join(tmp, INDEX_DIR), { recursive: true });
    const collections = core.read(() => {
      core.persistIndexes();
      // Two VACUUMs, one consistent state: nothing can write in between (this runs
      // synchronously on the store's only connection).
      core.db.prepare('VACUUM main INTO ?').run(join(tmp, SQLITE_FILE));
      core.db.prepare('VACUUM vec INTO ?').run(join(tmp, VECTORS_FILE));
      for (const row of core.records.collections()) {
        const from = indexPaths(core.dir, row.uuid);
        if (!existsSync(from.index)) continue; // no vectors
        const to = indexPaths(tmp, row.uuid);
        copyFileSync(from.index, to.index);
        copyFileSync(from.sidecar, to.sidecar);
      }
      return collectionEntries(core.records);
    });
    const manifest = await buildManifest(tmp, collections);
    writeJsonAtomically(join(tmp, MANIFEST_FILE), manifest);
    if (existsSync(dest)) rmSync(dest, { recursive: true });
    renameSync(tmp, dest);
    return manifest;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Builds and writes `manifest.json` for a closed store directory (the compactor closes
 * its store, then publishes the files this manifest lists). Refuses a directory that
 * is open in this process or was not closed cleanly (a `-wal`/`-journal` file is left).
 *
 * @example
 * await store.close();
 * const manifest = await writeManifest(dir); // dir/manifest.json written too
 * for (const f of manifest.files) await upload(join(dir, f.path), f.sha256);
 */
export async function writeManifest(dir: string): Promise<SnapshotManifest> {
  const root = resolve(dir);
  if (isOpenDirectory(root))
    throw new InvalidOperationError(`store at ${root} is open; close it first`);
  const dbFile = join(root, SQLITE_FILE);
  for (const name of [SQLITE_FILE, VECTORS_FILE]) {
    const file = join(root, name);
    if (!existsSync(file)) throw new InvalidArgumentError(`${root} has no ${name}`);
    for (const leftover of ['-wal', '-journal', '-shm']) {
      if (existsSync(file + leftover)) {
        throw new InvalidOperationError(
          `${file}${leftover} exists: the store was not closed cleanly (open and close it)`,
        );
      }
    }
  }
  let collections: SnapshotCollectionEntry[];
  let db: Database.Database | undefined;
  try {
    db = new Database(dbFile, { readonly: true, fileMustExist: true, timeout: 0 });
    collections = db
      .prepare('SELECT name, count, dimension, space FROM collections ORDER BY name')
      .all() as SnapshotCollectionEntry[];
  } catch (err) {
    if (isCorruption(err))
      throw new CorruptDatabaseError(dbFile, (err as Error).message, { cause: err });
    throw err;
  } finally {
    db?.close();
  }
  const manifest = await buildManifest(root, collections);
  writeJsonAtomically(join(root, MANIFEST_FILE), manifest);
  return manifest;
}

/** Why `path` is not a safe relative path inside a snapshot, or undefined. */
function unsafePath(path: string): string | undefined {
  if (path.length === 0) return 'empty path';
  if (path.includes('\0') || path.includes('\\')) return 'NUL or backslash in path';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'absolute path';
  if (path.split('/').some((s) => s === '' || s === '.' || s === '..'))
    return 'empty, "." or ".." segment';
  return undefined;
}

function checkManifestShape(raw: unknown): SnapshotManifest {
  const bad = (detail: string): never => {
    throw new SnapshotIntegrityError(MANIFEST_FILE, detail);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('not a JSON object');
  const m = raw as Record<string, unknown>;
  if (m.formatVersion !== FORMAT_VERSION)
    bad(`formatVersion ${String(m.formatVersion)}, expected ${FORMAT_VERSION}`);
  if (typeof m.createdAt !== 'string' || Number.isNaN(Date.parse(m.createdAt)))
    bad('createdAt is not a date');
  if (!Array.isArray(m.files)) bad('files is not an array');
  if (!Array.isArray(m.collections)) bad('collections is not an array');
  const seen = new Set<string>();
  for (const f of m.files as unknown[]) {
    const file = f as Record<string, unknown>;
    if (typeof f !== 'object' || f === null || typeof file.path !== 'string')
      bad('a file entry has no path');
    const path = file.path as string;
    const reason = unsafePath(path);
    if (reason) bad(`unsafe path ${JSON.stringify(path)}: ${reason}`);
    if (path === MANIFEST_FILE) bad('the manifest lists itself');
    if (seen.has(path)) bad(`duplicate path ${path}`);
    seen.add(path);
    if (typeof file.size !== 'number' || !Number.isSafeInteger(file.size) || file.size < 0)
      bad(`bad size for ${path}`);
    if (typeof file.sha256 !== 'string' || !SHA256_RE.test(file.sha256))
      bad(`bad sha256 for ${path}`);
  }
  for (const required of [SQLITE_FILE, VECTORS_FILE])
    if (!seen.has(required)) bad(`${required} is not listed`);
  for (const c of m.collections as unknown[]) {
    const col = c as Record<string, unknown>;
    if (
      typeof c !== 'object' ||
      c === null ||
      typeof col.name !== 'string' ||
      typeof col.count !== 'number' ||
      !(col.dimension === null || typeof col.dimension === 'number') ||
      typeof col.space !== 'string' ||
      !SPACES.has(col.space)
    ) {
      bad('malformed collection entry');
    }
  }
  return raw as SnapshotManifest;
}

/**
 * Checks a snapshot directory against its `manifest.json`: the manifest's shape, then
 * every listed file's presence, size and sha256, then that no unlisted file exists.
 * Throws {@link SnapshotIntegrityError} naming the first bad file; returns the manifest.
 *
 * @example
 * const manifest = await verifySnapshot(downloadDir); // throws before anything is opened
 * const store = await ChromaStore.open(downloadDir);
 */
export async function verifySnapshot(dir: string): Promise<SnapshotManifest> {
  const root = resolve(dir);
  let text: string;
  try {
    text = await readFile(join(root, MANIFEST_FILE), 'utf8');
  } catch {
    throw new SnapshotIntegrityError(MANIFEST_FILE, 'missing or unreadable');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new SnapshotIntegrityError(MANIFEST_FILE, `not JSON: ${(err as Error).message}`);
  }
  const manifest = checkManifestShape(raw);
  for (const file of manifest.files) {
    const full = join(root, ...file.path.split('/'));
    let size: number;
    try {
      const st = await stat(full);
      if (!st.isFile()) throw new SnapshotIntegrityError(file.path, 'not a regular file');
      size = st.size;
    } catch (err) {
      if (err instanceof SnapshotIntegrityError) throw err;
      throw new SnapshotIntegrityError(file.path, 'missing');
    }
    if (size !== file.size)
      throw new SnapshotIntegrityError(file.path, `size ${size}, manifest says ${file.size}`);
    if ((await sha256Of(full)) !== file.sha256)
      throw new SnapshotIntegrityError(file.path, 'sha256 mismatch');
  }
  const listed = new Set(manifest.files.map((f) => f.path));
  const present = await listFiles(root, (path) => {
    throw new SnapshotIntegrityError(path, 'not a regular file');
  });
  for (const path of present) {
    if (!listed.has(path)) throw new SnapshotIntegrityError(path, 'not listed in the manifest');
  }
  return manifest;
}
