import * as appconfig from 'aws-cdk-lib/aws-appconfig';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ENV, type CompactionPath } from '@compaction/contracts';

/** The compactor's feature flags (design.md, "Feature flags"). */
export interface CompactorFlags {
  /** `COMPACTION_PATH`: `legacy`, `batched` or `shadow`. */
  readonly path: CompactionPath;
  /** `COMPACTION_BATCHED_PERCENT` (0–100): with `batched`, the share of batches that take it. */
  readonly batchedPercent: number;
}

export interface RuntimeFlagsProps {
  /** Stage name, used in the AppConfig application and environment names. */
  readonly stage: string;
  /** The flag document deployed with the stack (the same values as the environment). */
  readonly initial: CompactorFlags;
  /**
   * How the stack's own flag document is rolled out. Operators who later switch a flag
   * choose their own strategy in AppConfig.
   * @default - AppConfig's predefined AllAtOnce strategy
   */
  readonly deploymentStrategy?: appconfig.IDeploymentStrategy;
}

/**
 * Optional runtime switches for the compactor: an AWS AppConfig application, environment
 * and freeform JSON profile holding `{ "COMPACTION_PATH": …, "COMPACTION_BATCHED_PERCENT": … }`
 * (the document `services/compactor/src/flags.ts` reads through Powertools parameters,
 * cached for a minute). Flags then change with an AppConfig deployment instead of a
 * stack deployment; the environment variables stay the fallback.
 *
 * @example
 * const flags = new RuntimeFlags(stack, 'RuntimeFlags', {
 *   stage: 'prod',
 *   initial: { path: 'batched', batchedPercent: 100 },
 * });
 * flags.grantRead(compactorFunction);
 */
export class RuntimeFlags extends Construct {
  public readonly application: appconfig.Application;
  public readonly environment: appconfig.Environment;
  public readonly profile: appconfig.HostedConfiguration;

  constructor(scope: Construct, id: string, props: RuntimeFlagsProps) {
    super(scope, id);
    this.application = new appconfig.Application(this, 'Application', {
      applicationName: `receipt-compaction-${props.stage}`,
      description: 'Runtime feature flags of the receipt compaction service.',
    });
    this.environment = new appconfig.Environment(this, 'Environment', {
      application: this.application,
      environmentName: props.stage,
    });
    this.profile = new appconfig.HostedConfiguration(this, 'FlagsProfile', {
      application: this.application,
      name: 'compactor-flags',
      type: appconfig.ConfigurationType.FREEFORM,
      content: appconfig.ConfigurationContent.fromInlineJson(
        JSON.stringify({
          [ENV.compactionPath]: props.initial.path,
          [ENV.batchedPercent]: props.initial.batchedPercent,
        }),
      ),
      deploymentStrategy:
        props.deploymentStrategy ??
        appconfig.DeploymentStrategy.fromDeploymentStrategyId(
          this,
          'AllAtOnce',
          appconfig.DeploymentStrategyId.ALL_AT_ONCE,
        ),
      deployTo: [this.environment],
    });
  }

  /** The environment variables that point the compactor at this profile. */
  get environmentVariables(): Record<string, string> {
    return {
      [ENV.appConfigApplication]: this.application.applicationId,
      [ENV.appConfigEnvironment]: this.environment.environmentId,
      [ENV.appConfigFlagsProfile]: this.profile.configurationProfileId,
    };
  }

  /** Lets `grantee` start configuration sessions and read the latest flags. */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return this.environment.grantReadConfig(grantee);
  }
}
