import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { ENV } from '@compaction/contracts';
import { LOCAL_AWS_REGION, localAwsEnv, useLocalAws } from '@compaction/local-aws';
import { REPO_ROOT } from '../../lib/build-settings.js';
import {
  COMPACTOR_BUNDLE_FILE,
  NATIVE_DEPENDENCIES,
  stageCompactorImageContext,
} from '../../lib/compactor-image.js';

const run = promisify(execFile);

/**
 * The compactor image cannot be built here (no Docker engine), but its recipe can be run:
 * stage the same build context `cdk synth` stages, run the same `install.sh` the
 * Dockerfile runs (into a temp directory instead of /build), then import the handler from
 * the result in a plain `node` process, as Lambda would. A broken recipe (a dependency the
 * bundle misses, an addon that is not installed, a lockfile npm refuses) fails here.
 *
 * The installed tree is for this machine (x64, Node 20), not for Lambda: what it proves is
 * the recipe, not the binaries. `install.sh` itself loads both addons after installing, so
 * the same check runs inside the arm64 image build.
 *
 * The handler then runs twice in that tree, against the local emulators with the stack's
 * environment: an empty batch (what the pre-traffic hook sends) and a message it must
 * refuse, which it dead-letters through the bundled AWS SDK.
 *
 * Slow: better-sqlite3 compiles from source when no prebuilt binary can be downloaded
 * (no network here except the npm registry): about 140 s, plus ~17 s for hnswlib-node.
 */
const work = mkdtempSync(join(tmpdir(), 'compactor-image-'));
const aws = await useLocalAws();
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('installs the bundled handler and its native addons with the image recipe, and the handler loads from the result', async () => {
  const context = join(work, 'context');
  const task = join(work, 'task'); // stands for ${LAMBDA_TASK_ROOT}; outside the repo on purpose
  const { directory } = stageCompactorImageContext({ outDir: context });

  const started = Date.now();
  const install = await run('sh', [join(directory, 'install.sh'), task], {
    cwd: work,
    timeout: 900_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const seconds = Math.round((Date.now() - started) / 1000);
  expect(install.stdout, `install.sh (${seconds} s)`).toMatch(/native addons load on linux/);

  // Only runtime files: the bundle, the manifest, the lockfile and node_modules.
  expect(existsSync(join(task, COMPACTOR_BUNDLE_FILE))).toBe(true);
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version: string }>;
  };
  for (const dep of NATIVE_DEPENDENCIES) {
    const installed = JSON.parse(
      readFileSync(join(task, 'node_modules', dep, 'package.json'), 'utf8'),
    ) as { version: string };
    expect(installed.version, dep).toBe(lock.packages[`node_modules/${dep}`]!.version);
  }

  // A plain node process, cwd and module resolution inside the installed tree only; the
  // bundled handler runs against the local emulators with the stack's environment.
  const res = await aws.provision();
  const refused = {
    messageId: 'refused-1',
    receiptHandle: 'handle-1',
    body: JSON.stringify({ v: 99, kind: 'future' }),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '0',
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: '0',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: res.queues.lines.queue.arn,
    awsRegion: LOCAL_AWS_REGION,
  };
  const probe = `
      import { createRequire } from 'node:module';
      import { pathToFileURL } from 'node:url';
      const url = pathToFileURL(process.argv[1]).href;
      const mod = await import(url);
      const require = createRequire(url);
      const Database = require('better-sqlite3');
      const db = new Database(':memory:');
      db.exec('create table t (x integer)');
      db.prepare('insert into t values (?)').run(42);
      const row = db.prepare('select x from t').get();
      db.close();
      const { HierarchicalNSW } = require('hnswlib-node');
      const index = new HierarchicalNSW('cosine', 3);
      index.initIndex(2);
      index.addPoint([1, 0, 0], 0);
      index.addPoint([0, 1, 0], 1);
      const knn = index.searchKnn([0.9, 0.1, 0], 1);
      // The lock's heartbeat thread loads from the staged file next to the handler.
      const { Worker } = await import('node:worker_threads');
      const worker = new Worker(new URL('./heartbeat-worker.mjs', url), { execArgv: [] });
      // Its first message says it loaded, SDK included.
      const heartbeat = await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
      const smoke = await mod.handler({ Records: [] });
      const refused = await mod.handler({ Records: [JSON.parse(process.argv[2])] });
      console.log(JSON.stringify({
        handler: typeof mod.handler,
        resolved: [require.resolve('better-sqlite3'), require.resolve('hnswlib-node')],
        row, nearest: knn.neighbors[0], heartbeat, smoke, refused,
      }));
    `;
  const { stdout } = await run(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      probe,
      join(task, COMPACTOR_BUNDLE_FILE),
      JSON.stringify(refused),
    ],
    {
      cwd: task,
      timeout: 120_000,
      env: {
        PATH: process.env.PATH ?? '',
        ...localAwsEnv(aws.emulators.endpoints),
        ...res.env,
        [ENV.workDir]: join(work, 'compaction'),
      },
    },
  );
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    handler: string;
    resolved: string[];
    row: { x: number };
    nearest: number;
    heartbeat: unknown;
    smoke: unknown;
    refused: unknown;
  };
  expect(result.handler).toBe('function');
  for (const resolved of result.resolved) {
    expect(resolved.startsWith(join(task, 'node_modules'))).toBe(true);
  }
  expect(result.row).toEqual({ x: 42 });
  expect(result.nearest).toBe(0);
  expect(result.heartbeat).toEqual({ type: 'ready', id: 0 });
  // What the pre-traffic hook expects from the new version.
  expect(result.smoke).toEqual({ batchItemFailures: [] });
  // A message it can never apply is dead-lettered (through the bundled SDK) and acknowledged.
  expect(result.refused).toEqual({ batchItemFailures: [] });
  const dead = await aws.clients.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: res.queues.lines.deadLetterQueue.url,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
    }),
  );
  expect(dead.Messages ?? []).toHaveLength(1);
}, 900_000);
