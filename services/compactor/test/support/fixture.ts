/**
 * Integration fixture: real emulators (`@compaction/local-aws`), provisioned
 * resources per test, simulated Lambda containers (each with its own work directory,
 * cache, metrics and logs), a seed publisher, and an independent reader of published
 * snapshots that follows the reader contract (latest.json → manifest → blobs →
 * ChromaStore.open) without using the compactor's repository code.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  useLocalAws,
  type LocalAwsHarness,
  type ProvisionedResources,
} from '@compaction/local-aws';
import type { ChangeMessage, CollectionName, CompactionPath } from '@compaction/contracts';
import { afterEach, beforeEach, expect } from 'vitest';
import {
  systemClock,
  type Clock,
  RecordingMetrics,
  LeaseLock,
  PointerStore,
  AuditLog,
  type Pointer,
  LocalCache,
  MANIFEST_FORMAT_VERSION,
  SnapshotRepository,
  newVersionId,
} from '@compaction/snapshot-store';
import {
  compactCollection,
  type CompactionDeps,
  type CompactionResult,
  type MessageItem,
} from '../../src/compact.js';
import type { DeltaRecord } from '../../src/apply/delta-records.js';
import { uploadDelta } from './delta-fixture.js';
import { RecordingLogger } from './logger.js';
import { buildStore, readStore } from './stores.js';

export const TEST_LOCK = { leaseMs: 30_000, heartbeatMs: 10_000, maxWaitMs: 60_000 };

/** The kv namespaces of the entity state. */
export const STATE_NAMESPACES = ['seq', 'place', 'labels', 'removed', 'merged'] as const;

/** Files this process has open under `dir` (from /proc/self/fd). */
export function openFilesUnder(dir: string): string[] {
  const root = resolve(dir);
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target === root || target.startsWith(`${root}/`)) out.push(target);
    } catch {
      // the fd was closed between readdir and readlink (e.g. the readdir handle itself)
    }
  }
  return out;
}

export { items } from './messages.js';

/** A simulated Lambda container: its own /tmp (work dir), cache, metrics and logs. */
export class Container {
  readonly metrics = new RecordingMetrics();
  readonly logger = new RecordingLogger();
  readonly repository: SnapshotRepository;
  readonly cache: LocalCache;
  readonly pointers: PointerStore;
  readonly audit: AuditLog;

  constructor(
    readonly fx: CompactorFixture,
    readonly workDir: string,
    readonly clock: Clock = systemClock,
  ) {
    this.repository = new SnapshotRepository({
      s3: fx.s3,
      bucket: fx.bucket,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.cache = new LocalCache({ workDir, repository: this.repository });
    this.pointers = new PointerStore({ ddb: fx.ddb, table: fx.table, clock });
    this.audit = new AuditLog({ ddb: fx.ddb, table: fx.table, clock });
  }

  deps(overrides: Partial<CompactionDeps> = {}): CompactionDeps {
    return {
      ddb: this.fx.ddb,
      stateTable: this.fx.table,
      lock: TEST_LOCK,
      owner: `test-${randomUUID()}`,
      clock: this.clock,
      logger: this.logger,
      metrics: this.metrics,
      repository: this.repository,
      pointers: this.pointers,
      cache: this.cache,
      audit: this.audit,
      workDir: this.workDir,
      ...overrides,
    };
  }

  /**
   * Runs one compaction and checks, whatever its outcome, that the process holds no
   * file handle under this container's work directory afterwards.
   */
  async compact(
    collection: CollectionName,
    messages: readonly ChangeMessage[] | readonly MessageItem[],
    path: CompactionPath,
    overrides: Partial<CompactionDeps> = {},
  ): Promise<CompactionResult> {
    const list = messages.map((m, i) =>
      'messageId' in m ? m : { messageId: `m-${i}`, message: m },
    );
    try {
      return await compactCollection({
        collection,
        messages: list,
        path,
        deps: this.deps(overrides),
      });
    } finally {
      expect(openFilesUnder(this.workDir)).toEqual([]);
    }
  }
}

export interface PublishedSnapshot {
  version: string;
  manifestKey: string;
  manifest: {
    parentVersion: string | null;
    files: { path: string; sha256: string; size: number }[];
  } & Record<string, unknown>;
  vectors: Awaited<ReturnType<typeof readStore>>['vectors'];
  kv: Awaited<ReturnType<typeof readStore>>['kv'];
  digest: string;
}

export class CompactorFixture {
  res!: ProvisionedResources;
  scratch!: string;
  #containers = 0;

  constructor(readonly aws: LocalAwsHarness) {}

  get s3(): S3Client {
    return this.aws.clients.s3;
  }
  get ddb(): DynamoDBDocumentClient {
    return this.aws.clients.documents;
  }
  get sqs(): SQSClient {
    return this.aws.clients.sqs;
  }
  get bucket(): string {
    return this.res.snapshotBucket;
  }
  get table(): string {
    return this.res.stateTable.name;
  }

  /** A new container with a fresh work directory. */
  container(clock?: Clock): Container {
    return new Container(this, join(this.scratch, `container-${++this.#containers}`), clock);
  }

  /** Publishes `records` as the first version of `collection` (what a bootstrap would do). */
  async seed(collection: CollectionName, records: readonly DeltaRecord[]): Promise<Pointer> {
    const c = this.container();
    const lock = new LeaseLock({
      ddb: this.ddb,
      table: this.table,
      collection,
      owner: 'seed',
      ...TEST_LOCK,
    });
    const handle = await lock.acquire();
    const dir = join(this.scratch, `seed-${collection}-${randomUUID()}`);
    try {
      await buildStore(dir, collection, records);
      const version = newVersionId(handle.token, systemClock);
      const current = await c.pointers.read(collection);
      const published = await c.repository.publish({
        collection,
        dir,
        manifest: {
          formatVersion: MANIFEST_FORMAT_VERSION,
          collection,
          version,
          parentVersion: current?.version ?? null,
          fencingToken: handle.token,
          createdAt: new Date().toISOString(),
          counts: { vectors: records.length },
          messagesApplied: 0,
        },
      });
      const pointer = await c.pointers.swap({
        collection,
        parentVersion: current?.version ?? null,
        next: { version, manifestKey: published.manifestKey },
        fencingToken: handle.token,
      });
      await c.repository.writeLatest(collection, { version, manifestKey: published.manifestKey });
      return pointer;
    } finally {
      await handle.release();
      await rm(dir, { recursive: true, force: true });
    }
  }

  async uploadDelta(
    prefix: string,
    collection: CollectionName,
    records: readonly DeltaRecord[],
  ): Promise<void> {
    await uploadDelta({
      s3: this.s3,
      bucket: this.bucket,
      prefix,
      collection,
      records,
      scratchDir: this.scratch,
    });
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return await out.Body!.transformToString('utf8');
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  /**
   * Reads the live snapshot of `collection` as any consumer would: `latest.json` (or
   * the given manifest key), the manifest, every blob written at its path, then
   * `ChromaStore.open`.
   */
  async readPublished(
    collection: CollectionName,
    manifestKey?: string,
  ): Promise<PublishedSnapshot> {
    let key = manifestKey;
    if (!key) {
      const latest = await this.getText(`${collection}/latest.json`);
      if (!latest) throw new Error(`${collection}/latest.json does not exist`);
      key = (JSON.parse(latest) as { manifestKey: string }).manifestKey;
    }
    const repository = this.container().repository;
    const manifest = await repository.readManifest(key);
    const dir = join(this.scratch, `read-${randomUUID()}`);
    try {
      // Every byte verified against the manifest (either format), as any reader does.
      await repository.download(manifest, dir);
      const read = await readStore(dir, collection, STATE_NAMESPACES);
      return { version: manifest.version, manifestKey: key, manifest, ...read };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Sets up a test file: one emulator set (from the vitest global setup), fresh
 * resources and a fresh scratch directory for every test.
 */
export async function useCompactorFixture(): Promise<CompactorFixture> {
  const aws = await useLocalAws();
  const fx = new CompactorFixture(aws);
  beforeEach(async () => {
    fx.res = await aws.provision();
    fx.scratch = await mkdtemp(join(tmpdir(), 'compactor-'));
  });
  afterEach(async () => {
    await rm(fx.scratch, { recursive: true, force: true });
  });
  return fx;
}
