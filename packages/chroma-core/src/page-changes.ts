/**
 * Which database pages a store has written since it was opened, read from SQLite's own
 * rollback journals — so a caller that holds a byte-identical copy of the files as they
 * were at open (the compactor's verified checkout) can re-hash only the parts that
 * changed instead of the whole file.
 *
 * How: in rollback-journal mode SQLite copies the original content of every page,
 * with its page number, into `<file>-journal` before it first changes that page in a
 * transaction (https://www.sqlite.org/fileformat.html#the_rollback_journal). Just
 * before each outermost commit the journals are parsed and their page numbers kept.
 * Four kinds of write are not in the journal, and are added by rule:
 * - pages past the database's size at the start of the transaction (nothing to
 *   restore): every page between that size and the size before commit;
 * - pages on the freelist at the start of the transaction, which SQLite reuses without
 *   journaling their (meaningless) old content: the freelist is read from the file
 *   before each transaction, and counted when the transaction wrote;
 * - page 1, which the commit itself changes (the file change counter) after the hook;
 * - a shrink (the file ends earlier): the caller compares sizes.
 *
 * The answer may be too large (never too small): a record is counted only when its
 * checksum matches the journal's nonce, as SQLite's own recovery does, and stale
 * records of an earlier transaction carry another nonce. Anything this module cannot
 * account for — a write outside a tracked transaction, a schema created or migrated
 * at open, `auto_vacuum` (which moves pages during the commit), a journal it cannot
 * parse — makes the answer `undefined`: unknown, re-hash everything.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Db } from './database.js';

/** Pages of one database file written since open (1-based page numbers). */
export interface FilePageChanges {
  pageSize: number;
  pages: ReadonlySet<number>;
}

/** Per file name in the store directory (`chroma.sqlite3`, `vectors.sqlite3`). */
export type PageChanges = ReadonlyMap<string, FilePageChanges>;

const JOURNAL_MAGIC = Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
const UNKNOWN_RECORD_COUNT = 0xffffffff;

interface TrackedFile {
  /** Schema name on the connection (`main`, `vec`). */
  schema: string;
  /** File name in the store directory. */
  name: string;
  path: string;
  pageSize: number;
  pages: Set<number>;
  /** The freelist when the current transaction began. */
  free: number[];
}

/** Records the pages written by the tracked transactions of one connection. */
export class PageChangeTracker {
  readonly #db: Db;
  readonly #files: TrackedFile[];
  /** Why the answer is unknown, once it is. */
  #lost: string | undefined;
  /** `total_changes()` after the last tracked commit: a write outside shows up as a rise. */
  #changesSeen: number;

  /**
   * @param files the connection's database files (schema, file name, absolute path)
   * @param options.track false: nothing is recorded and the answer is unknown.
   * @param options.unchangedByOpen false when opening the store already wrote (created or
   *   migrated the schema): the files then differ from what was opened: unknown.
   */
  constructor(
    db: Db,
    files: { schema: string; name: string; path: string }[],
    options: { track: boolean; unchangedByOpen: boolean },
  ) {
    this.#db = db;
    this.#files = files.map((f) => ({
      ...f,
      pageSize: db.pragma(`${f.schema}.page_size`, { simple: true }) as number,
      pages: new Set<number>(),
      free: [],
    }));
    this.#lost = !options.track
      ? 'not tracked (open the store with trackPageChanges: true)'
      : options.unchangedByOpen
        ? undefined
        : 'the schema was created or migrated at open';
    for (const f of this.#files) {
      const vacuum = db.pragma(`${f.schema}.auto_vacuum`, { simple: true });
      if (vacuum !== 0) this.#lost ??= `${f.name} uses auto_vacuum (pages move at commit)`;
    }
    this.#changesSeen = this.#lost === undefined ? this.#totalChanges() : 0;
  }

  /** Call inside the outermost transaction, after its body and before its commit. */
  beforeCommit(): void {
    if (this.#lost !== undefined) return;
    try {
      for (const file of this.#files) this.#readJournal(file);
    } catch (err) {
      this.#lost = `journal not understood: ${(err as Error).message}`;
    }
  }

  /** Call before an outermost transaction starts: notices writes made outside one. */
  beforeBegin(): void {
    this.#checkNoUntrackedWrites();
    if (this.#lost !== undefined) return;
    try {
      for (const file of this.#files) file.free = readFreelist(file.path, file.pageSize);
    } catch (err) {
      this.#lost = `freelist not understood: ${(err as Error).message}`;
    }
  }

  /** Call after an outermost transaction ended (committed or rolled back). */
  afterEnd(): void {
    if (this.#lost === undefined) this.#changesSeen = this.#totalChanges();
  }

  /** Pages written since open, or undefined with the reason it is unknown. */
  changes(): { changes: PageChanges } | { changes: undefined; reason: string } {
    this.#checkNoUntrackedWrites();
    if (this.#lost !== undefined) return { changes: undefined, reason: this.#lost };
    return {
      changes: new Map(
        this.#files.map((f) => [f.name, { pageSize: f.pageSize, pages: new Set(f.pages) }]),
      ),
    };
  }

  #checkNoUntrackedWrites(): void {
    if (this.#lost !== undefined || !this.#db.open) return;
    if (this.#totalChanges() !== this.#changesSeen)
      this.#lost = 'a write ran outside a tracked transaction';
  }

  #totalChanges(): number {
    return this.#db.prepare('SELECT total_changes()').pluck().get() as number;
  }

  #readJournal(file: TrackedFile): void {
    let size: number;
    try {
      size = statSync(`${file.path}-journal`).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // nothing written
      throw err;
    }
    const fd = openSync(`${file.path}-journal`, 'r');
    try {
      const journal = readJournal(fd, size, file.pageSize);
      if (journal === undefined) return; // header zeroed: nothing written this transaction
      for (const page of journal.pages) file.pages.add(page);
      for (const page of file.free) file.pages.add(page);
      // Pages past the size at the start of the transaction are written unjournaled.
      const now = this.#db.pragma(`${file.schema}.page_count`, { simple: true }) as number;
      for (let page = journal.originalPageCount + 1; page <= now; page++) file.pages.add(page);
      // The commit rewrites page 1 (file change counter) after this hook ran.
      file.pages.add(1);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * Parses a rollback journal: the page numbers of its valid records and the database
 * size when the transaction started. Undefined for a journal whose header is zeroed
 * (a finished transaction in exclusive locking mode). Throws on anything unexpected.
 */
export function readJournal(
  fd: number,
  size: number,
  pageSize: number,
): { pages: number[]; originalPageCount: number } | undefined {
  const read = (position: number, length: number): Buffer => {
    const buffer = Buffer.alloc(length);
    const n = readSync(fd, buffer, 0, length, position);
    return buffer.subarray(0, n);
  };
  const pages: number[] = [];
  let originalPageCount: number | undefined;
  let offset = 0;
  // A journal is one or more segments: a header (padded to the sector size), then records.
  while (offset + 28 <= size) {
    const header = read(offset, 28);
    if (!header.subarray(0, 8).equals(JOURNAL_MAGIC)) {
      if (offset === 0) {
        if (header.every((b) => b === 0)) return undefined;
        throw new Error('no journal magic at offset 0');
      }
      break; // past the last segment
    }
    const recordCount = header.readUInt32BE(8);
    const nonce = header.readUInt32BE(12);
    const initialPages = header.readUInt32BE(16);
    const sectorSize = header.readUInt32BE(20);
    const journalPageSize = header.readUInt32BE(24);
    if (journalPageSize !== pageSize)
      throw new Error(`journal page size ${journalPageSize}, database ${pageSize}`);
    if (sectorSize < 28 || sectorSize > 65536) throw new Error(`sector size ${sectorSize}`);
    originalPageCount ??= initialPages;
    const recordSize = 4 + pageSize + 4;
    let position = offset + sectorSize;
    const limit =
      recordCount === UNKNOWN_RECORD_COUNT
        ? Math.floor((size - position) / recordSize)
        : recordCount;
    let valid = 0;
    for (; valid < limit && position + recordSize <= size; valid++, position += recordSize) {
      const record = read(position, recordSize);
      if (record.length < recordSize) break;
      const page = record.readUInt32BE(0);
      if (checksum(record.subarray(4, 4 + pageSize), nonce) !== record.readUInt32BE(4 + pageSize))
        break; // a stale record of an earlier transaction: the end of this segment
      if (page === 0) throw new Error('record for page 0');
      pages.push(page);
    }
    if (recordCount !== UNKNOWN_RECORD_COUNT && valid < recordCount)
      throw new Error(`${valid} of ${recordCount} records readable`);
    if (recordCount === UNKNOWN_RECORD_COUNT) break; // records run to the end
    // The next segment starts at the next sector boundary.
    offset = Math.ceil(position / sectorSize) * sectorSize;
  }
  if (originalPageCount === undefined) return undefined;
  return { pages, originalPageCount };
}

/**
 * Every page on the freelist of the database file at `path` (trunk and leaf pages), read
 * from the file itself: the committed state, since a commit writes every dirty page.
 */
export function readFreelist(path: string, pageSize: number): number[] {
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(100);
    if (readSync(fd, header, 0, 100, 0) < 100) return []; // an empty file has no freelist
    const total = header.readUInt32BE(36);
    const pages: number[] = [];
    const page = Buffer.alloc(pageSize);
    for (let trunk = header.readUInt32BE(32); trunk !== 0;) {
      if (pages.length >= total) throw new Error(`freelist longer than its count ${total}`);
      pages.push(trunk);
      if (readSync(fd, page, 0, pageSize, (trunk - 1) * pageSize) < pageSize)
        throw new Error(`freelist trunk page ${trunk} past the end`);
      const leaves = page.readUInt32BE(4);
      if (8 + 4 * leaves > pageSize) throw new Error(`trunk page ${trunk}: ${leaves} leaves`);
      for (let i = 0; i < leaves; i++) pages.push(page.readUInt32BE(8 + 4 * i));
      trunk = page.readUInt32BE(0);
    }
    if (pages.length !== total)
      throw new Error(`freelist has ${pages.length} pages, header says ${total}`);
    return pages;
  } finally {
    closeSync(fd);
  }
}

/** SQLite's journal record checksum: the nonce plus every 200th byte from the end. */
function checksum(page: Buffer, nonce: number): number {
  let sum = nonce;
  for (let i = page.length - 200; i > 0; i -= 200) sum = (sum + page[i]!) >>> 0;
  return sum >>> 0;
}
