import type { ReadOnlyCollection } from '@compaction/snapshot-store';
import { COLLECTIONS, type CollectionName } from '@compaction/contracts';
import { produceDelta } from './delta-producer.js';
import type { PublishedStores } from './published.js';
import {
  buildReceipt,
  embedText,
  SeededRandom,
  type DemoReceipt,
  type LabelRef,
  type ReceiptsTable,
} from '@compaction/receipt-fixtures';
import type { S3Client } from '@aws-sdk/client-s3';

/** One check on a published collection; true when the change is visible. */
export interface Expectation {
  collection: CollectionName;
  description: string;
  holds: (collection: ReadOnlyCollection) => Promise<boolean>;
}

/** A scripted step: some writes to the receipts table, and what must become visible. */
export interface Step {
  name: string;
  /** Number of table changes the step makes (for throughput and latency statistics). */
  changes: number;
  write: () => Promise<void>;
  expectations: Expectation[];
}

export interface StepResult {
  name: string;
  changes: number;
  /** ms from the end of the step's writes to the first published version showing it. */
  visibleAfterMs: number;
  versions: Record<CollectionName, string | undefined>;
}

export interface ScenarioContext {
  table: ReceiptsTable;
  s3: S3Client;
  bucket: string;
  receipts: DemoReceipt[];
  dimension: number;
  seed: number;
  /** Called with progress lines. */
  progress?: (line: string) => void;
}

export const whereReceipt = (r: { imageId: string; receiptId: number }) => ({
  $and: [{ image_id: { $eq: r.imageId } }, { receipt_id: { $eq: r.receiptId } }],
});

/**
 * Waits until every expectation holds on the published stores, re-checking whenever a
 * collection's live version changes. Polls `latest.json` (what a reader does) every
 * `pollMs`; throws with the expectations still failing after `timeoutMs`.
 */
export async function waitUntilVisible(
  published: PublishedStores,
  expectations: readonly Expectation[],
  options: { timeoutMs?: number; pollMs?: number } = {},
): Promise<Record<CollectionName, string | undefined>> {
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  const checked: Partial<Record<CollectionName, string>> = {};
  const pending = new Set(expectations);
  const versions: Record<CollectionName, string | undefined> = {
    lines: undefined,
    words: undefined,
  };
  for (;;) {
    for (const c of COLLECTIONS) {
      const forCollection = [...pending].filter((e) => e.collection === c);
      versions[c] = await published.latestVersion(c);
      if (forCollection.length === 0 || versions[c] === undefined || versions[c] === checked[c])
        continue;
      checked[c] = versions[c];
      await published.withLatest(c, async ({ collection }) => {
        for (const e of forCollection) if (await e.holds(collection)) pending.delete(e);
      });
    }
    if (pending.size === 0) return versions;
    if (Date.now() > deadline) {
      throw new Error(
        `not visible after ${options.timeoutMs ?? 180_000} ms: ${[...pending].map((e) => `${e.collection}: ${e.description}`).join('; ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 100));
  }
}

/** Runs steps in order, timing each from its last write to visibility. */
export async function runSteps(
  published: PublishedStores,
  steps: readonly Step[],
  progress: (line: string) => void = () => {},
): Promise<StepResult[]> {
  const results: StepResult[] = [];
  for (const step of steps) {
    progress(`▶ ${step.name} (${step.changes} change${step.changes === 1 ? '' : 's'})`);
    await step.write();
    const written = Date.now();
    const versions = await waitUntilVisible(published, step.expectations);
    const visibleAfterMs = Date.now() - written;
    results.push({ name: step.name, changes: step.changes, visibleAfterMs, versions });
    progress(
      `  ✓ visible after ${visibleAfterMs} ms (lines ${versions.lines}, words ${versions.words})`,
    );
  }
  return results;
}

/** The initial load: every receipt's rows, then one embedding run per receipt. */
export function seedSteps(ctx: ScenarioContext): Step[] {
  const { receipts } = ctx;
  const counts = { lines: 0, words: 0 };
  for (const r of receipts) {
    counts.lines += r.lines.length;
    for (const l of r.lines) counts.words += l.words.length;
  }
  return [
    {
      name: `seed ${receipts.length} receipts (rows + one embedding run each)`,
      changes: receipts.length,
      write: async () => {
        await ctx.table.putReceipts(receipts);
        let done = 0;
        for (const r of receipts) {
          const runId = `seed-${r.imageId.slice(0, 8)}-${r.receiptId}`;
          const prefixes = await produceDelta({
            s3: ctx.s3,
            bucket: ctx.bucket,
            runId,
            receipts: [r],
            dimension: ctx.dimension,
          });
          await ctx.table.putCompactionRun(r.imageId, r.receiptId, runId, prefixes, 'COMPLETED');
          done++;
          if (done % 25 === 0 || done === receipts.length) {
            ctx.progress?.(`  embedded ${done}/${receipts.length} receipts`);
          }
        }
      },
      expectations: COLLECTIONS.map((c) => ({
        collection: c,
        description: `${counts[c]} vectors`,
        holds: async (col) => (await col.count()) === counts[c],
      })),
    },
  ];
}

/**
 * The fewest receipts {@link updateSteps} works with: it deletes one receipt and needs
 * another whose TOTAL label it validated, for the demo's first query to find.
 */
export const MIN_SCENARIO_RECEIPTS = 2;

/** The scripted updates of the demo (after the seed is visible), and what they changed. */
export function updateSteps(ctx: ScenarioContext): { steps: Step[]; facts: ScenarioFacts } {
  const rng = new SeededRandom(ctx.seed + 1);
  const { receipts } = ctx;
  if (receipts.length < MIN_SCENARIO_RECEIPTS) {
    throw new RangeError(
      `the scenario needs at least ${MIN_SCENARIO_RECEIPTS} receipts, got ${receipts.length}`,
    );
  }
  // The merchant with the most receipts is renamed.
  const byMerchant = new Map<string, DemoReceipt[]>();
  for (const r of receipts) {
    const list = byMerchant.get(r.place.canonical_merchant_name) ?? [];
    list.push(r);
    byMerchant.set(r.place.canonical_merchant_name, list);
  }
  const [merchant, merchantReceipts] = [...byMerchant.entries()].sort(
    (a, b) => b[1].length - a[1].length,
  )[0]!;
  const renamed = `${merchant} (Renamed)`;
  const others = receipts.filter((r) => r.place.canonical_merchant_name !== merchant);
  // The "TOTAL" word of some receipts gets a new TOTAL label.
  const labelled = merchantReceipts.slice(0, Math.min(10, merchantReceipts.length));
  const totalWord = (r: DemoReceipt): LabelRef => {
    const line = r.lines.find((l) => l.text.startsWith('TOTAL '))!;
    return {
      imageId: r.imageId,
      receiptId: r.receiptId,
      lineId: line.lineId,
      wordId: 1,
      label: 'TOTAL',
    };
  };
  const half = Math.ceil(labelled.length / 2);
  const validated = labelled.slice(0, half).map(totalWord);
  const invalidated = labelled.slice(half).map(totalWord);
  const deleted = others[0] ?? receipts[receipts.length - 1]!;
  const arriving = buildReceipt(rng, rng.uuid(), 1);
  const arrivingRunId = `run-${arriving.imageId.slice(0, 8)}`;
  let arrivingPrefixes: { lines: string; words: string } | undefined;
  const wordMeta = async (col: ReadOnlyCollection, ref: LabelRef) => {
    const id = `IMAGE#${ref.imageId}#RECEIPT#${String(ref.receiptId).padStart(5, '0')}#LINE#${String(ref.lineId).padStart(5, '0')}#WORD#${String(ref.wordId).padStart(5, '0')}`;
    return (await col.get({ ids: [id], include: ['metadatas'] })).metadatas[0] ?? undefined;
  };
  const merchantVectors = { lines: 0, words: 0 };
  for (const r of merchantReceipts) {
    merchantVectors.lines += r.lines.length;
    for (const l of r.lines) merchantVectors.words += l.words.length;
  }
  const arrivingCounts = {
    lines: arriving.lines.length,
    words: arriving.lines.reduce((n, l) => n + l.words.length, 0),
  };

  const facts: ScenarioFacts = {
    renamedMerchant: renamed,
    validatedTotals: validated,
    deletedReceipt: deleted,
    arrivingReceipt: arriving,
  };
  const steps: Step[] = [
    {
      name: `merchant "${merchant}" renamed on ${merchantReceipts.length} receipts`,
      changes: merchantReceipts.length,
      write: async () => {
        for (const r of merchantReceipts) {
          await ctx.table.updatePlace(r.imageId, r.receiptId, { canonical_merchant_name: renamed });
        }
      },
      expectations: COLLECTIONS.map((c) => ({
        collection: c,
        description: `${merchantVectors[c]} vectors carry "${renamed}"`,
        holds: async (col) =>
          (await col.get({ where: { canonical_merchant_name: renamed }, include: [] })).ids
            .length === merchantVectors[c],
      })),
    },
    {
      name: `label TOTAL proposed on ${labelled.length} words`,
      changes: labelled.length,
      write: async () => {
        for (const ref of [...validated, ...invalidated])
          await ctx.table.putLabel(ref, 'PENDING', 'llm-labeler', 'proposed');
      },
      expectations: [...validated, ...invalidated].map((ref) => ({
        collection: 'words' as const,
        description: `${ref.imageId}/${ref.receiptId} TOTAL pending`,
        holds: async (col) => (await wordMeta(col, ref))?.label_status === 'pending',
      })),
    },
    {
      name: `${validated.length} TOTAL labels validated, ${invalidated.length} invalidated`,
      changes: validated.length + invalidated.length,
      write: async () => {
        for (const ref of validated)
          await ctx.table.setLabelStatus(ref, 'VALID', 'matches the amount due');
        for (const ref of invalidated)
          await ctx.table.setLabelStatus(ref, 'INVALID', 'this is the subtotal line');
      },
      expectations: [
        ...validated.map((ref) => ({
          collection: 'words' as const,
          description: `${ref.imageId} TOTAL validated`,
          holds: async (col: ReadOnlyCollection) => {
            const m = await wordMeta(col, ref);
            return m?.label_status === 'validated' && String(m.valid_labels).includes(',TOTAL,');
          },
        })),
        ...invalidated.map((ref) => ({
          collection: 'words' as const,
          description: `${ref.imageId} TOTAL invalidated`,
          holds: async (col: ReadOnlyCollection) => {
            const m = await wordMeta(col, ref);
            return m?.label_status === 'invalid' && String(m.invalid_labels).includes(',TOTAL,');
          },
        })),
      ],
    },
    {
      name: `receipt ${deleted.imageId.slice(0, 8)} deleted`,
      changes: 1,
      write: () => ctx.table.deleteReceipt(deleted),
      expectations: COLLECTIONS.map((c) => ({
        collection: c,
        description: `no vector of ${deleted.imageId}`,
        holds: async (col) =>
          (await col.get({ where: whereReceipt(deleted), include: [] })).ids.length === 0,
      })),
    },
    {
      name: `new receipt ${arriving.imageId.slice(0, 8)} (${arriving.place.canonical_merchant_name}) arrives by an embedding run`,
      changes: 1,
      write: async () => {
        await ctx.table.putReceipts([arriving]);
        arrivingPrefixes = await produceDelta({
          s3: ctx.s3,
          bucket: ctx.bucket,
          runId: arrivingRunId,
          receipts: [arriving],
          dimension: ctx.dimension,
        });
        await ctx.table.putCompactionRun(
          arriving.imageId,
          1,
          arrivingRunId,
          arrivingPrefixes,
          'PENDING',
        );
        await ctx.table.completeCompactionRun(arriving.imageId, 1, arrivingRunId);
      },
      expectations: COLLECTIONS.map((c) => ({
        collection: c,
        description: `${arrivingCounts[c]} vectors of the new receipt`,
        holds: async (col) =>
          (await col.get({ where: whereReceipt(arriving), include: [] })).ids.length ===
          arrivingCounts[c],
      })),
    },
  ];
  return { steps, facts };
}

/** Facts the demo's queries show, computed on the final published stores. */
export interface ScenarioFacts {
  renamedMerchant: string;
  validatedTotals: LabelRef[];
  deletedReceipt: DemoReceipt;
  arrivingReceipt: DemoReceipt;
}

/** The query embedding of a text, with the dimension of the run. */
export const queryVector = (text: string, dimension: number): number[] =>
  embedText(text, { dimension });
