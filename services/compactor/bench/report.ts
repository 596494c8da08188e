/**
 * Benchmark summary (JSON) and the printed table. Times are medians over the rounds;
 * ratios compare scenarios and baselines measured in the same run.
 */
import { cpus } from 'node:os';
import type { Phase } from '../src/compact.js';
import type { BaseStoreInfo } from './base-store.js';
import type { Baselines } from './baselines.js';
import type { ScenarioResult } from './scenarios.js';

const PHASES: Phase[] = [
  'lock',
  'checkout',
  'open',
  'deltas',
  'apply',
  'digest',
  'close',
  'publish',
  'swap',
  'commit',
  'total',
];

export interface ScenarioSummary {
  name: string;
  rounds: number;
  /** Median wall time per phase, ms. */
  medianMs: Partial<Record<Phase, number>>;
  bytesDownloaded: number;
  bytesUploaded: number;
  writeCalls: number;
  applied: number;
  stale: number;
  pendingUpdates: number;
}

export interface BenchSummary {
  generatedAt: string;
  machine: { cpus: number; node: string };
  options: Record<string, unknown>;
  base: Omit<BaseStoreInfo, 'dir'>;
  seedPublishMs: number;
  baselines: Baselines;
  scenarios: ScenarioSummary[];
  ratios: Record<string, number>;
  digestsEqual: boolean;
}

const median = (values: number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export function summarize(input: {
  options: Record<string, unknown>;
  base: BaseStoreInfo;
  seedMs: number;
  baselines: Baselines;
  results: ScenarioResult[];
}): BenchSummary {
  const { results, baselines, base } = input;
  const names = [...new Set(results.map((r) => r.name))];
  const scenarios = names.map((name): ScenarioSummary => {
    const runs = results.filter((r) => r.name === name);
    const medianMs: Partial<Record<Phase, number>> = {};
    for (const phase of PHASES) {
      const values = runs
        .map((r) => r.durationsMs[phase])
        .filter((v): v is number => v !== undefined);
      if (values.length) medianMs[phase] = Math.round(median(values));
    }
    const last = runs.at(-1)!;
    return {
      name,
      rounds: runs.length,
      medianMs,
      bytesDownloaded: last.bytesDownloaded,
      bytesUploaded: last.bytesUploaded,
      writeCalls: last.writeCalls,
      applied: last.applied,
      stale: last.stale,
      pendingUpdates: last.pendingUpdates,
    };
  });
  const get = (name: string) => scenarios.find((s) => s.name === name)!;
  const legacy = get('legacy cold');
  const cold = get('batched cold');
  const warm = get('batched warm');
  const t = (s: ScenarioSummary, p: Phase = 'total') => s.medianMs[p] ?? 0;
  const r = (a: number, b: number) => (b === 0 ? 0 : Math.round((a / b) * 1000) / 1000);
  const ratios = {
    'batched warm / legacy (total)': r(t(warm), t(legacy)),
    'batched cold / legacy (total)': r(t(cold), t(legacy)),
    'batched warm / batched cold (total)': r(t(warm), t(cold)),
    'batched / legacy (apply phase)': r(t(warm, 'apply'), t(legacy, 'apply')),
    'batched / legacy (store write calls)': r(warm.writeCalls, legacy.writeCalls),
    'legacy bytes up / snapshot bytes': r(legacy.bytesUploaded, base.bytes),
    'batched bytes up / snapshot bytes': r(warm.bytesUploaded, base.bytes),
    'legacy checkout / plain S3 download': r(t(legacy, 'checkout'), baselines.plainDownloadMs),
    'legacy publish / plain S3 upload of the snapshot': r(
      t(legacy, 'publish'),
      baselines.plainUploadMs,
    ),
    'batched publish / plain S3 upload of the snapshot': r(
      t(warm, 'publish'),
      baselines.plainUploadMs,
    ),
    'legacy total / fs.cp of the snapshot': r(t(legacy), baselines.copyMs),
    'batched warm total / fs.cp of the snapshot': r(t(warm), baselines.copyMs),
  };
  const { dir: _dir, ...baseInfo } = base;
  return {
    generatedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    options: input.options,
    base: baseInfo,
    seedPublishMs: Math.round(input.seedMs),
    baselines: {
      copyMs: Math.round(baselines.copyMs),
      plainUploadMs: Math.round(baselines.plainUploadMs),
      plainDownloadMs: Math.round(baselines.plainDownloadMs),
    },
    scenarios,
    ratios,
    digestsEqual: new Set(results.map((x) => x.digest)).size === 1,
  };
}

const pad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

export function printReport(s: BenchSummary): void {
  const cols = [
    'checkout',
    'open',
    'apply',
    'digest',
    'close',
    'publish',
    'swap',
    'commit',
    'total',
  ] as const;
  console.log(
    `\n${s.base.vectors} vectors × ${s.base.dimension}-d (${mb(s.base.bytes)} MB snapshot), ` +
      `${String(s.options['messages'])} messages, median of ${s.scenarios[0]?.rounds ?? 0} round(s), ms:\n`,
  );
  console.log(
    [
      pad('scenario', 14),
      ...cols.map((c) => pad(c, 9)),
      pad('MB down', 8),
      pad('MB up', 7),
      pad('writes', 7),
    ].join(' '),
  );
  for (const sc of s.scenarios) {
    console.log(
      [
        pad(sc.name, 14),
        ...cols.map((c) => pad(String(sc.medianMs[c] ?? '-'), 9)),
        pad(mb(sc.bytesDownloaded), 8),
        pad(mb(sc.bytesUploaded), 7),
        pad(String(sc.writeCalls), 7),
      ].join(' '),
    );
  }
  console.log(
    `\nbaselines: fs.cp ${s.baselines.copyMs} ms, plain S3 upload ${s.baselines.plainUploadMs} ms, ` +
      `plain S3 download ${s.baselines.plainDownloadMs} ms (seed publish: ${s.seedPublishMs} ms)`,
  );
  console.log('ratios:');
  for (const [name, value] of Object.entries(s.ratios))
    console.log(`  ${name.padEnd(50)} ${value}`);
  console.log(`same store digest in every scenario: ${s.digestsEqual ? 'yes' : 'NO'}`);
}
