/**
 * The keys every parameter object accepts. Invariant: a key not listed here for its
 * method is refused with {@link UnknownParameterError} before anything is read or
 * written, so no option (a typo, or a Chroma option chroma-core lacks) is ever
 * silently ignored.
 */
import { InvalidArgumentError, UnknownParameterError } from './errors.js';

/** Accepted keys per method (and per option object of the store). */
export const ACCEPTED_KEYS = {
  add: ['ids', 'embeddings', 'metadatas', 'documents'],
  upsert: ['ids', 'embeddings', 'metadatas', 'documents'],
  update: ['ids', 'embeddings', 'metadatas', 'documents'],
  get: ['ids', 'where', 'whereDocument', 'limit', 'offset', 'include'],
  query: ['queryEmbeddings', 'ids', 'nResults', 'where', 'whereDocument', 'include'],
  delete: ['ids', 'where', 'whereDocument', 'limit'],
  peek: ['limit'],
  'ChromaStore.open options': [
    'onIndexRebuilt',
    'integrityCheck',
    'resultCacheBytes',
    'trackPageChanges',
  ],
  'getOrCreateCollection options': ['dimension', 'space', 'metadata'],
} as const satisfies Record<string, readonly string[]>;

/** A method (or option object) whose keys are checked. */
export type ParameterOwner = keyof typeof ACCEPTED_KEYS;

/** Chroma options chroma-core does not implement, with the reason given in the error. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  queryTexts: 'chroma-core has no embedding function: pass queryEmbeddings',
  queryURIs: 'chroma-core has no embedding function or data loader',
  uris: 'chroma-core stores no URIs',
  n_results: 'the JS name is nResults',
  where_document: 'the JS name is whereDocument',
  query_embeddings: 'the JS name is queryEmbeddings',
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that `params` is a plain object (or absent when `optional`) whose keys are
 * all accepted by `owner`. A key whose value is `undefined` still counts: `{ limt:
 * undefined }` is a typo too.
 */
export function checkParams(
  owner: ParameterOwner,
  params: unknown,
  optional = false,
): Record<string, unknown> {
  if (params === undefined && optional) return {};
  if (!isPlainObject(params)) {
    throw new InvalidArgumentError(
      `${owner}: parameters must be an object with keys ${ACCEPTED_KEYS[owner].join(', ')}`,
    );
  }
  const accepted: readonly string[] = ACCEPTED_KEYS[owner];
  for (const key of Object.keys(params)) {
    if (!accepted.includes(key))
      throw new UnknownParameterError(owner, key, accepted, UNSUPPORTED[key]);
  }
  return params;
}
