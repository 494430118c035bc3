// Reading an ONNX graph: who produces and consumes each tensor, which tensors are constant, and
// the small helpers every graph edit here shares.
import { onnx } from 'onnx-proto';

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

type Int64 = NonNullable<onnx.IAttributeProto['i']>;
export function int(value: Int64 | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'number' ? value : Number(value.toString());
}

export function attribute(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

export interface GraphIndex {
  graph: onnx.IGraphProto;
  producer: Map<string, onnx.INodeProto>;
  consumers: Map<string, onnx.INodeProto[]>;
  initializers: Map<string, onnx.ITensorProto>;
  isConstant(name: string): boolean;
}

export function indexGraph(graph: onnx.IGraphProto): GraphIndex {
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

export function firstDataInput(index: GraphIndex, node: onnx.INodeProto): string | undefined {
  return (node.input ?? []).find((i) => i && !index.isConstant(i));
}

export function tensorType(dims: Array<number | string>): onnx.ITypeProto {
  return {
    tensorType: {
      elemType: FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  };
}

export function uniqueName(index: GraphIndex, wanted: string): string {
  let name = wanted;
  for (let i = 1; index.producer.has(name) || index.initializers.has(name); i++) name = `${wanted}_${i}`;
  return name;
}
