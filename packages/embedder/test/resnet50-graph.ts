// ResNet-50 v1's architecture (He et al. 2015, the ONNX Model Zoo's resnet50-v1: stride in the first 1×1
// convolution of a bottleneck, batch norm folded into the convolutions' biases) as an ONNX graph with
// random weights, generated here so the test downloads nothing. The weights are deterministic and scaled
// so activations stay finite through 16 residual blocks; what is tested is the graph's shape (where the
// pooled 2048-d feature is, what the classifier looks like), not ImageNet accuracy.
import { onnx } from 'onnx-proto';

const STAGES: Array<{ blocks: number; width: number; stride: number }> = [
  { blocks: 3, width: 64, stride: 1 },
  { blocks: 4, width: 128, stride: 2 },
  { blocks: 6, width: 256, stride: 2 },
  { blocks: 3, width: 512, stride: 2 },
];
const EXPANSION = 4;

export const RESNET50_INPUT = 'data';
export const RESNET50_OUTPUT = 'resnetv17_dense0_fwd';

class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  parameters = 0;
  private seed: number;
  private counter = 0;

  constructor(seed: number) {
    this.seed = seed >>> 0;
  }

  /** Uniform in [-1, 1) from a 32-bit LCG: deterministic and fast for 25 M weights. */
  private random(): number {
    this.seed = (Math.imul(this.seed, 1664525) + 1013904223) >>> 0;
    return this.seed / 2 ** 31 - 1;
  }

  private tensor(name: string, dims: number[], scale: number): string {
    const count = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = this.random() * scale;
    this.parameters += count;
    this.initializers.push({
      name,
      dims,
      dataType: onnx.TensorProto.DataType.FLOAT,
      rawData: new Uint8Array(data.buffer),
    });
    return name;
  }

  private name(kind: string): string {
    return `resnetv17_${kind}${this.counter++}`;
  }

  conv(
    input: string,
    inChannels: number,
    outChannels: number,
    kernel: number,
    stride: number,
    gain = 1,
  ): string {
    const name = this.name('conv');
    // Uniform(-a, a) with a = sqrt(6 / fan_in) has He's variance 2 / fan_in.
    const bound = gain * Math.sqrt(6 / (inChannels * kernel * kernel));
    const weight = this.tensor(`${name}_weight`, [outChannels, inChannels, kernel, kernel], bound);
    const bias = this.tensor(`${name}_bias`, [outChannels], 0.01);
    const pad = Math.floor(kernel / 2);
    this.nodes.push({
      name,
      opType: 'Conv',
      input: [input, weight, bias],
      output: [`${name}_fwd`],
      attribute: [
        { name: 'kernel_shape', type: onnx.AttributeProto.AttributeType.INTS, ints: [kernel, kernel] },
        { name: 'strides', type: onnx.AttributeProto.AttributeType.INTS, ints: [stride, stride] },
        { name: 'pads', type: onnx.AttributeProto.AttributeType.INTS, ints: [pad, pad, pad, pad] },
      ],
    });
    return `${name}_fwd`;
  }

  op(opType: string, inputs: string[], attribute: onnx.IAttributeProto[] = []): string {
    const name = this.name(opType.toLowerCase());
    this.nodes.push({ name, opType, input: inputs, output: [`${name}_fwd`], attribute });
    return `${name}_fwd`;
  }

  gemm(input: string, inFeatures: number, outFeatures: number, output: string): void {
    const weight = this.tensor(
      'resnetv17_dense0_weight',
      [outFeatures, inFeatures],
      Math.sqrt(3 / inFeatures),
    );
    const bias = this.tensor('resnetv17_dense0_bias', [outFeatures], 0.01);
    this.nodes.push({
      name: 'resnetv17_dense0',
      opType: 'Gemm',
      input: [input, weight, bias],
      output: [output],
      attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    });
  }
}

function bottleneck(
  g: GraphBuilder,
  input: string,
  inChannels: number,
  width: number,
  stride: number,
): string {
  const out = width * EXPANSION;
  let x = g.op('Relu', [g.conv(input, inChannels, width, 1, stride)]);
  x = g.op('Relu', [g.conv(x, width, width, 3, 1)]);
  // A small gain on the residual branch's last convolution keeps the sum's scale steady over 16 blocks.
  x = g.conv(x, width, out, 1, 1, 0.2);
  const shortcut = stride !== 1 || inChannels !== out ? g.conv(input, inChannels, out, 1, stride) : input;
  return g.op('Relu', [g.op('Add', [x, shortcut])]);
}

/** The encoded model (about 100 MB of float32 weights) and its parameter count (≈ 25.5 M). */
export function resnet50Graph(seed = 50): { bytes: Uint8Array; parameters: number } {
  const g = new GraphBuilder(seed);
  let x = g.op('Relu', [g.conv(RESNET50_INPUT, 3, 64, 7, 2)]);
  x = g.op(
    'MaxPool',
    [x],
    [
      { name: 'kernel_shape', type: onnx.AttributeProto.AttributeType.INTS, ints: [3, 3] },
      { name: 'strides', type: onnx.AttributeProto.AttributeType.INTS, ints: [2, 2] },
      { name: 'pads', type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 1, 1, 1] },
    ],
  );
  let channels = 64;
  for (const stage of STAGES) {
    for (let block = 0; block < stage.blocks; block++) {
      x = bottleneck(g, x, channels, stage.width, block === 0 ? stage.stride : 1);
      channels = stage.width * EXPANSION;
    }
  }
  const pooled = g.op('GlobalAveragePool', [x]);
  const flat = g.op(
    'Flatten',
    [pooled],
    [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
  );
  g.gemm(flat, channels, 1000, RESNET50_OUTPUT);
  const floatTensor = (dims: Array<number | string>): onnx.ITypeProto => ({
    tensorType: {
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
    },
  });
  const bytes = onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 7,
      opsetImport: [{ domain: '', version: 12 }],
      producerName: 'lookalike-test',
      graph: {
        name: 'resnet50-v1-random',
        node: g.nodes,
        initializer: g.initializers,
        input: [{ name: RESNET50_INPUT, type: floatTensor(['N', 3, 224, 224]) }],
        output: [{ name: RESNET50_OUTPUT, type: floatTensor(['N', 1000]) }],
      },
    }),
  ).finish();
  return { bytes, parameters: g.parameters };
}
