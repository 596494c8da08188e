import { readFileSync } from 'node:fs';
import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as codedeploy from 'aws-cdk-lib/aws-codedeploy';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { InfraConfigError } from './errors.js';
import { ExecutionRole } from './execution-role.js';
import { acknowledgeFinding, nagString } from './nag.js';

/**
 * Name of the alias every event source mapping invokes and every deployment group shifts:
 * traffic only ever reaches a version through it.
 */
export const LIVE_ALIAS = 'live';

/** Source of the pre-traffic hook (inline Lambda code). */
const SMOKE_HOOK_CODE = readFileSync(
  new URL('./hooks/pre-traffic-smoke.cjs', import.meta.url),
  'utf8',
);

/** One function whose releases go out as a canary. */
export interface DeployTarget {
  /** Short PascalCase name used in construct ids (`StreamProcessor`, `Compactor`). */
  readonly name: string;
  /** The alias the event source mappings invoke; CodeDeploy shifts its weights. */
  readonly alias: lambda.Alias;
  /** The timeout of the function (the smoke hook waits for one invocation). */
  readonly timeout: Duration;
  /** Alarms that stop the canary and roll the alias back (at least one). */
  readonly rollbackAlarms: cloudwatch.IAlarm[];
  /**
   * Event the pre-traffic hook invokes the new version with; it must answer an empty
   * partial-batch response (`{ "batchItemFailures": [] }`).
   * @default - no pre-traffic hook
   */
  readonly smokeEvent?: Record<string, unknown>;
}

export interface DeploySafetyProps {
  readonly targets: DeployTarget[];
  /**
   * How traffic moves to a new version.
   * @default codedeploy.LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES
   */
  readonly deploymentConfig?: codedeploy.ILambdaDeploymentConfig;
}

/**
 * Makes every release a canary: one CodeDeploy `LambdaDeploymentGroup` per function
 * shifts its `live` alias from the current version to the new one (default 10 % for
 * five minutes, then all), and rolls the alias back automatically when a rollback alarm
 * fires, the deployment fails or it is stopped. An optional BeforeAllowTraffic hook
 * first invokes the new version with a smoke event.
 *
 * @example
 * new DeploySafety(stack, 'DeploySafety', {
 *   targets: [{ name: 'Compactor', alias, timeout, rollbackAlarms, smokeEvent: { Records: [] } }],
 * });
 */
export class DeploySafety extends Construct {
  public readonly application: codedeploy.LambdaApplication;
  public readonly deploymentGroups: Record<string, codedeploy.LambdaDeploymentGroup> = {};
  public readonly smokeHooks: Record<string, lambda.Function> = {};

  constructor(scope: Construct, id: string, props: DeploySafetyProps) {
    super(scope, id);
    this.application = new codedeploy.LambdaApplication(this, 'Application');
    const deploymentConfig =
      props.deploymentConfig ?? codedeploy.LambdaDeploymentConfig.CANARY_10PERCENT_5MINUTES;

    for (const target of props.targets) {
      if (target.rollbackAlarms.length === 0) {
        throw new InfraConfigError(
          this,
          `${target.name}: a canary without rollback alarms never rolls back`,
        );
      }
      const group = new codedeploy.LambdaDeploymentGroup(this, `${target.name}DeploymentGroup`, {
        application: this.application,
        alias: target.alias,
        deploymentConfig,
        alarms: target.rollbackAlarms,
        autoRollback: { failedDeployment: true, stoppedDeployment: true, deploymentInAlarm: true },
      });
      acknowledgeFinding(
        group,
        'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
        'The CodeDeploy service role for Lambda deployments; the AWS-managed "Limited" ' +
          'policy is the documented minimum (alias updates, alarm reads, hook invocation).',
      );
      if (target.smokeEvent) {
        const hook = this.smokeHook(target);
        group.addPreHook(hook);
        acknowledgeFinding(
          group,
          `AwsSolutions-IAM5[Resource::${nagString(this, hook.functionArn)}:*]`,
          'CodeDeploy may invoke the smoke hook (function and its versions), as granted by ' +
            'LambdaDeploymentGroup.addPreHook; nothing else.',
        );
        this.smokeHooks[target.name] = hook;
      }
      this.deploymentGroups[target.name] = group;
    }
  }

  private smokeHook(target: DeployTarget): lambda.Function {
    const { role, logGroup } = new ExecutionRole(this, `${target.name}SmokeHookExecution`);
    const version = target.alias.version;
    const hook = new lambda.Function(this, `${target.name}SmokeHook`, {
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: lambda.Code.fromInline(SMOKE_HOOK_CODE),
      role,
      logGroup,
      // One invocation of the target, cold start included, plus the status report.
      timeout: Duration.seconds(Math.min(900, target.timeout.toSeconds() + 60)),
      environment: {
        TARGET_VERSION_ARN: version.functionArn,
        SMOKE_EVENT: JSON.stringify(target.smokeEvent),
      },
    });
    version.grantInvoke(hook);
    acknowledgeFinding(
      hook,
      'AwsSolutions-L1',
      'nodejs22.x on purpose: the service targets Node 22 (the compactor image and the ' +
        'stream processor run it), and the hook uses the AWS SDK v3 that runtime ships.',
    );
    return hook;
  }
}
