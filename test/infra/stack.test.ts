import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COLLECTIONS,
  COMPACTOR_SETTINGS,
  ENV,
  METRIC,
  RESOURCE_SETTINGS,
  STREAM_PROCESSOR_SETTINGS,
} from '@compaction/contracts';
import { createApp } from '../../lib/app.js';
import { NATIVE_DEPENDENCIES } from '../../lib/compactor-image.js';
import { STREAM_FILTER_PATTERNS } from '../../lib/stream-processor.js';
import { REPO_ROOT } from '../../lib/build-settings.js';
import { resourcesOfType, synth, type Synthesized } from './synth.js';

type Resource = { Type: string; Properties: Record<string, unknown>; UpdatePolicy?: unknown };

const EXISTING_STREAM_ARN =
  'arn:aws:dynamodb:eu-west-1:123456789012:table/receipts/stream/2024-01-01T00:00:00.000';

let dev: Synthesized;
let prod: Synthesized;

beforeAll(() => {
  dev = synth({ stage: 'dev' });
  prod = synth({
    stage: 'prod',
    receiptsTableName: 'receipts',
    receiptsTableStreamArn: EXISTING_STREAM_ARN,
  });
});
afterAll(() => {
  dev?.dispose();
  prod?.dispose();
});

const logicalIdOf = (s: Synthesized, type: string, predicate: (r: Resource) => boolean): string => {
  const found = Object.entries(resourcesOfType(s.json, type)).filter(([, r]) => predicate(r));
  expect(found, `exactly one ${type} matches`).toHaveLength(1);
  return found[0]![0];
};
const functionId = (s: Synthesized, which: 'StreamProcessor' | 'Compactor'): string => {
  const ids = Object.keys(resourcesOfType(s.json, 'AWS::Lambda::Function')).filter((id) =>
    new RegExp(`^${which}Function[0-9A-F]{8}$`).test(id),
  );
  expect(ids).toHaveLength(1);
  return ids[0]!;
};
const aliasId = (s: Synthesized, which: 'StreamProcessor' | 'Compactor'): string => {
  const fn = functionId(s, which);
  return logicalIdOf(
    s,
    'AWS::Lambda::Alias',
    (r) => JSON.stringify(r.Properties.FunctionName) === JSON.stringify({ Ref: fn }),
  );
};
/** How an event source mapping names an alias: `<function name>:live`. */
const aliasFunctionName = (alias: string) => ({
  'Fn::Join': ['', [{ 'Fn::Select': [6, { 'Fn::Split': [':', { Ref: alias }] }] }, ':live']],
});

describe('deploy safety', () => {
  it('gives each function a live alias on its current version', () => {
    for (const which of ['StreamProcessor', 'Compactor'] as const) {
      const alias = resourcesOfType(dev.json, 'AWS::Lambda::Alias')[aliasId(dev, which)]!;
      expect(alias.Properties.Name).toBe('live');
      expect(JSON.stringify(alias.Properties.FunctionVersion)).toMatch(
        new RegExp(`${which}FunctionCurrentVersion[0-9A-F]{8}`),
      );
    }
  });

  it('shifts each alias with a CodeDeploy canary (10 % for 5 minutes) that rolls back automatically', () => {
    const groups = resourcesOfType(dev.json, 'AWS::CodeDeploy::DeploymentGroup');
    expect(Object.keys(groups)).toHaveLength(2);
    for (const group of Object.values(groups)) {
      expect(group.Properties).toMatchObject({
        DeploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
        DeploymentStyle: { DeploymentOption: 'WITH_TRAFFIC_CONTROL', DeploymentType: 'BLUE_GREEN' },
        AutoRollbackConfiguration: {
          Enabled: true,
          Events: expect.arrayContaining(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']),
        },
        AlarmConfiguration: { Enabled: true },
      });
    }
    for (const which of ['StreamProcessor', 'Compactor'] as const) {
      const alias = resourcesOfType(dev.json, 'AWS::Lambda::Alias')[
        aliasId(dev, which)
      ] as Resource;
      const update = (
        alias.UpdatePolicy as { CodeDeployLambdaAliasUpdate: Record<string, unknown> }
      ).CodeDeployLambdaAliasUpdate;
      expect(JSON.stringify(update.DeploymentGroupName)).toContain(
        `DeploySafety${which}DeploymentGroup`,
      );
    }
  });

  const rollbackAlarms = (s: Synthesized, which: 'StreamProcessor' | 'Compactor') => {
    const group = Object.entries(resourcesOfType(s.json, 'AWS::CodeDeploy::DeploymentGroup')).find(
      ([id]) => id.startsWith(`DeploySafety${which}DeploymentGroup`),
    )![1];
    const refs = (
      group.Properties.AlarmConfiguration as { Alarms: Array<{ Name: { Ref: string } }> }
    ).Alarms.map((a) => a.Name.Ref);
    const alarms = resourcesOfType(s.json, 'AWS::CloudWatch::Alarm');
    return refs.map((ref) => alarms[ref]!.Properties);
  };

  it('rolls the stream processor back on alias errors and throttles and on the stream iterator age', () => {
    const alarms = rollbackAlarms(dev, 'StreamProcessor');
    const fn = functionId(dev, 'StreamProcessor');
    const onAlias = (name: string) =>
      alarms.find((a) => a.MetricName === name && JSON.stringify(a.Dimensions).includes(':live'));
    expect(onAlias('Errors')).toMatchObject({ Threshold: 1, Statistic: 'Sum', Period: 60 });
    expect(onAlias('Throttles')).toMatchObject({ Threshold: 1, Statistic: 'Sum', Period: 60 });
    expect(alarms.find((a) => a.MetricName === 'IteratorAge')).toMatchObject({
      Statistic: 'Maximum',
      Threshold: 5 * 60 * 1000,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
    });
    expect(alarms).toHaveLength(3);
  });

  it('rolls the compactor back on alias errors and throttles, CompactionLambdaError and DLQ depth > 0', () => {
    const alarms = rollbackAlarms(dev, 'Compactor');
    expect(
      alarms.filter((a) => ['Errors', 'Throttles'].includes(String(a.MetricName))),
    ).toHaveLength(2);
    const emf = alarms.find((a) =>
      JSON.stringify(a.Metrics ?? '').includes(METRIC.compactionError),
    );
    expect(emf).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      Metrics: [
        {
          Expression: `SELECT SUM(${METRIC.compactionError}) FROM ReceiptCompaction`,
          Period: 60,
        },
      ],
    });
    const dlqs = alarms.filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(dlqs.map((a) => JSON.stringify(a.Dimensions))).toEqual(
      COLLECTIONS.map((c) =>
        expect.stringContaining(`ChangeQueues${c[0]!.toUpperCase()}${c.slice(1)}DeadLetterQueue`),
      ),
    );
    for (const dlq of dlqs) {
      expect(dlq).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    }
    expect(alarms).toHaveLength(5);
  });

  it('runs a pre-traffic hook that smoke-tests the new compactor version with an empty batch', () => {
    const alias = resourcesOfType(dev.json, 'AWS::Lambda::Alias')[
      aliasId(dev, 'Compactor')
    ] as Resource;
    const update = (alias.UpdatePolicy as { CodeDeployLambdaAliasUpdate: Record<string, unknown> })
      .CodeDeployLambdaAliasUpdate;
    const hookId = (update.BeforeAllowTrafficHook as { Ref: string }).Ref;
    const hook = resourcesOfType(dev.json, 'AWS::Lambda::Function')[hookId]!;
    const env = (hook.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(JSON.stringify(env.TARGET_VERSION_ARN)).toMatch(/CompactorFunctionCurrentVersion/);
    expect(JSON.parse(String(env.SMOKE_EVENT))).toEqual({ Records: [] });
    expect(String((hook.Properties.Code as { ZipFile: string }).ZipFile)).toContain(
      'PutLifecycleEventHookExecutionStatusCommand',
    );
  });
});

describe('event source mappings', () => {
  it('feed the stream processor alias from the stream with filters, bisect, partial batch response, bounded retries and an on-failure destination', () => {
    const mappings = Object.values(
      resourcesOfType(dev.json, 'AWS::Lambda::EventSourceMapping'),
    ).filter((m) => m.Properties.StartingPosition !== undefined);
    expect(mappings).toHaveLength(1);
    const rejects = logicalIdOf(dev, 'AWS::SQS::Queue', (r) =>
      String(r.Properties.QueueName).endsWith('-stream-rejects'),
    );
    expect(mappings[0]!.Properties).toEqual({
      FunctionName: aliasFunctionName(aliasId(dev, 'StreamProcessor')),
      EventSourceArn: { 'Fn::GetAtt': [expect.stringMatching(/^ReceiptsTable/), 'StreamArn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: STREAM_PROCESSOR_SETTINGS.batchSize,
      MaximumBatchingWindowInSeconds: STREAM_PROCESSOR_SETTINGS.maxBatchingWindowSeconds,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: STREAM_PROCESSOR_SETTINGS.retryAttempts,
      MaximumRecordAgeInSeconds: STREAM_PROCESSOR_SETTINGS.maxRecordAgeSeconds,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [rejects, 'Arn'] } } },
      FilterCriteria: {
        Filters: STREAM_FILTER_PATTERNS.map((p) => ({ Pattern: JSON.stringify(p) })),
      },
      Tags: expect.any(Array), // the stage tags (stack-hygiene.test.ts)
    });
  });

  it('feed the compactor alias from each collection queue with batch size, window, partial batch response and max concurrency', () => {
    const mappings = Object.values(
      resourcesOfType(dev.json, 'AWS::Lambda::EventSourceMapping'),
    ).filter((m) => m.Properties.StartingPosition === undefined);
    expect(mappings).toHaveLength(COLLECTIONS.length);
    const queueIds = COLLECTIONS.map((c) =>
      logicalIdOf(dev, 'AWS::SQS::Queue', (r) => r.Properties.QueueName === `dev-${c}-changes`),
    );
    expect(mappings.map((m) => m.Properties)).toEqual(
      queueIds.map((queue) => ({
        FunctionName: aliasFunctionName(aliasId(dev, 'Compactor')),
        EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
        BatchSize: COMPACTOR_SETTINGS.batchSize,
        MaximumBatchingWindowInSeconds: COMPACTOR_SETTINGS.maxBatchingWindowSeconds,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ScalingConfig: { MaximumConcurrency: COMPACTOR_SETTINGS.maxConcurrency },
        Tags: expect.any(Array), // the stage tags (stack-hygiene.test.ts)
      })),
    );
  });

  it('never invoke $LATEST: every mapping names a live alias', () => {
    for (const m of Object.values(resourcesOfType(dev.json, 'AWS::Lambda::EventSourceMapping'))) {
      expect(JSON.stringify(m.Properties.FunctionName)).toContain(':live');
    }
  });
});

describe('queues', () => {
  it('redrive each collection queue to its own DLQ', () => {
    for (const c of COLLECTIONS) {
      const dlq = logicalIdOf(
        dev,
        'AWS::SQS::Queue',
        (r) => r.Properties.QueueName === `dev-${c}-changes-dlq`,
      );
      dev.template.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: `dev-${c}-changes`,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] },
          maxReceiveCount: RESOURCE_SETTINGS.collectionQueue.maxReceiveCount,
        },
      });
    }
  });

  it('are all encrypted and refuse plain-HTTP access', () => {
    const queues = resourcesOfType(dev.json, 'AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(2 * COLLECTIONS.length + 1);
    const policies = Object.values(resourcesOfType(dev.json, 'AWS::SQS::QueuePolicy'));
    for (const [id, queue] of Object.entries(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled, id).toBe(true);
      const denies = policies.filter(
        (p) =>
          JSON.stringify(p.Properties.Queues).includes(`"${id}"`) &&
          JSON.stringify(p.Properties.PolicyDocument).includes('"aws:SecureTransport":"false"'),
      );
      expect(denies, `${id} has a TLS-only policy`).toHaveLength(1);
    }
  });

  it('keep each compactor queue invisible for at least 6 × the compactor timeout', () => {
    const compactor = resourcesOfType(dev.json, 'AWS::Lambda::Function')[
      functionId(dev, 'Compactor')
    ]!;
    const timeout = Number(compactor.Properties.Timeout);
    expect(timeout).toBe(COMPACTOR_SETTINGS.timeoutSeconds);
    for (const c of COLLECTIONS) {
      const queue = Object.values(resourcesOfType(dev.json, 'AWS::SQS::Queue')).find(
        (q) => q.Properties.QueueName === `dev-${c}-changes`,
      )!;
      expect(Number(queue.Properties.VisibilityTimeout)).toBeGreaterThanOrEqual(6 * timeout);
    }
  });
});

describe('stateful resources', () => {
  it('encrypt the snapshot bucket, version it, block public access, enforce TLS, log access and expire what is left over', () => {
    const logs = logicalIdOf(
      dev,
      'AWS::S3::Bucket',
      (r) => r.Properties.LoggingConfiguration === undefined,
    );
    dev.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: {
        'Fn::Join': [
          '',
          ['dev-receipt-vector-snapshots-', { Ref: 'AWS::AccountId' }, '-', { Ref: 'AWS::Region' }],
        ],
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
        ],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: {
        DestinationBucketName: { Ref: logs },
        LogFilePrefix: 'snapshot-bucket/',
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            Status: 'Enabled',
          }),
          Match.objectLike({
            NoncurrentVersionExpiration: { NoncurrentDays: 30 },
            Status: 'Enabled',
          }),
        ]),
      },
    });
    const bucketPolicies = Object.values(resourcesOfType(dev.json, 'AWS::S3::BucketPolicy'));
    for (const id of Object.keys(resourcesOfType(dev.json, 'AWS::S3::Bucket'))) {
      const policy = bucketPolicies.find((p) =>
        JSON.stringify(p.Properties.Bucket).includes(`"${id}"`),
      );
      expect(JSON.stringify(policy?.Properties.PolicyDocument), id).toContain(
        '"aws:SecureTransport":"false"',
      );
    }
  });

  it('make the state table on-demand with point-in-time recovery', () => {
    dev.template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'dev-compaction-state',
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    });
  });

  it('create the receipts table with its stream in dev, and follow an existing one by name and stream ARN in prod', () => {
    dev.template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'dev-receipts',
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    const prodTables = Object.values(resourcesOfType(prod.json, 'AWS::DynamoDB::Table'));
    expect(prodTables.map((t) => t.Properties.TableName)).toEqual(['prod-compaction-state']);
    prod.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: EXISTING_STREAM_ARN,
    });
    prod.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
            Resource: EXISTING_STREAM_ARN,
          }),
        ]),
      },
    });
  });

  it('retain stateful resources in prod and let dev clean up', () => {
    const state = (s: Synthesized) =>
      Object.values(resourcesOfType(s.json, 'AWS::DynamoDB::Table')).find((t) =>
        String(t.Properties.TableName).endsWith('-compaction-state'),
      ) as Resource & { DeletionPolicy?: string };
    expect(state(prod).DeletionPolicy).toBe('Retain');
    expect(state(dev).DeletionPolicy).toBe('Delete');
  });
});

describe('least privilege', () => {
  const statements = (s: Synthesized) =>
    Object.values(resourcesOfType(s.json, 'AWS::IAM::Policy')).flatMap(
      (p) =>
        (p.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement,
    );
  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);

  it('attach no AWS-managed policy except the CodeDeploy service role one', () => {
    const managed = Object.values(resourcesOfType(dev.json, 'AWS::IAM::Role')).flatMap((r) =>
      list(r.Properties.ManagedPolicyArns ?? []).map((a) => JSON.stringify(a)),
    );
    // Two CodeDeploy service roles, and in dev the provider that empties the buckets.
    expect(managed.filter((arn) => arn.includes('AWSCodeDeployRoleForLambdaLimited'))).toHaveLength(
      2,
    );
    expect(managed.filter((arn) => !arn.includes('AWSCodeDeployRoleForLambdaLimited'))).toEqual([
      expect.stringContaining('AWSLambdaBasicExecutionRole'),
    ]);
  });

  it('grant no wildcard action, and no `*` action at all on data resources', () => {
    for (const s of [dev, prod]) {
      for (const statement of statements(s)) {
        const actions = list(statement.Action).map(String);
        for (const action of actions) expect(action).not.toMatch(/^\*$|:\*$/);
        const resources = JSON.stringify(statement.Resource);
        if (/Table|Bucket|Queue|Stream|dynamodb|s3|sqs/.test(resources)) {
          for (const action of actions) expect(action, resources).not.toContain('*');
        }
      }
    }
  });

  it('use Resource "*" only for actions without resource-level permissions', () => {
    const onStar = statements(dev)
      .filter((st) => st.Resource === '*')
      .flatMap((st) => list(st.Action));
    expect(onStar.sort()).toEqual(
      [
        'dynamodb:ListStreams',
        // active tracing, on both functions
        'xray:PutTelemetryRecords',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
        'xray:PutTraceSegments',
      ].sort(),
    );
  });

  it('let the compactor call exactly the state-table, bucket and DLQ actions it uses', () => {
    const compactorPolicy = Object.entries(resourcesOfType(dev.json, 'AWS::IAM::Policy')).find(
      ([id]) => id.startsWith('CompactorExecutionRoleDefaultPolicy'),
    )![1];
    const actions = (
      compactorPolicy.Properties.PolicyDocument as { Statement: Array<{ Action: unknown }> }
    ).Statement.flatMap((st) => list(st.Action)).sort();
    expect(actions).toEqual(
      [
        'appconfig:GetLatestConfiguration',
        'appconfig:StartConfigurationSession',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
        's3:AbortMultipartUpload',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
        // consume the collection queues (event source mapping)
        'sqs:ChangeMessageVisibility',
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ReceiveMessage',
        // dead-letter refused messages
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
      ].sort(),
    );
  });
});

describe('functions', () => {
  it('bundle the stream processor with local esbuild into a nodejs22.x arm64 zip', () => {
    const fn = resourcesOfType(dev.json, 'AWS::Lambda::Function')[
      functionId(dev, 'StreamProcessor')
    ]!;
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: STREAM_PROCESSOR_SETTINGS.timeoutSeconds,
      Code: { S3Key: expect.stringMatching(/^[0-9a-f]{64}\.zip$/) },
    });
    const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(env).sort()).toEqual(
      [ENV.linesQueueUrl, ENV.wordsQueueUrl, ENV.rejectsQueueUrl, ENV.deltaPrefixAllowList].sort(),
    );
  });

  it('ship the compactor as an arm64 container image whose asset platform matches', () => {
    const fn = resourcesOfType(dev.json, 'AWS::Lambda::Function')[functionId(dev, 'Compactor')]!;
    expect(fn.Properties).toMatchObject({
      PackageType: 'Image',
      Architectures: ['arm64'],
      ImageConfig: { Command: ['handler.handler'] },
      MemorySize: 3008,
      EphemeralStorage: { Size: 4096 },
      Timeout: COMPACTOR_SETTINGS.timeoutSeconds,
    });
    expect(fn.Properties.Runtime).toBeUndefined();
    const imageTag = JSON.stringify(fn.Properties.Code).match(/:([0-9a-f]{64})"/)?.[1];
    const assets = JSON.parse(
      readFileSync(join(dev.outdir, `${dev.stack.artifactId}.assets.json`), 'utf8'),
    ) as { dockerImages: Record<string, { source: { directory: string; platform?: string } }> };
    const image = assets.dockerImages[imageTag!];
    expect(image?.source.platform).toBe('linux/arm64');
    const context = join(dev.outdir, image!.source.directory);
    for (const file of [
      'Dockerfile',
      'install.sh',
      'app/handler.mjs',
      'app/heartbeat-worker.mjs',
      'app/package.json',
      'app/package-lock.json',
    ]) {
      expect(existsSync(join(context, file)), file).toBe(true);
    }
    expect(readFileSync(join(context, 'Dockerfile'), 'utf8')).toMatch(
      /^FROM public\.ecr\.aws\/lambda\/nodejs:22 AS build$[\s\S]*^RUN sh \/context\/install\.sh \/build$[\s\S]*^FROM public\.ecr\.aws\/lambda\/nodejs:22$/m,
    );
  });

  it('pin the image native addons to the versions of the repository lockfile', () => {
    const image = JSON.parse(
      readFileSync(join(dev.stack.compactor.imageContextDir, 'app/package.json'), 'utf8'),
    ) as { dependencies: Record<string, string> };
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version: string }>;
    };
    expect(image.dependencies).toEqual(
      Object.fromEntries(
        NATIVE_DEPENDENCIES.map((d) => [d, lock.packages[`node_modules/${d}`]!.version]),
      ),
    );
  });

  it('configure the compactor from the environment, with AppConfig as the runtime source of flags', () => {
    const fn = resourcesOfType(dev.json, 'AWS::Lambda::Function')[functionId(dev, 'Compactor')]!;
    const env = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(env).toMatchObject({
      [ENV.compactionPath]: 'shadow',
      [ENV.batchedPercent]: '0',
      [ENV.workDir]: '/tmp/compaction',
      [ENV.lockLeaseMs]: '60000',
      [ENV.lockHeartbeatMs]: '15000',
      [ENV.lockMaxWaitMs]: '90000',
      [ENV.maxVectorLossShare]: '0.05',
      [ENV.stateTable]: { Ref: expect.stringMatching(/^SnapshotStoreStateTable/) },
      [ENV.snapshotBucket]: { Ref: expect.stringMatching(/^SnapshotStoreBucket/) },
      [ENV.linesDlqUrl]: { Ref: expect.stringMatching(/^ChangeQueuesLinesDeadLetterQueue/) },
      [ENV.wordsDlqUrl]: { Ref: expect.stringMatching(/^ChangeQueuesWordsDeadLetterQueue/) },
      [ENV.appConfigApplication]: { Ref: expect.stringMatching(/^RuntimeFlagsApplication/) },
      // By name: the environment's monitors watch the compactor, so no reference back.
      [ENV.appConfigEnvironment]: 'dev',
      [ENV.appConfigFlagsProfile]: { Ref: expect.stringMatching(/^RuntimeFlagsFlagsProfile/) },
    });
    const prodFn = resourcesOfType(prod.json, 'AWS::Lambda::Function')[
      functionId(prod, 'Compactor')
    ]!;
    expect(
      (prodFn.Properties.Environment as { Variables: Record<string, unknown> }).Variables,
    ).toMatchObject({
      [ENV.compactionPath]: 'batched',
      [ENV.batchedPercent]: '100',
    });
    const [version] = Object.values(
      resourcesOfType(dev.json, 'AWS::AppConfig::HostedConfigurationVersion'),
    );
    expect(JSON.parse(String(version!.Properties.Content))).toEqual({
      [ENV.compactionPath]: 'shadow',
      [ENV.batchedPercent]: 0,
    });
    dev.template.resourceCountIs('AWS::AppConfig::Deployment', 1);
  });
});

describe('observability', () => {
  it('puts every service metric, the seed names included, on one dashboard', () => {
    const [dashboard] = Object.values(resourcesOfType(dev.json, 'AWS::CloudWatch::Dashboard'));
    const body = JSON.stringify(dashboard!.Properties.DashboardBody);
    for (const name of Object.values(METRIC)) expect(body).toContain(`SUM(${name})`);
  });

  it('notifies an encrypted, TLS-only operators topic from every alarm', () => {
    const topic = logicalIdOf(dev, 'AWS::SNS::Topic', () => true);
    dev.template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: Match.objectLike({
        'Fn::GetAtt': [Match.stringLikeRegexp('^ObservabilityAlarmTopicKey'), 'Arn'],
      }),
    });
    dev.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      }),
    });
    const alarms = Object.values(resourcesOfType(dev.json, 'AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBe(16); // CompactorDurationNearTimeout (c0b07b5) included
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topic }]);
      expect(alarm.Properties.AlarmDescription).toEqual(expect.any(String));
    }
  });
});

describe('stages', () => {
  it('refuses an unknown stage and a half-given existing table', () => {
    expect(() => createApp({ context: { stage: 'qa' } })).toThrow(/stage/);
    expect(() => createApp({ context: { stage: 'dev', receiptsTableName: 'receipts' } })).toThrow(
      /receiptsTableStreamArn/,
    );
  });

  it('hard-codes no account or region', () => {
    const text = JSON.stringify(dev.json);
    expect(text).not.toMatch(/\b\d{12}\b/);
    expect(text).not.toMatch(
      /\b(us|eu|ap|sa|ca|me|af)-(east|west|north|south|central|northeast|southeast)-\d\b/,
    );
  });
});
