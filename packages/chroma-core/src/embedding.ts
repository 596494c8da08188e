/**
 * Vectors: validation and the float32 BLOB codec used in SQLite.
 *
 * A vector is stored as its float32 values in platform byte order (little-endian on
 * every target we run: x64 and arm64). The HNSW index stores the same float32 values,
 * so SQLite is a complete source for rebuilding it.
 */
import { DimensionMismatchError, InvalidEmbeddingError } from './errors.js';

/**
 * Checks one vector (array of finite numbers, expected length if known) and returns
 * it as float32.
 */
export function toFloat32(
  value: unknown,
  expectedDimension: number | null,
  where: string,
): Float32Array {
  let out: Float32Array;
  if (value instanceof Float32Array) {
    out = value;
  } else if (Array.isArray(value)) {
    out = new Float32Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const x: unknown = value[i];
      if (typeof x !== 'number')
        throw new InvalidEmbeddingError(`${where}[${i}] is ${typeof x}, not a number`);
      out[i] = x;
    }
  } else {
    throw new InvalidEmbeddingError(`${where} is not an array of numbers`);
  }
  if (out.length === 0) throw new InvalidEmbeddingError(`${where} is empty`);
  for (let i = 0; i < out.length; i++) {
    // Also catches finite doubles that overflow float32 (e.g. 1e300 → Infinity).
    if (!Number.isFinite(out[i])) throw new InvalidEmbeddingError(`${where}[${i}] is not finite`);
  }
  if (expectedDimension !== null && out.length !== expectedDimension) {
    throw new DimensionMismatchError(expectedDimension, out.length, where);
  }
  return out;
}

/**
 * Validates a list of vectors that must all share one dimension: the collection's when
 * fixed, otherwise the first vector's.
 */
export function toFloat32List(
  values: readonly unknown[],
  collectionDimension: number | null,
  what: string,
): { vectors: Float32Array[]; dimension: number | null } {
  let dimension = collectionDimension;
  const vectors: Float32Array[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = toFloat32(values[i], dimension, `${what}[${i}]`);
    dimension ??= v.length;
    vectors.push(v);
  }
  return { vectors, dimension };
}

const FLOAT32_MAX = 3.4028234663852886e38;

/**
 * Validates a query vector without copying it: a plain array of finite numbers that
 * fit float32 (what hnswlib will turn it into), of the expected length if known.
 * Returns the array hnswlib should get (the caller's own array when it is one).
 */
export function checkQueryVector(
  value: unknown,
  expectedDimension: number | null,
  where: string,
): number[] {
  if (!Array.isArray(value)) return toArray(toFloat32(value, expectedDimension, where));
  for (let i = 0; i < value.length; i++) {
    const x: unknown = value[i];
    if (typeof x !== 'number' || !(Math.abs(x) <= FLOAT32_MAX))
      return toArray(toFloat32(value, expectedDimension, where));
  }
  if (value.length === 0 || (expectedDimension !== null && value.length !== expectedDimension)) {
    toFloat32(value, expectedDimension, where); // throws the precise error
  }
  return value as number[];
}

/** The BLOB stored in SQLite for a vector (a view, no copy). */
export function toBlob(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

/** Decodes a BLOB from SQLite (copied, so alignment does not matter). */
export function fromBlob(blob: Buffer): Float32Array {
  const out = new Float32Array(blob.byteLength / 4);
  new Uint8Array(out.buffer).set(blob);
  return out;
}

/**
 * A plain array, which is what hnswlib-node accepts and what results carry. (A
 * preallocated loop: `Array.from` on a typed array goes through the iterator protocol
 * and costs ~10× more, 5 µs per 384-d vector, on the add path.)
 */
export function toArray(vector: Float32Array): number[] {
  const out = new Array<number>(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i]!;
  return out;
}
