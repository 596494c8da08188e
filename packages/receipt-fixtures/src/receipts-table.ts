import { BatchWriteCommand, DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  compactionRunSk,
  labelSk,
  lineSk,
  placeSk,
  receiptPk,
  receiptSk,
  wordSk,
  type ValidationStatus,
} from '@compaction/contracts';
import type { DemoReceipt } from './dataset.js';

/** Identifies one word label item. */
export interface LabelRef {
  imageId: string;
  receiptId: number;
  lineId: number;
  wordId: number;
  label: string;
}

export type RunState = 'PENDING' | 'COMPLETED' | 'FAILED';

const BATCH_WRITE_LIMIT = 25;
const MAX_UNPROCESSED_RETRIES = 8;

/**
 * Writes receipts the way the receipt-understanding system does: one row per receipt,
 * place, line, word and word label, in the single-table layout the stream processor
 * reads. Every write goes through the real SDK, so it shows up on the table's stream.
 *
 * @example
 * const table = new ReceiptsTable(documentClient, names.receiptsTable);
 * await table.putReceipts(buildDataset({ receipts: 10 }));
 */
export class ReceiptsTable {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly tableName: string,
  ) {}

  /** Writes every row of the receipts (receipt, place, lines, words, labels). */
  async putReceipts(receipts: readonly DemoReceipt[]): Promise<number> {
    const items = receipts.flatMap((r) => receiptItems(r));
    await this.batchWrite(items.map((Item) => ({ PutRequest: { Item } })));
    return items.length;
  }

  /** Changes place fields of one receipt (e.g. a merchant renamed). */
  async updatePlace(
    imageId: string,
    receiptId: number,
    fields: Record<string, string>,
  ): Promise<void> {
    const names = Object.keys(fields);
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { PK: receiptPk(imageId), SK: placeSk(receiptId) },
        UpdateExpression: `SET ${names.map((_, i) => `#f${i} = :v${i}`).join(', ')}`,
        ExpressionAttributeNames: Object.fromEntries(names.map((n, i) => [`#f${i}`, n])),
        ExpressionAttributeValues: Object.fromEntries(names.map((n, i) => [`:v${i}`, fields[n]])),
      }),
    );
  }

  /** Writes (creates or replaces) one label item. */
  async putLabel(
    ref: LabelRef,
    status: ValidationStatus,
    proposedBy: string,
    reasoning = '',
  ): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.tableName,
        Item: labelItem(ref, status, proposedBy, reasoning),
      }),
    );
  }

  /**
   * Writes many label items with BatchWriteItem (25 per call). The keys of one call must
   * differ, so callers write successive versions of one label in separate calls.
   */
  async putLabels(
    labels: ReadonlyArray<{ ref: LabelRef; status: ValidationStatus; proposedBy: string }>,
  ): Promise<void> {
    await this.batchWrite(
      labels.map((l) => ({
        PutRequest: { Item: labelItem(l.ref, l.status, l.proposedBy, 'batch') },
      })),
    );
  }

  /** Changes the validation status of an existing label item. */
  async setLabelStatus(ref: LabelRef, status: ValidationStatus, reasoning: string): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: {
          PK: receiptPk(ref.imageId),
          SK: labelSk(ref.receiptId, ref.lineId, ref.wordId, ref.label),
        },
        UpdateExpression: 'SET validation_status = :s, reasoning = :r',
        ConditionExpression: 'attribute_exists(PK)',
        ExpressionAttributeValues: { ':s': status, ':r': reasoning },
      }),
    );
  }

  async deleteLabel(ref: LabelRef): Promise<void> {
    await this.ddb.send(
      new DeleteCommand({
        TableName: this.tableName,
        Key: {
          PK: receiptPk(ref.imageId),
          SK: labelSk(ref.receiptId, ref.lineId, ref.wordId, ref.label),
        },
      }),
    );
  }

  /** Deletes a receipt row and all its children, as the source system does. */
  async deleteReceipt(receipt: DemoReceipt): Promise<void> {
    const keys = receiptItems(receipt).map((i) => ({ PK: i.PK, SK: i.SK }));
    await this.batchWrite(keys.map((Key) => ({ DeleteRequest: { Key } })));
  }

  /** Writes the record of an embedding run whose delta snapshots sit at the given prefixes. */
  async putCompactionRun(
    imageId: string,
    receiptId: number,
    runId: string,
    prefixes: { lines: string; words: string },
    state: RunState,
  ): Promise<void> {
    await this.ddb.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          PK: receiptPk(imageId),
          SK: compactionRunSk(receiptId, runId),
          run_id: runId,
          lines_delta_prefix: prefixes.lines,
          words_delta_prefix: prefixes.words,
          lines_state: state,
          words_state: state,
        },
      }),
    );
  }

  /** Marks both collections of a run COMPLETED (what sends the delta messages). */
  async completeCompactionRun(imageId: string, receiptId: number, runId: string): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { PK: receiptPk(imageId), SK: compactionRunSk(receiptId, runId) },
        UpdateExpression: 'SET lines_state = :c, words_state = :c',
        ExpressionAttributeValues: { ':c': 'COMPLETED' },
      }),
    );
  }

  private async batchWrite(requests: Array<Record<string, unknown>>): Promise<void> {
    for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) {
      let pending = requests.slice(i, i + BATCH_WRITE_LIMIT);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > MAX_UNPROCESSED_RETRIES) {
          throw new Error(
            `BatchWriteItem left ${pending.length} items unprocessed after ${attempt} attempts`,
          );
        }
        if (attempt > 0) await new Promise((r) => setTimeout(r, 2 ** attempt * 25));
        const out = await this.ddb.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        pending = (out.UnprocessedItems?.[this.tableName] ?? []) as Array<Record<string, unknown>>;
      }
    }
  }
}

function labelItem(ref: LabelRef, status: ValidationStatus, proposedBy: string, reasoning: string) {
  return {
    PK: receiptPk(ref.imageId),
    SK: labelSk(ref.receiptId, ref.lineId, ref.wordId, ref.label),
    label: ref.label,
    validation_status: status,
    label_proposed_by: proposedBy,
    reasoning,
    timestamp_added: new Date(0).toISOString(),
  };
}

/** Every table row of a receipt. */
export function receiptItems(
  r: DemoReceipt,
): Array<Record<string, unknown> & { PK: string; SK: string }> {
  const PK = receiptPk(r.imageId);
  const items: Array<Record<string, unknown> & { PK: string; SK: string }> = [
    { PK, SK: receiptSk(r.receiptId), image_id: r.imageId, receipt_id: r.receiptId },
    { PK, SK: placeSk(r.receiptId), ...r.place },
  ];
  for (const line of r.lines) {
    items.push({ PK, SK: lineSk(r.receiptId, line.lineId), text: line.text });
    for (const word of line.words) {
      items.push({ PK, SK: wordSk(r.receiptId, line.lineId, word.wordId), text: word.text });
      for (const [label, state] of Object.entries(word.labels)) {
        items.push(
          labelItem(
            {
              imageId: r.imageId,
              receiptId: r.receiptId,
              lineId: line.lineId,
              wordId: word.wordId,
              label,
            },
            state.status,
            state.proposedBy ?? '',
            'seeded',
          ),
        );
      }
    }
  }
  return items;
}
