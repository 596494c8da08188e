/**
 * `store.kv(namespace)`: a tiny JSON key-value table inside the store's SQLite
 * database. It commits and rolls back with everything else (inside
 * `store.transaction`), and travels inside every snapshot. The compactor keeps its
 * per-entity last-applied stream sequence numbers and pending updates here.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './database.js';
import { InvalidArgumentError } from './errors.js';

/** Prepared statements of the `kv` table. */
export class KvTable {
  private readonly getStmt: Statement;
  private readonly setStmt: Statement;
  private readonly deleteStmt: Statement;
  private readonly entriesStmt: Statement;
  private readonly allStmt: Statement;

  constructor(db: Db) {
    this.getStmt = db.prepare('SELECT value FROM kv WHERE namespace = ? AND key = ?').pluck();
    this.setStmt = db.prepare(
      'INSERT INTO kv (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value',
    );
    this.deleteStmt = db.prepare('DELETE FROM kv WHERE namespace = ? AND key = ?');
    this.entriesStmt = db
      .prepare('SELECT key, value FROM kv WHERE namespace = ? ORDER BY key')
      .raw();
    this.allStmt = db.prepare('SELECT namespace, key, value FROM kv ORDER BY namespace, key').raw();
  }

  get(namespace: string, key: string): unknown {
    const json = this.getStmt.get(namespace, key) as string | undefined;
    return json === undefined ? undefined : (JSON.parse(json) as unknown);
  }

  set(namespace: string, key: string, value: unknown): void {
    this.setStmt.run(namespace, key, encode(value, key));
  }

  delete(namespace: string, key: string): void {
    this.deleteStmt.run(namespace, key);
  }

  entries(namespace: string): Array<[string, unknown]> {
    return (this.entriesStmt.all(namespace) as Array<[string, string]>).map(([k, v]) => [
      k,
      JSON.parse(v) as unknown,
    ]);
  }

  /** Every row of every namespace, sorted, values as stored JSON (for the digest). */
  allRaw(): Array<[string, string, string]> {
    return this.allStmt.all() as Array<[string, string, string]>;
  }
}

function encode(value: unknown, key: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new InvalidArgumentError(
      `kv value of "${key}" is not JSON-serialisable: ${(err as Error).message}`,
    );
  }
  if (json === undefined)
    throw new InvalidArgumentError(
      `kv value of "${key}" is not JSON-serialisable (use delete to remove a key)`,
    );
  return json;
}
