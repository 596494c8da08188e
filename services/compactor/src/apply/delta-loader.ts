/**
 * Reads a delta (a chroma-core snapshot directory under an S3 prefix) into memory:
 * verified download into a scratch directory, open, read every vector of the
 * collection named like the target, close, delete the directory. Done before the
 * apply transaction, which cannot wait on I/O.
 *
 * Each delta is checked here, message by message, before anything is applied: a prefix
 * S3 will not serve (no manifest, 403, no such bucket) is `delta-unreachable`, a
 * manifest or file that fails verification `delta-invalid`, and a record of a receipt
 * the message does not name `delta-foreign-receipt` — a delta is its receipt's
 * complete vector set, so merging it replaces that receipt's vectors: a record of
 * another receipt would replace (and mostly delete) someone else's. The prefix itself
 * was checked against the allow-list before the compaction (`batch.ts`); the dimension
 * is checked against the collection's by the apply paths (`delta-checks.ts`), which
 * are the first to hold the open collection.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ChromaStore } from '@compaction/chroma-core';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  compareSequenceNumbers,
  entityKey,
  parseVectorId,
  type ChangeMessage,
  type CollectionName,
  type DeltaChangeMessage,
} from '@compaction/contracts';
import {
  type SnapshotRepository,
  SnapshotError,
  SnapshotNotFoundError,
} from '@compaction/snapshot-store';
import { DeltaInvalidError } from '../errors.js';
import type { DeltaRefusalCode } from '../errors.js';
import { receiptKeyOfVector, type DeltaRecord } from './delta-records.js';
import { receiptKey, type MetadataScalar } from './entity-state.js';

export interface LoadDeltaOptions {
  repository: Pick<SnapshotRepository, 'downloadDelta'>;
  /** A directory for scratch copies; each delta gets (and removes) its own subdirectory. */
  scratchDir: string;
  collection: CollectionName;
  /** Message id, for the error. */
  messageId: string;
}

/**
 * The vectors of `message`'s delta for `collection`. A delta that cannot be read
 * (missing, forbidden, corrupt, no such collection) or holds a record of another
 * receipt raises {@link DeltaInvalidError} with its `refusal`; other errors (network,
 * throttling, 5xx) propagate as they are and fail the batch back for a retry.
 *
 * @example
 * const records = await loadDelta(message, { repository, scratchDir, collection: 'words', messageId });
 */
export async function loadDelta(
  message: DeltaChangeMessage,
  options: LoadDeltaOptions,
): Promise<{ records: DeltaRecord[]; bytesDownloaded: number }> {
  const { repository, scratchDir, collection, messageId } = options;
  const dir = join(scratchDir, `delta-${randomBytes(6).toString('hex')}`);
  const invalid = (
    reason: string,
    cause?: unknown,
    refusal: DeltaRefusalCode = 'delta-invalid',
  ): DeltaInvalidError =>
    new DeltaInvalidError(messageId, message.delta.s3Prefix, reason, { cause, refusal });
  await mkdir(scratchDir, { recursive: true });
  try {
    let bytesDownloaded: number;
    try {
      ({ bytesDownloaded } = await repository.downloadDelta(message.delta.s3Prefix, dir));
    } catch (err) {
      if (err instanceof SnapshotNotFoundError) {
        throw invalid(`unreachable: ${err.message}`, err, 'delta-unreachable');
      }
      if (err instanceof SnapshotError) throw invalid(err.message, err);
      const refused = s3Refusal(err);
      if (refused) throw invalid(`unreachable: S3 answered ${refused}`, err, 'delta-unreachable');
      throw err;
    }
    let store: ChromaStore;
    try {
      store = await ChromaStore.open(dir);
    } catch (err) {
      throw invalid(`cannot open: ${(err as Error).message}`, err);
    }
    try {
      const names = (await store.listCollections()).map((c) => c.name);
      if (!names.includes(collection)) {
        throw invalid(`has no collection "${collection}" (has ${names.join(', ') || 'none'})`);
      }
      const col = await store.getOrCreateCollection(collection);
      const got = await col.get({ include: ['embeddings', 'metadatas', 'documents'] });
      const records = got.ids.map((id, i): DeltaRecord => {
        const metadata = (got.metadatas[i] ?? {}) as Record<string, MetadataScalar>;
        return {
          id,
          embedding: got.embeddings![i]!,
          metadata,
          document: got.documents[i] ?? null,
          receiptKey: receiptKeyOfVector(id, metadata),
        };
      });
      const foreign = foreignRecords(message, records);
      if (foreign.length > 0) {
        throw invalid(
          `${foreign.length} of ${records.length} records belong to another receipt than ` +
            `${receiptKey(message.receipt)} (${foreign
              .slice(0, 3)
              .map((r) => r.id)
              .join(', ')}${foreign.length > 3 ? ', …' : ''})`,
          undefined,
          'delta-foreign-receipt',
        );
      }
      return { records, bytesDownloaded };
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The records of a delta that do not belong to the receipt its message names: by
 * their id (a line or word vector id of another receipt, or no vector id at all) or by
 * their `image_id`/`receipt_id` metadata (what removal and gating select by).
 */
export function foreignRecords(
  message: DeltaChangeMessage,
  records: readonly DeltaRecord[],
): DeltaRecord[] {
  const own = receiptKey(message.receipt);
  return records.filter((record) => {
    const ref = parseVectorId(record.id);
    return (
      !ref || receiptKey(ref) !== own || receiptKeyOfVector(record.id, record.metadata) !== own
    );
  });
}

/** S3 error names that mean "this prefix cannot be read by us", not "try again". */
const S3_REFUSALS = new Set([
  'AccessDenied',
  'AllAccessDisabled',
  'Forbidden',
  'InvalidBucketName',
  'NoSuchBucket',
  'NotFound',
]);

/** The S3 refusal `err` is (`AccessDenied (403)`), or undefined for anything retryable. */
function s3Refusal(err: unknown): string | undefined {
  const e = err as { name?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const status = e?.$metadata?.httpStatusCode;
  if (S3_REFUSALS.has(name) || status === 403 || status === 404) {
    return typeof status === 'number' ? `${name} (${status})` : name;
  }
  return undefined;
}

/**
 * Loads the content of every delta message in `items` that the store has not merged
 * yet (by its `seq` ledger; an already merged one gets an empty list without a
 * download). A delta that cannot be read fails only its own message: it lands in
 * `failed` and is left out of the batch.
 *
 * @example
 * const { deltas, failed } = await loadDeltas(items, { seq: store.kv('seq'), repository, scratchDir, collection, logger });
 */
export async function loadDeltas(
  items: readonly { messageId: string; message: ChangeMessage }[],
  options: Omit<LoadDeltaOptions, 'messageId'> & {
    /** The store's `seq` ledger (entityKey → last applied sequence number). */
    seq: { get(key: string): unknown };
    logger: Pick<Logger, 'error'>;
  },
): Promise<{
  deltas: Map<ChangeMessage, DeltaRecord[]>;
  failed: Map<string, Error>;
  bytesDownloaded: number;
}> {
  const deltas = new Map<ChangeMessage, DeltaRecord[]>();
  const failed = new Map<string, Error>();
  let bytesDownloaded = 0;
  for (const { messageId, message } of items) {
    if (message.kind !== 'delta') continue;
    const recorded = options.seq.get(entityKey(message));
    if (
      typeof recorded === 'string' &&
      compareSequenceNumbers(message.source.sequenceNumber, recorded) <= 0
    ) {
      deltas.set(message, []); // already merged: the fold skips it without looking
      continue;
    }
    try {
      const loaded = await loadDelta(message, { ...options, messageId });
      deltas.set(message, loaded.records);
      bytesDownloaded += loaded.bytesDownloaded;
    } catch (err) {
      if (!(err instanceof DeltaInvalidError)) throw err;
      options.logger.error('delta refused; only its message fails', {
        messageId,
        eventId: message.source.eventId,
        refusal: err.refusal,
        s3Prefix: message.delta.s3Prefix,
        error: err,
      });
      failed.set(messageId, err);
    }
  }
  return { deltas, failed, bytesDownloaded };
}
