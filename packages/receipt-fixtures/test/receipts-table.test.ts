import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { placeSk, receiptPk } from '@compaction/contracts';
import { useLocalAws } from '@compaction/local-aws';
import { describe, expect, it } from 'vitest';
import { buildDataset, receiptItems, ReceiptsTable, type LabelRef } from '../src/index.js';

const aws = await useLocalAws();

describe('ReceiptsTable (DynamoDB Local)', () => {
  it('writes every row of a receipt, edits one, and deletes them all', async () => {
    const res = await aws.provision();
    const tableName = res.receiptsTable.name;
    const table = new ReceiptsTable(aws.clients.documents, tableName);
    const [receipt, other] = buildDataset({ receipts: 2, seed: 3 });
    const rowsOf = async (imageId: string) =>
      (
        await aws.clients.documents.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: 'PK = :pk',
            ExpressionAttributeValues: { ':pk': receiptPk(imageId) },
          }),
        )
      ).Items ?? [];

    // More rows than one BatchWriteItem call takes (25), so the batching is exercised.
    const written = await table.putReceipts([receipt!, other!]);
    expect(written).toBe(receiptItems(receipt!).length + receiptItems(other!).length);
    expect(written).toBeGreaterThan(25);
    expect(await rowsOf(receipt!.imageId)).toHaveLength(receiptItems(receipt!).length);

    await table.updatePlace(receipt!.imageId, receipt!.receiptId, { merchant_name: 'RENAMED' });
    const place = await aws.clients.documents.send(
      new GetCommand({
        TableName: tableName,
        Key: { PK: receiptPk(receipt!.imageId), SK: placeSk(receipt!.receiptId) },
      }),
    );
    expect(place.Item?.merchant_name).toBe('RENAMED');

    // A status change needs the label to exist: the source system never invents one.
    const missing: LabelRef = {
      imageId: receipt!.imageId,
      receiptId: receipt!.receiptId,
      lineId: 1,
      wordId: 1,
      label: 'NO_SUCH_LABEL',
    };
    await expect(table.setLabelStatus(missing, 'VALID', 'test')).rejects.toThrow();

    await table.deleteReceipt(receipt!);
    expect(await rowsOf(receipt!.imageId)).toHaveLength(0);
    expect(await rowsOf(other!.imageId)).toHaveLength(receiptItems(other!).length);
  }, 60_000);
});
