/**
 * `$regex` / `$not_regex` of `whereDocument`: Chroma's dialect (the Rust `regex`
 * crate) checked and translated to a JS `RegExp`, and the SQLite function that
 * applies it.
 *
 * Invariant: a pattern reaches SQLite only after {@link compileDocumentRegex}
 * accepted it, so the SQL function never meets a pattern it cannot compile. Like
 * Chroma, look-around and backreferences are refused (the Rust crate has neither);
 * an inline flag group is accepted only at the start (`(?i)`, `(?s)`, `(?m)`), since
 * Node 20's `RegExp` has no inline flags.
 */
import type { Db } from './database.js';
import { InvalidWhereError } from './errors.js';

/** The SQLite function evaluating a compiled pattern: `chroma_regex(pattern, text)`. */
export const REGEX_SQL_FUNCTION = 'chroma_regex';

/** Patterns compiled so far (bounded: cleared when full). */
const compiled = new Map<string, RegExp>();
const COMPILED_LIMIT = 256;

/** Marks a backreference escape once every escape is masked (see `masked`). */
const BACKREF = '\u0000';

const FORBIDDEN: Array<[RegExp, string]> = [
  [/\(\?<?[=!]/, 'look-around is not supported (as in Chroma)'],
  [new RegExp(BACKREF), 'backreferences are not supported (as in Chroma)'],
];

/**
 * Checks a `$regex` operand against Chroma's dialect and compiles it; throws
 * {@link InvalidWhereError} naming `path` and the reason.
 */
export function compileDocumentRegex(pattern: string, path: string): RegExp {
  const hit = compiled.get(pattern);
  if (hit) return hit;
  let source = pattern.replace(/\(\?P</g, '(?<'); // Rust's named group spelling
  for (const [test, reason] of FORBIDDEN) {
    if (test.test(masked(source))) {
      throw new InvalidWhereError(`${path}: ${reason}: ${JSON.stringify(pattern)}`);
    }
  }
  let flags = 'u';
  const leading = /^\(\?([a-zA-Z]+)\)/.exec(source);
  if (leading) {
    for (const flag of leading[1]!) {
      if (flag !== 'i' && flag !== 's' && flag !== 'm') {
        throw new InvalidWhereError(
          `${path}: inline flag ${flag} is not supported; accepted at the start of the pattern: (?i), (?s), (?m)`,
        );
      }
      if (!flags.includes(flag)) flags += flag;
    }
    source = source.slice(leading[0].length);
  }
  let regex: RegExp;
  try {
    regex = new RegExp(source, flags);
  } catch (err) {
    throw new InvalidWhereError(
      `${path}: bad regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`,
    );
  }
  if (compiled.size >= COMPILED_LIMIT) compiled.clear();
  compiled.set(pattern, regex);
  return regex;
}

/**
 * The pattern with every escape (`\x`) masked, so an escaped `(` or `\\1` is not
 * taken for syntax; a backreference (`\1`…`\9`, `\k<name>`) becomes {@link BACKREF}.
 */
function masked(source: string): string {
  return source.replace(/\\[\s\S]/g, (escape) => (/^\\[1-9k]$/.test(escape) ? BACKREF : '_'));
}

/** Registers `chroma_regex(pattern, text)` (1 on a match, else 0) on a connection. */
export function registerRegexFunction(db: Db): void {
  db.function(REGEX_SQL_FUNCTION, { deterministic: true }, (pattern: unknown, text: unknown) =>
    typeof text === 'string' && compileDocumentRegex(String(pattern), 'whereDocument').test(text)
      ? 1
      : 0,
  );
}
