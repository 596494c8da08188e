import type { PlaceState, StateAccess, WordLabels } from '../../src/apply/entity-state.js';

/** StateAccess over plain maps: the fold rules without a store. */
export class MemoryState implements StateAccess {
  readonly seq = new Map<string, string>();
  readonly place = new Map<string, PlaceState>();
  readonly labels = new Map<string, WordLabels>();
  readonly removed = new Map<string, string>();
  readonly merged = new Map<string, string>();
  getSeq = (k: string) => this.seq.get(k);
  setSeq = (k: string, v: string) => void this.seq.set(k, v);
  getPlace = (k: string) => this.place.get(k);
  setPlace = (k: string, v: PlaceState) => void this.place.set(k, v);
  getLabels = (k: string) => this.labels.get(k);
  setLabels = (k: string, v: WordLabels) => void this.labels.set(k, v);
  getRemoved = (k: string) => this.removed.get(k);
  setRemoved = (k: string, v: string) => void this.removed.set(k, v);
  getMerged = (k: string) => this.merged.get(k);
  setMerged = (k: string, v: string) => void this.merged.set(k, v);

  /** Everything, as sorted plain data (for equality checks). */
  snapshot(): Record<string, Array<[string, unknown]>> {
    const sorted = (m: Map<string, unknown>) =>
      [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      seq: sorted(this.seq),
      place: sorted(this.place),
      labels: sorted(this.labels),
      removed: sorted(this.removed),
      merged: sorted(this.merged),
    };
  }
}
