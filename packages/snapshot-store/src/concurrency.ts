/**
 * A bounded pool for many S3 requests (blob uploads and downloads, manifest reads,
 * HEADs, deletes): enough in flight to hide latency, few enough not to trip throttling.
 *
 * Hand-written rather than p-map because of one property callers rely on: after the
 * first failure it waits for the calls in flight to settle before rethrowing, so a
 * caller that then deletes a partial download never races a write still in progress.
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
  /** Aborted on the first failure, so the calls in flight can stop early. */
  abort?: AbortController,
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
        // Keep the first error: later ones are usually "aborted" consequences of it.
        failure ??= { error };
        abort?.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
  return results;
}
