import { App, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPACTION_PATHS, ENV } from '@compaction/contracts';
import { FLAGS_DOCUMENT_SCHEMA, RuntimeFlags } from '../../lib/runtime-flags.js';
import { resourcesOfType, synth, type Synthesized } from './synth.js';

let dev: Synthesized;
beforeAll(() => {
  dev = synth({ stage: 'dev' });
});
afterAll(() => dev?.dispose());

const only = <T>(record: Record<string, T>): [string, T] => {
  const entries = Object.entries(record);
  expect(entries).toHaveLength(1);
  return entries[0]!;
};

/** Logical ids of the alarms the compactor's CodeDeploy group rolls back on. */
const codeDeployAlarmIds = (s: Synthesized): string[] => {
  const [, group] = Object.entries(
    resourcesOfType(s.json, 'AWS::CodeDeploy::DeploymentGroup'),
  ).find(([id]) => id.startsWith('DeploySafetyCompactorDeploymentGroup'))!;
  return (
    group.Properties.AlarmConfiguration as { Alarms: Array<{ Name: { Ref: string } }> }
  ).Alarms.map((a) => a.Name.Ref);
};

describe('flag changes roll out like code', () => {
  it('deploy the flags document with a gradual strategy: linear 20 % over 10 minutes, 10 minutes of bake', () => {
    const [strategyId, strategy] = only(
      resourcesOfType(dev.json, 'AWS::AppConfig::DeploymentStrategy'),
    );
    expect(strategy.Properties).toMatchObject({
      Name: 'receipt-compaction-dev-flags',
      GrowthType: 'LINEAR',
      GrowthFactor: 20,
      DeploymentDurationInMinutes: 10,
      FinalBakeTimeInMinutes: 10,
      ReplicateTo: 'NONE',
    });
    const [, deployment] = only(resourcesOfType(dev.json, 'AWS::AppConfig::Deployment'));
    expect(deployment.Properties.DeploymentStrategyId).toEqual({ Ref: strategyId });
    // Operators switch flags with the same strategy: the stack names it.
    expect(
      (dev.json.Outputs as Record<string, { Value: unknown }>).FlagsDeploymentStrategyId!.Value,
    ).toEqual({ Ref: strategyId });
  });

  it('monitor the flags environment with exactly the alarms that roll a compactor release back', () => {
    const rollbackIds = codeDeployAlarmIds(dev);
    expect(rollbackIds).toHaveLength(5);
    const [envId, environment] = only(resourcesOfType(dev.json, 'AWS::AppConfig::Environment'));
    const monitors = environment.Properties.Monitors as Array<{
      AlarmArn: { 'Fn::GetAtt': [string, string] };
      AlarmRoleArn: { 'Fn::GetAtt': [string, string] };
    }>;
    expect(monitors.map((m) => m.AlarmArn['Fn::GetAtt'])).toEqual(
      rollbackIds.map((id) => [id, 'Arn']),
    );
    const roleIds = new Set(monitors.map((m) => m.AlarmRoleArn['Fn::GetAtt'][0]));
    expect(roleIds.size).toBe(1);
    const [roleId] = [...roleIds];
    expect(envId).toMatch(/^RuntimeFlagsEnvironment/);

    // The role AppConfig assumes may describe those alarms and nothing else.
    const role = resourcesOfType(dev.json, 'AWS::IAM::Role')[roleId!]!;
    expect(role.Properties.AssumeRolePolicyDocument).toMatchObject({
      Statement: [
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'appconfig.amazonaws.com' },
        },
      ],
    });
    const policies = Object.values(resourcesOfType(dev.json, 'AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.Roles).includes(roleId!),
    );
    expect(policies).toHaveLength(1);
    const document = policies[0]!.Properties.PolicyDocument as {
      Statement: Array<{
        Action: unknown;
        Effect: string;
        Resource: Array<{ 'Fn::GetAtt': string[] }>;
      }>;
    };
    expect(document.Statement).toHaveLength(1);
    const [statement] = document.Statement;
    expect(statement).toMatchObject({ Action: 'cloudwatch:DescribeAlarms', Effect: 'Allow' });
    expect(statement!.Resource.map((r) => r['Fn::GetAtt']).sort()).toEqual(
      rollbackIds.map((id) => [id, 'Arn']).sort(),
    );
  });

  it('validate the flags profile with a JSON schema of the two flags', () => {
    const [, profile] = only(resourcesOfType(dev.json, 'AWS::AppConfig::ConfigurationProfile'));
    const validators = profile.Properties.Validators as Array<{ Type: string; Content: string }>;
    expect(validators.map((v) => v.Type)).toEqual(['JSON_SCHEMA']);
    const schema = JSON.parse(validators[0]!.Content) as typeof FLAGS_DOCUMENT_SCHEMA;
    expect(schema).toEqual({
      $schema: 'http://json-schema.org/draft-04/schema#',
      title: 'receipt-compaction compactor flags',
      type: 'object',
      properties: {
        COMPACTION_PATH: { type: 'string', enum: ['legacy', 'batched', 'shadow'] },
        COMPACTION_BATCHED_PERCENT: { type: 'integer', minimum: 0, maximum: 100 },
      },
      additionalProperties: false,
    });
    expect(schema).toEqual(FLAGS_DOCUMENT_SCHEMA);
    // The enum is the contract's list of paths, so a new path cannot be refused by AppConfig.
    expect(schema.properties[ENV.compactionPath].enum).toEqual([...COMPACTION_PATHS]);
    // The document the stack itself deploys has to pass it.
    const [, version] = only(
      resourcesOfType(dev.json, 'AWS::AppConfig::HostedConfigurationVersion'),
    );
    const doc = JSON.parse(String(version.Properties.Content)) as Record<string, unknown>;
    expect(Object.keys(doc).sort()).toEqual(Object.keys(schema.properties).sort());
    expect(schema.properties.COMPACTION_PATH.enum).toContain(doc[ENV.compactionPath]);
    expect(Number.isInteger(doc[ENV.batchedPercent])).toBe(true);
  });
});

describe('RuntimeFlags', () => {
  const flags = () => {
    const stack = new Stack(new App(), 'Test');
    const runtimeFlags = new RuntimeFlags(stack, 'Flags', {
      stage: 'test',
      initial: { path: 'batched', batchedPercent: 100 },
    });
    const alarms = Array.from(
      { length: 6 },
      (_, i) =>
        new cloudwatch.Alarm(stack, `Alarm${i}`, {
          metric: new cloudwatch.Metric({ namespace: 'Test', metricName: `M${i}` }),
          threshold: 1,
          evaluationPeriods: 1,
        }),
    );
    return { stack, runtimeFlags, alarms };
  };

  it('refuses to synthesize without rollback alarms', () => {
    const { stack } = flags();
    expect(() => (stack.node.root as App).synth()).toThrow(/no rollback alarms/);
  });

  it('monitors 1 to 5 alarms (the AppConfig quota), once', () => {
    const { runtimeFlags, alarms } = flags();
    expect(() => runtimeFlags.rollBackOn([])).toThrow(/1–5 alarms/);
    expect(() => runtimeFlags.rollBackOn(alarms)).toThrow(/got 6/);
    runtimeFlags.rollBackOn(alarms.slice(0, 2));
    expect(runtimeFlags.monitorRole).toBeDefined();
    expect(() => runtimeFlags.rollBackOn(alarms.slice(0, 2))).toThrow(/called once/);
  });
});
