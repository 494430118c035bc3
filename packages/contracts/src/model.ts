/**
 * Which model made a vector: registry name, a sha256 over the model file(s) (and ensemble weights),
 * and the embedding dimension. Two vectors are comparable only when all three agree.
 */
export interface ModelIdentity {
  id: string;
  sha256: string;
  dimension: number;
}

/** The one comparison of model identities (embedder, index store, indexer and API all use it). */
export function sameModel(a: ModelIdentity, b: ModelIdentity): boolean {
  return a.id === b.id && a.sha256 === b.sha256 && a.dimension === b.dimension;
}
