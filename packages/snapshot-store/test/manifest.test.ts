import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import {
  newVersionId,
  parseSnapshotManifest,
  parseVersionId,
  unsafePathReason,
  type SnapshotManifestV1,
} from '../src/manifest.js';
import { SnapshotManifestError } from '../src/errors.js';
import { manifestKey, parseManifestKey } from '../src/layout.js';
import { parseS3Prefix } from '../src/repository.js';

const T0 = Date.parse('2025-03-01T10:15:00.123Z');

function validManifest(overrides: Partial<SnapshotManifestV1> = {}): SnapshotManifestV1 {
  return {
    formatVersion: 1,
    collection: 'words',
    version: '000000000007-20250301T101500Z-0b1e',
    parentVersion: null,
    fencingToken: 7,
    createdAt: new Date(T0).toISOString(),
    files: [{ path: 'db/chroma.sqlite3', size: 3, sha256: 'a'.repeat(64) }],
    counts: { vectors: 12, words: 12 },
    messagesApplied: 4,
    ...overrides,
  };
}

describe('version ids', () => {
  it('have the documented shape and round-trip through parseVersionId', () => {
    const clock = new ManualClock(T0);
    const v = newVersionId(42, clock);
    expect(v).toMatch(/^000000000042-20250301T101500Z-[0-9a-f]{4}$/);
    expect(parseVersionId(v)).toEqual({
      fencingToken: 42,
      createdAt: new Date('2025-03-01T10:15:00Z'),
    });
    expect(parseVersionId('not-a-version')).toBeUndefined();
  });

  it('sort in fencing-token order, whatever the clock says', () => {
    const late = newVersionId(9, new ManualClock(T0 + 86_400_000));
    const early = newVersionId(10, new ManualClock(T0));
    expect([early, late].sort()).toEqual([late, early]);
  });

  it('refuse tokens that would not sort as 12 digits', () => {
    const clock = new ManualClock(T0);
    expect(() => newVersionId(0, clock)).toThrow(RangeError);
    expect(() => newVersionId(1.5, clock)).toThrow(RangeError);
    expect(() => newVersionId(1e12, clock)).toThrow(RangeError);
  });
});

describe('path safety', () => {
  it.each([
    '../escape',
    'a/../../b',
    '/etc/passwd',
    'C:/x',
    'a\\b',
    'a//b',
    './a',
    'a/',
    '',
    'a\0b',
  ])('refuses %j', (path) => expect(unsafePathReason(path)).toBeDefined());

  it.each(['chroma.sqlite3', 'a/b/index.bin', '..hidden', 'x..y/z'])('accepts %j', (path) =>
    expect(unsafePathReason(path)).toBeUndefined(),
  );
});

describe('parseSnapshotManifest', () => {
  it('accepts a valid manifest and keeps extra counts', () => {
    const m = parseSnapshotManifest(JSON.stringify(validManifest()));
    expect(m.counts).toEqual({ vectors: 12, words: 12 });
  });

  it.each([
    ['not JSON', '{'],
    [
      'a path traversal',
      JSON.stringify(validManifest({ files: [{ path: '../x', size: 1, sha256: 'a'.repeat(64) }] })),
    ],
    [
      'a duplicate path',
      JSON.stringify(
        validManifest({
          files: [
            { path: 'x', size: 1, sha256: 'a'.repeat(64) },
            { path: 'x', size: 1, sha256: 'b'.repeat(64) },
          ],
        }),
      ),
    ],
    [
      'a bad digest',
      JSON.stringify(validManifest({ files: [{ path: 'x', size: 1, sha256: 'ABC' }] })),
    ],
    ['an unknown format', JSON.stringify({ ...validManifest(), formatVersion: 2 })],
    ['an unknown collection', JSON.stringify({ ...validManifest(), collection: 'receipts' })],
    ['a bad version id', JSON.stringify(validManifest({ version: 'v1' }))],
  ])('refuses %s with SnapshotManifestError', (_what, json) => {
    const err = (() => {
      try {
        parseSnapshotManifest(json, 'words/snapshots/x/manifest.json');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SnapshotManifestError);
    expect((err as SnapshotManifestError).code).toBe('SNAPSHOT_MANIFEST_INVALID');
    expect((err as SnapshotManifestError).key).toBe('words/snapshots/x/manifest.json');
  });
});

describe('layout', () => {
  it('names manifests so their key can be parsed back', () => {
    const key = manifestKey('lines', '000000000001-20250301T101500Z-abcd');
    expect(key).toBe('lines/snapshots/000000000001-20250301T101500Z-abcd/manifest.json');
    expect(parseManifestKey(key)).toEqual({
      collection: 'lines',
      version: '000000000001-20250301T101500Z-abcd',
    });
    expect(parseManifestKey('lines/blobs/abc')).toBeUndefined();
  });

  it('reads delta prefixes as s3:// URIs or bare key prefixes', () => {
    expect(parseS3Prefix('s3://other/runs/r1', 'mine')).toEqual({
      bucket: 'other',
      prefix: 'runs/r1/',
    });
    expect(parseS3Prefix('runs/r1/', 'mine')).toEqual({ bucket: 'mine', prefix: 'runs/r1/' });
  });
});
