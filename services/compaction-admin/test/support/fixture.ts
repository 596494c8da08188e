/**
 * Test fixture of the operator CLI: the local emulators (`@compaction/local-aws`), fresh
 * resources and scratch space per test, the CLI run in-process or through its bin, and
 * versions published through the snapshot store (see `versions.ts`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  useLocalAws,
  type LocalAwsHarness,
  type ProvisionedResources,
} from '@compaction/local-aws';
import {
  AuditLog,
  PointerStore,
  SnapshotRepository,
  type SnapshotManifest,
} from '@compaction/snapshot-store';
import { afterEach, beforeEach } from 'vitest';
import {
  runInProcess,
  spawnCli,
  type CliRun,
  type CliTarget,
  type RunOptions,
  type SpawnOptions,
} from './cli.js';
import { VersionPublisher } from './versions.js';

export { BIN, gate, watch, type CliRun, type RunOptions } from './cli.js';
export { R, R2, TEST_LOCK } from './versions.js';

/** This test's emulators and resources, and the state-table and bucket objects on them. */
export class StoreFixture {
  res!: ProvisionedResources;
  scratch!: string;

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
  get pointers(): PointerStore {
    return new PointerStore({ ddb: this.ddb, table: this.table });
  }
  get audit(): AuditLog {
    return new AuditLog({ ddb: this.ddb, table: this.table });
  }
  get repository(): SnapshotRepository {
    return new SnapshotRepository({ s3: this.s3, bucket: this.bucket });
  }
}

export interface AdminFixture {
  fx: StoreFixture;
  /** The connection options of this test's resources. */
  conn(): string[];
  /** Runs the CLI in-process (argv after the program name; connection options appended). */
  run(argv: readonly string[], options?: RunOptions): Promise<CliRun>;
  /** Runs the CLI as a child process through its bin, stdin piped (so not a terminal). */
  spawn(argv: readonly string[], options?: SpawnOptions): Promise<CliRun>;
  /**
   * Publishes `count` versions of `words`: a seed (two receipts, 40 vectors), then
   * label-only versions. Oldest first.
   */
  publish(count: number): Promise<{ versions: string[] }>;
  manifest(version: string): Promise<SnapshotManifest>;
  /** Flips one byte in the middle of a blob (same size, different sha256). */
  flipByte(sha256: string): Promise<void>;
  deleteBlob(sha256: string): Promise<void>;
  blobExists(sha256: string): Promise<boolean>;
}

/** Call at the top level of a test file. */
export async function useAdminFixture(): Promise<AdminFixture> {
  const fx = new StoreFixture(await useLocalAws());
  beforeEach(async () => {
    fx.res = await fx.aws.provision();
    fx.scratch = await mkdtemp(join(tmpdir(), 'compaction-admin-'));
  });
  afterEach(async () => {
    await rm(fx.scratch, { recursive: true, force: true });
  });

  const key = (sha256: string) => `words/blobs/${sha256}`;
  const target: CliTarget = {
    env: () => fx.aws.env,
    conn: () => ['--stage', fx.res.stage, '--actor', 'ops@test'],
  };
  return {
    fx,
    conn: target.conn,
    run: (argv, options) => runInProcess(target, argv, options),
    spawn: (argv, options) => spawnCli(target, argv, options),
    async publish(count) {
      const publisher = new VersionPublisher({
        s3: fx.s3,
        ddb: fx.ddb,
        bucket: fx.bucket,
        table: fx.table,
        scratch: fx.scratch,
      });
      return { versions: await publisher.publish(count) };
    },
    manifest: (version) => fx.repository.readManifest(`words/snapshots/${version}/manifest.json`),
    async flipByte(sha256) {
      const out = await fx.s3.send(new GetObjectCommand({ Bucket: fx.bucket, Key: key(sha256) }));
      const bytes = Buffer.from(await out.Body!.transformToByteArray());
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      await fx.s3.send(new PutObjectCommand({ Bucket: fx.bucket, Key: key(sha256), Body: bytes }));
    },
    async deleteBlob(sha256) {
      await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.bucket, Key: key(sha256) }));
    },
    async blobExists(sha256) {
      return (await fx.repository.blobSize('words', sha256)) !== undefined;
    },
  };
}
