/**
 * Benchmark: records/s through parse + classify + diff + build + validate + serialise
 * (`planRecord`) for a batch of DynamoDB stream records, against a baseline run in the
 * same process on the same records (plain `unmarshall` of every image). The machine is
 * shared, so the figure that matters is the ratio, measured in interleaved rounds.
 *
 *   npm run bench -w @compaction/stream-processor -- --help
 */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  labelSk,
  lineSk,
  placeSk,
  receiptSk,
  compactionRunSk,
  wordSk,
} from '@compaction/contracts';
import type { DynamoDBRecord } from 'aws-lambda';
import { buildMessages, classifyRecord, planRecord } from '../src/index.js';
import { LABEL, PLACE, RUN_PENDING, streamRecord } from '../test/fixtures.js';

const HELP = `Usage: tsx bench/run.ts [options]

Measures records/s of the stream processor's pure path (planRecord: parse, classify,
diff, build, validate, serialise) on one batch of stream records, against a baseline
of plain unmarshall (NewImage and OldImage) of the same records, in interleaved rounds.

Options:
  --records <n>   records in the batch (default 1000)
  --rounds <n>    measured rounds per variant (default 40)
  --warmup <n>    unmeasured rounds per variant first (default 10)
  --out <file>    JSON results (default bench/results.json, git-ignored)
  --help          this text
`;

type Kind = 'label' | 'place' | 'place-noop' | 'receipt-remove' | 'run-complete' | 'line-word';
/** Share of each record kind in the batch: a labelling-heavy day on the receipts table. */
const MIX: ReadonlyArray<[Kind, number]> = [
  ['label', 0.45],
  ['line-word', 0.3],
  ['place', 0.1],
  ['place-noop', 0.05],
  ['receipt-remove', 0.05],
  ['run-complete', 0.05],
];

function imageId(i: number): string {
  return `3f2a9c1e-0b7d-4e5f-9a8b-${(0x100000000000 + i).toString(16).slice(-12)}`;
}

function makeRecord(kind: Kind, i: number): DynamoDBRecord {
  const pk = `IMAGE#${imageId(Math.floor(i / 20))}`;
  const receiptId = 1 + (i % 3);
  switch (kind) {
    case 'label':
      return i % 3 === 0
        ? streamRecord({
            eventName: 'INSERT',
            pk,
            sk: labelSk(receiptId, i % 40, i % 7, 'TOTAL'),
            newImage: LABEL,
          })
        : streamRecord({
            eventName: 'MODIFY',
            pk,
            sk: labelSk(receiptId, i % 40, i % 7, 'TOTAL'),
            oldImage: LABEL,
            newImage: { ...LABEL, validation_status: 'VALID', reasoning: `validated by rule ${i}` },
          });
    case 'line-word':
      return streamRecord({
        eventName: 'INSERT',
        pk,
        sk: i % 2 ? wordSk(receiptId, i % 40, i % 7) : lineSk(receiptId, i % 40),
        newImage: {
          text: 'TOTAL 12.99',
          confidence: 0.98,
          bounding_box: { x: 1, y: 2, w: 30, h: 8 },
        },
      });
    case 'place':
      return streamRecord({
        eventName: 'MODIFY',
        pk,
        sk: placeSk(receiptId),
        oldImage: PLACE,
        newImage: { ...PLACE, merchant_name: `Acme Market #${i}`, updated_at: 'later' },
      });
    case 'place-noop':
      return streamRecord({
        eventName: 'MODIFY',
        pk,
        sk: placeSk(receiptId),
        oldImage: PLACE,
        newImage: { ...PLACE, updated_at: `later ${i}` },
      });
    case 'receipt-remove':
      return streamRecord({
        eventName: 'REMOVE',
        pk,
        sk: receiptSk(receiptId),
        oldImage: { receipt_id: receiptId },
      });
    case 'run-complete':
      return streamRecord({
        eventName: 'MODIFY',
        pk,
        sk: compactionRunSk(receiptId, `run-${i}`),
        oldImage: RUN_PENDING,
        newImage: { ...RUN_PENDING, lines_state: 'COMPLETED', words_state: 'COMPLETED' },
      });
  }
}

/** A deterministic batch with the MIX proportions, kinds interleaved. */
export function makeBatch(n: number): DynamoDBRecord[] {
  const kinds: Kind[] = [];
  for (const [kind, share] of MIX) for (let k = 0; k < Math.round(n * share); k++) kinds.push(kind);
  while (kinds.length < n) kinds.push('label');
  kinds.length = n;
  // Interleave deterministically (a fixed-stride permutation) so kinds are mixed.
  const stride = 7919;
  const out: DynamoDBRecord[] = new Array(n);
  for (let i = 0; i < n; i++) out[(i * stride) % n] = makeRecord(kinds[i]!, i);
  return out.some((r) => r === undefined) ? kinds.map((k, i) => makeRecord(k, i)) : out;
}

interface Variant {
  name: string;
  description: string;
  run: (records: readonly DynamoDBRecord[]) => number;
}

const VARIANTS: Variant[] = [
  {
    name: 'baseline: unmarshall',
    description: 'unmarshall NewImage and OldImage of every record',
    run: (records) => {
      let n = 0;
      for (const r of records) {
        const d = r.dynamodb!;
        if (d.NewImage) n += Object.keys(unmarshall(d.NewImage as never)).length;
        if (d.OldImage) n += Object.keys(unmarshall(d.OldImage as never)).length;
      }
      return n;
    },
  },
  {
    name: 'classify + diff + build',
    description: 'classifyRecord + buildMessages (no validation, no JSON)',
    run: (records) => {
      let n = 0;
      for (const r of records) {
        const built = buildMessages(classifyRecord(r));
        n += typeof built === 'string' ? 0 : built.length;
      }
      return n;
    },
  },
  {
    name: 'planRecord (full)',
    description: 'parse + classify + diff + build + zod validate + JSON.stringify',
    run: (records) => {
      let n = 0;
      for (const r of records) {
        const plan = planRecord(r);
        n += plan.action === 'send' ? plan.messages.length : 0;
      }
      return n;
    },
  },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function main(): void {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '40' },
      warmup: { type: 'string', default: '10' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  const records = Number(values.records);
  const rounds = Number(values.rounds);
  const warmup = Number(values.warmup);
  for (const [k, v] of [
    ['records', records],
    ['rounds', rounds],
    ['warmup', warmup],
  ] as const) {
    if (!Number.isInteger(v) || v < (k === 'warmup' ? 0 : 1))
      throw new Error(`--${k} must be a positive integer`);
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const out = resolve(values.out ?? resolve(here, 'results.json'));

  const batch = makeBatch(records);
  const check = batch.map((r) => planRecord(r));
  const outcome = {
    send: check.filter((p) => p.action === 'send').length,
    ignore: check.filter((p) => p.action === 'ignore').length,
    reject: check.filter((p) => p.action === 'reject').length,
    messages: check.reduce((s, p) => s + (p.action === 'send' ? p.messages.length : 0), 0),
  };
  if (outcome.reject > 0) throw new Error('benchmark batch must not contain rejects');

  for (let w = 0; w < warmup; w++) for (const v of VARIANTS) v.run(batch);
  const times = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round so no variant always runs first after a GC.
    for (let k = 0; k < VARIANTS.length; k++) {
      const v = VARIANTS[(r + k) % VARIANTS.length]!;
      const t0 = process.hrtime.bigint();
      sink += v.run(batch);
      times.get(v.name)!.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }

  const baseMs = median(times.get(VARIANTS[0]!.name)!);
  const rows = VARIANTS.map((v) => {
    const ms = times.get(v.name)!;
    const med = median(ms);
    return {
      variant: v.name,
      description: v.description,
      medianMs: Number(med.toFixed(3)),
      minMs: Number(Math.min(...ms).toFixed(3)),
      recordsPerSecond: Math.round((records / med) * 1000),
      /** Time relative to the baseline (2.0 = takes twice as long as plain unmarshall). */
      costVsBaseline: Number((med / baseMs).toFixed(2)),
    };
  });

  console.log(
    `stream-processor bench: ${records} records/batch, ${rounds} rounds (+${warmup} warm-up), node ${process.version}`,
  );
  console.log(
    `batch: ${outcome.send} records send ${outcome.messages} messages, ${outcome.ignore} ignored; mix ${MIX.map(([k, s]) => `${k} ${Math.round(s * 100)}%`).join(', ')}`,
  );
  console.table(
    rows.map((r) => ({
      variant: r.variant,
      'median ms/batch': r.medianMs,
      'records/s': r.recordsPerSecond.toLocaleString('en-US'),
      'time vs baseline': `${r.costVsBaseline}x`,
    })),
  );
  const full = rows[rows.length - 1]!;
  console.log(
    `planRecord: ${full.recordsPerSecond.toLocaleString('en-US')} records/s = ${(full.recordsPerSecond / rows[0]!.recordsPerSecond).toFixed(2)}x the throughput of plain unmarshall`,
  );
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        benchmark: 'stream-processor planRecord vs unmarshall',
        date: new Date().toISOString(),
        node: process.version,
        records,
        rounds,
        warmup,
        mix: Object.fromEntries(MIX),
        outcome,
        results: rows,
        throughputRatio: Number((full.recordsPerSecond / rows[0]!.recordsPerSecond).toFixed(3)),
        sink,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results written to ${out}`);
}

main();
