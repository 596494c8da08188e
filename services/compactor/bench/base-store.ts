/**
 * The benchmark's base collection, built once and cached under `.bench-tmp/` at the
 * repository root (git-ignored): building a 100k × 384-d HNSW index costs minutes, so
 * every later run reuses the closed store directory.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SingleBar, Presets } from 'cli-progress';
import { ChromaStore, FORMAT_VERSION } from '@compaction/chroma-core';
import {
  baseRecordChunks,
  type WorkloadOptions,
  type WorkloadReceipts,
} from '../test/support/workload.js';

export interface BaseStoreInfo {
  dir: string;
  vectors: number;
  dimension: number;
  bytes: number;
  files: number;
  buildSeconds: number;
  /** True when this run reused a cached build. */
  cached: boolean;
}

const READY = 'bench-ready.json';

/** The cached base store for `o`, building it first when absent (or when `rebuild`). */
export async function baseStore(
  cacheRoot: string,
  o: WorkloadOptions,
  receipts: WorkloadReceipts,
  options: { rebuild: boolean; expectedVectors: number },
): Promise<BaseStoreInfo> {
  // The store format is part of the key: a cached store of another format cannot be opened.
  const name = `base-f${FORMAT_VERSION}-${o.collection}-r${o.receipts}x${o.linesPerReceipt}x${o.wordsPerLine}-d${o.dimension}-s${o.seed}`;
  const root = join(cacheRoot, name);
  const dir = join(root, 'store');
  const marker = join(root, READY);
  if (!options.rebuild && existsSync(marker)) {
    const info = JSON.parse(await readFile(marker, 'utf8')) as Omit<
      BaseStoreInfo,
      'cached' | 'dir'
    >;
    return { ...info, dir, cached: true };
  }
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const started = performance.now();
  const bar = new SingleBar(
    {
      format: 'building base store |{bar}| {value}/{total} vectors | {eta_formatted} left',
      // Without a terminal (CI, a log file) print a line every 15 s instead of redrawing.
      noTTYOutput: true,
      notTTYSchedule: 15_000,
    },
    Presets.shades_classic,
  );
  bar.start(options.expectedVectors, 0);
  const store = await ChromaStore.open(dir);
  let vectors = 0;
  try {
    const col = await store.getOrCreateCollection(o.collection, {
      space: 'cosine',
      dimension: o.dimension,
    });
    for (const chunk of baseRecordChunks(o, receipts, 500)) {
      col.addSync({
        ids: chunk.map((r) => r.id),
        embeddings: chunk.map((r) => r.embedding),
        metadatas: chunk.map((r) => r.metadata),
        documents: chunk.map((r) => r.document),
      });
      vectors += chunk.length;
      bar.update(vectors);
    }
  } finally {
    await store.close();
    bar.stop();
  }
  const { bytes, files } = await directorySize(dir);
  const info = {
    vectors,
    dimension: o.dimension,
    bytes,
    files,
    buildSeconds: (performance.now() - started) / 1000,
  };
  await writeFile(marker, JSON.stringify(info, null, 2));
  return { ...info, dir, cached: false };
}

/** Total bytes and file count under `dir`. */
export async function directorySize(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    bytes += (await stat(join(entry.parentPath, entry.name))).size;
    files++;
  }
  return { bytes, files };
}
