import { describe, expect, it } from 'vitest';
import { SQS_LIMITS, chunkEntries, sqsEntryBytes, utf8Bytes } from '../src/index.js';

describe('chunkEntries', () => {
  const item = (queueUrl: string, bytes: number, id: number) => ({ queueUrl, bytes, id });

  it('packs by queue, at most 10 entries per call, in order', () => {
    const items = [
      ...Array.from({ length: 23 }, (_, i) => item('q/lines', 100, i)),
      ...Array.from({ length: 4 }, (_, i) => item('q/words', 100, 100 + i)),
    ];
    const { chunks, oversize } = chunkEntries(items, { maxEntries: 10, maxBytes: 262_144 });
    expect(oversize).toEqual([]);
    expect(chunks.map((c) => c.length)).toEqual([10, 10, 3, 4]);
    expect(chunks.every((c) => new Set(c.map((i) => i.queueUrl)).size === 1)).toBe(true);
    expect(chunks.flat().map((i) => i.id)).toEqual(items.map((i) => i.id));
  });

  it('starts a new call before the byte limit is crossed', () => {
    const items = [
      item('q', 100_000, 1),
      item('q', 100_000, 2),
      item('q', 62_144, 3),
      item('q', 1, 4),
    ];
    const { chunks } = chunkEntries(items, { maxEntries: 10, maxBytes: 262_144 });
    expect(chunks.map((c) => c.map((i) => i.id))).toEqual([[1, 2, 3], [4]]);
    for (const c of chunks) expect(c.reduce((s, i) => s + i.bytes, 0)).toBeLessThanOrEqual(262_144);
  });

  it('sets aside an entry that alone is over the limit', () => {
    const { chunks, oversize } = chunkEntries([item('q', 10, 1), item('q', 300_000, 2)], {
      maxEntries: 10,
      maxBytes: 262_144,
    });
    expect(chunks.map((c) => c.map((i) => i.id))).toEqual([[1]]);
    expect(oversize.map((i) => i.id)).toEqual([2]);
  });

  it('sets aside an entry over the per-message limit even when the call limit is larger', () => {
    const { chunks, oversize } = chunkEntries([item('q', 10, 1), item('q', 600, 2)], {
      maxEntries: 10,
      maxBytes: 1_000,
      maxMessageBytes: 500,
    });
    expect(chunks.map((c) => c.map((i) => i.id))).toEqual([[1]]);
    expect(oversize.map((i) => i.id)).toEqual([2]);
  });
});

describe('sqsEntryBytes', () => {
  it('counts the body and each attribute name, data type and value, in UTF-8', () => {
    expect(sqsEntryBytes({ body: 'é{}' })).toBe(4);
    expect(sqsEntryBytes({ body: '{}', attributes: { eventId: 'e1', rejectCode: 'é' } })).toBe(
      2 + (7 + 6 + 2) + (10 + 6 + 2),
    );
  });
});

describe('utf8Bytes', () => {
  it('equals the encoded length, surrogate pairs 4 bytes, a lone surrogate 3 (U+FFFD)', () => {
    for (const text of ['', 'abc', 'é€', '\u{1F600}x', 'a\uD800b', '\uDC00', '\uFFFF']) {
      expect(utf8Bytes(text), JSON.stringify(text)).toBe(new TextEncoder().encode(text).length);
    }
    expect(SQS_LIMITS.batchBytes).toBe(1_048_576);
  });
});
