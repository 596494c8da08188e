import type { IConstruct } from 'constructs';

/**
 * A construct got props that would deploy something broken (e.g. a queue visibility
 * timeout below 6 × the consuming function's timeout). Thrown at synth time.
 *
 * @example
 * throw new InfraConfigError(this, 'visibility timeout 60s is below 6 × 300s');
 */
export class InfraConfigError extends Error {
  override readonly name = 'InfraConfigError';

  constructor(scope: IConstruct, message: string) {
    super(`${scope.node.path}: ${message}`);
  }
}
