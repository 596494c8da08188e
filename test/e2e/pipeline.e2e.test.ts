/**
 * End to end on the local emulators: receipts-table writes → DynamoDB stream → the real
 * stream processor → SQS → the real compactor → published snapshots, read back the way a
 * consumer reads them (latest.json → manifest → verified blobs → chroma-core).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  summarizeLabels,
  wordVectorId,
  type ValidationStatus,
  type WordLabelState,
} from '@compaction/contracts';
import {
  Pipeline,
  PublishedStores,
  runSteps,
  seedSteps,
  spawnCompactorWorker,
  updateSteps,
  waitUntilVisible,
} from '@compaction/demo';
import {
  buildDataset,
  ReceiptsTable,
  SeededRandom,
  type DemoReceipt,
  type LabelRef,
} from '@compaction/receipt-fixtures';
import { useLocalAws } from '@compaction/local-aws';
import type { ReadOnlyCollection } from '@compaction/snapshot-store';
import { afterAll, describe, expect, it } from 'vitest';

const aws = await useLocalAws();
const DIM = 64; // small vectors keep HNSW cheap; the pipeline is the same at 384
const scratchDirs: string[] = [];
afterAll(async () => {
  await Promise.all(scratchDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function setup(
  options: { compactor?: 'in-process' | 'none'; extraEnv?: Record<string, string> } = {},
) {
  const scratch = await mkdtemp(join(tmpdir(), 'e2e-'));
  scratchDirs.push(scratch);
  // Failed batches come back after the visibility timeout: keep it short here.
  const resources = await aws.provision({
    overrides: { collectionQueue: { visibilityTimeoutSeconds: 2, maxReceiveCount: 3 } },
  });
  const base = {
    aws,
    resources,
    path: 'batched' as const,
    workDir: join(scratch, 'compactor'),
    ...options,
  };
  const pipeline = await Pipeline.start(base);
  const published = new PublishedStores({
    s3: aws.clients.s3,
    bucket: resources.snapshotBucket,
    scratchDir: scratch,
  });
  const table = new ReceiptsTable(aws.clients.documents, resources.receiptsTable.name);
  return { resources, pipeline, published, table, base };
}

/** Seeds receipts through the pipeline and waits until their vectors are published. */
async function seed(ctx: Awaited<ReturnType<typeof setup>>, receipts: DemoReceipt[]) {
  const scenario = {
    table: ctx.table,
    s3: aws.clients.s3,
    bucket: ctx.resources.snapshotBucket,
    receipts,
    dimension: DIM,
    seed: 1,
  };
  await runSteps(ctx.published, seedSteps(scenario));
  return scenario;
}

/** Every word of the receipts with its label state, as the table holds it. */
function seededLabels(receipts: DemoReceipt[]): Map<string, Record<string, WordLabelState>> {
  const map = new Map<string, Record<string, WordLabelState>>();
  for (const r of receipts) {
    for (const l of r.lines) {
      for (const w of l.words) {
        map.set(
          wordVectorId({
            imageId: r.imageId,
            receiptId: r.receiptId,
            lineId: l.lineId,
            wordId: w.wordId,
          }),
          { ...w.labels },
        );
      }
    }
  }
  return map;
}

/** Compares every word's label summary in the live `words` snapshot with the expected states. */
async function labelMismatches(
  published: PublishedStores,
  expected: Map<string, Record<string, WordLabelState>>,
) {
  const result = await published.withLatest('words', ({ collection }) =>
    collection.get({ ids: [...expected.keys()], include: ['metadatas'] }),
  );
  if (!result) return ['no words published'];
  const got = new Map(result.value.ids.map((id, i) => [id, result.value.metadatas[i]]));
  const mismatches: string[] = [];
  for (const [id, labels] of expected) {
    const want = summarizeLabels(labels);
    const meta = got.get(id);
    for (const key of Object.keys(want) as Array<keyof typeof want>) {
      if ((meta?.[key] ?? '') !== want[key])
        mismatches.push(`${id} ${key}: ${String(meta?.[key])} ≠ ${want[key]}`);
    }
  }
  return mismatches;
}

describe('the pipeline, end to end', () => {
  it('runs the demo scenario: rename, labels proposed/validated/invalidated, deletion, new receipt', async () => {
    const ctx = await setup();
    const receipts = buildDataset({ receipts: 12, seed: 5 });
    const scenario = await seed(ctx, receipts);
    const { steps, facts } = updateSteps(scenario);
    const results = await runSteps(ctx.published, steps);
    expect(results.map((r) => r.name)).toHaveLength(5);
    // Every step's expectations held (runSteps throws otherwise); spot-check the facts too.
    const renamed = await ctx.published.withLatest('lines', ({ collection }) =>
      collection.get({ where: { canonical_merchant_name: facts.renamedMerchant }, include: [] }),
    );
    expect(renamed!.value.ids.length).toBeGreaterThan(0);
    await ctx.pipeline.settle();
    expect(ctx.pipeline.stats().failedMessages).toBe(0);
    await ctx.pipeline.stop();
  });

  it('converges to exactly the expected metadata after a burst of 5,000 label changes', async () => {
    const ctx = await setup();
    const receipts = buildDataset({ receipts: 20, seed: 9 });
    await seed(ctx, receipts);
    const expected = seededLabels(receipts);
    const words = [...expected.keys()];
    const rng = new SeededRandom(77);
    const statuses: ValidationStatus[] = ['VALID', 'INVALID', 'PENDING', 'NEEDS_REVIEW'];
    const labels = ['TOTAL', 'TAX', 'DATE', 'MERCHANT_NAME', 'PRODUCT_NAME'];
    // Rounds of distinct keys (BatchWriteItem refuses one key twice in a call); later
    // rounds overwrite earlier ones, so order matters and the last write must win.
    let written = 0;
    while (written < 5000) {
      const round = new Map<
        string,
        { ref: LabelRef; status: ValidationStatus; proposedBy: string }
      >();
      while (round.size < 500 && written + round.size < 5000) {
        const id = rng.pick(words);
        const label = rng.pick(labels);
        const [, imageId, receiptId, lineId, wordId] =
          /^IMAGE#(.+)#RECEIPT#(\d+)#LINE#(\d+)#WORD#(\d+)$/.exec(id)!;
        round.set(`${id}|${label}`, {
          ref: {
            imageId: imageId!,
            receiptId: Number(receiptId),
            lineId: Number(lineId),
            wordId: Number(wordId),
            label,
          },
          status: rng.pick(statuses),
          proposedBy: rng.pick(['llm', 'rules', 'human']),
        });
      }
      await ctx.table.putLabels([...round.values()]);
      for (const [key, change] of round) {
        const id = key.split('|')[0]!;
        expected.get(id)![change.ref.label] = {
          status: change.status,
          proposedBy: change.proposedBy,
        };
      }
      written += round.size;
    }
    expect(written).toBe(5000);
    await ctx.pipeline.settle(300_000);
    const mismatches = await labelMismatches(ctx.published, expected);
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(ctx.pipeline.stats().failedMessages).toBe(0);
    await ctx.pipeline.stop();
  }, 600_000);

  it('a compactor SIGKILLed mid-run and restarted converges with nothing lost', async () => {
    // Short lease, so the dead holder's lock expires quickly; the stream processor runs
    // in this process, the compactor in a child process we can kill.
    const extraEnv = { LOCK_LEASE_MS: '3000', LOCK_HEARTBEAT_MS: '1000' };
    const ctx = await setup({ compactor: 'none', extraEnv });
    let worker = await spawnCompactorWorker(ctx.base);
    try {
      const receipts = buildDataset({ receipts: 8, seed: 13 });
      await seed(ctx, receipts);
      const expected = seededLabels(receipts);
      const changes = [...expected.keys()].slice(0, 300).map((id, i) => {
        const [, imageId, receiptId, lineId, wordId] =
          /^IMAGE#(.+)#RECEIPT#(\d+)#LINE#(\d+)#WORD#(\d+)$/.exec(id)!;
        const status: ValidationStatus = i % 2 === 0 ? 'VALID' : 'INVALID';
        expected.get(id)!.TOTAL = { status, proposedBy: 'crash-test' };
        return {
          ref: {
            imageId: imageId!,
            receiptId: Number(receiptId),
            lineId: Number(lineId),
            wordId: Number(wordId),
            label: 'TOTAL',
          },
          status,
          proposedBy: 'crash-test',
        };
      });
      await ctx.table.putLabels(changes);
      // Kill it while it holds the words lock, i.e. in the middle of a compaction.
      const deadline = Date.now() + 60_000;
      for (;;) {
        const lock = await aws.clients.documents.send(
          new GetCommand({
            TableName: ctx.resources.stateTable.name,
            Key: { pk: 'LOCK#words' },
            ConsistentRead: true,
          }),
        );
        if (typeof lock.Item?.owner === 'string' && Number(lock.Item.leaseUntil) > Date.now())
          break;
        if (Date.now() > deadline) throw new Error('the compactor never took the words lock');
        await new Promise((r) => setTimeout(r, 20));
      }
      worker.kill('SIGKILL');
      await new Promise((r) => worker.once('exit', r));
      worker = await spawnCompactorWorker(ctx.base);
      await ctx.pipeline.settle();
      await waitUntilVisible(ctx.published, [
        {
          collection: 'words',
          description: 'all 300 TOTAL labels',
          holds: async (col) =>
            (await col.get({ where: { label_proposed_by: 'crash-test' }, include: [] })).ids
              .length >= 1 && (await labelMismatchesIn(col, expected)).length === 0,
        },
      ]);
      expect(await labelMismatches(ctx.published, expected)).toEqual([]);
    } finally {
      worker.kill('SIGTERM');
      await ctx.pipeline.stop();
    }
  }, 300_000);

  it('a poison message ends in the DLQ with its reason while the rest flows', async () => {
    const ctx = await setup();
    const receipts = buildDataset({ receipts: 3, seed: 21 });
    await seed(ctx, receipts);
    await aws.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: ctx.resources.queues.words.queue.url,
        MessageBody: '{"v":1,"kind":"label","oops":true}',
      }),
    );
    const r = receipts[0]!;
    const line = r.lines.find((l) => l.text.startsWith('TOTAL '))!;
    const ref = {
      imageId: r.imageId,
      receiptId: r.receiptId,
      lineId: line.lineId,
      wordId: 1,
      label: 'TOTAL',
    };
    await ctx.table.putLabel(ref, 'VALID', 'after-poison');
    await waitUntilVisible(ctx.published, [
      {
        collection: 'words',
        description: 'the label written after the poison message',
        holds: async (col) =>
          (await col.get({ ids: [wordVectorId(ref)], include: ['metadatas'] })).metadatas[0]
            ?.label_proposed_by === 'after-poison',
      },
    ]);
    const dlq = await aws.clients.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: ctx.resources.queues.words.deadLetterQueue.url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 1,
      }),
    );
    expect(dlq.Messages?.map((m) => m.Body)).toEqual(['{"v":1,"kind":"label","oops":true}']);
    expect(dlq.Messages?.[0]?.MessageAttributes?.rejectionReason?.StringValue).toBeTruthy();
    await ctx.pipeline.stop();
  });
});

async function labelMismatchesIn(
  col: ReadOnlyCollection,
  expected: Map<string, Record<string, WordLabelState>>,
): Promise<string[]> {
  const got = await col.get({ ids: [...expected.keys()], include: ['metadatas'] });
  const byId = new Map(got.ids.map((id, i) => [id, got.metadatas[i]]));
  const out: string[] = [];
  for (const [id, labels] of expected) {
    const want = summarizeLabels(labels);
    if (
      (byId.get(id)?.valid_labels ?? '') !== want.valid_labels ||
      (byId.get(id)?.label_status ?? '') !== want.label_status
    )
      out.push(id);
  }
  return out;
}
