import { Duration, Stack } from 'aws-cdk-lib';
import * as appconfig from 'aws-cdk-lib/aws-appconfig';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { COMPACTION_PATHS, ENV, type CompactionPath } from '@compaction/contracts';
import { InfraConfigError } from './errors.js';

/** The compactor's feature flags (design.md, "Feature flags"). */
export interface CompactorFlags {
  /** `COMPACTION_PATH`: `legacy`, `batched` or `shadow`. */
  readonly path: CompactionPath;
  /** `COMPACTION_BATCHED_PERCENT` (0–100): with `batched`, the share of batches that take it. */
  readonly batchedPercent: number;
}

/**
 * The JSON schema (draft-04) of the flags document, the AppConfig validator of the profile:
 * an object with at most the two flags, `COMPACTION_PATH` one of the paths and
 * `COMPACTION_BATCHED_PERCENT` an integer 0–100. A document that fails it never reaches a
 * deployment; the compactor checks the same rules at run time (`services/compactor/src/flags.ts`).
 */
export const FLAGS_DOCUMENT_SCHEMA = {
  $schema: 'http://json-schema.org/draft-04/schema#',
  title: 'receipt-compaction compactor flags',
  type: 'object',
  properties: {
    [ENV.compactionPath]: { type: 'string', enum: [...COMPACTION_PATHS] },
    [ENV.batchedPercent]: { type: 'integer', minimum: 0, maximum: 100 },
  },
  additionalProperties: false,
} as const;

/**
 * How a flag change reaches the compactor: linearly, 20 % of the configuration sessions
 * every 2 minutes over 10 minutes, then 10 minutes of bake time, all the while watched by
 * the rollback alarms (AppConfig rolls the change back when one goes into ALARM).
 */
export const FLAG_ROLLOUT_DEFAULTS = {
  growthFactor: 20,
  deploymentDuration: Duration.minutes(10),
  finalBakeTime: Duration.minutes(10),
} as const;

/** AppConfig watches at most this many alarms per environment (its service quota). */
export const MAX_APPCONFIG_MONITORS = 5;

export interface RuntimeFlagsProps {
  /** Stage name, used in the AppConfig application, environment and strategy names. */
  readonly stage: string;
  /** The flag document deployed with the stack (the same values as the environment). */
  readonly initial: CompactorFlags;
  /**
   * How flag changes are rolled out: the stack's own document and any change an operator
   * starts with this strategy (`deploymentStrategy.deploymentStrategyId`, a stack output).
   * @default - linear, FLAG_ROLLOUT_DEFAULTS (20 % every 2 minutes, 10 minutes of bake time)
   */
  readonly rollout?: appconfig.RolloutStrategy;
}

/**
 * Runtime switches for the compactor: an AWS AppConfig application, environment and
 * freeform JSON profile holding `{ "COMPACTION_PATH": …, "COMPACTION_BATCHED_PERCENT": … }`
 * (the document `services/compactor/src/flags.ts` reads through Powertools parameters,
 * cached for a minute). Flags then change with an AppConfig deployment instead of a
 * stack deployment; the environment variables stay the fallback.
 *
 * Flags roll out like code: the profile refuses a document that fails
 * `FLAGS_DOCUMENT_SCHEMA`, the change goes out gradually (`rollout`), and the environment
 * is monitored by the same alarms that roll a bad release back (`rollBackOn`), so AppConfig
 * rolls a bad flag flip back by itself.
 *
 * @example
 * const flags = new RuntimeFlags(stack, 'RuntimeFlags', {
 *   stage: 'prod',
 *   initial: { path: 'batched', batchedPercent: 100 },
 * });
 * flags.grantRead(compactorFunction);
 * flags.rollBackOn(observability.rollbackAlarms.compactor);
 */
export class RuntimeFlags extends Construct {
  public readonly application: appconfig.Application;
  public readonly environment: appconfig.Environment;
  public readonly profile: appconfig.HostedConfiguration;
  /** The gradual strategy every flag change should use. */
  public readonly deploymentStrategy: appconfig.DeploymentStrategy;
  /** The role AppConfig assumes to read the rollback alarms (after `rollBackOn`). */
  public monitorRole?: iam.Role;

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
    this.deploymentStrategy = new appconfig.DeploymentStrategy(this, 'GradualRollout', {
      deploymentStrategyName: `receipt-compaction-${props.stage}-flags`,
      description:
        'Compactor flag changes: gradual, then baked, rolled back by the compactor rollback alarms.',
      rolloutStrategy: props.rollout ?? appconfig.RolloutStrategy.linear(FLAG_ROLLOUT_DEFAULTS),
    });
    this.profile = new appconfig.HostedConfiguration(this, 'FlagsProfile', {
      application: this.application,
      name: 'compactor-flags',
      type: appconfig.ConfigurationType.FREEFORM,
      validators: [appconfig.JsonSchemaValidator.fromInline(JSON.stringify(FLAGS_DOCUMENT_SCHEMA))],
      content: appconfig.ConfigurationContent.fromInlineJson(
        JSON.stringify({
          [ENV.compactionPath]: props.initial.path,
          [ENV.batchedPercent]: props.initial.batchedPercent,
        }),
      ),
      deploymentStrategy: this.deploymentStrategy,
      deployTo: [this.environment],
    });
    this.node.addValidation({
      validate: () =>
        this.monitorRole
          ? []
          : ['RuntimeFlags: no rollback alarms (call rollBackOn); a bad flag flip would stay'],
    });
  }

  /**
   * Makes AppConfig watch `alarms` during every deployment to this environment and roll
   * the deployment back when one of them goes into ALARM: pass the rollback alarms of the
   * compactor's CodeDeploy group, so a bad flag flip is undone like a bad release. Creates
   * the role AppConfig assumes to describe those alarms (and only those). Call once.
   */
  rollBackOn(alarms: readonly cloudwatch.IAlarm[]): void {
    if (this.monitorRole) throw new InfraConfigError(this, 'rollBackOn is called once');
    if (alarms.length === 0 || alarms.length > MAX_APPCONFIG_MONITORS) {
      throw new InfraConfigError(
        this,
        `AppConfig monitors 1–${MAX_APPCONFIG_MONITORS} alarms per environment (got ${alarms.length})`,
      );
    }
    const role = new iam.Role(this, 'MonitorRole', {
      assumedBy: new iam.ServicePrincipal('appconfig.amazonaws.com'),
      description: 'AppConfig reads the compactor rollback alarms during flag deployments.',
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:DescribeAlarms'],
        resources: alarms.map((alarm) => alarm.alarmArn),
      }),
    );
    // The L2 Environment renders its monitors when it is built, but the alarms watch the
    // compactor, which needs this environment's id first: set them on the resource.
    const cfn = this.environment.node.defaultChild as appconfig.CfnEnvironment;
    cfn.monitors = alarms.map((alarm) => ({
      alarmArn: alarm.alarmArn,
      alarmRoleArn: role.roleArn,
    }));
    this.monitorRole = role;
  }

  /**
   * The environment variables that point the compactor at this profile. The environment
   * is named, not referenced by id (AppConfig Data takes either): its monitors watch alarms
   * on the compactor, so the compactor must not depend on the environment resource.
   */
  get environmentVariables(): Record<string, string> {
    return {
      [ENV.appConfigApplication]: this.application.applicationId,
      [ENV.appConfigEnvironment]: this.environment.name!,
      [ENV.appConfigFlagsProfile]: this.profile.configurationProfileId,
    };
  }

  /**
   * The configuration `grantRead` covers: this profile in any environment of this
   * application (it has one). `Environment.grantReadConfig` would name the environment
   * id, and with it make the compactor depend on its own rollback alarms' watcher.
   */
  get readableConfigurationArn(): string {
    return Stack.of(this).formatArn({
      service: 'appconfig',
      resource: 'application',
      resourceName: `${this.application.applicationId}/environment/*/configuration/${this.profile.configurationProfileId}`,
    });
  }

  /** Lets `grantee` start configuration sessions on the flags profile and read the latest flags. */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['appconfig:GetLatestConfiguration', 'appconfig:StartConfigurationSession'],
      resourceArns: [this.readableConfigurationArn],
    });
  }
}
