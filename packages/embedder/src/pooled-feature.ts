// Finding the tensor that holds the embedding when the registry does not name it: the pooled
// feature the classifier reads.
import { onnx } from 'onnx-proto';
import { EmbedderModelError } from './errors';
import { attribute, firstDataInput, indexGraph, int, type GraphIndex } from './onnx-graph';

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

export interface FeatureChoice {
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
