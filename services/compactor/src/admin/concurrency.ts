/**
 * A bounded pool for the CLI's many small S3 requests (manifest reads, HEADs,
 * deletes): enough in flight to hide latency, few enough not to trip throttling.
 */

/**
 * Runs `fn` over `items` with at most `limit` calls in flight; results in input order.
 * Stops starting new calls after the first failure, which it rethrows once the calls
 * in flight have settled.
 *
 * @example
 * const manifests = await mapLimit(listings, 8, (l) => repository.readManifest(l.manifestKey));
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}
