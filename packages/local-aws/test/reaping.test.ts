import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GuardedProcess } from '../src/index.js';
import { isProcessAlive, processGroupMembers, type ProcessInfo } from '../src/process-tree.js';
import { JVM_TEST_TIMEOUT_MS } from './support/timeouts.js';
import { waitFor } from './support/wait-for.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/launch-dynamodb-local.ts', import.meta.url));

function readProcess(pid: number): ProcessInfo | undefined {
  return processGroupMembers(pid).find((p) => p.pid === pid);
}

/**
 * Starts a Node parent that launches a guarded child: DynamoDB Local (`jvm`, resolves once
 * it answers) or `sleep` under the same guard (cheaper, for the JavaScript exit paths).
 */
async function launchParent(kind: 'jvm' | 'sleep', mode: string) {
  const parent = spawn(process.execPath, ['--import', 'tsx', FIXTURE, kind, mode], {
    cwd: PACKAGE_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  parent.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(parent, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const lines = createInterface({ input: parent.stdout });
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => line as string),
    exited.then(([code, signal]) => {
      throw new Error(`fixture exited early (code ${code}, signal ${signal}): ${stderr}`);
    }),
  ]);
  const { pid } = JSON.parse(first) as { pid: number };
  return { parent, childPid: pid, exited, stderr: () => stderr };
}

/**
 * The guard's watcher sends SIGTERM, then SIGKILL after fifty 0.1 s sleeps: a JVM shutting
 * down on a loaded machine, and those sleeps, can take well over 10 s.
 */
async function expectGone(pid: number): Promise<void> {
  await waitFor(() => !isProcessAlive(pid) && processGroupMembers(pid).length === 0, {
    timeoutMs: 30_000,
    what: `child ${pid} and its guard to be gone`,
  });
}

const JVM_TESTS = { timeout: JVM_TEST_TIMEOUT_MS };

describe.concurrent('the DynamoDB Local JVM dies with its Node parent', JVM_TESTS, () => {
  it('when the parent is SIGKILLed (no JavaScript runs: the guard pipe closes)', async () => {
    const { parent, childPid: jvmPid, exited } = await launchParent('jvm', 'wait');
    const jvm = readProcess(jvmPid);
    expect(jvm?.commandLine).toContain('DynamoDBLocal.jar');
    expect(jvm?.ppid).toBe(parent.pid);

    parent.kill('SIGKILL');
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');
    await expectGone(jvmPid);
  });

  it('when the parent crashes with an uncaught error', async () => {
    const { childPid: jvmPid, exited, stderr } = await launchParent('jvm', 'throw');
    const [code] = await exited;
    expect(code).not.toBe(0);
    expect(stderr()).toContain('the fixture crashes on purpose');
    await expectGone(jvmPid);
  });
});

// Spawning a Node + tsx parent takes seconds when the whole repository's suite shares 2
// cores: the project's 60 s test timeout leaves room for it.
describe.concurrent('a guarded child dies with its Node parent', () => {
  it('when the parent calls process.exit without stopping it', async () => {
    const { childPid, exited } = await launchParent('sleep', 'exit');
    const [code] = await exited;
    expect(code).toBe(3);
    await expectGone(childPid);
  });

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('when the parent gets %s', async (signal) => {
    const { parent, childPid, exited } = await launchParent('sleep', 'wait');
    expect(isProcessAlive(childPid)).toBe(true);
    parent.kill(signal);
    const [, received] = await exited;
    // The hook kills the child's group, then re-raises the signal: the parent still dies of it.
    expect(received).toBe(signal);
    await expectGone(childPid);
  });

  it('when the parent is SIGKILLed', async () => {
    const { parent, childPid, exited } = await launchParent('sleep', 'wait');
    parent.kill('SIGKILL');
    await exited;
    await expectGone(childPid);
  });
});

describe('GuardedProcess', () => {
  it('stop() ends the child and its guard, and reports how it exited', async () => {
    const child = GuardedProcess.spawn({ name: 'sleeper', command: 'sleep', args: ['600'] });
    await waitFor(() => readProcess(child.pid)?.commandLine.startsWith('sleep 600'), {
      what: 'the wrapper to exec sleep',
    });
    expect(processGroupMembers(child.pid).length).toBe(2); // sleep + the guard's watcher

    const exit = await child.stop();
    expect(exit.signal).toBe('SIGTERM');
    expect(child.exitStatus).toEqual(exit);
    expect(isProcessAlive(child.pid)).toBe(false);
    expect(processGroupMembers(child.pid)).toEqual([]);
    expect(await child.stop()).toEqual(exit);
  });

  it('keeps what the child printed', async () => {
    const child = GuardedProcess.spawn({
      name: 'printer',
      command: 'sh',
      args: ['-c', 'echo out; echo err >&2; exit 7'],
    });
    const exit = await child.exited;
    expect(exit.code).toBe(7);
    expect(child.output()).toContain('out');
    expect(child.output()).toContain('err');
    expect(processGroupMembers(child.pid)).toEqual([]);
  });
});
