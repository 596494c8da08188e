/**
 * The demo as a user runs it: `npm run demo -- …` is `tsx packages/demo/src/cli.ts …` at
 * the repository root. These tests start it the same way, as a child process.
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const demoArgs = ['--import', 'tsx', 'packages/demo/src/cli.ts'];
const quietEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

describe('npm run demo -- --receipts 1', () => {
  it('is refused before anything starts, with the reason and exit code 2', () => {
    const run = spawnSync(process.execPath, [...demoArgs, '--receipts', '1'], {
      cwd: root,
      env: quietEnv,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--receipts 1 is too few: the scenario needs at least 2 receipts/);
    // Nothing started: no banner, no emulators.
    expect(run.stdout).toBe('');
  }, 90_000);
});

describe('npm run demo -- --keep', () => {
  let demo: ChildProcessByStdio<null, Readable, Readable> | undefined;
  afterAll(async () => {
    if (demo && demo.exitCode === null && demo.signalCode === null) {
      const exited = once(demo, 'exit');
      demo.kill('SIGKILL');
      await exited;
    }
  });

  it('prints a block with which compaction-admin works against the kept emulators', async () => {
    // Two receipts and small vectors: the fewest the scenario takes, the quickest run.
    demo = spawn(process.execPath, [...demoArgs, '--keep', '--receipts', '2', '--dim', '16'], {
      cwd: root,
      env: quietEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(demo, 'exit');
    let stdout = '';
    let stderr = '';
    demo.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const block = await new Promise<string>((resolve, reject) => {
      demo!.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const at = stdout.indexOf('--keep:');
        if (at >= 0 && stdout.includes('snapshots list words\n', at)) resolve(stdout.slice(at));
      });
      void exited.then(([code]) =>
        reject(new Error(`demo exited with ${String(code)} before printing the block:\n${stderr}`)),
      );
      // Fail with what the demo said rather than a bare test timeout.
      setTimeout(
        () => reject(new Error(`no block after 240 s:\n${stdout}\n${stderr}`)),
        240_000,
      ).unref();
    });

    const env: Record<string, string> = {};
    for (const [, name, value] of block.matchAll(/^export (\w+)=(\S+)$/gm)) env[name!] = value!;
    const commands = [...block.matchAll(/^npm run admin -- (.+)$/gm)].map((m) => m[1]!.split(' '));
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining(['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_S3', 'STATE_TABLE']),
    );
    expect(commands.map((c) => c.slice(0, 2).join(' '))).toEqual([
      'health --stage',
      'snapshots list',
    ]);

    // The real CLI, built as `npm run admin` builds it, with nothing but the printed
    // environment (no AWS settings of ours).
    const build = spawnSync('npm', ['run', '--silent', 'build', '-w', '@compaction/admin'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(build.status, build.stderr).toBe(0);
    const admin = (args: string[]) =>
      spawnSync(process.execPath, [join(root, 'node_modules/.bin/compaction-admin'), ...args], {
        cwd: root,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
        encoding: 'utf8',
        timeout: 120_000,
      });
    const health = admin(commands[0]!);
    expect(health.status, `${health.stdout}\n${health.stderr}`).toBe(0);
    expect(health.stdout).toMatch(/^healthy$/m);
    const list = admin(commands[1]!);
    expect(list.status, `${list.stdout}\n${list.stderr}`).toBe(0);
    expect(list.stdout).toMatch(/\d{12}-\d{8}T\d{6}Z-[0-9a-f]{4}/);

    // Ctrl-C ends the kept demo cleanly, and it says the run succeeded.
    demo.kill('SIGINT');
    const [code] = await exited;
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('Demo finished: every expected change is visible');
  }, 300_000);
});
