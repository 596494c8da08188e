/** The vector collections the service keeps, one SQS queue and one store each. */
export const COLLECTIONS = ['lines', 'words'] as const;

/** A vector collection name. */
export type CollectionName = (typeof COLLECTIONS)[number];

/** True when `value` names one of our collections. */
export function isCollectionName(value: unknown): value is CollectionName {
  return typeof value === 'string' && (COLLECTIONS as readonly string[]).includes(value);
}
