/**
 * Benchmark of the compactor: 1- and 1,000-message metadata/label batches on a large
 * collection (default 100k × 384-d words): `legacy` (cold, full upload: the reference),
 * `batched` warm (cached) and `batched` with a cache one version behind, per phase with
 * bytes up and down, then a reader's `refresh()` after a 1-message compaction, against
 * plain copies of the same bytes — all on the local emulators started by
 * `@compaction/local-aws`, in one run on one (shared) machine, so ratios are what to read.
 *
 *   npm run bench -w @compaction/compactor -- --help
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { provisionResources, startLocalAws, uniqueStage } from '@compaction/local-aws';
import { items } from '../test/support/messages.js';
import {
  workloadMessages,
  workloadReceipts,
  type WorkloadOptions,
} from '../test/support/workload.js';
import { baseStore } from './base-store.js';
import { measureBaselines } from './baselines.js';
import { printReport, summarize } from './report.js';
import { measureReaderRefresh, type ReaderRefreshResult } from './reader-refresh.js';
import { runScenario, type BenchEnv, type ScenarioResult } from './scenarios.js';
import { seedBase } from './seed.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');

const program = new Command()
  .name('bench')
  .description(
    'Compaction benchmark: legacy (full upload) vs batched warm and one version behind, 1- and 1,000-message batches, reader refresh(), against plain copies of the snapshot bytes.',
  )
  .option('--vectors <n>', 'vectors in the base collection', (v) => Number(v), 100_000)
  .option(
    '--batches <list>',
    'batch sizes to measure (change messages: metadata and labels), comma-separated',
    (v) => v.split(',').map(Number),
    [1, 1000],
  )
  .option('--dim <n>', 'embedding dimension', (v) => Number(v), 384)
  .option('--rounds <n>', 'measured rounds of every scenario (interleaved)', (v) => Number(v), 1)
  .option('--seed <n>', 'workload seed', (v) => Number(v), 1)
  .option('--out <file>', 'JSON results', join(here, 'results.json'))
  .option(
    '--cache-dir <dir>',
    'where the built base store is cached',
    join(repoRoot, '.bench-tmp', 'compactor'),
  )
  .option('--rebuild', 'rebuild the base store even if cached', false)
  .addHelpText(
    'after',
    `
The base store (building HNSW costs ~2 ms per 384-d vector: ~200 s for 100k) is built
once and cached under --cache-dir. Results go to --out as JSON and are printed as a table.`,
  );

interface Options {
  vectors: number;
  batches: number[];
  dim: number;
  rounds: number;
  seed: number;
  out: string;
  cacheDir: string;
  rebuild: boolean;
}

async function main(): Promise<void> {
  const o = program.parse().opts<Options>();
  for (const [name, value] of Object.entries({
    vectors: o.vectors,
    dim: o.dim,
    rounds: o.rounds,
  })) {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`--${name} must be a positive integer`);
  }
  // Receipts of 10 lines × 10 words: 100 word vectors each.
  const workload: WorkloadOptions = {
    seed: o.seed,
    collection: 'words',
    receipts: Math.ceil(o.vectors / 100),
    linesPerReceipt: 10,
    wordsPerLine: 10,
    dimension: o.dim,
    // One more than the largest batch: the last one is the version a cache is behind by.
    messages: Math.max(...o.batches) + 1,
    deltaShare: 0,
    removalShare: 0,
  };
  const receipts = workloadReceipts(workload);
  const base = await baseStore(o.cacheDir, workload, receipts, {
    rebuild: o.rebuild,
    expectedVectors: workload.receipts * 100,
  });
  console.log(
    `base store: ${base.vectors} vectors × ${base.dimension}-d, ${(base.bytes / 1e6).toFixed(1)} MB in ${base.files} files ` +
      (base.cached
        ? `(cached; built in ${base.buildSeconds.toFixed(0)} s)`
        : `(built in ${base.buildSeconds.toFixed(0)} s)`),
  );
  const { messages: generated } = workloadMessages(workload, receipts);
  // The 1-message batch is a label change on a word of the base collection, so it really
  // writes (a change for a receipt only a later delta brings is merely recorded as pending).
  const baseReceipts = new Set(receipts.base.map((r) => `${r.imageId}#${r.receiptId}`));
  const first = generated.findIndex(
    (m) =>
      m.kind === 'label' &&
      m.event !== 'REMOVE' &&
      baseReceipts.has(`${m.receipt.imageId}#${m.receipt.receiptId}`),
  );
  const messages = [generated[first]!, ...generated.filter((_, i) => i !== first)];

  const aws = await startLocalAws();
  const scratch = await mkdtemp(join(o.cacheDir, 'run-'));
  try {
    const res = await provisionResources(aws.clients, { stage: uniqueStage('bench') });
    const env: BenchEnv = {
      s3: aws.clients.s3,
      ddb: aws.clients.documents,
      bucket: res.snapshotBucket,
      table: res.stateTable.name,
      collection: 'words',
      scratch,
    };
    const seedStart = performance.now();
    const pointer = await seedBase(env, base.dir, base.vectors);
    const seedMs = performance.now() - seedStart;
    console.log(
      `seeded version ${pointer.version} in ${(seedMs / 1000).toFixed(1)} s; measuring baselines…`,
    );
    const baselines = await measureBaselines({
      dir: base.dir,
      scratch,
      s3: env.s3,
      bucket: env.bucket,
    });

    const all = items(messages);
    const other = all.slice(-1);
    const results: ScenarioResult[] = [];
    const refreshes: ReaderRefreshResult[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      for (const size of o.batches) {
        const batch = all.slice(0, size);
        for (const which of [
          { path: 'legacy', cache: 'cold' },
          { path: 'batched', cache: 'warm' },
          { path: 'batched', cache: 'behind' },
        ] as const) {
          process.stdout.write(`round ${round}: ${size} msg ${which.path} ${which.cache}… `);
          const r = await runScenario(env, pointer, batch, which, other);
          console.log(`${((r.durationsMs.total ?? 0) / 1000).toFixed(2)} s`);
          results.push(r);
        }
      }
      process.stdout.write(`round ${round}: reader refresh after a 1-message compaction… `);
      const refresh = await measureReaderRefresh(env, pointer, all.slice(0, 1));
      console.log(`${refresh.refreshMs.toFixed(0)} ms`);
      refreshes.push(refresh);
    }
    const summary = summarize({ options: { ...o }, base, seedMs, baselines, results, refreshes });
    printReport(summary);
    await mkdir(dirname(o.out), { recursive: true });
    await writeFile(o.out, JSON.stringify(summary, null, 2));
    console.log(`\nresults written to ${o.out}`);
    if (!summary.digestsEqual) {
      process.exitCode = 1;
      console.error('ERROR: the scenarios did not produce the same store digest');
    }
  } finally {
    await aws.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
