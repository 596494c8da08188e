/**
 * Ctrl-C during a long admin operation: the CLI, a real child process through its bin,
 * stops at its next safe point, releases the collection lock it holds (and says so)
 * and exits 130; while it only waits for the lock, it exits 130 holding nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseLock, lockKey } from '@compaction/snapshot-store';
import { BIN, TEST_LOCK, gate, useAdminFixture } from './support/fixture.js';

const admin = await useAdminFixture();

/**
 * An HTTP proxy in front of the S3 emulator that holds the first request `hold`
 * matches until `release()`; `held` resolves when that request has arrived.
 */
async function s3Proxy(
  target: string,
  hold: (req: IncomingMessage) => boolean,
): Promise<{ url: string; held: Promise<void>; release: () => void; close: () => Promise<void> }> {
  const arrived = gate();
  const released = gate();
  let holding = false;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = (): void => {
        const upstream = request(
          new URL(req.url ?? '/', target),
          { method: req.method, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        upstream.end(Buffer.concat(chunks));
      };
      if (!holding && hold(req)) {
        holding = true;
        arrived.open();
        void released.promise.then(forward);
      } else {
        forward();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    held: arrived.promise,
    release: released.open,
    close: () => {
      released.open();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The CLI as a child process; `stderrSeen(text)` resolves once its stderr contains `text`. */
function startCli(argv: readonly string[], env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...argv, ...admin.conn()], {
    env: { ...process.env, ...admin.fx.aws.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin!.end();
  let stdout = '';
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters) if (stderr.includes(w.text)) w.resolve();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    output: () => ({ stdout, stderr }),
    stderrSeen: (text: string) =>
      new Promise<void>((resolve) => {
        if (stderr.includes(text)) resolve();
        else waiters.push({ text, resolve });
      }),
  };
}

const lockItem = async () =>
  (
    await admin.fx.ddb.send(
      new GetCommand({
        TableName: admin.fx.table,
        Key: { pk: lockKey('words') },
        ConsistentRead: true,
      }),
    )
  ).Item as
    { owner?: string; lastOwner?: string; leaseUntil: number; fencingToken: number } | undefined;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('Ctrl-C', () => {
  it('during a prune: stops before the next deletion, releases the lock, says so, exits 130', async () => {
    await admin.publish(3);
    const orphan = 'f'.repeat(64);
    await admin.fx.s3.send(
      new PutObjectCommand({
        Bucket: admin.fx.bucket,
        Key: `words/blobs/${orphan}`,
        Body: 'orphan',
      }),
    );
    // Hold the deletion of the first manifest: the prune holds the lock meanwhile.
    const proxy = await s3Proxy(
      admin.fx.aws.env['AWS_ENDPOINT_URL_S3']!,
      (req) => req.method === 'DELETE' && /\/manifest\.json(\?|$)/.test(req.url ?? ''),
    );
    cleanups.push(proxy.close);
    const cli = startCli(['prune', 'words', '--keep', '1', '--yes'], {
      AWS_ENDPOINT_URL_S3: proxy.url,
    });
    cleanups.push(async () => {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
      await cli.exited;
    });
    await proxy.held;
    const held = await lockItem();
    expect(held?.owner).toMatch(/^admin:ops@test:/);
    expect(held!.leaseUntil).toBeGreaterThan(Date.now());

    cli.child.kill('SIGINT');
    await cli.stderrSeen('interrupted (SIGINT): stopping at the next safe point');
    proxy.release();
    const exit = await cli.exited;
    const { stderr } = cli.output();
    expect(exit.code, stderr).toBe(130);
    expect(stderr).toContain(`released the words lock (token ${held!.fencingToken})`);
    expect(stderr).toContain(
      `error: interrupted (SIGINT): stopped before the next change; released the words lock (token ${held!.fencingToken})`,
    );

    const after = await lockItem();
    expect(after?.owner).toBeUndefined();
    expect(after?.lastOwner).toBe(held!.owner);
    expect(after!.leaseUntil).toBeLessThanOrEqual(Date.now());
    expect(after!.fencingToken).toBe(held!.fencingToken);
    // The held deletion went through; the blobs after it were not touched; audited as partial.
    expect((await admin.fx.repository.listManifests('words')).length).toBe(2);
    expect(await admin.blobExists(orphan)).toBe(true);
    const entries = await admin.fx.audit.list({ collection: 'words' });
    expect(entries.find((e) => e.action === 'prune')?.details).toMatchObject({
      complete: false,
      deletedVersions: 1,
      deletedBlobs: 0,
    });
  }, 90_000);

  it('while waiting for the lock: exits 130 at once, holding and changing nothing', async () => {
    const { versions } = await admin.publish(2);
    const mine = await new LeaseLock({
      ...TEST_LOCK,
      ddb: admin.fx.ddb,
      table: admin.fx.table,
      collection: 'words',
      owner: 'test-holder',
      leaseMs: 60_000,
    }).acquire();
    cleanups.push(() => mine.release());
    const cli = startCli(['rollback', 'words', '--steps', '1', '--yes', '--lock-wait', '60'], {});
    cleanups.push(async () => {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
      await cli.exited;
    });
    await cli.stderrSeen('waiting for the words lock: held by test-holder');
    const sent = Date.now();
    cli.child.kill('SIGINT');
    const exit = await cli.exited;
    expect(exit.code, cli.output().stderr).toBe(130);
    expect(Date.now() - sent).toBeLessThan(20_000);
    expect(cli.output().stderr).toContain(
      'error: interrupted (SIGINT) while waiting for the words lock; nothing was held or changed',
    );
    const item = await lockItem();
    expect(item).toMatchObject({ owner: 'test-holder', fencingToken: mine.token });
    expect((await admin.fx.pointers.read('words'))!.version).toBe(versions[1]);
  }, 90_000);
});
