/**
 * Benchmark of `compaction-admin rollback` on a 100k-vector collection, on the local
 * emulators (`@compaction/local-aws`): wall time of a rollback with the default
 * verification (HEAD of every blob) and with `--full-verify` (download + sha256 of
 * every file), in-process (what the operation costs) and as a child process through
 * the bin (what an operator waits for: node start-up and the built bundle included).
 *
 *   npm run bench:rollback -w @compaction/admin -- --help   (builds dist/ first)
 *
 * The snapshot is real-size. Rollback never opens a store, so by default its files are
 * random bytes of exactly the sizes of a real 100k × 384-d words store built by
 * chroma-core (chroma.sqlite3 130,568,192 B + vectors.sqlite3 205,312,000 B + HNSW index
 * 168,444,136 B + sidecar): the same number of files, bytes, blobs and requests. `--store <dir>` publishes a real closed
 * store directory instead (then `snapshots verify`, which opens the store, is measured
 * too). Either way, several versions are published through `SnapshotRepository.publish`
 * and moved live through `PointerStore.swap` under the lease lock, like the compactor.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import {
  deprovisionResources,
  provisionResources,
  startLocalAws,
  uniqueStage,
  type LocalAws,
  type ProvisionedResources,
} from '@compaction/local-aws';
import { runCli } from '../src/cli.js';
import type { AdminIO } from '../src/context.js';
import { publishLive } from '../test/support/versions.js';
import { AuditLog, LeaseLock, PointerStore, SnapshotRepository } from '@compaction/snapshot-store';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = join(here, '..', 'bin', 'compaction-admin.js');
const COLLECTION = 'words' as const;

/**
 * File sizes of a real 100k × 384-d words store: the compactor bench's base store
 * (`npm run bench -w @compaction/compactor`, .bench-tmp/compactor/base-…-r1000x10x10-d384).
 */
const REAL_SIZES = {
  sqlite: 130_568_192,
  vectors: 205_312_000,
  index: 168_444_136,
};

const program = new Command()
  .name('bench:rollback')
  .description('Rollback wall time on a 100k-vector collection (default verify and --full-verify).')
  .option(
    '--store <dir>',
    'publish this real closed store directory instead of random bytes of real sizes',
  )
  .option('--vectors <n>', 'vector count written in the manifests', (v) => Number(v), 100_000)
  .option(
    '--versions <n>',
    'versions to publish (≥ 2; the rollback moves between the last two)',
    (v) => Number(v),
    10,
  )
  .option('--runs <n>', 'measured rollbacks with the default verification', (v) => Number(v), 9)
  .option('--full-runs <n>', 'measured rollbacks with --full-verify', (v) => Number(v), 3)
  .option(
    '--process-runs <n>',
    'measured rollbacks as a child process (default verification)',
    (v) => Number(v),
    5,
  )
  .option('--out <file>', 'JSON results', join(here, 'rollback-results.json'))
  .option('--work-dir <dir>', 'scratch space for the generated files', tmpdir());

interface Options {
  store?: string;
  vectors: number;
  versions: number;
  runs: number;
  fullRuns: number;
  processRuns: number;
  out: string;
  workDir: string;
}

interface Sample {
  /** Wall time around the whole command, ms. */
  wallMs: number;
  /** The command's own measure (`durationMs` of its JSON report), ms. */
  commandMs?: number;
  /** Verification alone, ms. */
  verifyMs?: number;
  lockWaitMs?: number;
}

/** Collects a stream's text (the CLI's stdout/stderr in-process). */
class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _e: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function randomFile(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  const chunk = 8 * 1024 * 1024;
  for (let written = 0; written < size; written += chunk) {
    const n = Math.min(chunk, size - written);
    if (!out.write(randomBytes(n))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
}

/** Every regular file under `dir`, relative. */
async function filesOf(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name)));
}

/**
 * Two store directories: A (the base) and B (a "metadata-only batch" later: a new
 * chroma.sqlite3, the same vectors.sqlite3 and index). Returns their paths and a description.
 */
async function prepareStores(
  o: Options,
  scratch: string,
): Promise<{ a: string; b: string; source: string }> {
  const b = join(scratch, 'b');
  let a: string;
  let source: string;
  if (o.store) {
    a = o.store;
    source = `real chroma-core store ${o.store}`;
  } else {
    a = join(scratch, 'a');
    const uuid = randomUUID();
    await randomFile(join(a, 'chroma.sqlite3'), REAL_SIZES.sqlite);
    await randomFile(join(a, 'vectors.sqlite3'), REAL_SIZES.vectors);
    await randomFile(join(a, 'index', `${uuid}.hnsw`), REAL_SIZES.index);
    await writeFile(
      join(a, 'index', `${uuid}.hnsw.json`),
      JSON.stringify({
        formatVersion: 1,
        collection: uuid,
        count: o.vectors,
        dimension: 384,
        space: 'cosine',
      }),
    );
    source = 'random bytes of a real 100k × 384-d store’s file sizes';
  }
  // B shares every file of A but chroma.sqlite3 (hard links where possible).
  for (const file of await filesOf(a)) {
    const target = join(b, file);
    await mkdir(dirname(target), { recursive: true });
    if (file === 'chroma.sqlite3') {
      await randomFile(target, (await stat(join(a, file))).size);
    } else {
      await link(join(a, file), target).catch(() => copyFile(join(a, file), target));
    }
  }
  return { a, b, source };
}

/** Publishes `dir` as the next version and swaps the pointer to it, like a compaction. */
async function publishVersion(
  aws: LocalAws,
  res: ProvisionedResources,
  dir: string,
  vectors: number,
): Promise<string> {
  const ddb = aws.clients.documents;
  const table = res.stateTable.name;
  const handle = await new LeaseLock({
    ddb,
    table,
    collection: COLLECTION,
    owner: `bench-${randomUUID()}`,
    leaseMs: 120_000,
    heartbeatMs: 30_000,
    maxWaitMs: 10_000,
  }).acquire();
  try {
    const pointers = new PointerStore({ ddb, table });
    const repository = new SnapshotRepository({ s3: aws.clients.s3, bucket: res.snapshotBucket });
    const current = await pointers.read(COLLECTION);
    const version = await publishLive(
      { pointers, repository },
      { dir, vectors, messagesApplied: 1000, handle, parentVersion: current?.version ?? null },
    );
    return version;
  } finally {
    await handle.release();
  }
}

async function cliInProcess(
  aws: LocalAws,
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string; wallMs: number }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: AdminIO = {
    stdout,
    stderr,
    // --yes: nothing is ever read from stdin.
    stdin: new PassThrough(),
    env: { ...aws.env, USER: 'bench' },
  };
  const t0 = performance.now();
  const code = await runCli(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text, wallMs: performance.now() - t0 };
}

function cliProcess(
  aws: LocalAws,
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string; wallMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, ...argv], {
      env: { ...process.env, ...aws.env, USER: 'bench' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout, stderr, wallMs: performance.now() - t0 }),
    );
  });
}

interface Stats {
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  samplesMs: number[];
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    runs: values.length,
    medianMs: round(median),
    minMs: round(sorted[0]!),
    maxMs: round(sorted[sorted.length - 1]!),
    samplesMs: values.map(round),
  };
}

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<Options>();
  // The SDK's "2027 releases need Node 22" notice is noise in a benchmark report.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (o.versions < 2) throw new Error('--versions must be at least 2');
  if (o.store && !existsSync(join(o.store, 'chroma.sqlite3')))
    throw new Error(`${o.store} is not a store directory`);
  const scratch = await mkdtemp(join(o.workDir, 'bench-rollback-'));
  process.stderr.write('starting the emulators…\n');
  const aws = await startLocalAws();
  let res: ProvisionedResources | undefined;
  try {
    res = await provisionResources(aws.clients, { stage: uniqueStage('bench') });
    const { a, b, source } = await prepareStores(o, scratch);
    const sizeOf = async (dir: string) =>
      (
        await Promise.all((await filesOf(dir)).map(async (f) => (await stat(join(dir, f))).size))
      ).reduce((s, n) => s + n, 0);
    const bytes = await sizeOf(a);
    const files = (await filesOf(a)).length;
    process.stderr.write(
      `publishing ${o.versions} versions of ${(bytes / 1e6).toFixed(0)} MB (${source})…\n`,
    );
    const versions: string[] = [];
    for (let i = 0; i < o.versions; i++) {
      versions.push(await publishVersion(aws, res, i % 2 === 0 ? a : b, o.vectors));
      process.stderr.write(`  ${versions.at(-1)}\n`);
    }
    const conn = ['--stage', res.stage, '--actor', 'bench@local'];
    // Alternate between the last two versions: each run is a real rollback (or a roll
    // forward), never a no-op, and every target is verified.
    const last = versions.at(-1)!;
    const previous = versions.at(-2)!;
    let live = last;
    const rollOnce = async (full: boolean, asProcess: boolean): Promise<Sample> => {
      const target = live === last ? previous : last;
      const argv = [
        'rollback',
        COLLECTION,
        '--to',
        target,
        '--yes',
        '--json',
        ...(full ? ['--full-verify'] : []),
        ...conn,
      ];
      const run = asProcess ? await cliProcess(aws, argv) : await cliInProcess(aws, argv);
      if (run.code !== 0) throw new Error(`rollback failed (${run.code}): ${run.stderr}`);
      const report = JSON.parse(run.stdout) as {
        durationMs: number;
        verification: { durationMs: number };
        lock: { waitedMs: number };
      };
      live = target;
      return {
        wallMs: run.wallMs,
        commandMs: report.durationMs,
        verifyMs: report.verification.durationMs,
        lockWaitMs: report.lock.waitedMs,
      };
    };

    process.stderr.write('warming up…\n');
    await rollOnce(false, false);
    const measure = async (label: string, n: number, full: boolean, asProcess: boolean) => {
      const samples: Sample[] = [];
      for (let i = 0; i < n; i++) {
        samples.push(await rollOnce(full, asProcess));
        process.stderr.write(`  ${label} ${i + 1}/${n}: ${samples.at(-1)!.wallMs.toFixed(0)} ms\n`);
      }
      return {
        wall: stats(samples.map((s) => s.wallMs)),
        command: stats(samples.map((s) => s.commandMs ?? 0)),
        verify: stats(samples.map((s) => s.verifyMs ?? 0)),
      };
    };
    const results: Record<string, unknown> = {
      defaultVerify: await measure('rollback (default verify)', o.runs, false, false),
      fullVerify: await measure('rollback --full-verify', o.fullRuns, true, false),
      defaultVerifyProcess: await measure('rollback as a process', o.processRuns, false, true),
    };
    if (o.store) {
      // snapshots verify opens the store: only meaningful with real bytes.
      const samples: number[] = [];
      for (let i = 0; i < Math.max(1, o.fullRuns); i++) {
        const run = await cliInProcess(aws, [
          'snapshots',
          'verify',
          COLLECTION,
          versions[0]!,
          '--json',
          ...conn,
        ]);
        if (run.code !== 0) throw new Error(`snapshots verify failed: ${run.stdout}${run.stderr}`);
        samples.push(run.wallMs);
        process.stderr.write(`  snapshots verify ${i + 1}: ${run.wallMs.toFixed(0)} ms\n`);
      }
      results['snapshotsVerify'] = { wall: stats(samples) };
    }
    const audit = await new AuditLog({
      ddb: aws.clients.documents,
      table: res.stateTable.name,
    }).list({
      collection: COLLECTION,
      action: 'rollback',
    });

    const out = {
      benchmark: 'compaction-admin rollback',
      date: new Date().toISOString(),
      machine: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?' },
      emulators: 'DynamoDB Local + fauxqs (local, in one run)',
      snapshot: { source, vectors: o.vectors, bytes, files, versionsRetained: o.versions },
      auditedRollbacks: audit.length,
      results,
    };
    await mkdir(dirname(o.out), { recursive: true });
    await writeFile(o.out, `${JSON.stringify(out, null, 2)}\n`);

    const row = (name: string, r: { wall: Stats; verify?: Stats }) =>
      `| ${name.padEnd(46)} | ${String(r.wall.runs).padStart(4)} | ${r.wall.medianMs.toFixed(0).padStart(14)} | ${(r.verify ? r.verify.medianMs.toFixed(0) : '-').padStart(16)} | ${`${r.wall.minMs.toFixed(0)}–${r.wall.maxMs.toFixed(0)}`.padStart(12)} |`;
    const lines = [
      `rollback of a ${o.vectors.toLocaleString('en-US')}-vector collection: ${(bytes / 1e6).toFixed(0)} MB in ${files} files, ${o.versions} versions retained (${source})`,
      `node ${process.version}, ${cpus().length} CPUs, local emulators`,
      '',
      `| ${'command'.padEnd(46)} | runs | median wall ms | of which verify | min–max ms   |`,
      `|${'-'.repeat(48)}|------|----------------|------------------|--------------|`,
      row('rollback --yes (in-process, default verify)', results['defaultVerify'] as never),
      row('rollback --yes --full-verify (in-process)', results['fullVerify'] as never),
      row(
        'rollback --yes (child process, incl. start-up)',
        results['defaultVerifyProcess'] as never,
      ),
      ...(results['snapshotsVerify']
        ? [
            row(
              'snapshots verify (in-process, opens the store)',
              results['snapshotsVerify'] as never,
            ),
          ]
        : []),
      '',
      `results: ${o.out}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    if (res) await deprovisionResources(aws.clients, res).catch(() => undefined);
    await aws.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

await main();
