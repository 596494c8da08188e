/**
 * `npm run demo`: the whole service on embedded local AWS, in one command.
 *
 * Starts DynamoDB Local (with Streams) and fauxqs (SQS + S3), provisions the stack's
 * resources, runs the real stream processor and compactor behind Lambda-like event
 * source runners, seeds realistic receipts through the real pipeline, performs scripted
 * receipt edits, and shows — from the published snapshots, as a reader sees them — that
 * every edit landed. Exits non-zero if any expectation fails.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { COLLECTIONS, COMPACTION_PATHS, type CompactionPath } from '@compaction/contracts';
import {
  provisionResources,
  startLocalAws,
  type LocalAws,
  type ProvisionedResources,
} from '@compaction/local-aws';
import { adminAccess, formatAdminAccess } from './admin-access.js';
import { positiveInt } from './cli-options.js';
import { buildDataset, ReceiptsTable } from '@compaction/receipt-fixtures';
import { Pipeline } from './pipeline.js';
import { PublishedStores } from './published.js';
import { percentile, table } from './report.js';
import {
  MIN_SCENARIO_RECEIPTS,
  queryVector,
  runSteps,
  seedSteps,
  updateSteps,
  whereReceipt,
  type StepResult,
} from './scenario.js';

interface DemoOptions {
  receipts: number;
  path: CompactionPath;
  dim: number;
  seed: number;
  keep: boolean;
  verbose: boolean;
}

const program = new Command('demo')
  .description(
    'Run the receipt compaction service end to end on embedded local AWS (no AWS account needed).',
  )
  .option('--receipts <n>', 'receipts to seed', positiveInt, 200)
  .addOption(
    new Option('--path <path>', 'compactor code path (COMPACTION_PATH)')
      .choices(COMPACTION_PATHS)
      .default('batched'),
  )
  .option('--dim <n>', 'embedding dimension', positiveInt, 384)
  .option('--seed <n>', 'seed of the generated data set', positiveInt, 42)
  .option(
    '--keep',
    'leave the emulators running at the end and print the environment for compaction-admin',
    false,
  )
  .option('--verbose', "show the services' structured logs", false)
  .addHelpText(
    'after',
    '\nExamples:\n  npm run demo\n  npm run demo -- --receipts 50 --path shadow\n  npm run demo -- --keep   # then paste the printed block into another shell to use compaction-admin',
  );

/** The stage whose resource names the demo provisions (what `--stage` names for the CLI). */
const DEMO_STAGE = 'demo';

const log = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
const elapsed = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)} s`;

async function main(options: DemoOptions): Promise<void> {
  const started = Date.now();
  // On Lambda, EMF metric lines go to CloudWatch; here they would drown the output.
  if (!options.verbose) process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  log(
    `Receipt compaction demo — ${options.receipts} receipts, path ${options.path}, ${options.dim}-d vectors\n`,
  );
  const aws: LocalAws = await startLocalAws();
  const scratch = await mkdtemp(join(tmpdir(), 'compaction-demo-'));
  let pipeline: Pipeline | undefined;
  let published: PublishedStores | undefined;
  let resources: ProvisionedResources | undefined;
  try {
    log(
      `local AWS ready in ${aws.startupMs} ms: DynamoDB Local ${aws.dynamodbVersion ?? ''} ${aws.endpoints.dynamodb}, SQS+S3 ${aws.endpoints.sqs}`,
    );
    // Failed batches come back after the visibility timeout: keep it short locally.
    resources = await provisionResources(aws.clients, {
      stage: DEMO_STAGE,
      overrides: { collectionQueue: { visibilityTimeoutSeconds: 5 } },
    });
    log(
      `provisioned table ${resources.receiptsTable.name}, queues, DLQs and bucket ${resources.snapshotBucket}`,
    );
    pipeline = await Pipeline.start({
      aws,
      resources,
      path: options.path,
      workDir: join(scratch, 'compactor'),
      verbose: options.verbose,
    });
    log('stream processor and compactor running behind Lambda-like event source runners\n');

    published = new PublishedStores({
      s3: aws.clients.s3,
      bucket: resources.snapshotBucket,
      scratchDir: scratch,
    });
    const receipts = buildDataset({ receipts: options.receipts, seed: options.seed });
    const ctx = {
      table: new ReceiptsTable(aws.clients.documents, resources.receiptsTable.name),
      s3: aws.clients.s3,
      bucket: resources.snapshotBucket,
      receipts,
      dimension: options.dim,
      seed: options.seed,
      progress: log,
    };
    const seedStarted = Date.now();
    const seeded = await runSteps(published, seedSteps(ctx), log);
    log(`  initial snapshots published in ${elapsed(seedStarted)}\n`);
    const { steps, facts } = updateSteps(ctx);
    const updates = await runSteps(published, steps, log);
    await pipeline.settle();
    log('');

    await printVersions(published);
    await printQueries(published, facts, options.dim);
    printSummary([...seeded, ...updates], updates, pipeline, started);
  } finally {
    // Closed on failure too: an open reader would keep the process alive after the error.
    await published?.close();
    await pipeline?.stop();
    if (options.keep) {
      log(`\n--keep: the emulators stay up until Ctrl-C (the demo's stage is "${DEMO_STAGE}").`);
      if (resources) {
        log('For compaction-admin, paste this into another shell at the repository root:\n');
        log(formatAdminAccess(adminAccess(aws, resources)));
      }
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    await aws.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

async function printVersions(published: PublishedStores): Promise<void> {
  log('Published snapshots (live version per collection):');
  const rows: Array<Array<string | number>> = [];
  for (const c of COLLECTIONS) {
    const info = await published.withLatest(c, async ({ version, manifest, collection }) => [
      c,
      version,
      await collection.count(),
      manifest.files.length,
      `${(manifest.files.reduce((n, f) => n + f.size, 0) / 1e6).toFixed(1)} MB`,
      manifest.parentVersion ?? '—',
    ]);
    if (info) rows.push(info.value);
  }
  log(table(['collection', 'version', 'vectors', 'files', 'size', 'parent'], rows));
  log('');
}

async function printQueries(
  published: PublishedStores,
  facts: ReturnType<typeof updateSteps>['facts'],
  dim: number,
): Promise<void> {
  log(
    `Query 1 — words like "TOTAL" on receipts of "${facts.renamedMerchant}" whose label is validated:`,
  );
  const q1 = await published.withLatest('words', ({ collection }) =>
    collection.query({
      queryEmbeddings: [queryVector('TOTAL', dim)],
      nResults: 5,
      where: {
        $and: [{ canonical_merchant_name: facts.renamedMerchant }, { label_status: 'validated' }],
      },
      include: ['metadatas', 'documents', 'distances'],
    }),
  );
  const r1 = q1?.value;
  log(
    table(
      ['word', 'distance', 'valid_labels', 'label_proposed_by', 'vector id'],
      (r1?.ids[0] ?? []).map((id, i) => [
        r1!.documents[0]?.[i] ?? '',
        (r1!.distances[0]?.[i] ?? 0).toFixed(3),
        String(r1!.metadatas[0]?.[i]?.valid_labels ?? ''),
        String(r1!.metadatas[0]?.[i]?.label_proposed_by ?? ''),
        id.slice(0, 60),
      ]),
    ),
  );
  const totalsVisible = (r1?.ids[0] ?? []).filter((_, i) =>
    String(r1!.metadatas[0]?.[i]?.valid_labels).includes(',TOTAL,'),
  ).length;
  if (totalsVisible === 0)
    throw new Error('query 1 found no word whose valid_labels contain TOTAL');

  log(`\nQuery 2 — vectors left of the deleted receipt ${facts.deletedReceipt.imageId}:`);
  for (const c of COLLECTIONS) {
    const left = await published.withLatest(c, ({ collection }) =>
      collection.get({ where: whereReceipt(facts.deletedReceipt), include: [] }),
    );
    log(`  ${c}: ${left?.value.ids.length ?? 0}`);
    if ((left?.value.ids.length ?? 0) !== 0)
      throw new Error(`deleted receipt still has ${c} vectors`);
  }

  const arriving = facts.arrivingReceipt;
  log(
    `\nQuery 3 — lines of the newly arrived receipt (${arriving.place.canonical_merchant_name}) nearest to "GRAND TOTAL":`,
  );
  const q3 = await published.withLatest('lines', ({ collection }) =>
    collection.query({
      queryEmbeddings: [queryVector('GRAND TOTAL', dim)],
      nResults: 3,
      where: whereReceipt(arriving),
      include: ['documents', 'distances', 'metadatas'],
    }),
  );
  const r3 = q3?.value;
  log(
    table(
      ['line', 'distance', 'merchant'],
      (r3?.ids[0] ?? []).map((_, i) => [
        r3!.documents[0]?.[i] ?? '',
        (r3!.distances[0]?.[i] ?? 0).toFixed(3),
        String(r3!.metadatas[0]?.[i]?.canonical_merchant_name ?? ''),
      ]),
    ),
  );
  if ((r3?.ids[0] ?? []).length === 0) throw new Error('query 3 found no line of the new receipt');
  log('');
}

function printSummary(
  all: StepResult[],
  updates: StepResult[],
  pipeline: Pipeline,
  started: number,
): void {
  const stats = pipeline.stats();
  // One sample per step: a step's changes are written together and become visible
  // together (one compaction), so weighting by change count would only repeat samples.
  const latencies = updates.map((s) => s.visibleAfterMs);
  log('Summary:');
  log(
    table(
      ['what', 'value'],
      [
        ['table changes (seed + updates)', all.reduce((n, s) => n + s.changes, 0)],
        ['stream records processed', stats.streamRecords],
        ['change messages (lines / words)', `${stats.messages.lines} / ${stats.messages.words}`],
        [
          'compactor invocations (lines / words)',
          `${stats.compactorInvocations.lines} / ${stats.compactorInvocations.words}`,
        ],
        ['snapshots published', stats.metrics.CompactionLambdaSuccess ?? 0],
        ['messages failed back to the queue', stats.failedMessages],
        [
          `write → published, p50 over ${latencies.length} update steps`,
          `${percentile(latencies, 50)} ms`,
        ],
        [
          `write → published, p95 over ${latencies.length} update steps`,
          `${percentile(latencies, 95)} ms`,
        ],
        ['total time', elapsed(started)],
      ],
    ),
  );
}

program.action(async (options: DemoOptions) => {
  // Refused before anything starts: the scenario cannot show its queries with fewer.
  if (options.receipts < MIN_SCENARIO_RECEIPTS) {
    program.error(
      `error: --receipts ${options.receipts} is too few: the scenario needs at least ${MIN_SCENARIO_RECEIPTS} receipts (it deletes one and keeps another whose TOTAL label it validates)`,
      { exitCode: 2, code: 'demo.tooFewReceipts' },
    );
  }
  try {
    await main(options);
    log('\nDemo finished: every expected change is visible in the published snapshots.');
  } catch (err) {
    process.stderr.write(`\nDemo failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
});

await program.parseAsync();
