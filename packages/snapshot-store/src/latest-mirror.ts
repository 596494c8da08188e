/**
 * `<collection>/latest.json`, the pointer mirrored for read-only consumers.
 *
 * INVARIANT: after {@link mirrorPointer} returns, `latest.json` names what the pointer
 * named when it was last read, with the pointer's fencing token. S3 offers no write
 * condition on our state table, so a writer paused between its pointer move and its
 * `latest.json` write can still overwrite a newer holder's mirror. Two things make
 * that harmless: the writer reads the pointer back after writing and repairs the
 * mirror when the pointer has moved on, and readers (`SnapshotReader`) never follow a
 * `latest.json` whose fencing token is lower than the one they already serve.
 */
import type { CollectionName } from '@compaction/contracts';
import type { Pointer, PointerStore } from './pointer.js';
import type { SnapshotRepository } from './repository.js';

/** Rewrites after a newer holder moved the pointer, at most this many times. */
const MAX_REPAIRS = 3;

/**
 * Writes `latest.json` from `pointer` (just moved, or just read), then reads the
 * pointer back and rewrites the mirror while it lags.
 *
 * @example
 * const moved = await pointers.swap({ collection, parentVersion, next, fencingToken: handle.token });
 * await mirrorPointer({ pointers, repository }, collection, moved);
 */
export async function mirrorPointer(
  deps: {
    pointers: Pick<PointerStore, 'read'>;
    repository: Pick<SnapshotRepository, 'writeLatest'>;
  },
  collection: CollectionName,
  pointer: Pick<Pointer, 'version' | 'manifestKey' | 'fencingToken'>,
): Promise<void> {
  let current = pointer;
  for (let attempt = 0; attempt <= MAX_REPAIRS; attempt++) {
    await deps.repository.writeLatest(collection, {
      version: current.version,
      manifestKey: current.manifestKey,
      fencingToken: current.fencingToken,
    });
    const now = await deps.pointers.read(collection);
    if (!now || (now.version === current.version && now.manifestKey === current.manifestKey)) {
      return;
    }
    current = now;
  }
}
