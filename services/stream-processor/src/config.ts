import { ENV, type CollectionName } from '@compaction/contracts';
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
}

function required(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(`environment variable ${name} is required`);
  return value;
}

/**
 * Reads the configuration from environment variables named in contracts `ENV`.
 * Throws {@link ConfigError} naming the first missing variable.
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
  };
}
