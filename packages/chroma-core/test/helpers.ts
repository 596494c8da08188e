/**
 * Test helpers: temp directories, a seeded RNG, vectors, fd counting, exact search.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp directory, removed after the test file. */
export function tempDir(prefix = 'chroma-core-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Number of open file descriptors of this process. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` random vectors of `dim` components in [-1, 1). */
export function vectors(n: number, dim: number, seed = 1): number[][] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: dim }, () => r() * 2 - 1));
}

/** Float32-rounded copy (what the store returns). */
export function f32(v: number[]): number[] {
  return Array.from(Float32Array.from(v));
}

/** Distance as hnswlib defines it. */
export function distance(space: 'l2' | 'ip' | 'cosine', a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let l2 = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
    l2 += (a[i]! - b[i]!) ** 2;
  }
  if (space === 'l2') return l2;
  if (space === 'ip') return 1 - dot;
  return 1 - dot / (Math.sqrt(na) * Math.sqrt(nb));
}

/** Exact k nearest ids among `items`. */
export function exactTopK(
  space: 'l2' | 'ip' | 'cosine',
  query: number[],
  items: Array<{ id: string; vector: number[] }>,
  k: number,
): string[] {
  return items
    .map((it) => ({ id: it.id, d: distance(space, query, f32(it.vector)) }))
    .sort((a, b) => a.d - b.d)
    .slice(0, k)
    .map((x) => x.id);
}

/** Inverts the bits of the byte at `at` (`mask` 0xff), or some of them, in place. */
export function flipByte(path: string, at: number, mask = 0xff): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ mask;
    writeSync(fd, b, 0, 1, at);
  } finally {
    closeSync(fd);
  }
}

/** sha256 of a file's bytes. */
export function fileSha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Index files (`.hnsw`) of a store directory. */
export function indexFiles(dir: string): string[] {
  return readdirSync(join(dir, 'index'))
    .filter((f) => f.endsWith('.hnsw'))
    .map((f) => join(dir, 'index', f));
}
