/**
 * `health`: reachability of tables, bucket and queues, lock and pointer per
 * collection, dead-letter depths; exit code 1 with the reason and the next step.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { ManualClock, LeaseLock, manifestBlobs } from '@compaction/snapshot-store';
import { TEST_LOCK, useAdminFixture } from './support/fixture.js';

const admin = await useAdminFixture();

interface Check {
  check: string;
  target: string;
  status: string;
  detail: string;
  hint?: string;
}
const putObject = (key: string, body: string) =>
  admin.fx.s3.send(new PutObjectCommand({ Bucket: admin.fx.bucket, Key: key, Body: body }));
const checksOf = (stdout: string) =>
  Object.fromEntries((JSON.parse(stdout) as { checks: Check[] }).checks.map((c) => [c.check, c]));

describe('health', () => {
  it('is healthy on a fresh stage: everything reachable, DLQs empty, locks and pointers shown', async () => {
    await admin.publish(1);
    const run = await admin.run(['health']);
    expect(run.code).toBe(0);
    const res = admin.fx.res;
    expect(run.stdout).toMatch(
      new RegExp(`receipts table\\s+${res.receiptsTable.name}\\s+OK\\s+ACTIVE`),
    );
    expect(run.stdout).toMatch(new RegExp(`state table\\s+${res.stateTable.name}\\s+OK\\s+ACTIVE`));
    expect(run.stdout).toMatch(new RegExp(`snapshot bucket\\s+${res.snapshotBucket}\\s+OK`));
    expect(run.stdout).toMatch(/words DLQ\s+\S+-words-changes-dlq\s+OK\s+0 waiting, 0 in flight/);
    expect(run.stdout).toMatch(/rejects queue\s+\S+-stream-rejects\s+OK/);
    expect(run.stdout).toMatch(/words lock\s+\S+\s+OK\s+free \(last seed, token 1, released/);
    expect(run.stdout).toMatch(/lines lock\s+\S+\s+OK\s+never taken/);
    expect(run.stdout).toMatch(/words pointer\s+\S+\s+OK\s+000000000001-/);
    expect(run.stdout).toMatch(/words live version\s+\S+\s+OK\s+manifest readable, \d+ file\(s\)/);
    expect(run.stdout).toMatch(/words latest\.json\s+\S+\s+OK\s+mirrors the pointer/);
    expect(run.stdout).toMatch(/lines pointer\s+\S+\s+WARN\s+no live version yet/);
    expect(run.stdout.trim().split('\n').at(-1)).toBe('healthy');
  });

  it('fails on a non-empty dead-letter queue, saying how to read and redrive it', async () => {
    await admin.fx.sqs.send(
      new SendMessageCommand({
        QueueUrl: admin.fx.res.queues.words.deadLetterQueue.url,
        MessageBody: '{}',
      }),
    );
    await admin.fx.sqs.send(
      new SendMessageCommand({ QueueUrl: admin.fx.res.rejectsQueue.url, MessageBody: 'garbage' }),
    );
    const run = await admin.run(['health']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/words DLQ\s+\S+\s+FAIL\s+1 waiting, 0 in flight/);
    expect(run.stdout).toContain(
      'FAIL words DLQ: 1 message(s) need a human: read them with their reason attributes',
    );
    expect(run.stdout).toContain('aws sqs start-message-move-task');
    expect(run.stdout).toContain('UNHEALTHY: words DLQ, rejects queue');
    const json = checksOf((await admin.run(['health', '--json'])).stdout);
    expect(json['lines DLQ']!.status).toBe('ok');
    expect(json['rejects queue']!.status).toBe('fail');
  });

  it('shows who holds a lock and for how long, and flags a lease that expired without a release', async () => {
    const lock = (owner: string) =>
      new LeaseLock({
        ...TEST_LOCK,
        ddb: admin.fx.ddb,
        table: admin.fx.table,
        collection: 'words',
        owner,
      });
    const held = await lock('compactor-req-7:words').acquire();
    try {
      const checks = checksOf((await admin.run(['health', '--json'])).stdout);
      expect(checks['words lock']!.status).toBe('ok');
      expect(checks['words lock']!.detail).toMatch(
        /^held by compactor-req-7:words \(token 1\), lease (2\d|30)\.\d s left$/,
      );
      // Seen from 31 s later (past the 30 s lease): a holder that died without releasing.
      const later = new ManualClock(Date.now() + 31_000);
      const stale = checksOf((await admin.run(['health', '--json'], { clock: later })).stdout);
      expect(stale['words lock']).toMatchObject({ status: 'warn' });
      expect(stale['words lock']!.detail).toContain('expired');
      expect(stale['words lock']!.hint).toContain('the next compaction takes over');
    } finally {
      await held.release();
    }
  });

  it('fails when latest.json disagrees with the pointer, and says how to repair it', async () => {
    const { versions } = await admin.publish(2);
    await admin.fx.repository.writeLatest('words', {
      version: versions[0]!,
      manifestKey: `words/snapshots/${versions[0]}/manifest.json`,
    });
    const run = await admin.run(['health', '--json']);
    expect(run.code).toBe(1);
    const checks = checksOf(run.stdout);
    expect(checks['words live version']!.status).toBe('ok');
    const latest = checks['words latest.json']!;
    expect(latest.status).toBe('fail');
    expect(latest.detail).toContain(`names version ${versions[0]}, the pointer ${versions[1]}`);
    expect(latest.hint).toContain(`compaction-admin rollback words --to ${versions[1]}`);
  });

  it('fails on a live manifest overwritten with {}: readers cannot open the live version', async () => {
    const { versions } = await admin.publish(2);
    await putObject(`words/snapshots/${versions[1]}/manifest.json`, '{}');
    const run = await admin.run(['health']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/words live version\s+\S+\s+FAIL\s+manifest: /);
    expect(run.stdout).toContain(
      `FAIL words live version: readers and the next compaction cannot open ${versions[1]}`,
    );
    expect(run.stdout.trim().split('\n').at(-1)).toBe('UNHEALTHY: words live version');
  });

  it('fails on a live blob that is missing, naming the file and the blob', async () => {
    const { versions } = await admin.publish(1);
    const manifest = await admin.manifest(versions[0]!);
    const { sha256 } = manifestBlobs(manifest).find((b) => b.path === 'chroma.sqlite3')!;
    await admin.deleteBlob(sha256);
    const run = await admin.run(['health', '--json']);
    expect(run.code).toBe(1);
    const live = checksOf(run.stdout)['words live version']!;
    expect(live.status).toBe('fail');
    expect(live.detail).toContain(`chroma.sqlite3: blob ${sha256} is missing`);
    expect((JSON.parse(run.stdout) as { ok: boolean }).ok).toBe(false);
  });

  it('fails on a garbage latest.json (readers cannot follow it), not a warning', async () => {
    const { versions } = await admin.publish(1);
    await putObject('words/latest.json', 'not json {');
    const run = await admin.run(['health']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/words latest\.json\s+\S+\s+FAIL\s+unreadable: /);
    expect(run.stdout).toContain('FAIL words latest.json: readers follow latest.json');
    expect(run.stdout).toContain(`compaction-admin rollback words --to ${versions[0]}`);
    expect(run.stdout).not.toContain('WARN words latest.json');
    expect(run.stdout.trim().split('\n').at(-1)).toBe('UNHEALTHY: words latest.json');
  });

  it('reports unreachable endpoints (exit 1) and skips what is not configured', async () => {
    const run = await admin.run(['health', '--endpoint', 'http://127.0.0.1:9', '--json']);
    expect(run.code).toBe(1);
    const checks = checksOf(run.stdout);
    expect(checks['state table']).toMatchObject({ status: 'fail' });
    expect(checks['state table']!.hint).toContain('cannot reach the endpoint');

    // Without a stage: names from options, queue URLs from the Lambdas' variables.
    const res = admin.fx.res;
    const partial = await admin.run(
      ['health', '--state-table', res.stateTable.name, '--bucket', res.snapshotBucket, '--json'],
      {
        noConnection: true,
        env: {
          LINES_QUEUE_URL: res.queues.lines.queue.url,
          LINES_DLQ_URL: res.queues.lines.deadLetterQueue.url,
        },
      },
    );
    expect(partial.code).toBe(0);
    const p = checksOf(partial.stdout);
    expect(p['lines queue']!.status).toBe('ok');
    expect(p['lines DLQ']!.status).toBe('ok');
    expect(p['words queue']).toMatchObject({ status: 'skip', detail: 'not configured' });
    expect(p['receipts table']).toMatchObject({ status: 'skip' });
  });
});
