import { createHash } from 'node:crypto';

/**
 * A deterministic local text embedding: hashed character n-grams (the "hashing trick").
 *
 * No model download, the same text always gives the same vector, and texts that share
 * n-grams ("TOTAL" and "SUBTOTAL", "Costco" and "COSTCO WHOLESALE") land close together,
 * so similarity queries in the demo return sensible neighbours.
 */
export interface EmbeddingOptions {
  /** Vector length. Default 384, like the embedding model the production system uses. */
  dimension?: number;
  /** n-gram sizes; default 2, 3 and 4 characters. */
  ngramSizes?: readonly number[];
}

const bucketCache = new Map<string, readonly [number, number]>();

/** Hashes an n-gram to a (bucket, sign) pair; signs cancel collisions on average. */
function bucketOf(gram: string, dimension: number): readonly [number, number] {
  const cacheKey = `${dimension}:${gram}`;
  const cached = bucketCache.get(cacheKey);
  if (cached) return cached;
  const digest = createHash('sha1').update(gram).digest();
  const bucket = digest.readUInt32LE(0) % dimension;
  const sign = (digest[4]! & 1) === 0 ? 1 : -1;
  const result = [bucket, sign] as const;
  if (bucketCache.size < 200_000) bucketCache.set(cacheKey, result);
  return result;
}

/**
 * Embeds a text into a unit-length vector.
 *
 * @example
 * const v = embedText('TOTAL $12.99'); // number[384], |v| = 1
 */
export function embedText(text: string, options: EmbeddingOptions = {}): number[] {
  const dimension = options.dimension ?? 384;
  const sizes = options.ngramSizes ?? [2, 3, 4];
  const vector = new Array<number>(dimension).fill(0);
  const normalized = ` ${text.toLowerCase().replace(/\s+/g, ' ').trim()} `;
  for (const n of sizes) {
    for (let i = 0; i + n <= normalized.length; i++) {
      const [bucket, sign] = bucketOf(normalized.slice(i, i + n), dimension);
      vector[bucket]! += sign;
    }
  }
  let norm = 0;
  for (const x of vector) norm += x * x;
  if (norm === 0) {
    // An empty text still needs a valid, deterministic vector.
    vector[0] = 1;
    return vector;
  }
  const inv = 1 / Math.sqrt(norm);
  return vector.map((x) => x * inv);
}

/** Cosine similarity of two unit vectors. */
export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}
