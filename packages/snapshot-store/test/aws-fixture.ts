/**
 * The emulators for the state and snapshot tests, through @compaction/local-aws: the
 * run's one DynamoDB Local + fauxqs set (started by the vitest global setup, or by
 * the harness for a file run on its own) and, per test, freshly provisioned resources
 * under a unique stage, so every test starts with an empty state table and bucket.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { useLocalAws } from '@compaction/local-aws';
import { beforeEach } from 'vitest';

export interface AwsFixture {
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  /** This test's state table (partition key `pk`). */
  table: string;
  /** This test's snapshot bucket. */
  bucket: string;
}

/**
 * Call once at the top level of a test file; the returned object's `table` and
 * `bucket` are (re)filled before each test.
 *
 * @example
 * const aws = await useStateAndBucket();
 * it('…', async () => { await new PointerStore({ ddb: aws.ddb, table: aws.table }).read('lines'); });
 */
export async function useStateAndBucket(): Promise<AwsFixture> {
  const harness = await useLocalAws();
  const fixture: AwsFixture = {
    ddb: harness.clients.documents,
    s3: harness.clients.s3,
    table: '',
    bucket: '',
  };
  beforeEach(async () => {
    const resources = await harness.provision();
    fixture.table = resources.stateTable.name;
    fixture.bucket = resources.snapshotBucket;
  });
  return fixture;
}
