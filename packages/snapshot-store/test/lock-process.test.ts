/**
 * The heartbeat worker is shared and unref'd: a process that used a lock with
 * `heartbeatThread: true` ends when its work ends. (It once did not: listeners added
 * after `unref()` referenced the worker again, and the demo never exited.)
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { useLocalAws } from '@compaction/local-aws';
import { expect, it } from 'vitest';
import { useStateAndBucket } from './aws-fixture.js';

const aws = await useStateAndBucket();
const harness = await useLocalAws();
const FIXTURE = fileURLToPath(new URL('./fixtures/hold-and-release.ts', import.meta.url));
/** Generous for a loaded machine (tsx start-up, worker start); a hang never gets there. */
const EXIT_WITHIN_MS = 45_000;

it('a process that took and released a lock with the heartbeat thread exits by itself', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: {
      ...process.env,
      FIXTURE_DYNAMODB_ENDPOINT: harness.emulators.endpoints.dynamodb,
      FIXTURE_TABLE: aws.table,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_WITHIN_MS);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  expect({ code, signal }, output).toEqual({ code: 0, signal: null });
  expect(output).toMatch(/^released \d+$/m);
}, 60_000);
