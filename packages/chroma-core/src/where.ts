/**
 * Compiles `where` / `whereDocument` filters to SQL over the `embeddings` table (alias `e`).
 *
 * Metadata lives in `embedding_metadata(seq, key, string_value, num_value, bool_value)`
 * with one partial index per value column on `(key, <column>)`, so every metadata
 * condition is an indexed sub-select of matching `seq`s:
 *   `e.seq IN (SELECT seq FROM embedding_metadata WHERE key = ? AND num_value > ?)`.
 * `$ne` / `$nin` are the negation of `$eq` / `$in` (`NOT IN`), so a record without
 * the key matches them. A value's JS type picks the column: a string never equals a
 * number. `$contains` / `$not_contains` test the elements of array values, kept one
 * row per distinct element in `embedding_metadata_array` with the same per-type
 * indexes. Document filters are case-sensitive substring tests (`instr`) and regular
 * expressions in Chroma's dialect (`chroma_regex`, see regex.ts).
 */
import { InvalidWhereError } from './errors.js';
import { REGEX_SQL_FUNCTION, compileDocumentRegex } from './regex.js';
import type { WhereValue } from './types.js';

/** A SQL boolean expression and its bound parameters. */
export interface SqlCondition {
  sql: string;
  params: Array<string | number>;
  /**
   * True when the matching records can be enumerated from the metadata indexes (a
   * positive `IN (sub-select)` term every match must satisfy). The record query then
   * lets that term drive instead of scanning the whole collection.
   */
  drivable: boolean;
  /**
   * The same test as a correlated lookup of the candidate row's own metadata key
   * (`EXISTS (… WHERE m.seq = e.seq AND m.key = ? …)`, same params): one primary-key
   * probe per candidate, where `sql` would build the list of every match.
   */
  probe?: string;
  /**
   * Capped count queries whose sum estimates how many rows a drivable term matches
   * (see {@link ESTIMATE_CAP}); used to pick the most selective term to drive.
   */
  estimates?: Array<{ sql: string; params: Array<string | number> }>;
  /** The terms of an AND, flattened (present on AND nodes only). */
  conjuncts?: SqlCondition[];
}

/** Estimates stop counting here: past it a term is "big" and the cheapest probe wins. */
export const ESTIMATE_CAP = 1000;

const COMPARISON_SQL = { $gt: '>', $gte: '>=', $lt: '<', $lte: '<=' } as const;
const METADATA_OPERATORS = new Set([
  '$eq',
  '$ne',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$in',
  '$nin',
  '$contains',
  '$not_contains',
]);
const DOCUMENT_OPERATORS = ['$contains', '$not_contains', '$regex', '$not_regex', '$and', '$or'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

type Column = 'string_value' | 'num_value' | 'bool_value';

function columnOf(value: unknown, context: string): { column: Column; param: string | number } {
  if (typeof value === 'string') return { column: 'string_value', param: value };
  if (typeof value === 'number' && Number.isFinite(value))
    return { column: 'num_value', param: value };
  if (typeof value === 'boolean') return { column: 'bool_value', param: value ? 1 : 0 };
  throw new InvalidWhereError(
    `${context}: ${describe(value)} is not a string, finite number or boolean`,
  );
}

/** A value test over `embedding_metadata` columns, written with a table qualifier. */
type Predicate = (qualifier: string) => string;

function metadataSubquery(
  key: string,
  predicate: Predicate,
  params: Array<string | number>,
  negate: boolean,
): SqlCondition {
  const all = [key, ...params];
  return {
    sql: `e.seq ${negate ? 'NOT IN' : 'IN'} (SELECT seq FROM embedding_metadata WHERE key = ? AND ${predicate('')})`,
    params: all,
    drivable: !negate,
    probe: `${negate ? 'NOT ' : ''}EXISTS (SELECT 1 FROM embedding_metadata m WHERE m.seq = e.seq AND m.key = ? AND ${predicate('m.')})`,
    ...(negate
      ? {}
      : {
          estimates: [
            {
              sql: `SELECT count(*) FROM (SELECT 1 FROM embedding_metadata WHERE key = ? AND ${predicate('')} LIMIT ${ESTIMATE_CAP})`,
              params: all,
            },
          ],
        }),
  };
}

/**
 * `$contains` / `$not_contains` on a metadata key: an indexed sub-select of the
 * array-element table (one row per distinct element).
 */
function arraySubquery(key: string, column: Column, param: string | number, negate: boolean) {
  const predicate = (q: string) => `${q}${column} = ?`;
  const all = [key, param];
  return {
    sql: `e.seq ${negate ? 'NOT IN' : 'IN'} (SELECT seq FROM embedding_metadata_array WHERE key = ? AND ${predicate('')})`,
    params: all,
    drivable: !negate,
    probe: `${negate ? 'NOT ' : ''}EXISTS (SELECT 1 FROM embedding_metadata_array m WHERE m.seq = e.seq AND m.key = ? AND ${predicate('m.')})`,
    ...(negate
      ? {}
      : {
          estimates: [
            {
              sql: `SELECT count(*) FROM (SELECT 1 FROM embedding_metadata_array WHERE key = ? AND ${predicate('')} LIMIT ${ESTIMATE_CAP})`,
              params: all,
            },
          ],
        }),
  } satisfies SqlCondition;
}

function compileOperator(key: string, op: string, operand: unknown): SqlCondition {
  const context = `${key}.${op}`;
  switch (op) {
    case '$eq':
    case '$ne': {
      const { column, param } = columnOf(operand, context);
      return metadataSubquery(key, (q) => `${q}${column} = ?`, [param], op === '$ne');
    }
    case '$gt':
    case '$gte':
    case '$lt':
    case '$lte': {
      // Chroma orders numbers only (types.py, the Rust where-parser): a string operand
      // is refused rather than silently matching nothing on a number field.
      if (typeof operand !== 'number' || !Number.isFinite(operand)) {
        throw new InvalidWhereError(`${context} needs a finite number, got ${describe(operand)}`);
      }
      return metadataSubquery(
        key,
        (q) => `${q}num_value ${COMPARISON_SQL[op]} ?`,
        [operand],
        false,
      );
    }
    case '$in':
    case '$nin': {
      if (!Array.isArray(operand) || operand.length === 0) {
        throw new InvalidWhereError(
          `${context} needs a non-empty array of strings, of numbers or of booleans, got ${describe(operand)}`,
        );
      }
      const first = columnOf(operand[0], context).column;
      const params: Array<string | number> = [];
      for (const item of operand) {
        const { column, param } = columnOf(item, context);
        if (column !== first) {
          throw new InvalidWhereError(
            `${context} needs values of one type (all strings, all numbers or all booleans), got ${describe(operand)}`,
          );
        }
        params.push(param);
      }
      return metadataSubquery(
        key,
        (q) => `${q}${first} IN (SELECT value FROM json_each(?))`,
        [JSON.stringify(params)],
        op === '$nin',
      );
    }
    case '$contains':
    case '$not_contains': {
      const { column, param } = columnOf(operand, context);
      return arraySubquery(key, column, param, op === '$not_contains');
    }
    default:
      throw new InvalidWhereError(
        `unknown operator ${op} on key "${key}"; accepted: ${[...METADATA_OPERATORS].join(', ')}`,
      );
  }
}

function combine(parts: SqlCondition[], joiner: 'AND' | 'OR'): SqlCondition {
  if (parts.length === 1) return parts[0]!;
  const combined: SqlCondition = {
    sql: `(${parts.map((p) => p.sql).join(` ${joiner} `)})`,
    params: parts.flatMap((p) => p.params),
    drivable: joiner === 'AND' ? parts.some((p) => p.drivable) : parts.every((p) => p.drivable),
  };
  if (joiner === 'AND') {
    combined.conjuncts = parts.flatMap((p) => p.conjuncts ?? [p]);
  } else if (combined.drivable && parts.every((p) => p.estimates)) {
    combined.estimates = parts.flatMap((p) => p.estimates!);
  }
  return combined;
}

function compileWhereNode(node: unknown, path: string): SqlCondition | null {
  if (!isObject(node))
    throw new InvalidWhereError(`${path} must be an object, got ${describe(node)}`);
  const parts: SqlCondition[] = [];
  for (const [key, value] of Object.entries(node)) {
    if (value === undefined) continue;
    if (key === '$and' || key === '$or') {
      if (!Array.isArray(value) || value.length === 0) {
        throw new InvalidWhereError(`${path}.${key} needs a non-empty array of filters`);
      }
      const compiled = value.map((child: unknown, i) =>
        compileWhereNode(child, `${path}.${key}[${i}]`),
      );
      const children = compiled.filter((c): c is SqlCondition => c !== null);
      // An empty child (`{}`) matches everything: it vanishes from an `$and` and makes
      // an `$or` match everything.
      if (children.length === 0 || (key === '$or' && children.length < compiled.length)) continue;
      parts.push(combine(children, key === '$and' ? 'AND' : 'OR'));
      continue;
    }
    if (key.startsWith('$'))
      throw new InvalidWhereError(
        `unknown operator ${key} at ${path}; accepted: $and, $or or a metadata key`,
      );
    if (key.startsWith('#'))
      throw new InvalidWhereError(
        `${path}: key ${JSON.stringify(key)} is reserved (filter documents with whereDocument)`,
      );
    if (key.length === 0) throw new InvalidWhereError(`empty metadata key at ${path}`);
    if (isObject(value)) {
      const ops = Object.entries(value).filter(([, v]) => v !== undefined);
      if (ops.length === 0) throw new InvalidWhereError(`${path}.${key} has no operator`);
      for (const [op, operand] of ops) {
        if (!METADATA_OPERATORS.has(op))
          throw new InvalidWhereError(
            `unknown operator ${op} on key "${key}"; accepted: ${[...METADATA_OPERATORS].join(', ')}`,
          );
        parts.push(compileOperator(key, op, operand));
      }
    } else {
      parts.push(compileOperator(key, '$eq', value as WhereValue));
    }
  }
  return parts.length === 0 ? null : combine(parts, 'AND');
}

/**
 * Compiles a `where` filter; `null` when it constrains nothing (`undefined` or `{}`).
 * Throws {@link InvalidWhereError} for unknown operators and ill-typed values.
 */
export function compileWhere(where: unknown): SqlCondition | null {
  if (where === undefined || where === null) return null;
  return compileWhereNode(where, 'where');
}

function compileDocumentNode(node: unknown, path: string): SqlCondition {
  if (!isObject(node))
    throw new InvalidWhereError(`${path} must be an object, got ${describe(node)}`);
  const entries = Object.entries(node).filter(([, v]) => v !== undefined);
  if (entries.length !== 1)
    throw new InvalidWhereError(
      `${path} must have exactly one operator of ${DOCUMENT_OPERATORS.join(', ')}`,
    );
  const [op, operand] = entries[0]!;
  switch (op) {
    case '$contains':
    case '$not_contains':
      if (typeof operand !== 'string' || operand.length === 0)
        throw new InvalidWhereError(
          `${path}.${op} needs a non-empty string, got ${describe(operand)}`,
        );
      return op === '$contains'
        ? { sql: 'instr(e.document, ?) > 0', params: [operand], drivable: false }
        : {
            sql: '(e.document IS NULL OR instr(e.document, ?) = 0)',
            params: [operand],
            drivable: false,
          };
    case '$regex':
    case '$not_regex':
      if (typeof operand !== 'string' || operand.length === 0)
        throw new InvalidWhereError(
          `${path}.${op} needs a non-empty string, got ${describe(operand)}`,
        );
      compileDocumentRegex(operand, `${path}.${op}`); // refuses a bad pattern now
      return op === '$regex'
        ? {
            sql: `(e.document IS NOT NULL AND ${REGEX_SQL_FUNCTION}(?, e.document))`,
            params: [operand],
            drivable: false,
          }
        : {
            sql: `(e.document IS NULL OR NOT ${REGEX_SQL_FUNCTION}(?, e.document))`,
            params: [operand],
            drivable: false,
          };
    case '$and':
    case '$or': {
      if (!Array.isArray(operand) || operand.length === 0) {
        throw new InvalidWhereError(`${path}.${op} needs a non-empty array of filters`);
      }
      const children = operand.map((child: unknown, i) =>
        compileDocumentNode(child, `${path}.${op}[${i}]`),
      );
      return combine(children, op === '$and' ? 'AND' : 'OR');
    }
    default:
      throw new InvalidWhereError(
        `unknown document operator ${op} at ${path}; accepted: ${DOCUMENT_OPERATORS.join(', ')}`,
      );
  }
}

/**
 * Compiles a `whereDocument` filter (`$contains`, `$not_contains`, `$regex`,
 * `$not_regex`, `$and`, `$or`); `null` when absent.
 */
export function compileWhereDocument(whereDocument: unknown): SqlCondition | null {
  if (whereDocument === undefined || whereDocument === null) return null;
  return compileDocumentNode(whereDocument, 'whereDocument');
}

/** AND of the non-null conditions, or null. */
export function andConditions(...conditions: Array<SqlCondition | null>): SqlCondition | null {
  const present = conditions.filter((c): c is SqlCondition => c !== null);
  return present.length === 0 ? null : combine(present, 'AND');
}
