/**
 * Benchmark summary (JSON) and the printed table. Times are medians over the rounds;
 * ratios compare scenarios and baselines measured in the same run, and the issue's
 * targets are checked against them.
 */
import { cpus } from 'node:os';
import type { Phase } from '../src/compact.js';
import type { BaseStoreInfo } from './base-store.js';
import type { Baselines } from './baselines.js';
import type { ReaderRefreshResult } from './reader-refresh.js';
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
  messages: number;
  path: string;
  cache: string;
  rounds: number;
  /** Median wall time per phase, ms (`totalMs` repeats the total). */
  medianMs: Partial<Record<Phase, number>>;
  totalMs: number;
  bytesDownloaded: number;
  bytesUploaded: number;
  /** `behind` only: what the version the cache lacked had uploaded. */
  behindBytesUploaded?: number;
  /** Inside publish (last round): hash, list, upload, manifest, ms. */
  publishTimingsMs?: Record<string, number>;
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
  readerRefresh: ReaderRefreshResult[];
  ratios: Record<string, number>;
  targets: Array<{ target: string; value: string; met: boolean }>;
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
  refreshes: ReaderRefreshResult[];
}): BenchSummary {
  const { results, baselines, base, refreshes } = input;
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
      messages: last.messages,
      path: last.path,
      cache: last.cache,
      rounds: runs.length,
      medianMs,
      totalMs: medianMs.total ?? 0,
      bytesDownloaded: last.bytesDownloaded,
      bytesUploaded: last.bytesUploaded,
      ...(last.behindBytesUploaded !== undefined
        ? { behindBytesUploaded: last.behindBytesUploaded }
        : {}),
      ...(last.publishTimingsMs ? { publishTimingsMs: last.publishTimingsMs } : {}),
      writeCalls: last.writeCalls,
      applied: last.applied,
      stale: last.stale,
      pendingUpdates: last.pendingUpdates,
    };
  });
  const find = (messages: number, path: string, cache: string) =>
    scenarios.find((s) => s.messages === messages && s.path === path && s.cache === cache);
  const r = (a: number, b: number) => (b === 0 ? 0 : Math.round((a / b) * 1000) / 1000);
  const ratios: Record<string, number> = {};
  const targets: BenchSummary['targets'] = [];
  const MB = 1e6;
  for (const size of [...new Set(scenarios.map((s) => s.messages))]) {
    const legacy = find(size, 'legacy', 'cold');
    const warm = find(size, 'batched', 'warm');
    const behind = find(size, 'batched', 'behind');
    if (legacy && warm) {
      ratios[`${size} msg: batched warm / legacy (total)`] = r(warm.totalMs, legacy.totalMs);
      ratios[`${size} msg: batched warm / legacy (bytes up)`] = r(
        warm.bytesUploaded,
        legacy.bytesUploaded,
      );
    }
    if (behind?.behindBytesUploaded !== undefined) {
      ratios[`${size} msg: behind bytes down / that version's bytes up`] = r(
        behind.bytesDownloaded,
        behind.behindBytesUploaded,
      );
    }
    if (size === 1 && warm) {
      targets.push({
        target: '1-message batch, warm: ≤ 300 ms',
        value: `${warm.totalMs} ms`,
        met: warm.totalMs <= 300,
      });
      targets.push({
        target: '1-message batch, warm: ≤ 5 MB uploaded',
        value: `${(warm.bytesUploaded / MB).toFixed(2)} MB`,
        met: warm.bytesUploaded <= 5 * MB,
      });
    }
    if (size === 1000 && warm) {
      targets.push({
        target: '1,000-message batch, warm: ≤ 1.0 s',
        value: `${warm.totalMs} ms`,
        met: warm.totalMs <= 1000,
      });
    }
    if (behind?.behindBytesUploaded !== undefined) {
      const ratio = r(behind.bytesDownloaded, behind.behindBytesUploaded);
      targets.push({
        target: `${size}-message batch, cache one version behind: bytes down ≤ 2× that version's upload`,
        value: `${ratio}×`,
        met: ratio <= 2,
      });
    }
  }
  for (const refresh of refreshes.slice(-1)) {
    const ratio = r(refresh.bytesFetched, refresh.compactionBytesUploaded);
    ratios['reader refresh bytes fetched / compaction bytes up'] = ratio;
    targets.push({
      target: 'reader refresh() after a metadata-only compaction: ≤ 300 ms',
      value: `${Math.round(refresh.refreshMs)} ms`,
      met: refresh.refreshMs <= 300,
    });
    targets.push({
      target: 'reader refresh(): bytes fetched ≤ 2× bytes uploaded',
      value: `${ratio}×`,
      met: ratio <= 2,
    });
  }
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
    readerRefresh: refreshes.map((x) => ({
      ...x,
      refreshMs: Math.round(x.refreshMs),
      openMs: Math.round(x.openMs),
    })),
    ratios,
    targets,
    // Same batch on the same base ⇒ same store, whichever path built it. (`behind` is
    // built on the base plus another container's batch: a different store.)
    digestsEqual: [...new Set(results.map((x) => x.messages))].every(
      (size) =>
        new Set(
          results.filter((x) => x.messages === size && x.cache !== 'behind').map((x) => x.digest),
        ).size === 1,
    ),
  };
}

const pad = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

export function printReport(s: BenchSummary): void {
  const cols = [
    'lock',
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
      `median of ${s.scenarios[0]?.rounds ?? 0} round(s), ms:\n`,
  );
  console.log(
    [pad('scenario', 26), ...cols.map((c) => pad(c, 8)), pad('MB down', 8), pad('MB up', 8)].join(
      ' ',
    ),
  );
  for (const sc of s.scenarios) {
    console.log(
      [
        pad(sc.name, 26),
        ...cols.map((c) => pad(String(sc.medianMs[c] ?? '-'), 8)),
        pad(mb(sc.bytesDownloaded), 8),
        pad(mb(sc.bytesUploaded), 8),
      ].join(' '),
    );
  }
  console.log('\ninside publish (hash · wait for the proving LIST · upload · manifest), ms:');
  for (const sc of s.scenarios) {
    const t = sc.publishTimingsMs;
    if (t)
      console.log(
        `  ${sc.name.padEnd(26)} ${t['hash']} · ${t['list']} · ${t['upload']} · ${t['manifest']}`,
      );
  }
  for (const x of s.readerRefresh) {
    console.log(
      `${x.name}: ${x.refreshMs} ms (${x.mode}), ${mb(x.bytesFetched)} MB fetched for ` +
        `${mb(x.compactionBytesUploaded)} MB uploaded (openLatest of the base: ${x.openMs} ms)`,
    );
  }
  console.log(
    `\nbaselines: fs.cp ${s.baselines.copyMs} ms, plain S3 upload ${s.baselines.plainUploadMs} ms, ` +
      `plain S3 download ${s.baselines.plainDownloadMs} ms (seed publish: ${s.seedPublishMs} ms)`,
  );
  console.log('ratios:');
  for (const [name, value] of Object.entries(s.ratios))
    console.log(`  ${name.padEnd(58)} ${value}`);
  console.log('targets (issue 14):');
  for (const t of s.targets)
    console.log(`  ${t.met ? 'met ' : 'MISS'}  ${t.target.padEnd(84)} ${t.value}`);
  console.log(`same store for the same batch in every scenario: ${s.digestsEqual ? 'yes' : 'NO'}`);
}
