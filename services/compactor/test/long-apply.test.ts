/**
 * A synchronous apply longer than the lease. While the compactor's thread is blocked,
 * a competitor on another thread tries to take the lock the way `LeaseLock.acquire`
 * does (its lease must have run out). With the lock's heartbeat on its own thread
 * (what the Lambda runs) the lease never runs out: the competitor never gets in and the
 * compaction publishes. With the event-loop heartbeat the competitor takes over and the
 * compaction's swap is refused — the reason the thread exists.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { LeaseLock, lockKey } from '@compaction/snapshot-store';
import { applyBatched } from '../src/apply/batched.js';
import type { ApplyFn } from '../src/apply/types.js';
import { useCompactorFixture } from './support/fixture.js';
import { labelMessage } from './support/messages.js';
import { Rng, receiptRecords } from './support/workload.js';

const fx = await useCompactorFixture();
const R = { imageId: '12121212-1212-4121-8121-121212121212', receiptId: 1 };
const R2 = { imageId: '34343434-3434-4343-8343-343434343434', receiptId: 2 };
const SHAPE = { collection: 'words' as const, linesPerReceipt: 5, wordsPerLine: 4, dimension: 8 };
const label = (lineId: number, name: string) =>
  labelMessage({ receipt: R, lineId, wordId: 1, label: name, seq: 1_001, status: 'VALID' });

/** Seeds `words` (two receipts, 40 vectors) and returns its version and a fresh container. */
async function seeded() {
  const { version } = await fx.seed('words', [
    ...receiptRecords(new Rng(1), R, SHAPE, { merchant_name: 'A' }),
    ...receiptRecords(new Rng(2), R2, SHAPE, { merchant_name: 'B' }),
  ]);
  return { versions: [version], container: fx.container() };
}

/** A lease the blocked apply below outlives twice over. */
const SHORT = { leaseMs: 1_000, heartbeatMs: 250, maxWaitMs: 10_000 };
const BLOCK_MS = 2_500;

/**
 * Tries, every 100 ms for the next `forMs`, the acquisition condition of `LeaseLock`
 * (`attribute_not_exists(pk) OR leaseUntil < now`) on another thread. Resolves with
 * whether it got the lock.
 */
function competitor(forMs: number): Promise<boolean> {
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { DynamoDBClient, UpdateItemCommand } = require('@aws-sdk/client-dynamodb');
    const { client, table, pk, until } = workerData;
    const ddb = new DynamoDBClient(client);
    (async () => {
      while (Date.now() < until) {
        const now = Date.now();
        try {
          await ddb.send(new UpdateItemCommand({
            TableName: table, Key: { pk: { S: pk } },
            UpdateExpression: 'SET #owner = :me, #leaseUntil = :until, #t = #t + :one',
            ConditionExpression: 'attribute_not_exists(pk) OR #leaseUntil < :now',
            ExpressionAttributeNames: { '#owner': 'owner', '#leaseUntil': 'leaseUntil', '#t': 'fencingToken' },
            ExpressionAttributeValues: { ':me': { S: 'competitor' }, ':until': { N: String(now + 60000) },
              ':one': { N: '1' }, ':now': { N: String(now) } },
          }));
          parentPort.postMessage(true);
          return;
        } catch (err) {
          if (err.name !== 'ConditionalCheckFailedException') throw err;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      parentPort.postMessage(false);
    })().catch((err) => { throw err; });
  `;
  const aws = fx.aws;
  const worker = new Worker(code, {
    eval: true,
    workerData: {
      client: {
        endpoint: aws.endpoints.dynamodb,
        region: aws.region,
        credentials: aws.credentials,
      },
      table: fx.table,
      pk: lockKey('words'),
      until: Date.now() + forMs,
    },
  });
  return new Promise<boolean>((resolve, reject) => {
    worker.once('message', (took: boolean) => resolve(took));
    worker.once('error', reject);
  }).finally(() => void worker.terminate());
}

/** The real batched apply, once the competitor is running, after blocking this thread. */
function slowApply(started: { took?: Promise<boolean> }): ApplyFn {
  return (input) => {
    started.took = competitor(BLOCK_MS - 200);
    const until = Date.now() + BLOCK_MS;
    while (Date.now() < until) {
      // busy: no timer or I/O callback runs on this thread meanwhile
    }
    return applyBatched(input);
  };
}

describe('a synchronous apply longer than the lease', () => {
  it('keeps the lock with the heartbeat thread: no competitor gets in, and it publishes', async () => {
    const { versions, container } = await seeded();
    // The process's heartbeat worker starts on first use (loading the SDK takes a moment,
    // more than this test's 1 s lease on a busy machine; nothing next to a 60 s lease):
    // start it here, once, as any earlier compaction of the container would have.
    await (
      await new LeaseLock({
        ddb: fx.ddb,
        table: fx.table,
        collection: 'lines',
        owner: 'warm-up',
        ...SHORT,
        heartbeatThread: true,
      }).acquire()
    ).release();
    const started: { took?: Promise<boolean> } = {};
    const result = await container.compact('words', [label(2, 'SLOW')], 'batched', {
      lock: { ...SHORT, heartbeatThread: true },
      appliers: { batched: slowApply(started) },
    });
    expect(await started.took).toBe(false);
    expect(result.status).toBe('published');
    expect(result.parentVersion).toBe(versions[0]);
    expect(container.metrics.sum('CompactionLockLost')).toBe(0);
    expect((await container.pointers.read('words'))!.version).toBe(result.version);
  });

  it('loses it with the event-loop heartbeat: the competitor takes over, and nothing is published', async () => {
    const { versions, container } = await seeded();
    const started: { took?: Promise<boolean> } = {};
    const run = container.compact('words', [label(2, 'SLOW')], 'batched', {
      lock: SHORT,
      appliers: { batched: slowApply(started) },
    });
    await expect(run).rejects.toThrow();
    expect(await started.took).toBe(true);
    expect((await container.pointers.read('words'))!.version).toBe(versions[0]);
  });
});
