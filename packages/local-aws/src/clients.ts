import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ENV } from '@compaction/contracts';
import { LOCAL_AWS_CREDENTIALS, LOCAL_AWS_REGION } from './local-credentials.js';

/** Where the emulators listen. Plain data: it crosses process boundaries (vitest `provide`, env). */
export interface LocalAwsEndpoints {
  /** DynamoDB and DynamoDB Streams (DynamoDB Local serves both). */
  dynamodb: string;
  sqs: string;
  /** S3; clients must use path-style addressing. */
  s3: string;
}

/** SDK v3 clients pointed at the emulators, signed with the fixed local credentials. */
export interface LocalAwsClients {
  dynamodb: DynamoDBClient;
  /** `lib-dynamodb` document client over `dynamodb` (native JS values, undefined removed). */
  documents: DynamoDBDocumentClient;
  streams: DynamoDBStreamsClient;
  sqs: SQSClient;
  /** Path-style (`forcePathStyle: true`). */
  s3: S3Client;
}

/**
 * Builds one client per service for the given endpoints.
 *
 * @example
 * const { documents } = createLocalAwsClients(endpoints);
 * await documents.send(new PutCommand({ TableName, Item: { PK: 'a', SK: 'b' } }));
 */
export function createLocalAwsClients(endpoints: LocalAwsEndpoints): LocalAwsClients {
  const common = { region: LOCAL_AWS_REGION, credentials: { ...LOCAL_AWS_CREDENTIALS } };
  const dynamodb = new DynamoDBClient({ ...common, endpoint: endpoints.dynamodb });
  return {
    dynamodb,
    documents: DynamoDBDocumentClient.from(dynamodb, {
      marshallOptions: { removeUndefinedValues: true },
    }),
    streams: new DynamoDBStreamsClient({ ...common, endpoint: endpoints.dynamodb }),
    sqs: new SQSClient({ ...common, endpoint: endpoints.sqs }),
    s3: new S3Client({ ...common, endpoint: endpoints.s3, forcePathStyle: true }),
  };
}

/** Closes the clients' sockets. */
export function destroyLocalAwsClients(clients: LocalAwsClients): void {
  clients.documents.destroy();
  clients.dynamodb.destroy();
  clients.streams.destroy();
  clients.sqs.destroy();
  clients.s3.destroy();
}

/**
 * The environment that makes an SDK client built with NO explicit endpoint reach the
 * emulators: the SDK's standard per-service endpoint variables, region, the fixed
 * credentials, and `AWS_S3_FORCE_PATH_STYLE=true` (our services read it to build
 * path-style S3 clients; the SDK itself does not). Pass it to handler child processes.
 *
 * @example
 * spawn('node', ['handler.js'], { env: { ...process.env, ...localAwsEnv(endpoints) } });
 */
export function localAwsEnv(endpoints: LocalAwsEndpoints): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_DYNAMODB_STREAMS: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_REGION: LOCAL_AWS_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_AWS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_AWS_CREDENTIALS.secretAccessKey,
    [ENV.s3ForcePathStyle]: 'true',
  };
}
