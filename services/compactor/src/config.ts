/**
 * The compactor's configuration, read from the environment once per container.
 *
 * Names come from `ENV` in `@compaction/contracts` (the CDK app and the local runners
 * set the same variables). Endpoints are not configuration: the AWS SDK reads the
 * standard `AWS_ENDPOINT_URL[_<SERVICE>]` variables itself, so no code path differs
 * between the emulators and AWS.
 */
import {
  COMPACTION_PATHS,
  COMPACTOR_SETTINGS,
  ENV,
  parseDeltaPrefixAllowList,
  type CollectionName,
  type CompactionPath,
} from '@compaction/contracts';
import { ConfigError } from './errors.js';

/** Lease-lock timing, in milliseconds. */
export interface LockSettings {
  /** How long a lease lasts without a heartbeat. Must outlast the longest synchronous step (the apply transaction). */
  leaseMs: number;
  /** Heartbeat period (below `leaseMs`). */
  heartbeatMs: number;
  /** Longest wait for a busy lock before the batch fails back to the queue. */
  maxWaitMs: number;
  /**
   * Heartbeat from a worker thread, so a synchronous apply longer than the lease keeps
   * the lock (see `LeaseLockOptions.heartbeatThread`). On in the Lambda.
   */
  heartbeatThread?: boolean;
}

/** How a batch whose lock stayed busy is put back (see `requeue.ts`). */
export interface RequeueSettings {
  /** `DelaySeconds` of the re-sent messages (0–900). Default 30. */
  delaySeconds: number;
  /** Re-sends per message before contention fails it back like any failure. Default 20. */
  maxRequeues: number;
}

/** The time budget of one compaction (see `time-budget.ts`). */
export interface TimeBudgetSettings {
  /** Estimate of a compaction before this container has measured one, ms. Default 30 000. */
  estimateMs: number;
  /** Kept free of the remaining time on top of the estimate, ms. Default 10 000. */
  marginMs: number;
}

export interface CompactorConfig {
  stateTable: string;
  snapshotBucket: string;
  /** Root of the local cache and scratch directories. Default `/tmp/compaction`. */
  workDir: string;
  lock: LockSettings;
  /** Refuse to publish when more than this share of vectors disappears unexplained. Default 0.05. */
  maxVectorLossShare: number;
  /** Where refused messages are dead-lettered, per collection (when set). */
  dlqUrls: Partial<Record<CollectionName, string>>;
  /** Path-style S3 addressing (the local emulator needs it). */
  s3ForcePathStyle: boolean;
  /**
   * Where a delta may be read from (`DELTA_PREFIX_ALLOW_LIST`, the stream processor's
   * rule and variable; default contracts `DEFAULT_DELTA_PREFIXES`, `deltas/`). A delta
   * message naming another prefix is dead-lettered (`delta-prefix-refused`) unread.
   */
  deltaPrefixes: readonly string[];
  /** Lock contention: the batch goes back to its queue delayed, its receive count fresh. */
  requeue: RequeueSettings;
  /** What a compaction must find left of the invocation to start. */
  timeBudget: TimeBudgetSettings;
  /** Env-level flags; AppConfig may override them (see `flags.ts`). */
  flags: { path: CompactionPath; batchedPercent: number };
  /** AWS AppConfig source of the flags, when all three names are set. */
  appConfig: { application: string; environment: string; profile: string } | undefined;
}

/** Defaults of the optional settings: the shared `COMPACTOR_SETTINGS` (the CDK app sets the same). */
export const CONFIG_DEFAULTS = {
  workDir: COMPACTOR_SETTINGS.workDir,
  lock: { ...COMPACTOR_SETTINGS.lock, heartbeatThread: true },
  requeue: COMPACTOR_SETTINGS.requeue,
  timeBudget: COMPACTOR_SETTINGS.timeBudget,
  maxVectorLossShare: COMPACTOR_SETTINGS.maxVectorLossShare,
  path: COMPACTOR_SETTINGS.flags.path as CompactionPath,
  batchedPercent: COMPACTOR_SETTINGS.flags.batchedPercent,
} as const;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads and validates the configuration. Throws {@link ConfigError} naming the first
 * bad variable.
 *
 * @example
 * const config = loadConfig(process.env);
 * config.lock.leaseMs // 60000 unless LOCK_LEASE_MS is set
 */
export function loadConfig(env: Env = process.env): CompactorConfig {
  const lock = {
    leaseMs: int(env, ENV.lockLeaseMs, CONFIG_DEFAULTS.lock.leaseMs, 1),
    heartbeatMs: int(env, ENV.lockHeartbeatMs, CONFIG_DEFAULTS.lock.heartbeatMs, 1),
    maxWaitMs: int(env, ENV.lockMaxWaitMs, CONFIG_DEFAULTS.lock.maxWaitMs, 0),
    heartbeatThread: true,
  };
  if (lock.heartbeatMs >= lock.leaseMs) {
    throw new ConfigError(
      ENV.lockHeartbeatMs,
      `must be below ${ENV.lockLeaseMs} (${lock.leaseMs})`,
    );
  }
  const share = num(env, ENV.maxVectorLossShare, CONFIG_DEFAULTS.maxVectorLossShare);
  if (!(share >= 0 && share <= 1))
    throw new ConfigError(ENV.maxVectorLossShare, 'must be between 0 and 1');
  const application = env[ENV.appConfigApplication];
  const environment = env[ENV.appConfigEnvironment];
  const profile = env[ENV.appConfigFlagsProfile];
  const allowList = parseDeltaPrefixAllowList(env[ENV.deltaPrefixAllowList]);
  if (!allowList.ok) {
    throw new ConfigError(
      ENV.deltaPrefixAllowList,
      `entry ${JSON.stringify(allowList.entry)} ${allowList.problem}`,
    );
  }
  const requeue = {
    delaySeconds: int(env, ENV.lockRequeueDelaySeconds, CONFIG_DEFAULTS.requeue.delaySeconds, 0),
    maxRequeues: int(env, ENV.lockMaxRequeues, CONFIG_DEFAULTS.requeue.maxRequeues, 0),
  };
  if (requeue.delaySeconds > 900) {
    throw new ConfigError(ENV.lockRequeueDelaySeconds, 'must be at most 900 (SQS DelaySeconds)');
  }
  const timeBudget = {
    estimateMs: int(env, ENV.compactionEstimateMs, CONFIG_DEFAULTS.timeBudget.estimateMs, 0),
    marginMs: int(env, ENV.compactionMarginMs, CONFIG_DEFAULTS.timeBudget.marginMs, 0),
  };
  const dlqUrls: Partial<Record<CollectionName, string>> = {};
  if (env[ENV.linesDlqUrl]) dlqUrls.lines = env[ENV.linesDlqUrl];
  if (env[ENV.wordsDlqUrl]) dlqUrls.words = env[ENV.wordsDlqUrl];
  return {
    stateTable: required(env, ENV.stateTable),
    snapshotBucket: required(env, ENV.snapshotBucket),
    workDir: env[ENV.workDir] || CONFIG_DEFAULTS.workDir,
    lock,
    maxVectorLossShare: share,
    dlqUrls,
    s3ForcePathStyle: (env[ENV.s3ForcePathStyle] ?? '').toLowerCase() === 'true',
    deltaPrefixes: allowList.locations,
    requeue,
    timeBudget,
    flags: parseFlagValues({
      path: env[ENV.compactionPath],
      batchedPercent: env[ENV.batchedPercent],
    }),
    appConfig:
      application && environment && profile ? { application, environment, profile } : undefined,
  };
}

/**
 * Validates flag values from any source (env strings or AppConfig JSON). Missing
 * values take the defaults (`batched`, 100 %).
 */
export function parseFlagValues(raw: { path?: unknown; batchedPercent?: unknown }): {
  path: CompactionPath;
  batchedPercent: number;
} {
  const path = raw.path === undefined || raw.path === '' ? CONFIG_DEFAULTS.path : raw.path;
  if (typeof path !== 'string' || !(COMPACTION_PATHS as readonly string[]).includes(path)) {
    throw new ConfigError(
      ENV.compactionPath,
      `must be one of ${COMPACTION_PATHS.join(', ')} (got ${JSON.stringify(path)})`,
    );
  }
  const rawPercent = raw.batchedPercent;
  const percent =
    rawPercent === undefined || rawPercent === ''
      ? CONFIG_DEFAULTS.batchedPercent
      : Number(rawPercent);
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
    throw new ConfigError(
      ENV.batchedPercent,
      `must be an integer 0–100 (got ${JSON.stringify(rawPercent)})`,
    );
  }
  return { path: path as CompactionPath, batchedPercent: percent };
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (!value) throw new ConfigError(name, 'is required');
  return value;
}

function num(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value))
    throw new ConfigError(name, `is not a number (${JSON.stringify(raw)})`);
  return value;
}

function int(env: Env, name: string, fallback: number, min: number): number {
  const value = num(env, name, fallback);
  if (!Number.isInteger(value) || value < min)
    throw new ConfigError(name, `must be an integer ≥ ${min}`);
  return value;
}
