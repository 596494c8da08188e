/**
 * Where snapshot objects live in the bucket (design.md, "Lock, pointer and snapshots"):
 *
 * ```
 * <collection>/blobs/<sha256>                        file contents, content-addressed
 * <collection>/snapshots/<version>/manifest.json     one immutable manifest per version
 * <collection>/latest.json                           { version, manifestKey }, after the swap
 * ```
 * Blobs are shared by every version that contains the same bytes, which is why an
 * unchanged file is never uploaded twice and why pruning must check every retained
 * manifest before deleting one.
 */

/** Key of the blob holding the bytes whose sha256 is `sha256`. */
export const blobKey = (collection: string, sha256: string): string =>
  `${collection}/blobs/${sha256}`;

/** Prefix under which every manifest of `collection` lives. */
export const snapshotsPrefix = (collection: string): string => `${collection}/snapshots/`;

/** Prefix under which every blob of `collection` lives. */
export const blobsPrefix = (collection: string): string => `${collection}/blobs/`;

/** Key of the manifest of `version`. */
export const manifestKey = (collection: string, version: string): string =>
  `${snapshotsPrefix(collection)}${version}/manifest.json`;

/** Key of the read-only mirror of the pointer. */
export const latestKey = (collection: string): string => `${collection}/latest.json`;

/** The collection and version a manifest key names, or undefined when it is not one. */
export function parseManifestKey(key: string): { collection: string; version: string } | undefined {
  const m = /^([^/]+)\/snapshots\/([^/]+)\/manifest\.json$/.exec(key);
  return m ? { collection: m[1]!, version: m[2]! } : undefined;
}
