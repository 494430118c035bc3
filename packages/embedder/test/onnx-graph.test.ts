import { onnx } from 'onnx-proto';
import { attribute, firstDataInput, indexGraph, int, uniqueName } from '../src/onnx-graph';

describe('onnx graph index', () => {
  const graph: onnx.IGraphProto = {
    node: [
      { name: 'dq', opType: 'DequantizeLinear', input: ['w_q', 'w_scale'], output: ['w'] },
      { name: 'mm', opType: 'MatMul', input: ['w', 'x'], output: ['embedding'] },
      {
        name: 'flat',
        opType: 'Flatten',
        input: ['embedding'],
        output: ['y'],
        attribute: [{ name: 'axis', i: 1 }],
      },
    ],
    initializer: [{ name: 'w_q' }, { name: 'w_scale' }],
    input: [{ name: 'x' }],
  };

  it('knows producers, consumers and which tensors are computed only from constants', () => {
    const index = indexGraph(graph);
    expect(index.producer.get('embedding')?.name).toBe('mm');
    expect(index.consumers.get('w')?.map((n) => n.name)).toEqual(['mm']);
    expect(index.isConstant('w_q')).toBe(true);
    expect(index.isConstant('w')).toBe(true); // a DequantizeLinear of initializers
    expect(index.isConstant('x')).toBe(false); // a graph input
    expect(index.isConstant('embedding')).toBe(false);
    const mm = index.producer.get('embedding') as onnx.INodeProto;
    expect(firstDataInput(index, mm)).toBe('x');
  });

  it('picks a tensor name no node or initializer uses, and reads attributes and int64s', () => {
    const index = indexGraph(graph);
    expect(uniqueName(index, 'embedding')).toBe('embedding_1');
    expect(uniqueName(index, 'fresh')).toBe('fresh');
    const flat = index.producer.get('y') as onnx.INodeProto;
    expect(int(attribute(flat, 'axis')?.i)).toBe(1);
    expect(attribute(flat, 'missing')).toBeUndefined();
    expect(int(null)).toBe(0);
  });
});
