import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SNAPSHOT_OBJECT_ACTIONS } from '../../lib/compactor.js';
import { stageTags } from '../../lib/tags.js';
import { cdkJsonContext, synth, type Synthesized } from './synth.js';

type Resource = {
  Type: string;
  Properties: Record<string, unknown>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};

let dev: Synthesized;
let prod: Synthesized;
beforeAll(() => {
  dev = synth({ stage: 'dev' });
  prod = synth({ stage: 'prod' });
});
afterAll(() => {
  dev?.dispose();
  prod?.dispose();
});

const resources = (s: Synthesized) => (s.json.Resources ?? {}) as Record<string, Resource>;
const ofType = (s: Synthesized, type: string) =>
  Object.entries(resources(s)).filter(([, r]) => r.Type === type);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [v]);

describe('tags', () => {
  it('tag every taggable resource with project, stage, service and managed-by, from one place', () => {
    for (const [s, stage] of [
      [dev, 'dev'],
      [prod, 'prod'],
    ] as const) {
      const expected = stageTags(stage);
      expect(Object.keys(expected).sort()).toEqual(['managed-by', 'project', 'service', 'stage']);
      const tagged = Object.entries(resources(s)).filter(([, r]) => r.Properties?.Tags);
      // Queues, tables, buckets, functions, roles, the topic, alarms, AppConfig…
      expect(tagged.length).toBeGreaterThan(30);
      for (const [id, r] of tagged) {
        const tags = r.Properties.Tags;
        const pairs = Array.isArray(tags)
          ? Object.fromEntries(
              (tags as Array<{ Key: string; Value: string }>).map((t) => [t.Key, t.Value]),
            )
          : (tags as Record<string, string>);
        expect(pairs, id).toMatchObject(expected);
      }
      for (const type of [
        'AWS::SQS::Queue',
        'AWS::DynamoDB::Table',
        'AWS::S3::Bucket',
        'AWS::Lambda::Function',
        'AWS::IAM::Role',
        'AWS::SNS::Topic',
        'AWS::AppConfig::Application',
      ]) {
        for (const [id, r] of ofType(s, type)) {
          // CDK's dev-only bucket-emptying provider is a raw CloudFormation resource.
          if (id.startsWith('CustomS3AutoDeleteObjectsCustomResourceProvider')) continue;
          expect(r.Properties.Tags, id).toBeDefined();
        }
      }
    }
  });
});

describe('tearing a stage down', () => {
  it('dev: deletes its buckets, emptied first (every object version), and its tables and queues', () => {
    const buckets = ofType(dev, 'AWS::S3::Bucket');
    expect(buckets).toHaveLength(2);
    const emptied = ofType(dev, 'Custom::S3AutoDeleteObjects').map(
      ([, r]) => (r.Properties.BucketName as { Ref: string }).Ref,
    );
    expect(emptied.sort()).toEqual(buckets.map(([id]) => id).sort());
    for (const [id, r] of buckets) expect(r.DeletionPolicy, id).toBe('Delete');
    for (const [id, r] of [
      ...ofType(dev, 'AWS::DynamoDB::Table'),
      ...ofType(dev, 'AWS::SQS::Queue'),
    ]) {
      expect(r.DeletionPolicy, id).toBe('Delete');
    }
    for (const [id, r] of ofType(dev, 'AWS::DynamoDB::Table')) {
      expect(r.Properties.DeletionProtectionEnabled ?? false, id).toBe(false);
    }
  });

  it('prod: retains buckets, tables, queues and DLQs, never empties a bucket, and protects its tables from deletion', () => {
    expect(ofType(prod, 'Custom::S3AutoDeleteObjects')).toEqual([]);
    const queues = ofType(prod, 'AWS::SQS::Queue');
    expect(queues).toHaveLength(5); // lines, words, their DLQs, rejects
    for (const [id, r] of [
      ...ofType(prod, 'AWS::S3::Bucket'),
      ...ofType(prod, 'AWS::DynamoDB::Table'),
      ...queues,
    ]) {
      expect(r.DeletionPolicy, id).toBe('Retain');
      expect(r.UpdateReplacePolicy, id).toBe('Retain');
    }
    const tables = ofType(prod, 'AWS::DynamoDB::Table');
    expect(tables.length).toBeGreaterThanOrEqual(2); // state + the created receipts table
    for (const [id, r] of tables) expect(r.Properties.DeletionProtectionEnabled, id).toBe(true);
  });
});

describe('the compactor role', () => {
  it('cannot delete objects: no s3:DeleteObject (nor any Delete*) on any bucket, for any of its statements', () => {
    expect(SNAPSHOT_OBJECT_ACTIONS).not.toContain('s3:DeleteObject');
    for (const s of [dev, prod]) {
      const policies = ofType(s, 'AWS::IAM::Policy').filter(([, p]) =>
        JSON.stringify(p.Properties.Roles).includes('CompactorExecutionRole'),
      );
      expect(policies).toHaveLength(1);
      const statements = (
        policies[0]![1].Properties.PolicyDocument as {
          Statement: Array<{ Action: unknown; Resource: unknown }>;
        }
      ).Statement;
      const s3Actions = statements
        .flatMap((st) => list(st.Action).map(String))
        .filter((a) => a.startsWith('s3:'));
      expect(s3Actions.sort()).toEqual([
        's3:AbortMultipartUpload',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
      ]);
      for (const action of s3Actions) expect(action).not.toMatch(/Delete|\*/);
    }
    // Nor through the bucket policy.
    for (const [, policy] of ofType(dev, 'AWS::S3::BucketPolicy')) {
      const text = JSON.stringify(policy.Properties.PolicyDocument);
      if (text.includes('s3:DeleteObject')) expect(text).not.toContain('CompactorExecutionRole');
    }
  });
});

describe('tracing', () => {
  it('traces both functions actively (X-Ray), the Powertools tracer wrapping their AWS SDK clients', () => {
    const functions = ofType(dev, 'AWS::Lambda::Function').filter(([id]) =>
      /^(StreamProcessor|Compactor)Function[0-9A-F]{8}$/.test(id),
    );
    expect(functions).toHaveLength(2);
    for (const [id, fn] of functions) {
      expect(fn.Properties.TracingConfig, id).toEqual({ Mode: 'Active' });
    }
  });
});

describe('the CDK CLI', () => {
  it('sends no telemetry: cdk.json turns it off for every command run in this project', () => {
    expect(cdkJsonContext()['cli-telemetry']).toBe(false);
  });
});
