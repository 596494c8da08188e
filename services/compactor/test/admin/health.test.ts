/**
 * `health`: reachability of tables, bucket and queues, lock and pointer per
 * collection, dead-letter depths; exit code 1 with the reason and the next step.
 */
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { ManualClock, LeaseLock } from '@compaction/snapshot-store';
import { TEST_LOCK } from '../support/fixture.js';
import { useAdminFixture } from './support.js';

const admin = await useAdminFixture();

interface Check {
  check: string;
  target: string;
  status: string;
  detail: string;
  hint?: string;
}
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

  it('warns when latest.json disagrees with the pointer, and how to repair it', async () => {
    const { versions } = await admin.publish(2);
    await admin.fx.container().repository.writeLatest('words', {
      version: versions[0]!,
      manifestKey: `words/snapshots/${versions[0]}/manifest.json`,
    });
    const run = await admin.run(['health', '--json']);
    expect(run.code).toBe(0);
    const latest = checksOf(run.stdout)['words latest.json']!;
    expect(latest.status).toBe('warn');
    expect(latest.hint).toContain(`compaction-admin rollback words --to ${versions[1]}`);
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
