import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { describe, expect, it } from 'vitest';
import { resourceNames } from '@compaction/contracts';
import { ChangeQueues } from '../../lib/change-queues.js';
import { Compactor } from '../../lib/compactor.js';
import { DeploySafety } from '../../lib/deploy-safety.js';
import { InfraConfigError } from '../../lib/errors.js';

const FIXTURE_ENTRY = join(import.meta.dirname, 'fixtures/compactor-handler.ts');

function compactorStack(queueProps: { visibilityTimeout?: Duration } = {}) {
  const app = new App();
  const stack = new Stack(app, 'Test');
  const queues = new ChangeQueues(stack, 'Queues', { names: resourceNames('test'), ...queueProps });
  const stateTable = new dynamodb.Table(stack, 'State', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
  });
  const bucket = new s3.Bucket(stack, 'Bucket');
  return { stack, queues, stateTable, bucket };
}

describe('Compactor', () => {
  it('refuses a queue visibility timeout below 6 × its timeout', () => {
    const { stack, queues, stateTable, bucket } = compactorStack({
      visibilityTimeout: Duration.minutes(10),
    });
    expect(
      () =>
        new Compactor(stack, 'Compactor', {
          stateTable,
          bucket,
          queues,
          timeout: Duration.minutes(5),
          entry: FIXTURE_ENTRY,
        }),
    ).toThrow(InfraConfigError);
    expect(
      () =>
        new Compactor(stack, 'Compactor2', {
          stateTable,
          bucket,
          queues,
          timeout: Duration.seconds(100), // 6 × 100 s = 600 s: just enough
          entry: FIXTURE_ENTRY,
        }),
    ).not.toThrow();
  });

  it('takes batch size, batching window and max concurrency from props', () => {
    const { stack, queues, stateTable, bucket } = compactorStack();
    new Compactor(stack, 'Compactor', {
      stateTable,
      bucket,
      queues,
      entry: FIXTURE_ENTRY,
      batchSize: 250,
      maxBatchingWindow: Duration.seconds(20),
      maxConcurrency: 5,
    });
    const mappings = Template.fromStack(stack).findResources('AWS::Lambda::EventSourceMapping');
    expect(Object.values(mappings).map((m) => (m as { Properties: unknown }).Properties)).toEqual([
      expect.objectContaining({
        BatchSize: 250,
        MaximumBatchingWindowInSeconds: 20,
        ScalingConfig: { MaximumConcurrency: 5 },
      }),
      expect.objectContaining({
        BatchSize: 250,
        MaximumBatchingWindowInSeconds: 20,
        ScalingConfig: { MaximumConcurrency: 5 },
      }),
    ]);
  });
});

describe('DeploySafety', () => {
  const target = (stack: Stack) => {
    const fn = new lambda.Function(stack, 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({ batchItemFailures: [] });'),
    });
    const alias = new lambda.Alias(stack, 'Live', {
      aliasName: 'live',
      version: fn.currentVersion,
    });
    const errors = new cloudwatch.Alarm(stack, 'Errors', {
      metric: alias.metricErrors(),
      threshold: 1,
      evaluationPeriods: 1,
    });
    return { name: 'A', alias, timeout: Duration.seconds(3), rollbackAlarms: [errors] };
  };

  it('defaults to CANARY_10PERCENT_5MINUTES and takes another config from props', () => {
    const app = new App();
    const stack = new Stack(app, 'Test');
    new DeploySafety(stack, 'Default', { targets: [target(stack)] });
    const other = new Stack(app, 'Other');
    new DeploySafety(other, 'Linear', {
      deploymentConfig: codedeploy.LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE,
      targets: [target(other)],
    });
    Template.fromStack(stack).hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
    });
    Template.fromStack(other).hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
      DeploymentConfigName: 'CodeDeployDefault.LambdaLinear10PercentEvery1Minute',
    });
  });

  it('adds a pre-traffic hook only when a smoke event is given', () => {
    const app = new App();
    const stack = new Stack(app, 'Test');
    const safety = new DeploySafety(stack, 'Safety', { targets: [target(stack)] });
    expect(safety.smokeHooks).toEqual({});
    const aliases = Template.fromStack(stack).findResources('AWS::Lambda::Alias');
    const update = JSON.stringify(Object.values(aliases)[0]);
    expect(update).toContain('CodeDeployLambdaAliasUpdate');
    expect(update).not.toContain('BeforeAllowTrafficHook');
  });

  it('refuses a canary without rollback alarms', () => {
    const stack = new Stack(new App(), 'Test');
    expect(
      () =>
        new DeploySafety(stack, 'Safety', { targets: [{ ...target(stack), rollbackAlarms: [] }] }),
    ).toThrow(/without rollback alarms/);
  });
});
