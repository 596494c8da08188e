import { describe, expect, it } from 'vitest';
import {
  compactionRunSk,
  labelSk,
  lineSk,
  parseTableKey,
  placeSk,
  receiptPk,
  receiptSk,
  wordSk,
} from '@compaction/contracts';
import { STREAM_FILTER_PATTERNS } from '../../lib/stream-processor.js';

/**
 * Evaluates the subset of Lambda filter syntax the stream filter uses (nested objects,
 * arrays of exact values or `{ prefix }`), so the patterns can be checked against the keys
 * the contracts build, without an AWS account.
 */
function matches(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) {
    return pattern.some((rule) =>
      typeof rule === 'object' && rule !== null && 'prefix' in rule
        ? typeof event === 'string' && event.startsWith(String((rule as { prefix: string }).prefix))
        : rule === event,
    );
  }
  if (typeof pattern === 'object' && pattern !== null) {
    if (typeof event !== 'object' || event === null) return false;
    return Object.entries(pattern).every(([key, sub]) =>
      matches(sub, (event as Record<string, unknown>)[key]),
    );
  }
  return false;
}

const record = (pk: string, sk: string) => ({
  eventName: 'MODIFY',
  dynamodb: { Keys: { PK: { S: pk }, SK: { S: sk } } },
});
const passes = (pk: string, sk: string) =>
  STREAM_FILTER_PATTERNS.some((pattern) => matches(pattern, record(pk, sk)));

const image = receiptPk('3f2a6c1e-8b1d-4f7a-9c3e-2d5b7a9e1c4f');

describe('stream filter', () => {
  it('lets through every entity the service cares about', () => {
    const relevant = [
      placeSk(1),
      'RECEIPT#00001#METADATA',
      labelSk(1, 2, 3, 'TOTAL'),
      receiptSk(1),
      compactionRunSk(1, 'run-2024-01-01'),
    ];
    for (const sk of relevant) {
      expect(parseTableKey(image, sk).type, sk).not.toBe('other');
      expect(passes(image, sk), sk).toBe(true);
    }
  });

  it('drops image-level rows and other entities of the table', () => {
    for (const [pk, sk] of [
      [image, 'IMAGE'],
      [image, 'LINE#00001'],
      [image, 'LINE#00001#WORD#00002'],
      ['BATCH_SUMMARY#abc', 'STATUS'],
      ['JOB#123', 'RECEIPT#00001#PLACE'],
    ] as const) {
      expect(passes(pk, sk), `${pk} ${sk}`).toBe(false);
    }
  });

  it('narrows only approximately: receipt lines and words pass (prefix filters cannot tell them from labels)', () => {
    for (const sk of [lineSk(1, 2), wordSk(1, 2, 3)]) {
      expect(passes(image, sk), sk).toBe(true);
      expect(parseTableKey(image, sk).type, sk).toBe('other'); // the processor ignores them
    }
  });
});
