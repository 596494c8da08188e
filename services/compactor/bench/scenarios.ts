/**
 * One benchmark scenario = one compaction of a batch on the same base version, in a
 * simulated Lambda container: `legacy` cold (downloads everything, uploads everything:
 * the full-upload reference), `batched` cold (a new container, empty cache), `batched`
 * warm (the container's cache holds the base version) and `batched` behind (its cache
 * holds the base version, but another container has published one more version since).
 * Between scenarios the pointer is rolled back to the base version and everything else
 * pruned, so every scenario does the same work.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { ChromaStore } from '@compaction/chroma-core';
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
  manifestBlobs,
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

/** What the container's cache holds when the scenario starts. */
export type CacheState = 'cold' | 'warm' | 'behind';

export interface ScenarioResult {
  name: string;
  messages: number;
  path: CompactionPath;
  cache: CacheState;
  /** Bytes the version the cache lacks uploaded (`behind` only). */
  behindBytesUploaded?: number;
  /** Inside the publish phase: hash, list (wait for the proving LIST), upload, manifest. */
  publishTimingsMs?: Record<string, number>;
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
export async function container(env: BenchEnv) {
  const workDir = await mkdtemp(join(env.scratch, 'container-'));
  const metrics = new RecordingMetrics();
  /** `timingsMs` of every publish of this container (from the repository's log). */
  const publishes: Array<Record<string, number>> = [];
  const logger = {
    ...silent,
    info: (...args: unknown[]) => {
      const fields = args[1] as { timingsMs?: Record<string, number> } | undefined;
      if (args[0] === 'snapshot published' && fields?.timingsMs) publishes.push(fields.timingsMs);
    },
  };
  const repository = new SnapshotRepository({ s3: env.s3, bucket: env.bucket, metrics, logger });
  const cache = new LocalCache({ workDir, repository });
  const pointers = new PointerStore({ ddb: env.ddb, table: env.table });
  return { workDir, metrics, repository, cache, pointers, publishes };
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
    manifestBlobs(await repository.readManifest(base.manifestKey)).map((b) => b.sha256),
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
/** One compaction of `messages` by container `c`. */
export function compactIn(
  env: BenchEnv,
  c: Awaited<ReturnType<typeof container>>,
  messages: MessageItem[],
  path: CompactionPath,
) {
  return compactCollection({
    collection: env.collection,
    messages,
    path,
    deps: {
      ddb: env.ddb,
      stateTable: env.table,
      lock: BENCH_LOCK,
      owner: `bench-${path}-${Date.now()}`,
      clock: { now: () => Date.now() },
      logger: silent,
      metrics: c.metrics,
      repository: c.repository,
      pointers: c.pointers,
      cache: c.cache,
      workDir: c.workDir,
    },
  });
}

/** Runs one scenario from `base`; `other` is the batch another container publishes first (`behind`). */
export async function runScenario(
  env: BenchEnv,
  base: Pointer,
  messages: MessageItem[],
  which: { path: CompactionPath; cache: CacheState },
  other: MessageItem[],
): Promise<ScenarioResult> {
  await resetTo(env, base);
  const c = await container(env);
  let behindBytesUploaded: number | undefined;
  if (which.cache !== 'cold') {
    // Prime the container's cache with the base version (untimed: an earlier invocation did it).
    const checkout = await c.cache.checkout(env.collection, base, { mode: 'cold' });
    await c.cache.commit(env.collection, checkout.dir, base.version, checkout.manifest);
  }
  if (which.cache === 'behind') {
    // Another container publishes the next version; this one's cache is now one behind.
    const published = await compactIn(env, await container(env), other, 'batched');
    behindBytesUploaded = published.bytesUploaded;
  }
  const result = await compactIn(env, c, messages, which.path);
  // The batched path skips the digest scan; compute it here, untimed, on what it published.
  const digest = result.digest ?? (await cachedDigest(c.workDir, env.collection));
  return {
    name: `${messages.length} msg ${which.path} ${which.cache}`,
    messages: messages.length,
    ...(behindBytesUploaded !== undefined ? { behindBytesUploaded } : {}),
    ...(c.publishes.length ? { publishTimingsMs: c.publishes.at(-1)! } : {}),
    path: which.path,
    cache: which.cache,
    durationsMs: result.durationsMs,
    bytesDownloaded: result.bytesDownloaded,
    bytesUploaded: result.bytesUploaded,
    writeCalls: result.stats.writeCalls,
    applied: result.stats.applied,
    stale: result.stats.stale,
    pendingUpdates: result.stats.pendingUpdates,
    digest,
  };
}

/** `digest()` of the store a container's cache holds (its last published version). */
async function cachedDigest(workDir: string, collection: CollectionName): Promise<string> {
  const marker = JSON.parse(await readFile(join(workDir, collection, 'cache.json'), 'utf8')) as {
    dir: string;
  };
  const store = await ChromaStore.open(join(workDir, collection, marker.dir), {
    integrityCheck: false,
  });
  try {
    return store.digest();
  } finally {
    await store.close();
  }
}
