import { describe, expect, it } from 'vitest';
import { ENV } from '@compaction/contracts';
import { CONFIG_DEFAULTS, loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';

const required = { [ENV.stateTable]: 'dev-compaction-state', [ENV.snapshotBucket]: 'dev-bucket' };

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(required);
    expect(config).toMatchObject({
      stateTable: 'dev-compaction-state',
      snapshotBucket: 'dev-bucket',
      workDir: '/tmp/compaction',
      lock: CONFIG_DEFAULTS.lock,
      maxVectorLossShare: 0.05,
      dlqUrls: {},
      s3ForcePathStyle: false,
      flags: { path: 'batched', batchedPercent: 100 },
      appConfig: undefined,
    });
  });

  it('reads every setting', () => {
    const config = loadConfig({
      ...required,
      [ENV.workDir]: '/tmp/x',
      [ENV.lockLeaseMs]: '5000',
      [ENV.lockHeartbeatMs]: '1000',
      [ENV.lockMaxWaitMs]: '0',
      [ENV.maxVectorLossShare]: '0.1',
      [ENV.linesDlqUrl]: 'https://sqs/lines-dlq',
      [ENV.wordsDlqUrl]: 'https://sqs/words-dlq',
      [ENV.s3ForcePathStyle]: 'true',
      [ENV.compactionPath]: 'shadow',
      [ENV.batchedPercent]: '10',
      [ENV.appConfigApplication]: 'a',
      [ENV.appConfigEnvironment]: 'e',
      [ENV.appConfigFlagsProfile]: 'p',
    });
    expect(config).toMatchObject({
      workDir: '/tmp/x',
      lock: { leaseMs: 5000, heartbeatMs: 1000, maxWaitMs: 0, heartbeatThread: true },
      maxVectorLossShare: 0.1,
      dlqUrls: { lines: 'https://sqs/lines-dlq', words: 'https://sqs/words-dlq' },
      s3ForcePathStyle: true,
      flags: { path: 'shadow', batchedPercent: 10 },
      appConfig: { application: 'a', environment: 'e', profile: 'p' },
    });
  });

  it.each([
    [{}, ENV.stateTable],
    [{ [ENV.stateTable]: 't' }, ENV.snapshotBucket],
    [{ ...required, [ENV.lockHeartbeatMs]: '60000' }, ENV.lockHeartbeatMs],
    [{ ...required, [ENV.lockLeaseMs]: 'soon' }, ENV.lockLeaseMs],
    [{ ...required, [ENV.maxVectorLossShare]: '2' }, ENV.maxVectorLossShare],
    [{ ...required, [ENV.compactionPath]: 'fast' }, ENV.compactionPath],
    [{ ...required, [ENV.batchedPercent]: '101' }, ENV.batchedPercent],
  ])('refuses %j naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    try {
      loadConfig(env);
    } catch (err) {
      expect((err as ConfigError).variable).toBe(variable);
    }
  });
});
