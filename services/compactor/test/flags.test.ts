import { afterEach, describe, expect, it, vi } from 'vitest';
import { ENV } from '@compaction/contracts';
import { FlagSource, batchBucket, routeBatch, type AppConfigFetcher } from '../src/flags.js';
import { RecordingLogger } from './support/logger.js';

const ids = (n: number, prefix = 'id') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('routeBatch', () => {
  it('passes legacy and shadow through; batched at 100 % is always batched, at 0 % never', () => {
    expect(routeBatch({ path: 'legacy', batchedPercent: 100 }, ids(3))).toBe('legacy');
    expect(routeBatch({ path: 'shadow', batchedPercent: 0 }, ids(3))).toBe('shadow');
    expect(routeBatch({ path: 'batched', batchedPercent: 100 }, ids(3))).toBe('batched');
    expect(routeBatch({ path: 'batched', batchedPercent: 0 }, ids(3))).toBe('legacy');
  });

  it('routes a stable share: the same messages in any order take the same path, and about N % go batched', () => {
    const batch = ids(7, 'msg');
    expect(batchBucket([...batch].reverse())).toBe(batchBucket(batch));
    const flags = { path: 'batched' as const, batchedPercent: 30 };
    let batched = 0;
    for (let i = 0; i < 2000; i++) {
      const set = ids(3, `b${i}`);
      const path = routeBatch(flags, set);
      expect(routeBatch(flags, [...set].reverse())).toBe(path);
      if (path === 'batched') batched++;
    }
    expect(batched / 2000).toBeGreaterThan(0.26);
    expect(batched / 2000).toBeLessThan(0.34);
  });
});

describe('FlagSource', () => {
  const env = { path: 'batched' as const, batchedPercent: 100 };
  const source = { application: 'receipts', environment: 'prod', profile: 'flags' };

  it('uses the environment when AppConfig is not configured', async () => {
    expect(await new FlagSource({ env }).current()).toEqual(env);
  });

  it('takes AppConfig values over the environment, key by key', async () => {
    const fetch: AppConfigFetcher = async (s, maxAge) => {
      expect(s).toEqual(source);
      expect(maxAge).toBe(60);
      return { [ENV.compactionPath]: 'shadow' };
    };
    expect(await new FlagSource({ env, appConfig: source, fetch }).current()).toEqual({
      path: 'shadow',
      batchedPercent: 100,
    });
    const both: AppConfigFetcher = async () => ({
      [ENV.compactionPath]: 'batched',
      [ENV.batchedPercent]: 25,
    });
    expect(await new FlagSource({ env, appConfig: source, fetch: both }).current()).toEqual({
      path: 'batched',
      batchedPercent: 25,
    });
  });

  it('falls back to the environment, and logs it, when AppConfig fails or holds a bad value', async () => {
    const logger = new RecordingLogger();
    const failing: AppConfigFetcher = async () => {
      throw new Error('AppConfig unreachable');
    };
    expect(
      await new FlagSource({ env, appConfig: source, fetch: failing, logger }).current(),
    ).toEqual(env);
    const invalid: AppConfigFetcher = async () => ({ [ENV.compactionPath]: 'turbo' });
    expect(
      await new FlagSource({ env, appConfig: source, fetch: invalid, logger }).current(),
    ).toEqual(env);
    expect(logger.find('AppConfig flags unavailable; using the environment values')).toHaveLength(
      2,
    );
  });

  describe('with the real Powertools AppConfig provider', () => {
    const saved = { ...process.env };
    afterEach(() => {
      process.env = saved;
    });
    it('falls back to the environment when AppConfig cannot be reached', async () => {
      Object.assign(process.env, {
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_APPCONFIGDATA: 'http://127.0.0.1:9',
        AWS_MAX_ATTEMPTS: '1',
      });
      const logger = new RecordingLogger();
      const warn = vi.spyOn(logger, 'warn');
      expect(await new FlagSource({ env, appConfig: source, logger }).current()).toEqual(env);
      expect(warn).toHaveBeenCalledOnce();
    });
  });
});
