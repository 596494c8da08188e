/**
 * {@link StateAccess} over the store's kv namespaces. The legacy path writes through
 * (one kv write per change, like its one vector write per message); the batched path
 * buffers and writes each touched entry once in {@link KvState.flush}. Reads see the
 * caller's own writes in both modes, so the fold rules behave identically.
 */
import { KV, type PlaceState, type StateAccess, type WordLabels } from './entity-state.js';
import type { ApplyStore, KvNamespace } from './store-port.js';

type Namespace = (typeof KV)[keyof typeof KV];

export class KvState implements StateAccess {
  readonly #namespaces: Record<Namespace, KvNamespace>;
  readonly #writeThrough: boolean;
  readonly #cache = new Map<Namespace, Map<string, unknown>>();
  readonly #dirty = new Map<Namespace, Set<string>>();

  constructor(store: ApplyStore, options: { writeThrough: boolean }) {
    this.#writeThrough = options.writeThrough;
    this.#namespaces = {
      seq: store.kv(KV.seq),
      place: store.kv(KV.place),
      labels: store.kv(KV.labels),
      removed: store.kv(KV.removed),
      merged: store.kv(KV.merged),
    };
  }

  getSeq = (key: string): string | undefined => this.#get(KV.seq, key) as string | undefined;
  setSeq = (key: string, seq: string): void => this.#set(KV.seq, key, seq);
  getPlace = (receipt: string): PlaceState | undefined =>
    this.#get(KV.place, receipt) as PlaceState | undefined;
  setPlace = (receipt: string, state: PlaceState): void => this.#set(KV.place, receipt, state);
  getLabels = (wordId: string): WordLabels | undefined =>
    this.#get(KV.labels, wordId) as WordLabels | undefined;
  setLabels = (wordId: string, labels: WordLabels): void => this.#set(KV.labels, wordId, labels);
  getRemoved = (receipt: string): string | undefined =>
    this.#get(KV.removed, receipt) as string | undefined;
  setRemoved = (receipt: string, seq: string): void => this.#set(KV.removed, receipt, seq);
  getMerged = (receipt: string): string | undefined =>
    this.#get(KV.merged, receipt) as string | undefined;
  setMerged = (receipt: string, seq: string): void => this.#set(KV.merged, receipt, seq);

  /** Writes every buffered entry (no-op when writing through). Returns how many. */
  flush(): number {
    let n = 0;
    for (const [ns, keys] of this.#dirty) {
      const cache = this.#cache.get(ns)!;
      for (const key of [...keys].sort()) {
        this.#namespaces[ns].set(key, cache.get(key));
        n++;
      }
    }
    this.#dirty.clear();
    return n;
  }

  #get(ns: Namespace, key: string): unknown {
    let cache = this.#cache.get(ns);
    if (!cache) this.#cache.set(ns, (cache = new Map()));
    if (cache.has(key)) return cache.get(key);
    const value = this.#namespaces[ns].get(key);
    cache.set(key, value);
    return value;
  }

  #set(ns: Namespace, key: string, value: unknown): void {
    let cache = this.#cache.get(ns);
    if (!cache) this.#cache.set(ns, (cache = new Map()));
    cache.set(key, value);
    if (this.#writeThrough) {
      this.#namespaces[ns].set(key, value);
      return;
    }
    let dirty = this.#dirty.get(ns);
    if (!dirty) this.#dirty.set(ns, (dirty = new Set()));
    dirty.add(key);
  }
}
