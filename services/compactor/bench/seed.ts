/**
 * Publishes the cached base store as the collection's first version (what a bootstrap
 * does): lock, publish through the repository (every blob is new: a full upload),
 * swap from no version, latest.json.
 */
import {
  newVersionId,
  MANIFEST_FORMAT_VERSION,
  SnapshotRepository,
  LeaseLock,
  PointerStore,
  type Pointer,
  systemClock,
} from '@compaction/snapshot-store';
import { BENCH_LOCK, type BenchEnv } from './scenarios.js';

export async function seedBase(env: BenchEnv, dir: string, vectors: number): Promise<Pointer> {
  const { collection } = env;
  const handle = await new LeaseLock({
    ...BENCH_LOCK,
    ddb: env.ddb,
    table: env.table,
    collection,
    owner: 'bench-seed',
  }).acquire();
  try {
    const repository = new SnapshotRepository({ s3: env.s3, bucket: env.bucket });
    const pointers = new PointerStore({ ddb: env.ddb, table: env.table });
    const version = newVersionId(handle.token, systemClock);
    const published = await repository.publish({
      collection,
      dir,
      manifest: {
        formatVersion: MANIFEST_FORMAT_VERSION,
        collection,
        version,
        parentVersion: null,
        fencingToken: handle.token,
        createdAt: new Date().toISOString(),
        counts: { vectors },
        messagesApplied: 0,
      },
    });
    const pointer = await pointers.swap({
      collection,
      parentVersion: null,
      next: { version, manifestKey: published.manifestKey },
      fencingToken: handle.token,
    });
    await repository.writeLatest(collection, { version, manifestKey: published.manifestKey });
    return pointer;
  } finally {
    await handle.release();
  }
}
