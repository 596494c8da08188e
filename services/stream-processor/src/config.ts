import { ENV, parseDeltaPrefixAllowList, type CollectionName } from '@compaction/contracts';
import { ConfigError } from './errors.js';

/** What the stream processor needs to know about its environment. */
export interface StreamProcessorConfig {
  /** The change queue of each collection (`LINES_QUEUE_URL`, `WORDS_QUEUE_URL`). */
  queueUrls: Readonly<Record<CollectionName, string>>;
  /**
   * Where records that can never be parsed go, with the raw record and the reason
   * (`REJECTS_QUEUE_URL`, the stage's `resourceNames(stage).rejectsQueue`).
   */
  rejectsQueueUrl: string;
  /**
   * Where a delta prefix may point (`DELTA_PREFIX_ALLOW_LIST`, comma-separated; unset or
   * blank: contracts `DEFAULT_DELTA_PREFIXES`, `deltas/` in the snapshot bucket). A run
   * whose prefix lies elsewhere is rejected (`delta-prefix-refused`).
   */
  deltaPrefixes: readonly string[];
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(`environment variable ${name} is required`);
  return value;
}

function deltaPrefixes(env: Readonly<Record<string, string | undefined>>): readonly string[] {
  const parsed = parseDeltaPrefixAllowList(env[ENV.deltaPrefixAllowList]);
  if (!parsed.ok) {
    throw new ConfigError(
      `${ENV.deltaPrefixAllowList} entry ${JSON.stringify(parsed.entry)} ${parsed.problem}`,
    );
  }
  return parsed.locations;
}

/**
 * Reads the configuration from environment variables named in contracts `ENV`.
 * Throws {@link ConfigError} naming the first missing variable or unusable entry.
 *
 * @example
 * const config = loadConfig(); // process.env
 * config.queueUrls.words // 'https://sqs.…/dev-words-changes'
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): StreamProcessorConfig {
  return {
    queueUrls: {
      lines: required(env, ENV.linesQueueUrl),
      words: required(env, ENV.wordsQueueUrl),
    },
    rejectsQueueUrl: required(env, ENV.rejectsQueueUrl),
    deltaPrefixes: deltaPrefixes(env),
  };
}
