/**
 * End-to-end benchmark: table write → stream → stream processor → SQS → compactor →
 * published snapshot, on the local emulators, for each compaction path in the same run.
 *
 * Measures, per path:
 * - delta merge: embeddings/s from writing COMPLETED embedding-run records (deltas
 *   already uploaded) to the published snapshot holding all of them — the old system's
 *   published figure (14,816 embeddings compacted in 39.5 s ≈ 375/s) measured this;
 * - label burst: changes/s from the first of N label writes to the snapshot showing all;
 * - single changes: write → visible latency p50/p95, one change at a time.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { COMPACTION_PATHS, wordVectorId, type CompactionPath } from '@compaction/contracts';
import { provisionResources, startLocalAws, type LocalAws } from '@compaction/local-aws';
import {
  buildDataset,
  countVectors,
  ReceiptsTable,
  type DemoReceipt,
  type LabelRef,
} from '@compaction/receipt-fixtures';
import { produceDelta } from '../src/delta-producer.js';
import { Pipeline } from '../src/pipeline.js';
import { PublishedStores } from '../src/published.js';
import { percentile, table } from '../src/report.js';
import { waitUntilVisible } from '../src/scenario.js';
import { positiveInt } from '../src/cli-options.js';

interface Options {
  receipts: number;
  changes: number;
  singles: number;
  dim: number;
  paths: CompactionPath[];
  out: string;
}

interface PathResult {
  path: CompactionPath;
  deltaEmbeddings: number;
  deltaSeconds: number;
  embeddingsPerSecond: number;
  burstChanges: number;
  burstSeconds: number;
  changesPerSecond: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
  compactions: number;
  /** Compactions during the label burst, and their mean time per phase (ms). */
  burstCompactions: number;
  burstPhaseMsPerCompaction: Record<string, number>;
}

const here = dirname(fileURLToPath(import.meta.url));
const program = new Command('bench-e2e')
  .description(
    'End-to-end throughput and latency of the compaction pipeline on local AWS, per compaction path.',
  )
  .option('--receipts <n>', 'receipts merged by delta (≈ 65 embeddings each)', positiveInt, 100)
  .option('--changes <n>', 'label changes in the burst', positiveInt, 2000)
  .option('--singles <n>', 'single changes timed one by one', positiveInt, 15)
  .option('--dim <n>', 'embedding dimension', positiveInt, 384)
  .addOption(
    new Option('--paths <paths...>', 'compaction paths to compare')
      .choices(COMPACTION_PATHS)
      .default(['legacy', 'batched']),
  )
  .option('--out <file>', 'JSON results', join(here, 'e2e-results.json'));

const wordRefs = (receipts: DemoReceipt[]): LabelRef[] =>
  receipts.flatMap((r) =>
    r.lines.flatMap((l) =>
      l.words.map((w) => ({
        imageId: r.imageId,
        receiptId: r.receiptId,
        lineId: l.lineId,
        wordId: w.wordId,
        label: 'BENCH',
      })),
    ),
  );

async function benchPath(
  aws: LocalAws,
  path: CompactionPath,
  o: Options,
  log: (s: string) => void,
): Promise<PathResult> {
  const scratch = await mkdtemp(join(tmpdir(), `bench-e2e-${path}-`));
  const resources = await provisionResources(aws.clients, {
    stage: `bench-${path}-${Date.now().toString(36)}`,
    overrides: { collectionQueue: { visibilityTimeoutSeconds: 5 } },
  });
  const pipeline = await Pipeline.start({
    aws,
    resources,
    path,
    workDir: join(scratch, 'compactor'),
  });
  const published = new PublishedStores({
    s3: aws.clients.s3,
    bucket: resources.snapshotBucket,
    scratchDir: scratch,
  });
  const tableWriter = new ReceiptsTable(aws.clients.documents, resources.receiptsTable.name);
  try {
    // 1. Delta merge. Producing the deltas (embedding + HNSW build) is the producer's
    // work, done before the clock starts, as in the old system's measurement.
    const receipts = buildDataset({ receipts: o.receipts, seed: 3 });
    await tableWriter.putReceipts(receipts);
    await pipeline.settle();
    log(`  [${path}] producing ${receipts.length} delta snapshots…`);
    const runs: Array<{
      r: DemoReceipt;
      runId: string;
      prefixes: { lines: string; words: string };
    }> = [];
    for (const r of receipts) {
      const runId = `bench-${r.imageId.slice(0, 8)}`;
      runs.push({
        r,
        runId,
        prefixes: await produceDelta({
          s3: aws.clients.s3,
          bucket: resources.snapshotBucket,
          runId,
          receipts: [r],
          dimension: o.dim,
        }),
      });
    }
    const counts = countVectors(receipts);
    const deltaStart = Date.now();
    for (const run of runs)
      await tableWriter.putCompactionRun(
        run.r.imageId,
        run.r.receiptId,
        run.runId,
        run.prefixes,
        'COMPLETED',
      );
    await waitUntilVisible(
      published,
      (['lines', 'words'] as const).map((c) => ({
        collection: c,
        description: `${counts[c]} vectors`,
        holds: async (col) => (await col.count()) === counts[c],
      })),
      { timeoutMs: 600_000 },
    );
    const deltaSeconds = (Date.now() - deltaStart) / 1000;
    const deltaEmbeddings = counts.lines + counts.words;
    log(`  [${path}] merged ${deltaEmbeddings} embeddings in ${deltaSeconds.toFixed(1)} s`);
    await pipeline.settle();

    // 2. Label burst: distinct words, so BatchWriteItem can carry them.
    const refs = wordRefs(receipts).slice(0, o.changes);
    const beforeBurst = pipeline.stats();
    const burstStart = Date.now();
    await tableWriter.putLabels(
      refs.map((ref) => ({ ref, status: 'VALID' as const, proposedBy: 'bench' })),
    );
    const last = refs[refs.length - 1]!;
    await waitUntilVisible(
      published,
      [
        {
          collection: 'words',
          description: `${refs.length} BENCH labels`,
          holds: async (col) =>
            (await col.get({ where: { label_proposed_by: 'bench' }, include: [] })).ids.length >=
              refs.length &&
            (await col.get({ ids: [wordVectorId(last)], include: ['metadatas'] })).metadatas[0]
              ?.label_proposed_by === 'bench',
        },
      ],
      { timeoutMs: 600_000, pollMs: 50 },
    );
    const burstSeconds = (Date.now() - burstStart) / 1000;
    log(`  [${path}] ${refs.length} label changes visible in ${burstSeconds.toFixed(1)} s`);
    await pipeline.settle();
    const afterBurst = pipeline.stats();
    const invocations = (s: typeof afterBurst) =>
      s.compactorInvocations.lines + s.compactorInvocations.words;
    const burstCompactions = invocations(afterBurst) - invocations(beforeBurst);
    const burstPhaseMsPerCompaction = Object.fromEntries(
      Object.entries(afterBurst.phaseMs).map(([phase, ms]) => [
        phase,
        (ms - (beforeBurst.phaseMs[phase] ?? 0)) / Math.max(1, burstCompactions),
      ]),
    );

    // 3. Single changes, each waited for.
    const latencies: number[] = [];
    for (let i = 0; i < o.singles; i++) {
      const ref = { ...refs[i]!, label: 'SINGLE' };
      const t0 = Date.now();
      await tableWriter.putLabel(ref, 'VALID', `single-${i}`);
      await waitUntilVisible(
        published,
        [
          {
            collection: 'words',
            description: `single ${i}`,
            // The summary's proposer is the first deciding label's (BENCH), so check the list.
            holds: async (col) =>
              String(
                (await col.get({ ids: [wordVectorId(ref)], include: ['metadatas'] })).metadatas[0]
                  ?.valid_labels,
              ).includes(',SINGLE,'),
          },
        ],
        { pollMs: 25 },
      );
      latencies.push(Date.now() - t0);
    }
    log(
      `  [${path}] single-change latency p50 ${percentile(latencies, 50)} ms, p95 ${percentile(latencies, 95)} ms`,
    );
    return {
      path,
      deltaEmbeddings,
      deltaSeconds,
      embeddingsPerSecond: deltaEmbeddings / deltaSeconds,
      burstChanges: refs.length,
      burstSeconds,
      changesPerSecond: refs.length / burstSeconds,
      latencyP50Ms: percentile(latencies, 50),
      latencyP95Ms: percentile(latencies, 95),
      compactions:
        pipeline.stats().compactorInvocations.lines + pipeline.stats().compactorInvocations.words,
      burstCompactions,
      burstPhaseMsPerCompaction,
    };
  } finally {
    await pipeline.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

program.action(async (o: Options) => {
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const results: PathResult[] = [];
  // Fresh emulators for every path: DynamoDB Local slows down as its tables and streams
  // fill, so whichever path ran second on shared emulators lost about 2× on the label
  // burst (measured both ways round), whatever its own speed.
  for (const path of o.paths) {
    log(`path ${path}:`);
    const aws = await startLocalAws();
    try {
      results.push(await benchPath(aws, path, o, log));
    } finally {
      await aws.stop();
    }
  }
  const OLD_SYSTEM_EMBEDDINGS_PER_S = 14_816 / 39.5;
  const rows = results.map((r) => [
    r.path,
    `${r.embeddingsPerSecond.toFixed(0)}/s (${r.deltaEmbeddings} in ${r.deltaSeconds.toFixed(1)} s)`,
    `${(r.embeddingsPerSecond / OLD_SYSTEM_EMBEDDINGS_PER_S).toFixed(2)}×`,
    `${r.changesPerSecond.toFixed(0)}/s (${r.burstChanges} in ${r.burstSeconds.toFixed(1)} s)`,
    `${r.latencyP50Ms} / ${r.latencyP95Ms} ms`,
    r.compactions,
  ]);
  console.log(
    table(
      [
        'path',
        'delta merge',
        'vs old 375/s',
        'label burst',
        'write→visible p50/p95',
        'compactions',
      ],
      rows,
    ),
  );
  const phases = [...new Set(results.flatMap((r) => Object.keys(r.burstPhaseMsPerCompaction)))];
  console.log('\nlabel burst: mean compactor time per compaction, by phase (ms)');
  console.log(
    table(
      ['phase', ...results.map((r) => `${r.path} (${r.burstCompactions} compactions)`)],
      phases.map((phase) => [
        phase,
        ...results.map((r) => (r.burstPhaseMsPerCompaction[phase] ?? 0).toFixed(1)),
      ]),
    ),
  );
  const legacy = results.find((r) => r.path === 'legacy');
  const batched = results.find((r) => r.path === 'batched');
  const ratios =
    legacy && batched
      ? {
          embeddingsPerSecond: batched.embeddingsPerSecond / legacy.embeddingsPerSecond,
          changesPerSecond: batched.changesPerSecond / legacy.changesPerSecond,
          latencyP50: batched.latencyP50Ms / legacy.latencyP50Ms,
        }
      : undefined;
  if (ratios) {
    console.log(
      `batched / legacy: delta merge ${ratios.embeddingsPerSecond.toFixed(2)}×, label burst ${ratios.changesPerSecond.toFixed(2)}×, p50 latency ${ratios.latencyP50.toFixed(2)}×`,
    );
  }
  await mkdir(dirname(o.out), { recursive: true });
  await writeFile(
    o.out,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        options: o,
        oldSystemEmbeddingsPerSecond: OLD_SYSTEM_EMBEDDINGS_PER_S,
        results,
        ratios,
      },
      null,
      2,
    ),
  );
});

await program.parseAsync();
