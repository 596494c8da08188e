/**
 * Runs the CLI for a test: in-process (`runCli` with captured streams, an injectable
 * clock and the `onLockHeld` seam) or as a real child process through its bin (which
 * runs the bundle the project's global setup built). Also used by the cross-service
 * tests in the root `test/protocol/`.
 */
import { spawn } from 'node:child_process';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Clock } from '@compaction/snapshot-store';
import { runCli } from '../../src/cli.js';
import type { AdminIO } from '../../src/context.js';

/** The bin operators run. */
export const BIN = fileURLToPath(new URL('../../bin/compaction-admin.js', import.meta.url));

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

export interface SpawnOptions {
  input?: string;
  noConnection?: boolean;
}

/** Where a runner points the CLI: read per run, since a test's resources are made per test. */
export interface CliTarget {
  /** Environment variables of the emulators (endpoints, region, credentials). */
  env(): Record<string, string>;
  /** The connection options of the test's resources, appended to every argv. */
  conn(): string[];
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

/**
 * Runs the CLI in-process, argv after the program name, the target's connection options
 * appended.
 */
export async function runInProcess(
  target: CliTarget,
  argv: readonly string[],
  options: RunOptions = {},
): Promise<CliRun> {
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
    env: { ...target.env(), USER: 'tester', ...options.env },
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.onLockHeld ? { onLockHeld: options.onLockHeld } : {}),
  };
  const code = await runCli([...argv, ...(options.noConnection ? [] : target.conn())], io);
  stdin.destroy();
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Runs the CLI as a child process through its bin, stdin piped (so not a terminal). */
export function spawnCli(
  target: CliTarget,
  argv: readonly string[],
  options: SpawnOptions = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [BIN, ...argv, ...(options.noConnection ? [] : target.conn())],
      {
        env: { ...process.env, ...target.env() },
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
}

/** A promise resolved by `open()`: a gate a paused operation waits at. */
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
