/**
 * How a query finds its nearest neighbours: exact brute force over SQLite rows, or
 * HNSW (optionally with a label filter).
 *
 * Filtered queries. hnswlib's filtered search keeps walking the graph until it has
 * collected `ef` *allowed* elements, so with a filter matching a fraction p of the
 * collection it expands about ef/p nodes, computing ~2·M distances and one JS filter
 * callback per neighbour: its cost grows like ef·total/matches. Brute force reads the
 * matching rows' vectors from SQLite and computes every distance: its cost grows like
 * matches. The two meet where matches² ∝ ef·total, so brute force is chosen while
 *
 *     matches ≤ BRUTE_FORCE_SQRT_FACTOR · sqrt(ef · total)
 *
 * The factor is measured (`npm run bench -- --calibrate`, 10k × 384-d, ef 100): brute
 * force costs ~2.5 µs per matching row, filtered HNSW ~3.9 ms at 0.5 % selectivity,
 * ~1.9 ms at 5 %, ~1.4 ms at 10 %; they cross near 700 matches, i.e. a factor of 0.7
 * (≈ 700 matches at 10k records, ≈ 2,200 at 100k, ≈ 7,000 at 1M). Below
 * BRUTE_FORCE_ALWAYS matches the graph is never used: a filter matching a handful of
 * records (3 of 10,000, say) is answered exactly, where a graph walk could return
 * fewer than k because the few allowed nodes are poorly connected. Above the threshold
 * the filter is permissive enough that the filtered walk is as accurate as an
 * unfiltered one at the same ef (recall 1.0 in the calibration); should it still
 * return fewer than min(k, matches) results, the query falls back to brute force.
 */
import { fromBlob } from './embedding.js';
import type { Space } from './types.js';

/** At or below this many matching records a filtered query is always brute force. */
export const BRUTE_FORCE_ALWAYS = 256;

/** Calibrated constant of the brute-force threshold (see the module comment). */
export const BRUTE_FORCE_SQRT_FACTOR = 0.7;

/** True when a filter matching `matches` of `total` records should be answered by brute force. */
export function preferBruteForce(matches: number, total: number, ef: number): boolean {
  if (matches <= BRUTE_FORCE_ALWAYS) return true;
  return matches <= BRUTE_FORCE_SQRT_FACTOR * Math.sqrt(ef * total);
}

/** A float32 view of a BLOB (no copy when 4-byte aligned, as better-sqlite3's buffers are). */
function asFloat32(blob: Buffer): Float32Array {
  return blob.byteOffset % 4 === 0
    ? new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4)
    : fromBlob(blob);
}

/** Nearest neighbours as parallel arrays, nearest first. */
export interface Neighbours {
  labels: number[];
  distances: number[];
}

/** A query vector prepared for brute force (norm precomputed for cosine). */
export interface PreparedQuery {
  vector: Float32Array;
  norm: number;
}

/** Prepares a query for {@link bruteForce}. */
export function prepareQuery(vector: Float32Array): PreparedQuery {
  let sq = 0;
  for (let i = 0; i < vector.length; i++) sq += vector[i]! * vector[i]!;
  return { vector, norm: Math.sqrt(sq) };
}

/**
 * Exact k nearest among `candidates` (float32 BLOBs from SQLite), with hnswlib's
 * distance definitions: squared L2, `1 - a·b`, `1 - cos`. Ties break on label so
 * results are deterministic.
 */
export function bruteForce(
  space: Space,
  query: PreparedQuery,
  candidates: ReadonlyArray<{ seq: number; embedding: Buffer }>,
  k: number,
): Neighbours {
  const q = query.vector;
  const dim = q.length;
  const scored: Array<{ label: number; distance: number }> = [];
  for (const { seq, embedding } of candidates) {
    const v = asFloat32(embedding);
    let distance: number;
    if (space === 'l2') {
      let sum = 0;
      for (let i = 0; i < dim; i++) {
        const d = q[i]! - v[i]!;
        sum += d * d;
      }
      distance = sum;
    } else {
      let dot = 0;
      let sq = 0;
      for (let i = 0; i < dim; i++) {
        dot += q[i]! * v[i]!;
        sq += v[i]! * v[i]!;
      }
      // hnswlib normalises with 1 / (norm + 1e-30), so a zero vector has distance 1.
      distance =
        space === 'ip' ? 1 - dot : 1 - dot / ((query.norm + 1e-30) * (Math.sqrt(sq) + 1e-30));
    }
    scored.push({ label: seq, distance });
  }
  scored.sort((a, b) => a.distance - b.distance || a.label - b.label);
  const top = scored.slice(0, k);
  return { labels: top.map((s) => s.label), distances: top.map((s) => s.distance) };
}
