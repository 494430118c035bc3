// The graph an embedding model runs. The steps live in their own modules (prepare-model,
// pooled-feature, batch-dimension, ensemble-graph); their public parts are re-exported here.
import type { EmbeddingModel } from '@lookalike/models';
import { EmbedderModelError } from './errors';
import { prepareModel, type PreparedModel } from './prepare-model';
import { joinPreparedModels } from './ensemble-graph';

export { prepareModel, type PreparedModel } from './prepare-model';
export { joinPreparedModels, type EnsemblePart } from './ensemble-graph';
export { findPooledFeature } from './pooled-feature';

/**
 * The graph an embedding model runs: a single model prepared as it is, an ensemble's members prepared
 * and joined. `files` are the members' verified ONNX bytes, in member order.
 */
export function prepareEmbeddingModel(model: EmbeddingModel, files: readonly Uint8Array[]): PreparedModel {
  if (files.length !== model.members.length)
    throw new EmbedderModelError(
      `${model.name} has ${model.members.length} model files, got ${files.length}`,
    );
  const parts = model.members.map(({ entry, weight }, i) => ({
    name: entry.name,
    weight,
    prepared: prepareModel(files[i] as Uint8Array, entry),
  }));
  const only = parts[0];
  return parts.length === 1 && only && only.weight === 1 ? only.prepared : joinPreparedModels(parts);
}
