/**
 * SQS message bodies that any string survives.
 *
 * SQS accepts only `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`
 * in a body and refuses the whole message otherwise (`InvalidMessageContents`). A
 * DynamoDB string can hold any of the others (U+FFFE, U+FFFF, C0 controls, lone
 * surrogates), so every body we send is JSON written by {@link toSqsJson}: plain
 * `JSON.stringify` already escapes controls and lone surrogates, and this also escapes
 * the rest as JSON `\uXXXX` escapes. A JSON escape decodes to the very same UTF-16 code
 * unit, so `JSON.parse` (and therefore {@link parseChangeMessage}) restores the exact
 * value: no decode step, and a message written before this existed parses unchanged.
 *
 * Paired surrogates (characters above U+FFFF, e.g. emoji) are escaped too, although
 * SQS accepts them: the local emulator (fauxqs 1.9) refuses them, and 8 extra bytes per
 * such character buy one behaviour in tests and in production.
 */

/** One UTF-16 code unit outside what an SQS body may hold in every implementation we run. */
const SQS_UNSAFE = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD]/;
const SQS_UNSAFE_ALL = new RegExp(SQS_UNSAFE.source, 'g');

const escapeUnit = (unit: string): string =>
  `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * `JSON.stringify(value)` with every code unit an SQS body may not hold written as a
 * JSON `\uXXXX` escape; `JSON.parse` of the result equals `JSON.parse(JSON.stringify(value))`.
 * Throws what `JSON.stringify` throws (cycles, BigInt) and a `TypeError` for a value
 * with no JSON form (`undefined`, a function).
 *
 * @example
 * const body = toSqsJson({ merchant_name: 'Acme\uFFFF' }); // '{"merchant_name":"Acme\\uffff"}'
 * JSON.parse(body).merchant_name === 'Acme\uFFFF'; // true
 */
export function toSqsJson(value: unknown): string {
  const json = JSON.stringify(value) as string | undefined;
  if (json === undefined) throw new TypeError('value has no JSON form');
  // Outside string literals JSON.stringify writes ASCII only, so every match is inside
  // a string literal, where a \uXXXX escape stands for exactly that code unit.
  return SQS_UNSAFE.test(json) ? json.replace(SQS_UNSAFE_ALL, escapeUnit) : json;
}

/**
 * Whether SQS (and the local emulator) accepts `body` as it is.
 *
 * @example
 * isSqsSafe('Acme\uFFFF'); // false
 */
export function isSqsSafe(body: string): boolean {
  return !SQS_UNSAFE.test(body);
}
