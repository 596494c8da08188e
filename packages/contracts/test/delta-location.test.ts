import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DELTA_PREFIXES,
  deltaLocationProblem,
  deltaPrefixRefusal,
  parseDeltaPrefixAllowList,
} from '../src/index.js';

describe('deltaPrefixRefusal', () => {
  it('accepts a prefix strictly inside the default area, with or without the trailing /', () => {
    expect(DEFAULT_DELTA_PREFIXES).toEqual(['deltas/']);
    for (const prefix of ['deltas/run-7/words/', 'deltas/run-7/lines', 'deltas/a.b:c_d-e/']) {
      expect(deltaPrefixRefusal(prefix), prefix).toBeUndefined();
    }
  });

  it.each([
    ['', /is empty/],
    ['   ', /is empty/],
    ['deltas/', /not inside an allowed location \(deltas\/\)/],
    ['deltas', /not inside/],
    ['deltas-evil/x/', /not inside/],
    ['blobs/run-7/', /not inside/],
    ['deltas/../lines/blobs/', /\. or \.\. segment/],
    ['deltas/./x/', /\. or \.\. segment/],
    ['s3://someone-elses-bucket/../../', /\. or \.\. segment/],
    ['s3://someone-elses-bucket/deltas/run-7/', /not inside/],
    ['s3:///deltas/run-7/', /names no bucket/],
    ['/deltas/run-7/', /empty path segment/],
    ['deltas//run-7/', /empty path segment/],
    ['deltas\\..\\x/', /backslash/],
    ['https://example.com/deltas/x/', /neither s3:/],
    ['deltas/run\u0000/', /control character/],
    [' deltas/run-7/', /whitespace/],
  ])('refuses %j', (prefix, reason) => {
    expect(deltaPrefixRefusal(prefix)).toMatch(reason);
  });

  it('follows a configured allow-list: another bucket only where it is listed', () => {
    const allowed = ['deltas/', 's3://partner-bucket/embeddings/'];
    expect(deltaPrefixRefusal('s3://partner-bucket/embeddings/run-1/', allowed)).toBeUndefined();
    expect(deltaPrefixRefusal('deltas/run-1/', allowed)).toBeUndefined();
    expect(deltaPrefixRefusal('s3://partner-bucket/other/run-1/', allowed)).toMatch(/not inside/);
    expect(deltaPrefixRefusal('s3://other-bucket/embeddings/run-1/', allowed)).toMatch(
      /allowed location \(deltas\/, s3:\/\/partner-bucket\/embeddings\/\)/,
    );
    expect(deltaPrefixRefusal('embeddings/run-1/', allowed)).toMatch(/not inside/);
  });
});

describe('deltaLocationProblem', () => {
  it('checks an allow-list entry', () => {
    expect(deltaLocationProblem('s3://partner-bucket/embeddings/')).toBeUndefined();
    expect(deltaLocationProblem('deltas')).toBeUndefined();
    expect(deltaLocationProblem('../')).toMatch(/\.\./);
    expect(deltaLocationProblem('')).toMatch(/empty/);
  });
});

describe('parseDeltaPrefixAllowList', () => {
  it('defaults when unset or blank, trims entries, names the first unusable one', () => {
    expect(parseDeltaPrefixAllowList(undefined)).toEqual({
      ok: true,
      locations: DEFAULT_DELTA_PREFIXES,
    });
    expect(parseDeltaPrefixAllowList('  ')).toEqual({
      ok: true,
      locations: DEFAULT_DELTA_PREFIXES,
    });
    expect(parseDeltaPrefixAllowList(' deltas/ , s3://partner/emb/')).toEqual({
      ok: true,
      locations: ['deltas/', 's3://partner/emb/'],
    });
    expect(parseDeltaPrefixAllowList('deltas/,../,s3:///x')).toEqual({
      ok: false,
      entry: '../',
      problem: 'has a . or .. segment',
    });
  });
});
