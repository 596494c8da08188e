/**
 * Vector metadata derived from entity state. A vector's metadata is the producer's
 * (from its delta) with the state overlaid: the receipt's place fields (a null field
 * removes the key) and, for words with label state, the label summary.
 */
import { summarizeLabels } from '@compaction/contracts';
import type { MetadataScalar, PlaceState, StateAccess, WordLabels } from './entity-state.js';

/** A metadata patch: `null` removes a key (chroma-core `update` semantics). */
export type MetadataPatch = Record<string, MetadataScalar | null>;

/** The place fields the state knows for a receipt (empty when none). */
export function placePatch(place: PlaceState | undefined): MetadataPatch {
  const patch: MetadataPatch = {};
  if (!place) return patch;
  for (const [field, entry] of Object.entries(place)) {
    if (entry) patch[field] = entry.value;
  }
  return patch;
}

/** The label summary of a word with label state (empty when the word has none). */
export function labelPatch(labels: WordLabels | undefined): MetadataPatch {
  return labels ? { ...summarizeLabels(labels) } : {};
}

/** Everything the state says about one vector. */
export function overlayFor(state: StateAccess, id: string, receipt: string): MetadataPatch {
  return { ...placePatch(state.getPlace(receipt)), ...labelPatch(state.getLabels(id)) };
}

/**
 * The metadata argument that makes an upsert leave a vector with exactly
 * `base ⊕ patch`: null-valued keys dropped, and — when the vector already exists —
 * every key of its current metadata that the new one lacks set to null, so the result
 * does not depend on whether the store's upsert merges or replaces metadata.
 */
export function replacementMetadata(
  base: Readonly<Record<string, MetadataScalar>>,
  patch: MetadataPatch,
  existing: Readonly<Record<string, unknown>> | undefined,
): MetadataPatch {
  const out: MetadataPatch = {};
  for (const [k, v] of Object.entries({ ...base, ...patch })) if (v !== null) out[k] = v;
  if (existing) for (const k of Object.keys(existing)) if (!(k in out)) out[k] = null;
  return out;
}
