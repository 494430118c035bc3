import { onnx } from 'onnx-proto';
import type { EmbeddingModel, ModelEntry } from '@lookalike/models';
import { EmbedderModelError } from './errors';

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

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const BATCH_DIM = 'batch_size';

/** Ops that only reshape, copy or (de)quantize their first input on the way to the classifier. */
const PASS_THROUGH = new Set([
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Dropout',
  'QuantizeLinear',
  'DequantizeLinear',
  'Cast',
]);
/** Ops that can be the final classifier layer (float, quantized and contrib forms). */
const CLASSIFIER_OPS = new Set([
  'Gemm',
  'MatMul',
  'QLinearMatMul',
  'MatMulInteger',
  'QGemm',
  'FusedMatMul',
  'MatMulIntegerToFloat',
  'DynamicQuantizeMatMul',
]);
const FLOAT_POOL_OPS = new Set(['GlobalAveragePool', 'ReduceMean']);

type Int64 = NonNullable<onnx.IAttributeProto['i']>;
function int(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value.toString());
}

function attribute(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

interface GraphIndex {
  graph: onnx.IGraphProto;
  producer: Map<string, onnx.INodeProto>;
  consumers: Map<string, onnx.INodeProto[]>;
  initializers: Map<string, onnx.ITensorProto>;
  isConstant(name: string): boolean;
}

function indexGraph(graph: onnx.IGraphProto): GraphIndex {
  const producer = new Map<string, onnx.INodeProto>();
  const consumers = new Map<string, onnx.INodeProto[]>();
  for (const node of graph.node ?? []) {
    for (const out of node.output ?? []) if (out) producer.set(out, node);
    for (const input of node.input ?? []) {
      if (!input) continue;
      const list = consumers.get(input) ?? [];
      list.push(node);
      consumers.set(input, list);
    }
  }
  const initializers = new Map<string, onnx.ITensorProto>();
  for (const init of graph.initializer ?? []) if (init.name) initializers.set(init.name, init);
  const constant = new Map<string, boolean>();
  // A tensor is constant when it is an initializer or computed only from constants (e.g. a
  // DequantizeLinear of quantized weights); the data path is what remains.
  const isConstant = (name: string, depth = 0): boolean => {
    const known = constant.get(name);
    if (known !== undefined) return known;
    let result: boolean;
    if (initializers.has(name)) result = true;
    else {
      const node = producer.get(name);
      if (!node)
        result = false; // a graph input
      else if (node.opType === 'Constant') result = true;
      else if (depth > 32) result = false;
      else result = (node.input ?? []).filter((i) => i).every((i) => isConstant(i, depth + 1));
    }
    constant.set(name, result);
    return result;
  };
  return { graph, producer, consumers, initializers, isConstant: (name) => isConstant(name) };
}

function firstDataInput(index: GraphIndex, node: onnx.INodeProto): string | undefined {
  return (node.input ?? []).find((i) => i && !index.isConstant(i));
}

/** The float tensor that a quantized tensor `q` was made from, or a new DequantizeLinear of it. */
function floatSourceOf(
  index: GraphIndex,
  q: string,
  scale: string,
  zeroPoint: string,
  added: onnx.INodeProto[],
): string {
  const quantizer = index.producer.get(q);
  if (quantizer?.opType === 'QuantizeLinear' && quantizer.input?.[0]) return quantizer.input[0];
  const dequantizer = (index.consumers.get(q) ?? []).find(
    (n) => n.opType === 'DequantizeLinear' && n.input?.[1] === scale && (n.input?.[2] ?? '') === zeroPoint,
  );
  if (dequantizer?.output?.[0]) return dequantizer.output[0];
  const name = `${q}__lookalike_dequantized`;
  added.push(
    onnx.NodeProto.create({
      name: `${name}_node`,
      opType: 'DequantizeLinear',
      input: [q, scale, zeroPoint],
      output: [name],
    }),
  );
  return name;
}

interface FeatureChoice {
  tensor: string;
  /** true: `tensor` is already pooled ([N, C] or [N, C, 1, 1]); false: a feature map to pool. */
  pooled: boolean;
  how: string;
}

/**
 * Finds the pooled feature that feeds the classifier: walk back from the logits to the last
 * Gemm/MatMul, then from its data input through reshapes and (de)quantization to a global average
 * pool. Falls back to the last GlobalAveragePool/ReduceMean of the graph.
 */
export function findPooledFeature(
  graph: onnx.IGraphProto,
  classifierOutput: string,
  added: onnx.INodeProto[] = [],
): FeatureChoice {
  const index = indexGraph(graph);
  const fromPool = (pool: onnx.INodeProto, how: string): FeatureChoice | null => {
    if (FLOAT_POOL_OPS.has(pool.opType ?? '')) {
      if (pool.opType === 'ReduceMean') {
        const axes = (attribute(pool, 'axes')?.ints ?? []).map(int).sort();
        if (axes.length && axes.join(',') !== '2,3' && axes.join(',') !== '-2,-1') return null;
      }
      const out = pool.output?.[0];
      return out
        ? { tensor: out, pooled: true, how: `${how}: ${pool.opType} ${pool.name ?? ''} → ${out}` }
        : null;
    }
    if (pool.opType === 'QLinearGlobalAveragePool') {
      if (int(attribute(pool, 'channels_last')?.i) !== 0) return null;
      const [x, scale, zeroPoint] = pool.input ?? [];
      if (!x || !scale) return null;
      const source = floatSourceOf(index, x, scale, zeroPoint ?? '', added);
      return {
        tensor: source,
        pooled: false,
        how: `${how}: float input ${source} of ${pool.name ?? pool.opType}`,
      };
    }
    return null;
  };

  // 1. Logits back to the classifier node.
  let classifier: onnx.INodeProto | undefined;
  let current: string | undefined = classifierOutput;
  for (let step = 0; step < 64 && current; step++) {
    const node = index.producer.get(current);
    if (!node) break;
    if (CLASSIFIER_OPS.has(node.opType ?? '')) {
      classifier = node;
      break;
    }
    current = firstDataInput(index, node);
  }
  // 2. Classifier input back through pass-through ops to the pool.
  if (classifier) {
    let tensor = firstDataInput(index, classifier);
    for (let step = 0; step < 64 && tensor; step++) {
      const node = index.producer.get(tensor);
      if (!node) break;
      const choice = fromPool(node, `input of ${classifier.opType} ${classifier.name ?? ''}`.trim());
      if (choice) return choice;
      if (!PASS_THROUGH.has(node.opType ?? '')) break;
      tensor = node.input?.[0];
    }
  }
  // 3. The last pooling node in graph order.
  const nodes = graph.node ?? [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    const choice = node && fromPool(node, 'last global pool');
    if (choice) return choice;
  }
  throw new EmbedderModelError(
    `No pooled feature found: ${classifierOutput} is not fed by a Gemm/MatMul on a global average pool, ` +
      `and the graph has no GlobalAveragePool/ReduceMean. Name the tensor in the model registry entry.`,
  );
}

function tensorType(dims: Array<number | string>): onnx.ITypeProto {
  return {
    tensorType: {
      elemType: FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  };
}

/**
 * Rewrites the shape initializers of Reshape nodes whose leading dim is a hard-coded 1 to 0 ("copy
 * from input", the default at opset < 14 with allowzero 0), and the batch dim of every graph
 * input/output/value_info to a symbolic one. Returns how many initializers changed.
 */
function patchBatch(graph: onnx.IGraphProto, index: GraphIndex): number {
  let patched = 0;
  const done = new Set<string>();
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Reshape') continue;
    const shapeName = node.input?.[1];
    if (!shapeName || done.has(shapeName)) continue;
    const init = index.initializers.get(shapeName);
    if (!init || init.dataType !== INT64) continue;
    if (int(attribute(node, 'allowzero')?.i) !== 0) continue;
    if (init.int64Data && init.int64Data.length > 0) {
      if (int(init.int64Data[0]) === 1) {
        init.int64Data = [0, ...init.int64Data.slice(1)];
        patched++;
      }
    } else if (init.rawData && init.rawData.byteLength >= 8) {
      // Copy: the decoded rawData is a view into the caller's file buffer.
      const raw = new Uint8Array(init.rawData);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      if (view.getBigInt64(0, true) === 1n) {
        view.setBigInt64(0, 0n, true);
        init.rawData = raw;
        patched++;
      }
    }
    done.add(shapeName);
  }
  const symbolicBatch = (info: onnx.IValueInfoProto): void => {
    const first = info.type?.tensorType?.shape?.dim?.[0];
    if (first && int(first.dimValue) === 1) {
      first.dimValue = null;
      first.dimParam = BATCH_DIM;
    }
  };
  for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
    if (!index.initializers.has(info.name ?? '')) symbolicBatch(info);
  }
  return patched;
}

/** The input's batch dimension: its symbolic name, its fixed size, or BATCH_DIM when unstated. */
function batchDimOf(input: onnx.IValueInfoProto): number | string {
  const dim = input.type?.tensorType?.shape?.dim?.[0];
  return dim?.dimParam ? dim.dimParam : int(dim?.dimValue) || BATCH_DIM;
}

function uniqueName(index: GraphIndex, wanted: string): string {
  let name = wanted;
  for (let i = 1; index.producer.has(name) || index.initializers.has(name); i++) name = `${wanted}_${i}`;
  return name;
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
