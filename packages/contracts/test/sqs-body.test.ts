import { describe, expect, it } from 'vitest';
import { isSqsSafe, parseChangeMessage, toSqsJson } from '../src/index.js';

/** What real SQS accepts (code points, `u` flag): the documented character set. */
const SQS_ACCEPTS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

/** Every UTF-16 code unit, one string (lone surrogates included), plus a real pair. */
const EVERY_UNIT =
  Array.from({ length: 0x10000 }, (_, u) => String.fromCharCode(u)).join('') + '\u{1F9FE}';

describe('toSqsJson', () => {
  it('leaves no code unit SQS or the emulator refuses, and JSON.parse restores every one', () => {
    const value = { s: EVERY_UNIT, list: ['\uFFFF', '\uFFFE', '\uD800', 'a\u0000b'] };
    const body = toSqsJson(value);
    expect(isSqsSafe(body)).toBe(true);
    expect(SQS_ACCEPTS.test(body)).toBe(true);
    expect(JSON.parse(body)).toEqual(value);
    expect((JSON.parse(body) as typeof value).s).toBe(EVERY_UNIT);
  });

  it('is JSON.stringify byte for byte when nothing needs escaping', () => {
    const value = { merchant_name: 'Café Ünïcode — 東京', n: 1, ok: true, none: null };
    expect(toSqsJson(value)).toBe(JSON.stringify(value));
  });

  it('escapes U+FFFE and U+FFFF as JSON escapes that a change message parse restores', () => {
    const message = {
      v: 1,
      kind: 'place',
      collection: 'lines',
      event: 'MODIFY',
      receipt: { imageId: '3f2a9c1e-0b7d-4e5f-9a8b-1c2d3e4f5a6b', receiptId: 1 },
      changes: { merchant_name: { old: 'Acme\uFFFE', new: 'Acme\uFFFF' } },
      source: { eventId: 'e1', sequenceNumber: '1', approximateCreationTime: 1 },
    };
    const body = toSqsJson(message);
    expect(body).toContain('"Acme\\ufffe"');
    expect(body).toContain('"Acme\\uffff"');
    const parsed = parseChangeMessage(body);
    expect(parsed.ok && parsed.message.changes).toEqual(message.changes);
  });

  it('refuses a value with no JSON form', () => {
    expect(() => toSqsJson(undefined)).toThrow(TypeError);
  });
});

describe('isSqsSafe', () => {
  it('refuses the characters SQS refuses', () => {
    for (const bad of ['\uFFFF', '\uFFFE', '\u0000', '\u001F', '\uD800', '\uDFFF']) {
      expect(isSqsSafe(`x${bad}y`), JSON.stringify(bad)).toBe(false);
    }
    expect(isSqsSafe('tab\there\nand\r ok \uE000 \uFFFD')).toBe(true);
  });
});
