/**
 * Where a delta (an embedding run's snapshot, message kind `delta`) may be read from.
 *
 * A `<collection>_delta_prefix` comes from a table row, so it is input: the stream
 * processor refuses to forward one outside the allowed locations, and the compactor may
 * check it again with the same rule. A prefix is either a key prefix in the snapshot
 * bucket (`deltas/run-7/words/`) or `s3://<bucket>/<key prefix>`; an allowed location
 * is written the same way.
 */

/** The allowed locations when none are configured: the snapshot bucket's delta area. */
export const DEFAULT_DELTA_PREFIXES: readonly string[] = ['deltas/'];

interface Location {
  /** `undefined`: the snapshot bucket. */
  bucket: string | undefined;
  /** Key prefix, ending with `/`. */
  key: string;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function parseLocation(text: string): Location | string {
  if (text.trim() === '') return 'is empty';
  if (CONTROL.test(text)) return 'contains a control character';
  if (text !== text.trim()) return 'starts or ends with whitespace';
  let bucket: string | undefined;
  let key = text;
  const s3 = /^s3:\/\/([^/]*)\/?(.*)$/s.exec(text);
  if (s3) {
    if (s3[1] === '') return 'names no bucket';
    [bucket, key] = [s3[1], s3[2]!];
  } else if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(text)) {
    return 'is neither s3://<bucket>/<prefix> nor a key prefix';
  }
  if (key === '') return 'names no key prefix';
  if (key.includes('\\')) return 'contains a backslash';
  const segments = (key.endsWith('/') ? key.slice(0, -1) : key).split('/');
  if (segments.some((s) => s === '')) return 'has an empty path segment (a leading / or //)';
  if (segments.some((s) => s === '.' || s === '..')) return 'has a . or .. segment';
  return { bucket, key: key.endsWith('/') ? key : `${key}/` };
}

const describe = (l: Location) => (l.bucket === undefined ? l.key : `s3://${l.bucket}/${l.key}`);

/**
 * Checks an allowed location itself (a configuration entry); the reason it is unusable,
 * or `undefined`.
 *
 * @example
 * deltaLocationProblem('s3://partner/embeddings/') // undefined
 * deltaLocationProblem('../') // 'has a . or .. segment'
 */
export function deltaLocationProblem(location: string): string | undefined {
  const parsed = parseLocation(location);
  return typeof parsed === 'string' ? parsed : undefined;
}

/**
 * Why a delta prefix must not be read, or `undefined` when it lies strictly inside one
 * of the `allowed` locations (same bucket — the snapshot bucket for a plain key prefix —
 * and a key prefix below the location's, not the location itself). Refused: empty
 * prefixes, `.`/`..` or empty segments, control characters, other URL schemes, other
 * buckets and other key areas.
 *
 * @example
 * deltaPrefixRefusal('deltas/run-7/words/', DEFAULT_DELTA_PREFIXES) // undefined
 * deltaPrefixRefusal('s3://someone-elses-bucket/../../', DEFAULT_DELTA_PREFIXES) // 'delta prefix … has a . or .. segment'
 */
export function deltaPrefixRefusal(
  prefix: string,
  allowed: readonly string[] = DEFAULT_DELTA_PREFIXES,
): string | undefined {
  const parsed = parseLocation(prefix);
  const quoted = JSON.stringify(prefix);
  if (typeof parsed === 'string') return `delta prefix ${quoted} ${parsed}`;
  const locations = allowed.map(parseLocation).filter((l): l is Location => typeof l !== 'string');
  const inside = locations.some(
    (l) => l.bucket === parsed.bucket && parsed.key.startsWith(l.key) && parsed.key !== l.key,
  );
  if (inside) return undefined;
  return `delta prefix ${quoted} is not inside an allowed location (${locations.map(describe).join(', ') || 'none'})`;
}

/** The allowed locations of a `DELTA_PREFIX_ALLOW_LIST` value, or its first unusable entry. */
export type DeltaAllowListParse =
  { ok: true; locations: readonly string[] } | { ok: false; entry: string; problem: string };

/**
 * Parses a `DELTA_PREFIX_ALLOW_LIST` value (comma-separated locations, see
 * {@link deltaPrefixRefusal}); unset or blank gives {@link DEFAULT_DELTA_PREFIXES}. The
 * stream processor and the compactor both read the variable through it, so they refuse
 * the same prefixes.
 *
 * @example
 * parseDeltaPrefixAllowList(undefined) // { ok: true, locations: ['deltas/'] }
 * parseDeltaPrefixAllowList('deltas/, ../') // { ok: false, entry: '../', problem: 'has a . or .. segment' }
 */
export function parseDeltaPrefixAllowList(raw: string | undefined): DeltaAllowListParse {
  const text = raw?.trim();
  if (!text) return { ok: true, locations: DEFAULT_DELTA_PREFIXES };
  const entries = text.split(',').map((e) => e.trim());
  for (const entry of entries) {
    const problem = deltaLocationProblem(entry);
    if (problem !== undefined) return { ok: false, entry, problem };
  }
  return { ok: true, locations: entries };
}
