/**
 * Feature flags choosing the compaction code path (design.md, "Feature flags").
 *
 * - `COMPACTION_PATH`: `legacy` (reference: per-message apply, cold cache, full upload),
 *   `batched` (set-based apply, warm cache, incremental upload) or `shadow` (legacy is
 *   published; batched runs on a copy and the digests are compared).
 * - `COMPACTION_BATCHED_PERCENT` (0–100): with `COMPACTION_PATH=batched`, the share of
 *   batches that take the batched path; the others take legacy. The choice is stable
 *   for a given set of messages (a redelivered batch takes the same path).
 *
 * Flags come from the environment or, when `APPCONFIG_APPLICATION`,
 * `APPCONFIG_ENVIRONMENT` and `APPCONFIG_FLAGS_PROFILE` are set, from AWS AppConfig
 * (a JSON document `{ "COMPACTION_PATH": …, "COMPACTION_BATCHED_PERCENT": … }`, keys
 * optional) read through Powertools parameters and cached for a minute, so they
 * switch without a deploy. If AppConfig fails, the env values are used and the
 * failure is logged.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { getAppConfig } from '@aws-lambda-powertools/parameters/appconfig';
import { ENV, type CompactionPath } from '@compaction/contracts';
import { parseFlagValues } from './config.js';

/** The flag values in force. */
export interface CompactionFlags {
  path: CompactionPath;
  /** 0–100; only used when `path` is `batched`. */
  batchedPercent: number;
}

/** Where AppConfig flags live. */
export interface AppConfigSource {
  application: string;
  environment: string;
  profile: string;
}

/** Reads the AppConfig document; swappable so tests need no AppConfig endpoint. */
export type AppConfigFetcher = (source: AppConfigSource, maxAgeSeconds: number) => Promise<unknown>;

/** Seconds an AppConfig value is cached by Powertools before it is fetched again. */
export const FLAGS_MAX_AGE_SECONDS = 60;

/** The real fetcher: Powertools `getAppConfig` (cached, JSON-transformed). */
export const powertoolsAppConfigFetcher: AppConfigFetcher = (source, maxAge) =>
  getAppConfig(source.profile, {
    application: source.application,
    environment: source.environment,
    maxAge,
    transform: 'json',
  });

export interface FlagSourceOptions {
  /** Flags from the environment: the values when AppConfig is not configured, and the fallback. */
  env: CompactionFlags;
  appConfig?: AppConfigSource | undefined;
  fetch?: AppConfigFetcher;
  logger?: Pick<Logger, 'warn'>;
}

/**
 * Resolves the flags for one invocation.
 *
 * @example
 * const flags = new FlagSource({ env: config.flags, appConfig: config.appConfig, logger });
 * const path = routeBatch(await flags.current(), messageIds); // 'legacy' | 'batched' | 'shadow'
 */
export class FlagSource {
  readonly #o: FlagSourceOptions;

  constructor(options: FlagSourceOptions) {
    this.#o = options;
  }

  /** The flags in force now: AppConfig over env, env when AppConfig is absent or failing. */
  async current(): Promise<CompactionFlags> {
    const { env, appConfig, logger } = this.#o;
    if (!appConfig) return env;
    const fetch = this.#o.fetch ?? powertoolsAppConfigFetcher;
    try {
      const doc = await fetch(appConfig, FLAGS_MAX_AGE_SECONDS);
      const values =
        typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
      return parseFlagValues({
        path: values[ENV.compactionPath] ?? env.path,
        batchedPercent: values[ENV.batchedPercent] ?? env.batchedPercent,
      });
    } catch (err) {
      logger?.warn('AppConfig flags unavailable; using the environment values', {
        appConfig,
        flags: env,
        error: err as Error,
      });
      return env;
    }
  }
}

/**
 * A stable bucket 0–99 for a set of messages: the first 4 bytes of the sha256 of the
 * sorted message ids. The same messages land in the same bucket in any order.
 */
export function batchBucket(messageIds: readonly string[]): number {
  const digest = createHash('sha256')
    .update([...messageIds].sort().join('\n'))
    .digest();
  return digest.readUInt32BE(0) % 100;
}

/**
 * The code path one collection's batch takes.
 *
 * @example
 * routeBatch({ path: 'batched', batchedPercent: 25 }, ['m1', 'm2']) // 'batched' for 25 % of id sets
 */
export function routeBatch(flags: CompactionFlags, messageIds: readonly string[]): CompactionPath {
  if (flags.path !== 'batched') return flags.path;
  if (flags.batchedPercent >= 100) return 'batched';
  return batchBucket(messageIds) < flags.batchedPercent ? 'batched' : 'legacy';
}
