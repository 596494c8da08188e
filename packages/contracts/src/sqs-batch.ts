/**
 * How SQS sizes and limits a `SendMessageBatch` call, for every sender of ours (the
 * stream processor's change messages and rejects, the compactor's dead letters and
 * re-sent batches): one implementation of the arithmetic, so no sender can build a call
 * SQS refuses whole.
 */

/** SQS limits of one `SendMessageBatch` call (AWS quotas since August 2025). */
export const SQS_LIMITS = {
  /** Entries per call. */
  batchEntries: 10,
  /** Sum of the sizes of a call's entries, body and attributes. */
  batchBytes: 1_048_576,
  /** Size of one message, body and attributes. */
  messageBytes: 1_048_576,
  /** Longest `DelaySeconds` of a message. */
  maxDelaySeconds: 900,
} as const;

/**
 * UTF-8 length of `text` in bytes (a lone surrogate counts as the 3 bytes of U+FFFD,
 * as an encoder writes it).
 *
 * @example
 * utf8Bytes('é{}') // 4
 */
export function utf8Bytes(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (
      unit >= 0xd800 &&
      unit <= 0xdbff &&
      i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/** What SQS counts of one entry: its body and its string message attributes. */
export interface SqsSizedEntry {
  body: string;
  /** String message attributes; they count towards the SQS size limits like the body. */
  attributes?: Readonly<Record<string, string>> | undefined;
}

const STRING_TYPE_BYTES = utf8Bytes('String');

/**
 * The size SQS counts for an entry: UTF-8 bytes of the body plus, per attribute, of its
 * name, its data type (`String`) and its value.
 *
 * @example
 * sqsEntryBytes({ body: '{}', attributes: { eventId: 'e1' } }) // 2 + 7 + 6 + 2
 */
export function sqsEntryBytes(entry: SqsSizedEntry): number {
  let bytes = utf8Bytes(entry.body);
  for (const [name, value] of Object.entries(entry.attributes ?? {})) {
    bytes += utf8Bytes(name) + STRING_TYPE_BYTES + utf8Bytes(value);
  }
  return bytes;
}

/** An entry to pack: its queue and its size ({@link sqsEntryBytes}). */
export interface SqsSized {
  queueUrl: string;
  bytes: number;
}

/** Limits {@link chunkEntries} packs by. */
export interface ChunkLimits {
  maxEntries: number;
  /** Sum of `bytes` per call. */
  maxBytes: number;
  /** `bytes` of one entry; default `maxBytes`. */
  maxMessageBytes?: number;
}

/**
 * Packs entries into `SendMessageBatch` calls: grouped by queue, at most `maxEntries`
 * per call and at most `maxBytes` (body and attributes, see {@link sqsEntryBytes}) per
 * call, in the order given. An entry larger than `maxMessageBytes` (or `maxBytes`) is
 * returned in `oversize` (it can never be sent).
 *
 * @example
 * const { chunks } = chunkEntries(items, { maxEntries: 10, maxBytes: 1_048_576 });
 */
export function chunkEntries<T extends SqsSized>(
  items: readonly T[],
  limits: ChunkLimits,
): { chunks: T[][]; oversize: T[] } {
  const byQueue = new Map<string, T[]>();
  const oversize: T[] = [];
  const maxItemBytes = Math.min(limits.maxBytes, limits.maxMessageBytes ?? limits.maxBytes);
  for (const item of items) {
    if (item.bytes > maxItemBytes) {
      oversize.push(item);
      continue;
    }
    let list = byQueue.get(item.queueUrl);
    if (!list) byQueue.set(item.queueUrl, (list = []));
    list.push(item);
  }
  const chunks: T[][] = [];
  for (const list of byQueue.values()) {
    let chunk: T[] = [];
    let bytes = 0;
    for (const item of list) {
      if (
        chunk.length > 0 &&
        (chunk.length === limits.maxEntries || bytes + item.bytes > limits.maxBytes)
      ) {
        chunks.push(chunk);
        chunk = [];
        bytes = 0;
      }
      chunk.push(item);
      bytes += item.bytes;
    }
    if (chunk.length > 0) chunks.push(chunk);
  }
  return { chunks, oversize };
}
