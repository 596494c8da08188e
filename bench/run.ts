/**
 * `npm run bench`: every package's benchmark and the end-to-end one, in sequence (the
 * machine has 2 cores — running them side by side would measure the contention), then
 * one summary table of the headline ratios and `bench/results.json` with everything.
 *
 * Each benchmark compares against its own baseline in the same run (raw hnswlib-node,
 * plain unmarshall, a plain copy/upload of the snapshot, the legacy path) because a
 * ratio survives a noisy machine where an absolute figure does not.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface Bench {
  name: string;
  workspace: string;
  script: string;
  results: string;
  headline: (r: any) => Array<[string, string]>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const fmt = (x: unknown, digits = 2): string =>
  typeof x === 'number' ? x.toFixed(digits) : String(x);

const BENCHES: Bench[] = [
  {
    name: 'chroma-core vs raw hnswlib-node',
    workspace: '@compaction/chroma-core',
    script: 'bench',
    results: 'packages/chroma-core/bench/results.json',
    headline: (r) =>
      (r.rows as Array<{ metric: string; ratio?: number; ours: number; unit: string }>)
        .filter((row) =>
          /^(add|query, unfiltered, first|query, 10|query, 0\.1|recall)/.test(row.metric),
        )
        .map((row) => [
          row.metric,
          row.ratio !== undefined ? `${fmt(row.ratio)}× raw` : `${fmt(row.ours, 3)} ${row.unit}`,
        ]),
  },
  {
    name: 'stream processor (1,000-record batch)',
    workspace: '@compaction/stream-processor',
    script: 'bench',
    results: 'services/stream-processor/bench/results.json',
    headline: (r) => [['planRecord throughput / plain unmarshall', `${fmt(r.throughputRatio)}×`]],
  },
  {
    name: 'compactor, 100k vectors, 1,000-message batch',
    workspace: '@compaction/compactor',
    script: 'bench',
    results: 'services/compactor/bench/results.json',
    headline: (r) =>
      Object.entries(r.ratios as Record<string, number>)
        .slice(0, 6)
        .map(([k, v]) => [k, `${fmt(v)}×`]),
  },
  {
    name: 'rollback, 100k-vector collection',
    workspace: '@compaction/admin',
    script: 'bench:rollback',
    results: 'services/compaction-admin/bench/rollback-results.json',
    headline: (r) =>
      Object.entries(r.results as Record<string, { wall: { medianMs: number } }>).map(([k, v]) => [
        `${k} (median wall)`,
        `${fmt(v.wall.medianMs, 1)} ms`,
      ]),
  },
  {
    name: 'end to end (table write → published snapshot)',
    workspace: '@compaction/demo',
    script: 'bench',
    results: 'packages/demo/bench/e2e-results.json',
    headline: (r) => [
      ...(
        r.results as Array<{
          path: string;
          embeddingsPerSecond: number;
          changesPerSecond: number;
          latencyP50Ms: number;
          latencyP95Ms: number;
        }>
      ).map((p): [string, string] => [
        `${p.path}: delta merge / label burst / p50 / p95`,
        `${fmt(p.embeddingsPerSecond, 0)} emb/s (${fmt(p.embeddingsPerSecond / r.oldSystemEmbeddingsPerSecond)}× old 375/s), ${fmt(p.changesPerSecond, 0)} changes/s, ${p.latencyP50Ms} / ${p.latencyP95Ms} ms`,
      ]),
      ...(r.ratios
        ? ([
            [
              'batched / legacy (delta merge, burst, p50)',
              `${fmt(r.ratios.embeddingsPerSecond)}×, ${fmt(r.ratios.changesPerSecond)}×, ${fmt(r.ratios.latencyP50)}×`,
            ],
          ] as Array<[string, string]>)
        : []),
    ],
  },
];

if (process.argv.includes('--help')) {
  console.log(
    'Usage: npm run bench [-- --only <name-substring>]\nRuns every benchmark in sequence, prints a summary table, writes bench/results.json.',
  );
  process.exit(0);
}
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex >= 0 ? (process.argv[onlyIndex + 1] ?? '') : undefined;
const selected = BENCHES.filter((b) => only === undefined || b.name.includes(only));
// A name that selects nothing is a usage error: running nothing and then overwriting
// bench/results.json with an empty report would look like success.
if (only !== undefined && (only === '' || selected.length === 0)) {
  process.stderr.write(
    `error: --only ${only === '' ? 'needs a name' : `"${only}" matches no benchmark`}; known benchmarks (any substring of a name selects it):\n` +
      BENCHES.map((b) => `  ${b.name}\n`).join(''),
  );
  process.exit(2);
}

const report: Record<string, unknown> = {};
const summary: Array<[string, string, string]> = [];
let failed = 0;
for (const bench of selected) {
  process.stderr.write(`\n=== ${bench.name} (npm run ${bench.script} -w ${bench.workspace}) ===\n`);
  const started = Date.now();
  const run = spawnSync('npm', ['run', bench.script, '-w', bench.workspace], {
    cwd: root,
    stdio: 'inherit',
  });
  const seconds = (Date.now() - started) / 1000;
  const resultsPath = join(root, bench.results);
  if (run.status !== 0 || !existsSync(resultsPath)) {
    failed++;
    summary.push([bench.name, 'FAILED', `exit ${run.status ?? run.signal}`]);
    report[bench.name] = { exitCode: run.status, seconds };
    continue;
  }
  const results = JSON.parse(readFileSync(resultsPath, 'utf8'));
  report[bench.name] = { exitCode: 0, seconds, results };
  for (const [metric, value] of bench.headline(results)) summary.push([bench.name, metric, value]);
}

const widths = [0, 1, 2].map((i) => Math.max(...summary.map((r) => r[i]!.length), 8));
const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
console.log(
  `\n${line(['benchmark', 'metric', 'result'])}\n${widths.map((w) => '─'.repeat(w)).join('  ')}`,
);
for (const row of summary) console.log(line(row));
const out = join(root, 'bench/results.json');
writeFileSync(
  out,
  JSON.stringify(
    {
      at: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      benchmarks: report,
    },
    null,
    2,
  ),
);
console.log(`\nwrote ${out}`);
process.exitCode = failed > 0 ? 1 : 0;
