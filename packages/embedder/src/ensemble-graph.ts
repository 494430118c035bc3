// Several prepared models joined into one graph with one concatenated, weighted embedding output.
import { onnx } from 'onnx-proto';
import { EmbedderModelError } from './errors';
import { FLOAT, int, tensorType } from './onnx-graph';
import { batchDimOf } from './batch-dimension';
import type { PreparedModel } from './prepare-model';

/** One member of an ensemble, already prepared (`prepareModel`). */
export interface EnsemblePart {
  name: string;
  prepared: PreparedModel;
  weight: number;
}

/**
 * Joins prepared models into one graph that runs them all on the same input and outputs
 * Concat(w₁·L2(e₁), w₂·L2(e₂), …): one ONNX Runtime session per worker, so batching, time-outs and
 * worker replacement stay exactly as for a single model. The first part keeps its tensor names (and
 * its classifier output); the others' names get a `m<k>/` prefix, and their input is wired to the
 * first part's input.
 */
export function joinPreparedModels(parts: readonly EnsemblePart[]): PreparedModel {
  const first = parts[0];
  if (!first) throw new EmbedderModelError('an ensemble needs at least one model');
  const inputName = first.prepared.inputName;
  const models = parts.map((part) => onnx.ModelProto.decode(part.prepared.bytes));
  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  const valueInfo: onnx.IValueInfoProto[] = [];
  const opsets = new Map<string, number>();
  const embeddings: string[] = [];
  let irVersion = 0;
  models.forEach((model, k) => {
    const part = parts[k] as EnsemblePart;
    const graph = model.graph;
    if (!graph) throw new EmbedderModelError(`${part.name}: ONNX file has no graph`);
    const prefix = k === 0 ? '' : `m${k}/`;
    const rename = (name: string | null | undefined): string =>
      !name ? '' : name === part.prepared.inputName ? inputName : `${prefix}${name}`;
    for (const node of graph.node ?? []) {
      if ((node.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0))
        throw new EmbedderModelError(`${part.name}: graphs with sub-graphs cannot join an ensemble`);
      nodes.push({
        ...node,
        name: node.name ? `${prefix}${node.name}` : node.name,
        input: (node.input ?? []).map(rename),
        output: (node.output ?? []).map(rename),
      });
    }
    for (const init of graph.initializer ?? []) initializers.push({ ...init, name: rename(init.name) });
    for (const info of graph.valueInfo ?? []) valueInfo.push({ ...info, name: rename(info.name) });
    for (const opset of model.opsetImport ?? []) {
      const domain = opset.domain ?? '';
      opsets.set(domain, Math.max(opsets.get(domain) ?? 0, int(opset.version)));
    }
    irVersion = Math.max(irVersion, int(model.irVersion));
    embeddings.push(rename(part.prepared.embeddingOutput));
  });

  const output = 'ensemble_embedding';
  const weighted = embeddings.map((embedding, k) => {
    const part = parts[k] as EnsemblePart;
    const normalised = `ensemble_l2_${k}`;
    const weight = `ensemble_weight_${k}`;
    nodes.push(
      onnx.NodeProto.create({
        name: `${normalised}_node`,
        opType: 'LpNormalization',
        input: [embedding],
        output: [normalised],
        attribute: [
          { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
          { name: 'p', type: onnx.AttributeProto.AttributeType.INT, i: 2 },
        ],
      }),
      onnx.NodeProto.create({
        name: `ensemble_weighted_${k}_node`,
        opType: 'Mul',
        input: [normalised, weight],
        output: [`ensemble_weighted_${k}`],
      }),
    );
    initializers.push(
      onnx.TensorProto.create({ name: weight, dataType: FLOAT, dims: [], floatData: [part.weight] }),
    );
    return `ensemble_weighted_${k}`;
  });
  nodes.push(
    onnx.NodeProto.create({
      name: `${output}_node`,
      opType: 'Concat',
      input: weighted,
      output: [output],
      attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    }),
  );

  const base = models[0] as onnx.ModelProto;
  const baseGraph = base.graph as onnx.IGraphProto;
  const input = (baseGraph.input ?? []).find((i) => i.name === inputName);
  const classifier = (baseGraph.output ?? []).find((o) => o.name === first.prepared.classifierOutput);
  if (!input || !classifier)
    throw new EmbedderModelError(`${first.name}: prepared graph lost its input or output`);
  const batch = batchDimOf(input);
  const joined = onnx.ModelProto.create({
    irVersion,
    producerName: 'lookalike ensemble',
    opsetImport: [...opsets].map(([domain, version]) => ({ domain, version })),
    graph: {
      name: parts.map((p) => p.name).join('+'),
      node: nodes,
      initializer: initializers,
      valueInfo,
      input: [input],
      output: [
        classifier,
        onnx.ValueInfoProto.create({ name: output, type: tensorType([batch, 'embedding_dim']) }),
      ],
    },
  });
  return {
    bytes: onnx.ModelProto.encode(joined).finish(),
    inputName,
    classifierOutput: first.prepared.classifierOutput,
    embeddingOutput: output,
    batchCapable: parts.every((p) => p.prepared.batchCapable),
    feature: `Concat(${parts.map((p) => `${p.weight}·L2(${p.name}: ${p.prepared.feature})`).join(', ')})`,
    featureTensor: parts.map((p) => p.prepared.featureTensor).join(', '),
    featurePooled: first.prepared.featurePooled,
  };
}
