import { RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface ExecutionRoleProps {
  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A Lambda execution role that starts with no permission at all, plus the function's own
 * log group. Writing to that one log group is granted explicitly, instead of attaching the
 * AWS-managed `AWSLambdaBasicExecutionRole` (which allows every log group of the account).
 * Everything else the function may do is added with grants by its construct.
 *
 * @example
 * const { role, logGroup } = new ExecutionRole(this, 'Execution');
 * new lambda.Function(this, 'Fn', { role, logGroup, ... });
 */
export class ExecutionRole extends Construct {
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: ExecutionRoleProps = {}) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.logGroup.grantWrite(this.role);
  }
}
