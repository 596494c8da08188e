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
 * switch without a deploy.
 *
 * A document is valid when it is a JSON object with at most those two keys,
 * `COMPACTION_PATH` one of the paths and `COMPACTION_BATCHED_PERCENT` an integer 0–100
 * (the rules of the profile's JSON-schema validator, `lib/runtime-flags.ts`). An invalid
 * document (or one that is not JSON) is logged at ERROR with its problems and counted
 * (`CompactionFlagsInvalid`) on every read, and never used: the compactor keeps the
 * values of the last valid document this container read, and takes the environment's
 * values only when it has read none. AppConfig being unreachable is logged (WARN) and
 * handled the same way.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { TransformParameterError } from '@aws-lambda-powertools/parameters';
import { getAppConfig } from '@aws-lambda-powertools/parameters/appconfig';
import { COMPACTION_PATHS, ENV, METRIC, type CompactionPath } from '@compaction/contracts';
import { count, type MetricsSink } from '@compaction/snapshot-store';

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
  logger?: Pick<Logger, 'warn' | 'error'>;
  /** Counts `CompactionFlagsInvalid`. */
  metrics?: MetricsSink;
}

/** Which values the compactor uses when AppConfig gives it no valid document. */
export type FlagsFallback = 'last valid document' | 'environment';

/**
 * Why `doc` is not a valid flags document (empty when it is valid). The same rules as the
 * profile's JSON-schema validator (`FLAGS_DOCUMENT_SCHEMA` in `lib/runtime-flags.ts`).
 *
 * @example
 * flagsDocumentProblems({ COMPACTION_PATH: 'turbo' }) // ['COMPACTION_PATH must be one of legacy, batched, shadow (got "turbo")']
 */
export function flagsDocumentProblems(doc: unknown): string[] {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return [`the document must be a JSON object (got ${JSON.stringify(doc) ?? String(doc)})`];
  }
  const problems: string[] = [];
  const values = doc as Record<string, unknown>;
  for (const key of Object.keys(values)) {
    if (key !== ENV.compactionPath && key !== ENV.batchedPercent) {
      problems.push(`unknown key ${JSON.stringify(key)}`);
    }
  }
  const path = values[ENV.compactionPath];
  if (
    path !== undefined &&
    (typeof path !== 'string' || !(COMPACTION_PATHS as readonly string[]).includes(path))
  ) {
    problems.push(
      `${ENV.compactionPath} must be one of ${COMPACTION_PATHS.join(', ')} (got ${JSON.stringify(path)})`,
    );
  }
  const percent = values[ENV.batchedPercent];
  if (
    percent !== undefined &&
    (typeof percent !== 'number' || !Number.isInteger(percent) || percent < 0 || percent > 100)
  ) {
    problems.push(
      `${ENV.batchedPercent} must be an integer 0–100 (got ${JSON.stringify(percent)})`,
    );
  }
  return problems;
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
  /** The flags of the last valid AppConfig document this source read. */
  #lastValid: CompactionFlags | undefined;

  constructor(options: FlagSourceOptions) {
    this.#o = options;
  }

  /**
   * The flags in force now: the AppConfig document over the environment, key by key. With
   * no valid document (invalid, not JSON, or AppConfig unreachable), the last valid
   * document's flags, else the environment's; the reason is logged, and an invalid
   * document is counted (`CompactionFlagsInvalid`).
   */
  async current(): Promise<CompactionFlags> {
    const { env, appConfig, logger } = this.#o;
    if (!appConfig) return env;
    const fetch = this.#o.fetch ?? powertoolsAppConfigFetcher;
    let doc: unknown;
    try {
      doc = await fetch(appConfig, FLAGS_MAX_AGE_SECONDS);
    } catch (err) {
      if (!(err instanceof TransformParameterError)) {
        const [using, flags] = this.#fallback();
        logger?.warn('AppConfig flags unavailable', {
          appConfig,
          using,
          flags,
          error: err as Error,
        });
        return flags;
      }
      return this.#refuse([`the document is not JSON: ${err.message}`]);
    }
    const problems = flagsDocumentProblems(doc);
    if (problems.length > 0) return this.#refuse(problems, doc);
    const values = doc as Record<string, unknown>;
    this.#lastValid = {
      path: (values[ENV.compactionPath] as CompactionPath | undefined) ?? env.path,
      batchedPercent: (values[ENV.batchedPercent] as number | undefined) ?? env.batchedPercent,
    };
    return this.#lastValid;
  }

  #refuse(problems: string[], document?: unknown): CompactionFlags {
    const { appConfig, logger, metrics } = this.#o;
    if (metrics) count(metrics, METRIC.compactionFlagsInvalid);
    const [using, flags] = this.#fallback();
    logger?.error('AppConfig flags document invalid; not used', {
      appConfig,
      problems,
      ...(document === undefined ? {} : { document }),
      using,
      flags,
    });
    return flags;
  }

  #fallback(): [FlagsFallback, CompactionFlags] {
    return this.#lastValid
      ? ['last valid document', this.#lastValid]
      : ['environment', this.#o.env];
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
