import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TransformParameterError } from '@aws-lambda-powertools/parameters';
import { AppConfigProvider } from '@aws-lambda-powertools/parameters/appconfig';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ENV, METRIC } from '@compaction/contracts';
import { RecordingMetrics } from '@compaction/snapshot-store';
import {
  FlagSource,
  batchBucket,
  flagsDocumentProblems,
  routeBatch,
  type AppConfigFetcher,
} from '../src/flags.js';
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

  it('falls back to the environment, and logs it, when AppConfig fails or holds a bad value before any valid one', async () => {
    const logger = new RecordingLogger();
    const metrics = new RecordingMetrics();
    const failing: AppConfigFetcher = async () => {
      throw new Error('AppConfig unreachable');
    };
    expect(
      await new FlagSource({ env, appConfig: source, fetch: failing, logger, metrics }).current(),
    ).toEqual(env);
    expect(logger.find('AppConfig flags unavailable')).toMatchObject([
      { level: 'warn', attributes: { using: 'environment', flags: env } },
    ]);
    // Unreachable is not invalid: nothing counted.
    expect(metrics.sum(METRIC.compactionFlagsInvalid)).toBe(0);

    const invalid: AppConfigFetcher = async () => ({ [ENV.compactionPath]: 'turbo' });
    expect(
      await new FlagSource({ env, appConfig: source, fetch: invalid, logger, metrics }).current(),
    ).toEqual(env);
    expect(logger.find('AppConfig flags document invalid; not used')).toMatchObject([
      {
        level: 'error',
        attributes: {
          appConfig: source,
          document: { [ENV.compactionPath]: 'turbo' },
          problems: ['COMPACTION_PATH must be one of legacy, batched, shadow (got "turbo")'],
          using: 'environment',
          flags: env,
        },
      },
    ]);
    expect(metrics.sum(METRIC.compactionFlagsInvalid)).toBe(1);
  });

  it('counts and logs every invalid document and keeps the last valid document, not the environment', async () => {
    const documents: unknown[] = [
      { [ENV.compactionPath]: 'shadow', [ENV.batchedPercent]: 0 },
      { [ENV.batchedPercent]: '50' }, // a string: the schema wants an integer
      { [ENV.compactionPath]: 'batched', COMPACTION_BATCHED_PERCENTAGE: 10 }, // a typo'd key
      [],
    ];
    const fetch: AppConfigFetcher = async () => {
      const next = documents.shift();
      if (next === undefined) throw new TransformParameterError('json', 'Unexpected token');
      return next;
    };
    const logger = new RecordingLogger();
    const metrics = new RecordingMetrics();
    const flags = new FlagSource({ env, appConfig: source, fetch, logger, metrics });
    const lastValid = { path: 'shadow', batchedPercent: 0 };

    expect(await flags.current()).toEqual(lastValid);
    for (let read = 1; read <= 4; read++) {
      expect(await flags.current()).toEqual(lastValid);
      expect(metrics.sum(METRIC.compactionFlagsInvalid)).toBe(read);
    }
    const refused = logger.find('AppConfig flags document invalid; not used');
    expect(refused.map((l) => l.level)).toEqual(['error', 'error', 'error', 'error']);
    expect(refused.map((l) => l.attributes.using)).toEqual(Array(4).fill('last valid document'));
    expect(refused.map((l) => l.attributes.problems)).toEqual([
      ['COMPACTION_BATCHED_PERCENT must be an integer 0–100 (got "50")'],
      ['unknown key "COMPACTION_BATCHED_PERCENTAGE"'],
      ['the document must be a JSON object (got [])'],
      [expect.stringMatching(/^the document is not JSON: /)],
    ]);
    for (const line of refused) expect(line.attributes.flags).toEqual(lastValid);

    // A valid document is taken again at once, and AppConfig being unreachable keeps it too.
    const after = new FlagSource({
      env,
      appConfig: source,
      logger,
      metrics,
      fetch: async () => ({ [ENV.compactionPath]: 'legacy' }),
    });
    expect(await after.current()).toEqual({ path: 'legacy', batchedPercent: 100 });
  });

  it('keeps the last valid document while AppConfig is unreachable', async () => {
    let reachable = true;
    const fetch: AppConfigFetcher = async () => {
      if (!reachable) throw new Error('AppConfig unreachable');
      return { [ENV.compactionPath]: 'legacy', [ENV.batchedPercent]: 0 };
    };
    const logger = new RecordingLogger();
    const flags = new FlagSource({ env, appConfig: source, fetch, logger });
    expect(await flags.current()).toEqual({ path: 'legacy', batchedPercent: 0 });
    reachable = false;
    expect(await flags.current()).toEqual({ path: 'legacy', batchedPercent: 0 });
    expect(logger.find('AppConfig flags unavailable')).toMatchObject([
      { level: 'warn', attributes: { using: 'last valid document' } },
    ]);
  });

  it('judges a document by the rules of the profile schema', () => {
    expect(flagsDocumentProblems({})).toEqual([]);
    expect(
      flagsDocumentProblems({ [ENV.compactionPath]: 'batched', [ENV.batchedPercent]: 100 }),
    ).toEqual([]);
    expect(flagsDocumentProblems({ [ENV.batchedPercent]: 0 })).toEqual([]);
    expect(flagsDocumentProblems(null)).toEqual(['the document must be a JSON object (got null)']);
    expect(flagsDocumentProblems('batched')).toHaveLength(1);
    expect(flagsDocumentProblems({ [ENV.batchedPercent]: 101 })).toHaveLength(1);
    expect(flagsDocumentProblems({ [ENV.batchedPercent]: -1 })).toHaveLength(1);
    expect(flagsDocumentProblems({ [ENV.batchedPercent]: 12.5 })).toHaveLength(1);
    expect(flagsDocumentProblems({ [ENV.compactionPath]: 'BATCHED', extra: true })).toHaveLength(2);
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

    it('counts a document that is not JSON as invalid, not as AppConfig being unavailable', async () => {
      const server = await appConfigData('{"COMPACTION_PATH": "shadow",');
      try {
        // Its own provider: the default one keeps the client (and endpoint) of earlier tests.
        const provider = new AppConfigProvider({
          application: source.application,
          environment: source.environment,
          clientConfig: {
            region: 'us-east-1',
            endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
            maxAttempts: 1,
          },
        });
        const fetch: AppConfigFetcher = (s, maxAge) =>
          provider.get(s.profile, { maxAge, transform: 'json' });
        const logger = new RecordingLogger();
        const metrics = new RecordingMetrics();
        expect(
          await new FlagSource({ env, appConfig: source, fetch, logger, metrics }).current(),
        ).toEqual(env);
        expect(metrics.sum(METRIC.compactionFlagsInvalid)).toBe(1);
        expect(logger.find('AppConfig flags unavailable')).toEqual([]);
        expect(logger.find('AppConfig flags document invalid; not used')).toMatchObject([
          { attributes: { using: 'environment', problems: [expect.stringMatching(/not JSON/)] } },
        ]);
      } finally {
        server.close();
      }
    });
  });
});

/** A minimal AppConfig Data endpoint (StartConfigurationSession, GetLatestConfiguration) serving `body`. */
async function appConfigData(body: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url?.startsWith('/configurationsessions')) {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ InitialConfigurationToken: 'token-1' }));
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'next-poll-configuration-token': 'token-2',
      'next-poll-interval-in-seconds': '60',
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}
