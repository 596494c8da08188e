import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one cdk-nag (v3) finding on `scope` and everything below it, with the
 * reason it is the design rather than an oversight. One call per finding, on the
 * narrowest construct that owns it.
 *
 * @example
 * acknowledgeFinding(role, 'AwsSolutions-IAM5[Resource::*]', 'dynamodb:ListStreams has no resource-level permissions.');
 */
export function acknowledgeFinding(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * How cdk-nag writes a (possibly tokenized) value such as an ARN in a finding id:
 * `Fn::GetAtt` as `<LogicalId.Attr>`, `Ref` as `<LogicalId>` (pseudo parameters as
 * `<AWS::Region>`), `Fn::Join` concatenated.
 *
 * @example
 * `AwsSolutions-IAM5[Resource::${nagString(this, bucket.arnForObjects('*'))}]`
 * // 'AwsSolutions-IAM5[Resource::<SnapshotStoreBucketDA23CF97.Arn>/*]'
 */
export function nagString(scope: IConstruct, value: string): string {
  return render(Stack.of(scope).resolve(value));
}

function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.Ref === 'string') return `<${o.Ref}>`;
    const getAtt = o['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return `<${getAtt.join('.')}>`;
    const join = o['Fn::Join'];
    if (Array.isArray(join) && Array.isArray(join[1])) {
      return (join[1] as unknown[]).map(render).join(String(join[0]));
    }
  }
  throw new Error(`cannot render ${JSON.stringify(value)} the way cdk-nag does`);
}
