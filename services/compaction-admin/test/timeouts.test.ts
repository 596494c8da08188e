/**
 * Never hang: against an endpoint that accepts connections and never answers, the CLI
 * gives up after its timeout and bounded attempts, naming the endpoint and the timeout.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { useAdminFixture } from './support/fixture.js';

const admin = await useAdminFixture();

/** A TCP listener on 127.0.0.1 that accepts every connection and never writes a byte. */
async function silentListener(): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let listener: Awaited<ReturnType<typeof silentListener>> | undefined;
afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

describe('request timeouts', () => {
  it('a command as a process exits 1 within its timeout, naming the endpoint and the timeout', async () => {
    listener = await silentListener();
    const started = performance.now();
    const run = await admin.spawn(
      [
        'snapshots',
        'list',
        'words',
        '--endpoint',
        listener.url,
        '--state-table',
        't',
        '--bucket',
        'b',
        '--timeout',
        '1',
      ],
      { noConnection: true },
    );
    const seconds = (performance.now() - started) / 1000;
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(
        `^error: (DynamoDB|S3) at ${listener.url}: no answer within 1 s \\(--timeout\\), 3 attempt\\(s\\); gave up$`,
        'm',
      ),
    );
    expect(run.stderr).toContain('next: the endpoint accepts connections but does not answer');
    // 3 attempts of 1 s, the SDK's backoff between them, and the process start-up.
    expect(seconds).toBeGreaterThan(2.5);
    expect(seconds).toBeLessThan(30);
  }, 60_000);

  it('health fails every check it cannot get an answer for, with the same message', async () => {
    listener = await silentListener();
    const run = await admin.run(['health', '--endpoint', listener.url, '--timeout', '1', '--json']);
    expect(run.code).toBe(1);
    const checks = (
      JSON.parse(run.stdout) as { checks: { check: string; status: string; detail: string }[] }
    ).checks;
    const state = checks.find((c) => c.check === 'state table')!;
    expect(state.status).toBe('fail');
    expect(state.detail).toBe(
      `unreachable: DynamoDB at ${listener.url}: no answer within 1 s (--timeout), 3 attempt(s); gave up`,
    );
    const bucket = checks.find((c) => c.check === 'snapshot bucket')!;
    expect(bucket.detail).toContain(`S3 at ${listener.url}: no answer within 1 s`);
  }, 60_000);

  it('refuses a timeout that is not a positive number of seconds (exit 2)', async () => {
    const run = await admin.run(['snapshots', 'list', 'words', '--timeout', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error: --timeout "0" is not a positive number of seconds');
  });
});
