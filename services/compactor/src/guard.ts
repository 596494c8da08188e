/**
 * The vector-loss guard: a store may only lose the vectors this batch's removals
 * deleted (and any id a delta replaced stays one vector). Anything else — an index
 * rebuilt short, a bug in an apply path — would otherwise be published as the new
 * truth, so it is refused while the previous version stays live.
 */
import { VectorLossGuardError } from './errors.js';
import type { ApplyStats } from './apply/types.js';

/** Default share of the vectors that may disappear unexplained before the guard trips. */
export const DEFAULT_MAX_VECTOR_LOSS_SHARE = 0.05;

/**
 * The guard's verdict: undefined when the count is explained, else the error to throw.
 *
 * @example
 * const tripped = checkVectorLoss({ collection, before, after, stats, maxLossShare: 0.05 });
 * if (tripped) throw tripped;
 */
export function checkVectorLoss(args: {
  collection: string;
  before: number;
  after: number;
  stats: Pick<ApplyStats, 'newVectors' | 'deletedVectors'>;
  maxLossShare: number;
}): VectorLossGuardError | undefined {
  const { collection, before, after, stats, maxLossShare } = args;
  const expected = before + stats.newVectors - stats.deletedVectors;
  if (expected - after > maxLossShare * before) {
    return new VectorLossGuardError(collection, before, expected, after, maxLossShare);
  }
  return undefined;
}
