import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledgeFinding } from './nag.js';
import { RESOURCE_SETTINGS } from '@compaction/contracts';

export interface SnapshotStoreProps {
  /** Physical name of the state table (lock, pointer and audit items). */
  readonly stateTableName: string;
  /** Physical name of the snapshot bucket (blobs, manifests, `latest.json`). */
  readonly bucketName: string;
  /**
   * How long a replaced or deleted object version is kept. Pruning deletes blobs no
   * retained manifest references; with versioning they stay recoverable this long.
   * @default Duration.days(30)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * Incomplete multipart uploads (a compactor that timed out mid-upload) are aborted
   * after this long, so their parts stop costing storage.
   * @default Duration.days(1)
   */
  readonly abortIncompleteMultipartUploadAfter?: Duration;
  /**
   * Bucket that receives the snapshot bucket's server access logs.
   * @default - a dedicated, private, encrypted bucket is created
   */
  readonly accessLogsBucket?: s3.IBucket;
  /**
   * How long server access logs are kept in the bucket this construct creates.
   * @default Duration.days(90)
   */
  readonly accessLogsRetention?: Duration;
  /**
   * What happens to the table and buckets when they leave the stack. With
   * `RemovalPolicy.DESTROY` (dev) the buckets this construct creates are emptied (every
   * object version) before they are deleted, so the stack tears down cleanly.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Refuse to delete the state table (DynamoDB deletion protection) until it is turned off.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * Where the compactor keeps its state: the small DynamoDB state table (lock, pointer,
 * audit) and the S3 bucket of content-addressed blobs and immutable manifests.
 *
 * @example
 * const store = new SnapshotStore(stack, 'SnapshotStore', {
 *   stateTableName: names.stateTable,
 *   bucketName: `${names.snapshotBucket}-${Aws.ACCOUNT_ID}-${Aws.REGION}`,
 * });
 * store.bucket.grants.actionsOnObjectKeys(fn, '*', 's3:GetObject');
 */
export class SnapshotStore extends Construct {
  public readonly stateTable: dynamodb.Table;
  public readonly bucket: s3.Bucket;
  public readonly accessLogsBucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: SnapshotStoreProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    // Only a bucket that is deleted with the stack is emptied first; a retained one never is.
    const autoDeleteObjects = removalPolicy === RemovalPolicy.DESTROY;
    const settings = RESOURCE_SETTINGS.stateTable;

    this.stateTable = new dynamodb.Table(this, 'StateTable', {
      tableName: props.stateTableName,
      partitionKey: { name: settings.partitionKey, type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: settings.timeToLiveAttribute,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // The pointer is the one item that says which snapshot is live; PITR lets an operator
      // recover it (and the audit trail) after a bad manual edit.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy,
    });

    this.accessLogsBucket =
      props.accessLogsBucket ??
      this.createAccessLogsBucket(removalPolicy, autoDeleteObjects, props.accessLogsRetention);

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // Manifests are immutable and blobs content-addressed, so versioning costs little; it
      // turns an accidental delete or a bad prune into something an operator can undo.
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'snapshot-bucket/',
      lifecycleRules: [
        {
          id: 'abort-incomplete-multipart-uploads',
          abortIncompleteMultipartUploadAfter:
            props.abortIncompleteMultipartUploadAfter ?? Duration.days(1),
        },
        {
          id: 'expire-noncurrent-versions',
          noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(30),
        },
      ],
      removalPolicy,
      autoDeleteObjects,
    });
    if (autoDeleteObjects) this.acknowledgeAutoDeleteProvider();
  }

  /** The stack-wide provider behind `autoDeleteObjects` (one per stack, whoever asks first). */
  private acknowledgeAutoDeleteProvider(): void {
    const provider = Stack.of(this).node.tryFindChild(
      'Custom::S3AutoDeleteObjectsCustomResourceProvider',
    );
    if (!provider) return;
    acknowledgeFinding(
      provider,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "The CDK provider that empties this stage's buckets on stack deletion (autoDeleteObjects, " +
        'dev only) logs with the AWS-managed basic execution policy; its S3 permissions are ' +
        "granted by each bucket's policy to this role only.",
    );
  }

  private createAccessLogsBucket(
    removalPolicy: RemovalPolicy,
    autoDeleteObjects: boolean,
    retention: Duration | undefined,
  ): s3.Bucket {
    const logs = new s3.Bucket(this, 'AccessLogsBucket', {
      // Server access log delivery supports SSE-S3 only (not SSE-KMS).
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { id: 'expire-access-logs', expiration: retention ?? Duration.days(90) },
        {
          id: 'abort-incomplete-multipart-uploads',
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy,
      autoDeleteObjects,
    });
    acknowledgeFinding(
      logs,
      'AwsSolutions-S1',
      'This is the access-log destination itself; logging it into itself would loop and ' +
        'logging it elsewhere only moves the question one bucket further.',
    );
    return logs;
  }
}
