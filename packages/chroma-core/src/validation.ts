/**
 * Validation of everything a caller passes in except vectors (see embedding.ts) and
 * filters (see where.ts). Every check runs before the first write, so a rejected call
 * changes nothing.
 */
import { DuplicateIdError, InvalidArgumentError } from './errors.js';
import type { IncludeField, Metadata, MetadataValue, UpdateMetadata } from './types.js';

const INCLUDE_FIELDS: ReadonlySet<string> = new Set([
  'embeddings',
  'metadatas',
  'documents',
  'distances',
]);

/**
 * Ids must be a non-empty list of non-empty strings without repeats (Chroma's
 * `validate_ids`: an empty list and duplicates are refused, never de-duplicated).
 */
export function validateIds(ids: unknown, what = 'ids'): string[] {
  if (!Array.isArray(ids)) throw new InvalidArgumentError(`${what} must be an array of strings`);
  if (ids.length === 0) throw new InvalidArgumentError(`${what} must be a non-empty array`);
  const seen = new Set<string>();
  const dupes = new Set<string>();
  for (let i = 0; i < ids.length; i++) {
    const id: unknown = ids[i];
    if (typeof id !== 'string' || id.length === 0) {
      throw new InvalidArgumentError(`${what}[${i}] must be a non-empty string`);
    }
    if (seen.has(id)) dupes.add(id);
    seen.add(id);
  }
  if (dupes.size > 0) throw new DuplicateIdError([...dupes], `${what} repeat within one call`);
  return ids as string[];
}

/**
 * The `ids` of `query`: a list of non-empty strings restricting the candidates.
 * Chroma does not validate it further: an empty list matches nothing and a repeat is
 * harmless.
 */
export function validateIdFilter(ids: unknown): string[] {
  if (!Array.isArray(ids)) throw new InvalidArgumentError('ids must be an array of strings');
  for (let i = 0; i < ids.length; i++) {
    if (typeof ids[i] !== 'string' || (ids[i] as string).length === 0) {
      throw new InvalidArgumentError(`ids[${i}] must be a non-empty string`);
    }
  }
  return ids as string[];
}

/** An optional per-record list must have one entry per id. */
export function validateParallel<T>(
  list: T[] | undefined,
  length: number,
  what: string,
): T[] | undefined {
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) throw new InvalidArgumentError(`${what} must be an array`);
  if (list.length !== length) {
    throw new InvalidArgumentError(`${what} has ${list.length} entries but ids has ${length}`);
  }
  return list;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function validateKey(key: string, what: string): void {
  if (key.length === 0) throw new InvalidArgumentError(`${what} has an empty key`);
  if (key.startsWith('$') || key.startsWith('#'))
    throw new InvalidArgumentError(
      `${what} key "${key}" must not start with "$" or "#" (reserved by Chroma)`,
    );
}

function isScalar(value: unknown): value is string | number | boolean {
  return (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

/** A scalar, or a non-empty list of scalars of one type (Chroma's list values). */
function isMetadataValue(value: unknown): value is MetadataValue {
  if (!Array.isArray(value)) return isScalar(value);
  if (value.length === 0 || !isScalar(value[0])) return false;
  const type = typeof value[0];
  return value.every((item) => typeof item === type && isScalar(item));
}

const VALUE_TYPES =
  'a string, a finite number, a boolean or a non-empty list of one of those types';

/** Metadata of `add` (and collection metadata): {@link MetadataValue}s. */
export function validateMetadata(value: unknown, what: string): Metadata | null {
  if (value === null || value === undefined) return null;
  if (!isPlainObject(value)) throw new InvalidArgumentError(`${what} must be a plain object`);
  for (const [key, v] of Object.entries(value)) {
    validateKey(key, what);
    if (!isMetadataValue(v)) {
      throw new InvalidArgumentError(
        `${what}.${key} must be ${VALUE_TYPES}, got ${JSON.stringify(v)}`,
      );
    }
  }
  return value as Metadata;
}

/** Metadata of `update`/`upsert`: like {@link validateMetadata}, plus `null` (remove the key). */
export function validateUpdateMetadata(value: unknown, what: string): UpdateMetadata | null {
  if (value === null || value === undefined) return null;
  if (!isPlainObject(value)) throw new InvalidArgumentError(`${what} must be a plain object`);
  for (const [key, v] of Object.entries(value)) {
    validateKey(key, what);
    if (v !== null && !isMetadataValue(v)) {
      throw new InvalidArgumentError(
        `${what}.${key} must be ${VALUE_TYPES}, or null, got ${JSON.stringify(v)}`,
      );
    }
  }
  return value as UpdateMetadata;
}

/** A document is a string; `null`/`undefined` means "none" (add) or "unchanged" (update). */
export function validateDocument(value: unknown, what: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string') throw new InvalidArgumentError(`${what} must be a string`);
  return value;
}

/** A collection (or kv namespace / key) name: a non-empty string of at most 512 characters. */
export function validateName(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 512) {
    throw new InvalidArgumentError(`${what} must be a non-empty string of at most 512 characters`);
  }
  return value;
}

/** A non-negative integer (limit, offset) or undefined. */
export function validateCount(value: unknown, what: string, min = 0): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`${what} must be an integer ≥ ${min}`);
  }
  return value;
}

/**
 * The `include` list, defaulting to `fallback` when absent (`undefined`). Like
 * Chroma, `null` and a field in `disallowed` (`distances` for `get`) are refused.
 */
export function validateInclude(
  value: unknown,
  fallback: IncludeField[],
  disallowed: readonly IncludeField[] = [],
): Set<IncludeField> {
  const accepted = [...INCLUDE_FIELDS].filter((f) => !disallowed.includes(f as IncludeField));
  if (value === undefined) return new Set(fallback);
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(
      `include must be an array of ${accepted.join(', ')}; got ${JSON.stringify(value)}`,
    );
  }
  for (const field of value) {
    if (
      typeof field !== 'string' ||
      !INCLUDE_FIELDS.has(field) ||
      disallowed.includes(field as IncludeField)
    ) {
      const hint = field === 'uris' || field === 'data' ? ' (chroma-core stores no URIs)' : '';
      throw new InvalidArgumentError(
        `include: field ${JSON.stringify(field)} is not accepted${hint}; accepted: ${accepted.join(', ')}`,
      );
    }
  }
  return new Set(value as IncludeField[]);
}
