/**
 * Reads a delta (a chroma-core snapshot directory under an S3 prefix) into memory:
 * verified download into a scratch directory, open, read every vector of the
 * collection named like the target, close, delete the directory. Done before the
 * apply transaction, which cannot wait on I/O.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ChromaStore } from '@compaction/chroma-core';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  compareSequenceNumbers,
  entityKey,
  type ChangeMessage,
  type CollectionName,
  type DeltaChangeMessage,
} from '@compaction/contracts';
import { type SnapshotRepository, SnapshotError } from '@compaction/snapshot-store';
import { DeltaInvalidError } from '../errors.js';
import { receiptKeyOfVector, type DeltaRecord } from './delta-records.js';
import type { MetadataScalar } from './entity-state.js';

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
 * (missing, corrupt, no such collection) raises {@link DeltaInvalidError}; other
 * errors (network) propagate as they are.
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
  const invalid = (reason: string, cause?: unknown): DeltaInvalidError =>
    new DeltaInvalidError(messageId, message.delta.s3Prefix, reason, { cause });
  await mkdir(scratchDir, { recursive: true });
  try {
    let bytesDownloaded: number;
    try {
      ({ bytesDownloaded } = await repository.downloadDelta(message.delta.s3Prefix, dir));
    } catch (err) {
      if (err instanceof SnapshotError) throw invalid(err.message, err);
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
      return { records, bytesDownloaded };
    } finally {
      await store.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
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
      options.logger.error('delta refused; only its message fails', { messageId, error: err });
      failed.set(messageId, err);
    }
  }
  return { deltas, failed, bytesDownloaded };
}
