import type { FieldChange } from '@compaction/contracts';
import { InvalidRecordError } from './errors.js';

/** A scalar a change message can carry. */
export type FieldScalar = string | number | boolean | null;
/** A field value a change message can carry: a scalar or a list of scalars. */
export type FieldValue = FieldScalar | FieldScalar[];
/** The relevant fields of one image, normalised; an absent field is `undefined`. */
export type FieldImage = Readonly<Record<string, FieldValue | undefined>>;

function scalar(field: string, value: unknown): FieldScalar {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isFinite(value)) return value;
      throw new InvalidRecordError('malformed-image', `${field} is not a finite number (${value})`);
    case 'bigint':
      throw new InvalidRecordError(
        'malformed-image',
        `${field} is a number outside double precision (${value})`,
      );
    default:
      if (value === null) return null;
      throw new InvalidRecordError(
        'malformed-image',
        `${field} holds a ${value instanceof Uint8Array ? 'binary value' : typeof value === 'object' ? 'map' : typeof value}, which a change message cannot carry`,
      );
  }
}

const byString = (a: FieldScalar, b: FieldScalar): number =>
  String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;

/**
 * Normalises an unmarshalled attribute into something JSON carries faithfully:
 * scalars as they are, lists of scalars as lists, string and number sets as sorted
 * lists (a set has no order, so two equal sets compare equal). Maps, binary values,
 * NaN and integers beyond double precision throw `malformed-image`.
 *
 * @example
 * normalizeValue('label_consolidated_from', new Set(['TAX', 'SUBTOTAL'])) // ['SUBTOTAL', 'TAX']
 */
export function normalizeValue(field: string, value: unknown): FieldValue | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Set) return [...value].map((v) => scalar(field, v)).sort(byString);
  if (Array.isArray(value)) return value.map((v) => scalar(field, v));
  return scalar(field, value);
}

/**
 * Normalises the named fields of an unmarshalled image (see {@link normalizeValue});
 * absent fields are left out, a missing image stays `undefined`.
 *
 * @example
 * normalizeImage({ merchant_name: 'Acme', other: 1 }, PLACE_FIELDS) // { merchant_name: 'Acme' }
 */
export function normalizeImage(
  image: Readonly<Record<string, unknown>> | undefined,
  fields: readonly string[],
): FieldImage | undefined {
  if (image === undefined) return undefined;
  const out: Record<string, FieldValue | undefined> = {};
  for (const field of fields) {
    const v = normalizeValue(field, image[field]);
    if (v !== undefined) out[field] = v;
  }
  return out;
}

/**
 * Value equality of normalised field values (lists compare element by element).
 *
 * @example
 * sameValue(['A', 'B'], ['A', 'B']) // true
 */
export function sameValue(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((v, i) => v === b[i]);
}

function fieldChange(
  oldValue: FieldValue | undefined,
  newValue: FieldValue | undefined,
): FieldChange {
  const change: FieldChange = {};
  if (oldValue !== undefined) change.old = oldValue;
  if (newValue !== undefined) change.new = newValue;
  return change;
}

/**
 * The fields (of `fields`, in that order) whose value differs between the old and the
 * new image. A field absent on one side appears without `old` or `new`; a missing
 * image (INSERT has no old one, REMOVE no new one) counts as every field absent.
 *
 * When at least one field differs, the fields listed in `alwaysInclude` are added
 * even if unchanged, so the consumer sees them without prior state. When nothing
 * differs the result is empty, whatever `alwaysInclude` says.
 *
 * @example
 * diffFields({ validation_status: 'PENDING' }, { validation_status: 'VALID' }, LABEL_FIELDS)
 * // { validation_status: { old: 'PENDING', new: 'VALID' } }
 */
export function diffFields(
  oldImage: FieldImage | undefined,
  newImage: FieldImage | undefined,
  fields: readonly string[],
  alwaysInclude: readonly string[] = [],
): Record<string, FieldChange> {
  const changes: Record<string, FieldChange> = {};
  let differs = false;
  for (const field of fields) {
    const o = oldImage?.[field];
    const n = newImage?.[field];
    if (!sameValue(o, n)) {
      changes[field] = fieldChange(o, n);
      differs = true;
    }
  }
  if (!differs) return changes;
  for (const field of alwaysInclude) {
    changes[field] ??= fieldChange(oldImage?.[field], newImage?.[field]);
  }
  return changes;
}
