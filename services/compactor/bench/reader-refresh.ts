/**
 * A consumer's side of a compaction: a reader (`openLatest`) serving the base version
 * when a 1-message batch (metadata only) is published; `refresh()` is timed, with the
 * bytes it fetched against the bytes the compaction uploaded.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Pointer } from '@compaction/snapshot-store';
import { openLatest } from '@compaction/snapshot-store';
import type { MessageItem } from '../src/compact.js';
import { compactIn, container, resetTo, type BenchEnv } from './scenarios.js';

export interface ReaderRefreshResult {
  name: string;
  refreshMs: number;
  mode: string;
  bytesFetched: number;
  compactionBytesUploaded: number;
  /** Time of openLatest on the base version (a full verified download), untimed in the table. */
  openMs: number;
}

export async function measureReaderRefresh(
  env: BenchEnv,
  base: Pointer,
  batch: MessageItem[],
): Promise<ReaderRefreshResult> {
  await resetTo(env, base);
  // latest.json names the base version again (resetTo moves only the pointer).
  const c = await container(env);
  await c.repository.writeLatest(env.collection, {
    version: base.version,
    manifestKey: base.manifestKey,
    fencingToken: base.fencingToken,
  });
  let start = performance.now();
  const reader = await openLatest({
    s3: env.s3,
    bucket: env.bucket,
    collection: env.collection,
    cacheDir: join(env.scratch, `reader-${Date.now()}`),
  });
  const openMs = performance.now() - start;
  try {
    const result = await compactIn(env, c, batch, 'batched');
    start = performance.now();
    const refreshed = await reader.refresh();
    const refreshMs = performance.now() - start;
    if (!refreshed.changed || reader.version !== result.version)
      throw new Error(`reader did not move to ${result.version}`);
    return {
      name: `reader refresh after ${batch.length} msg`,
      refreshMs,
      mode: refreshed.mode,
      bytesFetched: refreshed.bytesFetched,
      compactionBytesUploaded: result.bytesUploaded,
      openMs,
    };
  } finally {
    await reader.close();
  }
}
