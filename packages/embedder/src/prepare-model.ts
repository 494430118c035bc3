// One registry model, prepared: its original graph plus a float embedding output.
import { onnx } from 'onnx-proto';
import type { ModelEntry } from '@lookalike/models';
import { EmbedderModelError } from './errors';
import { indexGraph, tensorType, uniqueName } from './onnx-graph';
import { findPooledFeature, type FeatureChoice } from './pooled-feature';
import { batchDimOf, patchBatch } from './batch-dimension';

/** The model as the inference sessions load it: original graph plus an embedding output. */
export interface PreparedModel {
  /** Re-encoded ONNX bytes; pass straight to `InferenceSession.create`. */
  bytes: Uint8Array;
  inputName: string;
  /** The original logits output, left unchanged. */
  classifierOutput: string;
  /** Graph output holding the embedding, float32 [batch, dimension]. */
  embeddingOutput: string;
  /** Whether the graph accepts batch > 1 (after patching where the registry allows it). */
  batchCapable: boolean;
  /** What the embedding is, for logs and tests, e.g. `Flatten(GlobalAveragePool(627))`. */
  feature: string;
  /** The tensor the feature is read from and whether it had to be pooled. */
  featureTensor: string;
  featurePooled: 'added' | 'existing';
}

/**
 * Decodes the ONNX file, adds the embedding graph output the registry entry describes (or finds one
 * when `entry.embedding.tensor` is null) and makes a fixed-batch graph batch-capable where the entry
 * allows it. The original classifier output and every existing node are left as they are, so its
 * logits are unchanged.
 */
export function prepareModel(original: Uint8Array, entry: ModelEntry): PreparedModel {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(original);
  } catch (err) {
    throw new EmbedderModelError(`${entry.name}: not a valid ONNX file`, { cause: err });
  }
  const graph = model.graph;
  if (!graph || !graph.node?.length) throw new EmbedderModelError(`${entry.name}: ONNX file has no graph`);
  const index = indexGraph(graph);

  const inputs = (graph.input ?? []).filter((i) => i.name && !index.initializers.has(i.name));
  const input = entry.input.name
    ? inputs.find((i) => i.name === entry.input.name)
    : inputs.length === 1
      ? inputs[0]
      : undefined;
  if (!input?.name) {
    throw new EmbedderModelError(
      `${entry.name}: input ${entry.input.name ?? '(the only one)'} not found; graph inputs: ${inputs.map((i) => i.name).join(', ')}`,
    );
  }
  const outputs = graph.output ?? [];
  const classifierOutput = entry.classifierOutput ?? outputs[0]?.name ?? '';
  if (!outputs.some((o) => o.name === classifierOutput)) {
    throw new EmbedderModelError(
      `${entry.name}: classifier output ${classifierOutput} is not a graph output`,
    );
  }

  const added: onnx.INodeProto[] = [];
  let choice: FeatureChoice;
  const named = entry.embedding.tensor;
  if (named === null) {
    choice = findPooledFeature(graph, classifierOutput, added);
  } else {
    const producer = index.producer.get(named);
    if (!producer && !index.initializers.has(named)) {
      throw new EmbedderModelError(`${entry.name}: embedding tensor ${named} is not produced by any node`);
    }
    const pooled =
      entry.embedding.pooling === 'none' ||
      (entry.embedding.pooling === 'auto' &&
        ['GlobalAveragePool', 'ReduceMean', 'Flatten', 'Reshape', 'Squeeze'].includes(
          producer?.opType ?? '',
        ));
    choice = { tensor: named, pooled, how: `registry: ${named} (${entry.embedding.pooling})` };
  }

  const embeddingOutput = uniqueName(index, 'embedding');
  let flattenInput = choice.tensor;
  if (!choice.pooled) {
    flattenInput = uniqueName(index, `${embeddingOutput}__pooled`);
    added.push(
      onnx.NodeProto.create({
        name: `${flattenInput}_node`,
        opType: 'GlobalAveragePool',
        input: [choice.tensor],
        output: [flattenInput],
      }),
    );
  }
  added.push(
    onnx.NodeProto.create({
      name: `${embeddingOutput}_flatten_node`,
      opType: 'Flatten',
      input: [flattenInput],
      output: [embeddingOutput],
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    }),
  );
  graph.node = [...(graph.node ?? []), ...added];

  let batchCapable = entry.input.batch === 'dynamic';
  if (entry.input.batch === 'fixed1-reshape-patchable') {
    patchBatch(graph, index);
    batchCapable = true;
  }
  const batch = batchDimOf(input);
  if (typeof batch === 'number' && batch === 1) batchCapable = false;
  // The feature dimension is left symbolic: the embedder checks it against the registry on a probe
  // run and reports a precise error instead of a runtime shape warning.
  graph.output = [
    ...outputs,
    onnx.ValueInfoProto.create({ name: embeddingOutput, type: tensorType([batch, 'embedding_dim']) }),
  ];

  const pooledText = choice.pooled ? choice.tensor : `GlobalAveragePool(${choice.tensor})`;
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    inputName: input.name,
    classifierOutput,
    embeddingOutput,
    batchCapable,
    feature: `Flatten(${pooledText}) [${choice.how}]`,
    featureTensor: choice.tensor,
    featurePooled: choice.pooled ? 'existing' : 'added',
  };
}
