/**
 * Support of the cross-service tests of the snapshot protocol: the real compactor (its
 * integration fixture: real emulators, resources provisioned per test, simulated Lambda
 * containers) and the real operator CLI on the same resources, run in-process. Versions
 * are published by the real compactor.
 */
import { GetObjectCommand, PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import type { SnapshotManifest } from '@compaction/snapshot-store';
import {
  runInProcess,
  type CliRun,
  type CliTarget,
  type RunOptions,
} from '../../services/compaction-admin/test/support/cli.js';
import {
  useCompactorFixture,
  type CompactorFixture,
  type Container,
} from '../../services/compactor/test/support/fixture.js';
import { labelMessage, removalMessage } from '../../services/compactor/test/support/messages.js';
import { Rng, receiptRecords } from '../../services/compactor/test/support/workload.js';

export { gate, watch } from '../../services/compaction-admin/test/support/cli.js';
export { TEST_LOCK } from '../../services/compactor/test/support/fixture.js';

export const R = { imageId: '12121212-1212-4121-8121-121212121212', receiptId: 1 };
export const R2 = { imageId: '34343434-3434-4343-8343-343434343434', receiptId: 2 };
export const SHAPE = {
  collection: 'words' as const,
  linesPerReceipt: 5,
  wordsPerLine: 4,
  dimension: 8,
};
let seq = 1_000;

/** A label change (metadata only: the HNSW index blob is shared with the parent version). */
export const label = (lineId: number, name = 'TOTAL') =>
  labelMessage({ receipt: R, lineId, wordId: 1, label: name, seq: ++seq, status: 'VALID' });
export const removal = (receipt = R2) =>
  removalMessage({ receipt, collection: 'words', seq: ++seq });

export interface AdminFixture {
  fx: CompactorFixture;
  /** The connection options of this test's resources. */
  conn(): string[];
  /** Runs the CLI in-process (argv after the program name; connection options appended). */
  run(argv: readonly string[], options?: RunOptions): Promise<CliRun>;
  /**
   * Publishes `count` versions of `words`: a seed (two receipts, 40 vectors), then
   * label-only compactions. Oldest first.
   */
  publish(count: number): Promise<{ versions: string[]; container: Container }>;
  manifest(version: string): Promise<SnapshotManifest>;
  /** Flips one byte in the middle of a blob (same size, different sha256). */
  flipByte(sha256: string): Promise<void>;
  deleteBlob(sha256: string): Promise<void>;
  blobExists(sha256: string): Promise<boolean>;
}

/** Call at the top level of a test file. */
export async function useAdminFixture(): Promise<AdminFixture> {
  const fx = await useCompactorFixture();
  const key = (sha256: string) => `words/blobs/${sha256}`;
  const target: CliTarget = {
    env: () => fx.aws.env,
    conn: () => ['--stage', fx.res.stage, '--actor', 'ops@test'],
  };
  const admin: AdminFixture = {
    fx,
    conn: target.conn,
    run: (argv, options) => runInProcess(target, argv, options),
    async publish(count) {
      const records = [
        ...receiptRecords(new Rng(1), R, SHAPE, { merchant_name: 'A' }),
        ...receiptRecords(new Rng(2), R2, SHAPE, { merchant_name: 'B' }),
      ];
      const seeded = await fx.seed('words', records);
      const versions = [seeded.version];
      const container = fx.container();
      for (let i = 1; i < count; i++) {
        const result = await container.compact('words', [label(1 + (i % 5), `L${i}`)], 'batched');
        if (result.status !== 'published') throw new Error(`compaction ${i} published nothing`);
        versions.push(result.version!);
      }
      return { versions, container };
    },
    async manifest(version) {
      return fx.container().repository.readManifest(`words/snapshots/${version}/manifest.json`);
    },
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
      return (await fx.container().repository.blobSize('words', sha256)) !== undefined;
    },
  };
  return admin;
}
