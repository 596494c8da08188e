/**
 * One benchmark scenario = one compaction of the same batch on the same base version,
 * in a simulated Lambda container: `legacy` (cold: downloads), `batched` cold (a new
 * container, empty cache) and `batched` warm (the container's cache already holds the
 * base version). Between scenarios the pointer is rolled back to the base version, so
 * every scenario does exactly the same work.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CollectionName, CompactionPath } from '@compaction/contracts';
import { compactCollection, type MessageItem, type Phase } from '../src/compact.js';
import {
  RecordingMetrics,
  LeaseLock,
  PointerStore,
  type Pointer,
  LocalCache,
  SnapshotRepository,
} from '@compaction/snapshot-store';

/** Lease long enough for the longest synchronous step (legacy's apply on 100k vectors). */
export const BENCH_LOCK = { leaseMs: 600_000, heartbeatMs: 60_000, maxWaitMs: 10_000 };

const silent = { debug() {}, info() {}, warn() {}, error() {} };

export interface BenchEnv {
  s3: S3Client;
  ddb: DynamoDBDocumentClient;
  bucket: string;
  table: string;
  collection: CollectionName;
  scratch: string;
}

export interface ScenarioResult {
  name: string;
  path: CompactionPath;
  cache: 'cold' | 'warm';
  durationsMs: Partial<Record<Phase, number>>;
  bytesDownloaded: number;
  bytesUploaded: number;
  writeCalls: number;
  applied: number;
  stale: number;
  pendingUpdates: number;
  digest: string | undefined;
}

/** A container: its own work dir, repository, cache. */
async function container(env: BenchEnv) {
  const workDir = await mkdtemp(join(env.scratch, 'container-'));
  const metrics = new RecordingMetrics();
  const repository = new SnapshotRepository({ s3: env.s3, bucket: env.bucket, metrics });
  const cache = new LocalCache({ workDir, repository });
  const pointers = new PointerStore({ ddb: env.ddb, table: env.table });
  return { workDir, metrics, repository, cache, pointers };
}

/**
 * Points the collection back at `base` (as an operator rollback would) and prunes
 * every manifest and blob the base version does not use: blobs are content-addressed,
 * so without this a scenario would find the previous scenario's identical output
 * already uploaded and measure no upload at all.
 */
export async function resetTo(env: BenchEnv, base: Pointer): Promise<void> {
  const repository = new SnapshotRepository({ s3: env.s3, bucket: env.bucket });
  const keep = new Set(
    (await repository.readManifest(base.manifestKey)).files.map((f) => f.sha256),
  );
  for (const m of await repository.listManifests(env.collection)) {
    if (m.version !== base.version) await repository.deleteManifest(env.collection, m.version);
  }
  for (const b of await repository.listBlobs(env.collection)) {
    if (!keep.has(b.sha256)) await repository.deleteBlob(env.collection, b.sha256);
  }
  const pointers = new PointerStore({ ddb: env.ddb, table: env.table });
  const current = await pointers.read(env.collection);
  if (!current || current.version === base.version) return;
  const handle = await new LeaseLock({
    ...BENCH_LOCK,
    ddb: env.ddb,
    table: env.table,
    collection: env.collection,
    owner: 'bench-reset',
  }).acquire();
  try {
    await pointers.rollback({
      collection: env.collection,
      toVersion: base.version,
      toManifestKey: base.manifestKey,
      fencingToken: handle.token,
      expectedCurrentVersion: current.version,
    });
  } finally {
    await handle.release();
  }
}

/** Runs one scenario from `base`. */
export async function runScenario(
  env: BenchEnv,
  base: Pointer,
  messages: MessageItem[],
  which: { path: CompactionPath; cache: 'cold' | 'warm' },
): Promise<ScenarioResult> {
  await resetTo(env, base);
  const c = await container(env);
  if (which.cache === 'warm') {
    // Prime the container's cache with the base version (untimed: an earlier invocation did it).
    const { dir } = await c.cache.checkout(env.collection, base, { mode: 'cold' });
    await c.cache.commit(env.collection, dir, base.version);
  }
  const result = await compactCollection({
    collection: env.collection,
    messages,
    path: which.path,
    deps: {
      ddb: env.ddb,
      stateTable: env.table,
      lock: BENCH_LOCK,
      owner: `bench-${which.path}-${which.cache}-${Date.now()}`,
      clock: { now: () => Date.now() },
      logger: silent,
      metrics: c.metrics,
      repository: c.repository,
      pointers: c.pointers,
      cache: c.cache,
      workDir: c.workDir,
    },
  });
  return {
    name: `${which.path} ${which.cache}`,
    path: which.path,
    cache: which.cache,
    durationsMs: result.durationsMs,
    bytesDownloaded: result.bytesDownloaded,
    bytesUploaded: result.bytesUploaded,
    writeCalls: result.stats.writeCalls,
    applied: result.stats.applied,
    stale: result.stats.stale,
    pendingUpdates: result.stats.pendingUpdates,
    digest: result.digest,
  };
}
