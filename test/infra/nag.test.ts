import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../lib/app.js';
import { cdkJsonContext, synth, type Synthesized } from './synth.js';

interface ValidationReport {
  pluginReports: Array<{ pluginName: string; violations: Array<{ ruleName: string }> }>;
}

let dev: Synthesized;
let prod: Synthesized;
beforeAll(() => {
  dev = synth({ stage: 'dev' });
  prod = synth({
    stage: 'prod',
    receiptsTableName: 'receipts',
    receiptsTableStreamArn:
      'arn:aws:dynamodb:eu-west-1:123456789012:table/receipts/stream/2024-01-01T00:00:00.000',
  });
});
afterAll(() => {
  dev?.dispose();
  prod?.dispose();
});

const violations = (s: Synthesized) => {
  const report = JSON.parse(
    readFileSync(join(s.outdir, 'validation-report.json'), 'utf8'),
  ) as ValidationReport;
  return report.pluginReports.flatMap((r) =>
    r.violations.map((v) => `${r.pluginName}: ${v.ruleName}`),
  );
};

/** Every acknowledged finding of the app: construct path (stack-relative) → rule id → reason. */
const acknowledgements = (root: IConstruct) =>
  root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) =>
        Object.entries(m.data as Record<string, string>).map(([rule, reason]) => ({
          path: c.node.path.split('/').slice(1).join('/'),
          rule,
          reason,
        })),
      ),
  );

describe('cdk-nag (AwsSolutions)', () => {
  it('reports no unacknowledged finding in dev, nor in prod following an existing table', () => {
    expect(violations(dev)).toEqual([]);
    expect(violations(prod)).toEqual([]);
  });

  it('fails synthesis on a finding nobody acknowledged (the checks really run)', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'receipt-compaction-nag-'));
    try {
      const app = createApp({ outdir, context: { ...cdkJsonContext(), stage: 'dev' } });
      const stack = app.node.findChild('ReceiptCompaction-dev');
      new sqs.Queue(stack, 'Careless', { encryption: sqs.QueueEncryption.UNENCRYPTED });
      expect(() => app.synth()).toThrow(
        /AwsSolutions-SQS4[\s\S]*Careless|Careless[\s\S]*AwsSolutions-SQS4/,
      );
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('acknowledges each finding once, on the construct that owns it, with a reason', () => {
    const acks = acknowledgements(dev.app);
    for (const ack of acks)
      expect(ack.reason.length, `${ack.path} ${ack.rule}`).toBeGreaterThan(40);
    // Logical-id hashes in IAM5 findings are masked: they change with construct paths only.
    const masked = acks
      .map((a) => `${a.path} ${a.rule.replace(/([A-Za-z]+)[0-9A-F]{8}\b/g, '$1<id>')}`)
      .sort();
    expect(masked).toMatchInlineSnapshot(`
      [
        "ChangeQueues/LinesDeadLetterQueue Annotation::AwsSolutions-SQS3",
        "ChangeQueues/RejectsQueue Annotation::AwsSolutions-SQS3",
        "ChangeQueues/WordsDeadLetterQueue Annotation::AwsSolutions-SQS3",
        "Compactor/Execution/Role Annotation::AwsSolutions-IAM5[Resource::*]",
        "Compactor/Execution/Role Annotation::AwsSolutions-IAM5[Resource::<SnapshotStoreBucket<id>.Arn>/*]",
        "Compactor/Execution/Role Annotation::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:appconfig:<AWS::Region>:<AWS::AccountId>:application/<RuntimeFlagsApplication<id>>/environment/*/configuration/<RuntimeFlagsFlagsProfileConfigurationProfile<id>>]",
        "Custom::S3AutoDeleteObjectsCustomResourceProvider Annotation::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "DeploySafety/CompactorDeploymentGroup Annotation::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]",
        "DeploySafety/CompactorDeploymentGroup Annotation::AwsSolutions-IAM5[Resource::<DeploySafetyCompactorSmokeHook<id>.Arn>:*]",
        "DeploySafety/CompactorSmokeHook Annotation::AwsSolutions-L1",
        "DeploySafety/StreamProcessorDeploymentGroup Annotation::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]",
        "SnapshotStore/AccessLogsBucket Annotation::AwsSolutions-S1",
        "StreamProcessor/Execution/Role Annotation::AwsSolutions-IAM5[Resource::*]",
        "StreamProcessor/Function Annotation::AwsSolutions-L1",
      ]
    `);
  });
});
