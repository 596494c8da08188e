/**
 * chroma-core vs raw hnswlib-node on the same vectors in the same run.
 *
 *   npm run bench -w @compaction/chroma-core -- [--n 10000] [--dim 384] [--queries 200]
 *       [--data clustered|uniform] [--ef 100] [--k 10] [--calibrate] [--out path]
 *
 * The machine is shared and noisy, so raw and chroma-core work is interleaved in small
 * slices (1,000-vector add chunks, single queries) and each side's time is the sum of
 * its slices: noise lands on both sides alike and the ratio ours/raw stays meaningful.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import hnswlib from 'hnswlib-node';
import { ChromaStore, type Where } from '../src/index.js';
import { DEFAULT_CONSTRUCTION_EF, DEFAULT_M } from '../src/constants.js';
import { bruteForce, prepareQuery } from '../src/query-plan.js';

const HELP = `chroma-core benchmark: chroma-core vs raw hnswlib-node on the same vectors.

Options:
  --n <int>          vectors (default 10000)
  --dim <int>        dimension (default 384)
  --queries <int>    query vectors (default 200)
  --k <int>          neighbours per query (default 10)
  --data <kind>      clustered (default: seeded Gaussian mixture, embedding-like)
                     or uniform (i.i.d. in [-1,1), the adversarial case for HNSW)
  --ef <int>         search ef for both sides (default: chroma-core's default, 100)
  --calibrate        also time brute force vs filtered HNSW at several selectivities
  --out <path>       JSON results (default bench/results.json)
  --help             this text
`;

interface Options {
  n: number;
  dim: number;
  queries: number;
  k: number;
  data: 'clustered' | 'uniform';
  ef: number;
  calibrate: boolean;
  out: string;
}

function parseArgs(argv: string[]): Options {
  const here = dirname(fileURLToPath(import.meta.url));
  const o: Options = {
    n: 10_000,
    dim: 384,
    queries: 200,
    k: 10,
    data: 'clustered',
    ef: 100,
    calibrate: false,
    out: join(here, 'results.json'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = () => {
      const v = Number(next());
      if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    } else if (a === '--n') o.n = int();
    else if (a === '--dim') o.dim = int();
    else if (a === '--queries') o.queries = int();
    else if (a === '--k') o.k = int();
    else if (a === '--ef') o.ef = int();
    else if (a === '--data') {
      const v = next();
      if (v !== 'clustered' && v !== 'uniform') throw new Error('--data is clustered or uniform');
      o.data = v;
    } else if (a === '--calibrate') o.calibrate = true;
    else if (a === '--out') o.out = next();
    else throw new Error(`unknown option ${a}\n\n${HELP}`);
  }
  return o;
}

// ---- data -----------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeData(o: Options, count: number, seed: number): number[][] {
  const r = mulberry32(seed);
  if (o.data === 'uniform')
    return Array.from({ length: count }, () => Array.from({ length: o.dim }, () => r() * 2 - 1));
  // Gaussian mixture: 100 centroids (shared by data and queries through a fixed seed).
  const c = mulberry32(12345);
  const centroids = Array.from({ length: 100 }, () =>
    Array.from({ length: o.dim }, () => c() * 2 - 1),
  );
  const gauss = () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return Array.from({ length: count }, () => {
    const centre = centroids[Math.floor(r() * centroids.length)]!;
    return centre.map((x) => x + 0.5 * gauss());
  });
}

function cosineTopK(
  query: number[],
  data: Float32Array[],
  norms: Float64Array,
  k: number,
  allow?: (i: number) => boolean,
): number[] {
  let qn = 0;
  for (const x of query) qn += x * x;
  qn = Math.sqrt(qn);
  const scored: Array<[number, number]> = [];
  for (let i = 0; i < data.length; i++) {
    if (allow && !allow(i)) continue;
    const v = data[i]!;
    let dot = 0;
    for (let j = 0; j < v.length; j++) dot += query[j]! * v[j]!;
    scored.push([1 - dot / (qn * norms[i]!), i]);
  }
  scored.sort((a, b) => a[0] - b[0]);
  return scored.slice(0, k).map((s) => s[1]);
}

// ---- timing -----------------------------------------------------------------------

const now = () => performance.now();
function timed<T>(fn: () => T): [T, number] {
  const t = now();
  const r = fn();
  return [r, now() - t];
}
async function timedAsync<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = now();
  const r = await fn();
  return [r, now() - t];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function recall(found: number[][], truth: number[][]): number {
  let hit = 0;
  let total = 0;
  found.forEach((f, i) => {
    const t = new Set(truth[i]);
    hit += f.filter((x) => t.has(x)).length;
    total += t.size;
  });
  return total === 0 ? 1 : hit / total;
}

interface Row {
  metric: string;
  raw: number | null;
  ours: number;
  unit: string;
  ratio: number | null;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const { HierarchicalNSW } = hnswlib;
  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(
    `chroma-core bench: n=${o.n} dim=${o.dim} queries=${o.queries} k=${o.k} data=${o.data} ef=${o.ef}`,
  );

  const data = makeData(o, o.n, 1);
  const queries = makeData(o, o.queries, 2);
  const f32 = data.map((v) => Float32Array.from(v));
  const norms = Float64Array.from(f32, (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)));
  const ids = data.map((_, i) => `IMAGE#${String(i).padStart(8, '0')}#RECEIPT#00001#LINE#00001`);
  const decile = (i: number) => i % 10; // a filter on `decile` matches 10 %
  const permille = (i: number) => i % 1000; // a filter on `permille` matches 0.1 %
  const metadatas = data.map((_, i) => ({
    decile: decile(i),
    permille: permille(i),
    merchant: `m${i % 37}`,
    valid: i % 2 === 0,
  }));
  const documents = data.map((_, i) => `line ${i} TOTAL ${i % 100}.99`);

  log('ground truth (exact search)…');
  const truth = {
    all: queries.map((q) => cosineTopK(q, f32, norms, o.k)),
    p10: queries.map((q) => cosineTopK(q, f32, norms, o.k, (i) => decile(i) === 3)),
    p01: queries.map((q) => cosineTopK(q, f32, norms, o.k, (i) => permille(i) === 7)),
  };

  const work = mkdtempSync(join(tmpdir(), 'chroma-core-bench-'));
  const rows: Row[] = [];
  const row = (metric: string, raw: number | null, ours: number, unit: string) =>
    rows.push({ metric, raw, ours, unit, ratio: raw === null || raw === 0 ? null : ours / raw });
  try {
    // ---- add, interleaved in 1,000-vector chunks --------------------------------
    const raw = new HierarchicalNSW('cosine', o.dim);
    raw.initIndex({
      maxElements: 1024,
      m: DEFAULT_M,
      efConstruction: DEFAULT_CONSTRUCTION_EF,
      randomSeed: 100,
      allowReplaceDeleted: true,
    });
    const storeDir = join(work, 'store');
    const store = await ChromaStore.open(storeDir);
    const col = await store.getOrCreateCollection('lines', {
      space: 'cosine',
      metadata: { 'hnsw:search_ef': o.ef },
    });
    let rawAdd = 0;
    let oursAdd = 0;
    const CHUNK = 1000;
    for (let start = 0; start < o.n; start += CHUNK) {
      const end = Math.min(o.n, start + CHUNK);
      rawAdd += timed(() => {
        if (raw.getMaxElements() < end) raw.resizeIndex(Math.max(end, raw.getMaxElements() * 2));
        for (let i = start; i < end; i++) raw.addPoint(data[i]!, i, true);
      })[1];
      oursAdd += timed(() =>
        col.addSync({
          ids: ids.slice(start, end),
          embeddings: data.slice(start, end),
          metadatas: metadatas.slice(start, end),
          documents: documents.slice(start, end),
        }),
      )[1];
      log(`  added ${end}/${o.n}`);
    }
    row('add (per vector, 1,000 per call)', (rawAdd / o.n) * 1000, (oursAdd / o.n) * 1000, 'µs');

    // ---- queries, interleaved one by one ------------------------------------------
    raw.setEf(o.ef);
    const labelOf = new Map(ids.map((id, i) => [id, i]));
    const p10 = new Set(data.map((_, i) => i).filter((i) => decile(i) === 3));
    const p01 = new Set(data.map((_, i) => i).filter((i) => permille(i) === 7));
    interface QueryCase {
      name: string;
      truth: number[][];
      rawFilter?: Set<number>;
      where?: Where;
      include?: Array<'metadatas' | 'documents' | 'distances'>;
    }
    const unfiltered: QueryCase = { name: 'query, unfiltered', truth: truth.all };
    const filter10: QueryCase = {
      name: 'query, filter 10 %',
      truth: truth.p10,
      rawFilter: p10,
      where: { decile: 3 },
    };
    const cases: QueryCase[] = [
      unfiltered,
      { name: 'query, unfiltered, ids+distances only', truth: truth.all, include: ['distances'] },
      filter10,
      {
        name: 'query, filter 0.1 %',
        truth: truth.p01,
        rawFilter: p01,
        where: { permille: 7 },
      },
    ];
    /**
     * Per-query times, paired (raw, then ours, same query), over `rounds` rounds; the
     * medians (robust to the machine's noise spikes) of the first round and of the
     * repeats. `beforeEach` runs untimed before each of our queries.
     */
    const runCase = (
      collection: typeof col,
      c: QueryCase,
      rounds: number,
      beforeEach?: () => void,
    ) => {
      const rawT: number[] = [];
      const oursT: number[] = [];
      const rawFound: number[][] = [];
      const oursFound: number[][] = [];
      for (let round = 0; round < rounds; round++) {
        for (const q of queries) {
          const filter = c.rawFilter;
          const [r, t1] = timed(() =>
            filter ? raw.searchKnn(q, o.k, (l) => filter.has(l)) : raw.searchKnn(q, o.k),
          );
          rawT.push(t1);
          beforeEach?.();
          const [mine, t2] = timed(() =>
            collection.querySync({
              queryEmbeddings: [q],
              nResults: o.k,
              ...(c.where ? { where: c.where } : {}),
              ...(c.include ? { include: c.include } : {}),
            }),
          );
          oursT.push(t2);
          if (round === 0) {
            rawFound.push(r.neighbors);
            oursFound.push(mine.ids[0]!.map((id) => labelOf.get(id)!));
          }
        }
      }
      const n = queries.length;
      return {
        first: [median(rawT.slice(0, n)) * 1000, median(oursT.slice(0, n)) * 1000] as const,
        repeated: [median(rawT.slice(n)) * 1000, median(oursT.slice(n)) * 1000] as const,
        recall: { raw: recall(rawFound, c.truth), ours: recall(oursFound, c.truth) },
      };
    };
    // Default configuration: the result-row cache (warmed by the first query) and the
    // filter cache are on. Repeats show the CPU-cache effect of seeing a query again.
    const recalls: Record<string, { raw: number; ours: number }> = {};
    for (const c of cases) {
      const r = runCase(col, c, 3);
      row(`${c.name}, first pass (median)`, ...r.first, 'µs');
      row(`${c.name}, repeated (median)`, ...r.repeated, 'µs');
      recalls[c.name] = r.recall;
    }
    for (const [name, r] of Object.entries(recalls)) {
      if (!name.includes('ids+distances'))
        row(`recall@${o.k}, ${name.replace('query, ', '')}`, r.raw, r.ours, '');
    }

    // ---- close / open / export ----------------------------------------------------
    const rawFile = join(work, 'raw.hnsw');
    const [, rawWrite] = timed(() => raw.writeIndexSync(rawFile));
    const [, oursCloseDirty] = await timedAsync(() => store.close());
    row('close after adds (writes index)', rawWrite, oursCloseDirty, 'ms');

    // Worst case: no caches at all, so every query reads its result rows from SQLite
    // and evaluates its filter (the raw side is still handed a prebuilt Set).
    {
      const uncached = await ChromaStore.open(storeDir, { resultCacheBytes: 0 });
      const ucol = await uncached.getCollection('lines');
      for (const c of [unfiltered, filter10]) {
        const r = runCase(ucol, c, 1);
        row(`${c.name}, no caches (resultCacheBytes: 0)`, ...r.first, 'µs');
      }
      await uncached.close();
    }
    // The one-off cost of the cache: a fresh store's first query scans the collection.
    {
      const fresh = await ChromaStore.open(storeDir);
      const fcol = await fresh.getCollection('lines');
      const q = queries[0]!;
      const [, rawFirst] = timed(() => raw.searchKnn(q, o.k));
      const [, oursFirst] = timed(() => fcol.querySync({ queryEmbeddings: [q], nResults: o.k }));
      row('first query after open (warms the result cache)', rawFirst, oursFirst, 'ms');
      await fresh.close();
    }

    const reps = 5;
    let rawOpen = 0;
    let oursOpen = 0;
    let oursOpenNoCheck = 0;
    let oursClose = 0;
    for (let i = 0; i < reps; i++) {
      rawOpen += timed(() => new HierarchicalNSW('cosine', o.dim).readIndexSync(rawFile, true))[1];
      const [s, t] = await timedAsync(() => ChromaStore.open(storeDir));
      oursOpen += t;
      oursClose += (await timedAsync(() => s.close()))[1];
      const [s2, t2] = await timedAsync(() =>
        ChromaStore.open(storeDir, { integrityCheck: false }),
      );
      oursOpenNoCheck += t2;
      await s2.close();
    }
    row('open (load index)', rawOpen / reps, oursOpen / reps, 'ms');
    row('open, integrityCheck: false', rawOpen / reps, oursOpenNoCheck / reps, 'ms');
    row('close, nothing changed', null, oursClose / reps, 'ms');

    const s = await ChromaStore.open(storeDir);
    const [manifest, exportMs] = await timedAsync(() => s.exportSnapshot(join(work, 'snapshot')));
    const mb = manifest.files.reduce((sum, f) => sum + f.size, 0) / 1e6;
    row('export (ms per MB)', null, exportMs / mb, 'ms/MB');
    row('export (total)', null, exportMs, `ms for ${mb.toFixed(1)} MB`);
    const sizes = {
      sqliteMB: statSync(join(storeDir, 'chroma.sqlite3')).size / 1e6,
      indexMB:
        manifest.files.filter((f) => f.path.endsWith('.hnsw')).reduce((x, f) => x + f.size, 0) /
        1e6,
      rawIndexMB: statSync(rawFile).size / 1e6,
    };

    // ---- calibration of the brute-force threshold (query-plan.ts) ---------------
    const calibration: Array<{
      selectivity: number;
      matches: number;
      bruteUs: number;
      hnswUs: number;
      hnswRecall: number;
    }> = [];
    if (o.calibrate) {
      // White-box: time the two strategies of query-plan.ts directly. The store holds one
      // collection (key 1) whose records were added in label order, so raw label i is seq allSeqs[i].
      const core = (
        s as unknown as {
          core: {
            records: {
              embeddingsBySeqs(seqs: number[]): Array<{ seq: number; embedding: Buffer }>;
              selectSeqs(key: number, c: null, ids: null): number[];
            };
          };
        }
      ).core;
      const allSeqs = core.records.selectSeqs(1, null, null);
      const hnsw = new HierarchicalNSW('cosine', o.dim);
      hnsw.readIndexSync(rawFile, true);
      hnsw.setEf(o.ef);
      for (const sel of [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]) {
        const step = Math.round(1 / sel);
        const members = allSeqs.filter((_, i) => i % step === 0);
        const labels = new Set(allSeqs.map((_, i) => i).filter((i) => i % step === 0));
        let bruteT = 0;
        let hnswT = 0;
        const found: number[][] = [];
        const exact: number[][] = [];
        const qs = queries.slice(0, Math.min(50, queries.length));
        for (const q of qs) {
          bruteT += timed(() =>
            bruteForce(
              'cosine',
              prepareQuery(Float32Array.from(q)),
              core.records.embeddingsBySeqs(members),
              o.k,
            ),
          )[1];
          const [r, t] = timed(() => hnsw.searchKnn(q, o.k, (l) => labels.has(l)));
          hnswT += t;
          found.push(r.neighbors);
          exact.push(cosineTopK(q, f32, norms, o.k, (i) => labels.has(i)));
        }
        calibration.push({
          selectivity: sel,
          matches: members.length,
          bruteUs: (bruteT / qs.length) * 1000,
          hnswUs: (hnswT / qs.length) * 1000,
          hnswRecall: recall(found, exact),
        });
      }
    }
    await s.close();

    // ---- report ---------------------------------------------------------------------
    const fmt = (x: number | null, unit: string) =>
      x === null
        ? '—'
        : unit === ''
          ? x.toFixed(3)
          : x >= 100
            ? x.toFixed(0)
            : x >= 10
              ? x.toFixed(1)
              : x.toFixed(2);
    const lines = [
      `| metric | raw hnswlib-node | chroma-core | unit | ours/raw |`,
      `|---|---:|---:|---|---:|`,
      ...rows.map(
        (r) =>
          `| ${r.metric} | ${fmt(r.raw, r.unit)} | ${fmt(r.ours, r.unit)} | ${r.unit} | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} |`,
      ),
    ];
    process.stdout.write(
      `\nn=${o.n} dim=${o.dim} queries=${o.queries} k=${o.k} data=${o.data} ef=${o.ef} M=${DEFAULT_M} efConstruction=${DEFAULT_CONSTRUCTION_EF} (cosine)\n\n${lines.join('\n')}\n`,
    );
    process.stdout.write(
      `\nfiles: sqlite ${sizes.sqliteMB.toFixed(1)} MB, index ${sizes.indexMB.toFixed(1)} MB (raw index ${sizes.rawIndexMB.toFixed(1)} MB)\n`,
    );
    if (calibration.length > 0) {
      process.stdout.write(
        `\nbrute force vs filtered HNSW (per query):\n| selectivity | matches | brute force µs | filtered HNSW µs | HNSW recall |\n|---:|---:|---:|---:|---:|\n`,
      );
      for (const c of calibration) {
        process.stdout.write(
          `| ${(c.selectivity * 100).toFixed(1)} % | ${c.matches} | ${c.bruteUs.toFixed(0)} | ${c.hnswUs.toFixed(0)} | ${c.hnswRecall.toFixed(3)} |\n`,
        );
      }
    }
    writeFileSync(
      o.out,
      JSON.stringify(
        {
          options: o,
          node: process.version,
          date: new Date().toISOString(),
          rows,
          sizes,
          calibration,
        },
        null,
        2,
      ) + '\n',
    );
    process.stdout.write(`\nwritten ${o.out}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
