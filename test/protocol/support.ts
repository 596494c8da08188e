/**
 * Test support for the operator CLI: the compactor's integration fixture (real
 * emulators, resources provisioned per test), the CLI run in-process with captured
 * streams, or as a real child process through its bin, and a few published versions
 * built by the real compactor.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PassThrough, Writable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { type Clock, type SnapshotManifest } from '@compaction/snapshot-store';
import { runCli } from '../../src/admin/cli.js';
import type { AdminIO } from '../../src/admin/context.js';
import { useCompactorFixture, type CompactorFixture, type Container } from '../support/fixture.js';
import { labelMessage, removalMessage } from '../support/messages.js';
import { Rng, receiptRecords } from '../support/workload.js';

export const BIN = fileURLToPath(new URL('../../../compaction-admin/bin/compaction-admin.js', import.meta.url));

/** What one CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Present stdin as a terminal (in-process only) and answer the confirmation with this. */
  answer?: string;
  /** Default: the system clock. */
  clock?: Clock;
  /** Called with everything written to stderr so far, after every write. */
  onStderr?: (soFar: string) => void;
  /** Leave out the connection options (`--stage <this test's stage>`). */
  noConnection?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** See `AdminIO.onLockHeld`. */
  onLockHeld?: AdminIO['onLockHeld'];
}

/** A stream that keeps what is written to it. */
class Capture extends Writable {
  text = '';
  constructor(private readonly onWrite?: (soFar: string) => void) {
    super();
  }
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString();
    this.onWrite?.(this.text);
    callback();
  }
}

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
  /** Runs the CLI as a child process through its bin, stdin piped (so not a terminal). */
  spawn(
    argv: readonly string[],
    options?: { input?: string; noConnection?: boolean },
  ): Promise<CliRun>;
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
  const admin: AdminFixture = {
    fx,
    conn: () => ['--stage', fx.res.stage, '--actor', 'ops@test'],
    async run(argv, options = {}) {
      const stdout = new Capture();
      let answered = false;
      const stdin = Object.assign(new PassThrough(), { isTTY: options.answer !== undefined });
      const stderr = new Capture((soFar) => {
        // Answer the prompt once it is shown (readline drops a line typed before it asks).
        if (options.answer !== undefined && !answered && soFar.includes('[y/N]')) {
          answered = true;
          stdin.write(`${options.answer}\n`);
        }
        options.onStderr?.(soFar);
      });
      const io: AdminIO = {
        stdout,
        stderr,
        stdin,
        env: { ...fx.aws.env, USER: 'tester', ...options.env },
        ...(options.clock ? { clock: options.clock } : {}),
        ...(options.onLockHeld ? { onLockHeld: options.onLockHeld } : {}),
      };
      const code = await runCli([...argv, ...(options.noConnection ? [] : admin.conn())], io);
      stdin.destroy();
      return { code, stdout: stdout.text, stderr: stderr.text };
    },
    spawn(argv, options = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [BIN, ...argv, ...(options.noConnection ? [] : admin.conn())],
          {
            env: { ...process.env, ...fx.aws.env },
            stdio: ['pipe', 'pipe', 'pipe'],
          },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
        child.stdin.end(options.input ?? '');
      });
    },
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

/** A promise resolved by `signal()`: a gate a paused compaction waits at. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves once `predicate` holds for the text seen by an `onStderr` callback. */
export function watch(predicate: (text: string) => boolean): {
  onStderr: (soFar: string) => void;
  seen: Promise<void>;
} {
  let resolve!: () => void;
  const seen = new Promise<void>((r) => (resolve = r));
  return {
    onStderr: (soFar) => {
      if (predicate(soFar)) resolve();
    },
    seen,
  };
}
