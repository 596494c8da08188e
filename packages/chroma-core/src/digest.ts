/**
 * `store.digest()`: a sha256 over the store's content, independent of file layout,
 * insertion order, HNSW state and internal row numbers. Two stores with the same
 * collections, records and kv entries have the same digest, however they were built.
 *
 * Hashed, each field length-prefixed so no two contents share a byte stream:
 * - collections sorted by name: name, space, dimension, canonical metadata JSON;
 * - per collection, records sorted by id: id, document (or a null marker), canonical
 *   (key-sorted) metadata JSON, the float32 embedding bytes;
 * - kv entries sorted by (namespace, key): namespace, key, canonical value JSON.
 */
import { createHash, type Hash } from 'node:crypto';
import type { KvTable } from './kv.js';
import type { RecordTable } from './records.js';

const PAGE = 1024;
const NULL_TAG = 0;
const VALUE_TAG = 1;

/** JSON with object keys sorted recursively. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort())
      out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

function field(hash: Hash, value: string | Buffer | null): void {
  if (value === null) {
    hash.update(Buffer.from([NULL_TAG]));
    return;
  }
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const header = Buffer.alloc(5);
  header[0] = VALUE_TAG;
  header.writeUInt32BE(bytes.length, 1);
  hash.update(header);
  hash.update(bytes);
}

/** Computes the content digest (sha256 hex). */
export function computeDigest(records: RecordTable, kv: KvTable): string {
  const hash = createHash('sha256');
  field(hash, 'chroma-core digest v1');
  for (const c of records.collections()) {
    field(hash, 'collection');
    field(hash, c.name);
    field(hash, c.space);
    field(hash, c.dimension === null ? null : String(c.dimension));
    field(hash, canonicalJson(JSON.parse(c.metadata)));
    let after = '';
    for (;;) {
      const page = records.recordsPageById(c.key, after, PAGE);
      if (page.length === 0) break;
      for (const r of page) {
        field(hash, r.id);
        field(hash, r.document);
        field(hash, r.metadata); // stored canonical (key-sorted), see records.ts
        field(hash, r.embedding);
      }
      after = page[page.length - 1]!.id;
    }
  }
  field(hash, 'kv');
  for (const [namespace, key, json] of kv.allRaw()) {
    field(hash, namespace);
    field(hash, key);
    field(hash, canonicalJson(JSON.parse(json)));
  }
  return hash.digest('hex');
}
