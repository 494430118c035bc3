// Making a graph exported with a fixed batch of 1 accept any batch size, where the registry says
// its reshapes allow it.
import type { onnx } from 'onnx-proto';
import { INT64, attribute, int, type GraphIndex } from './onnx-graph';

export const BATCH_DIM = 'batch_size';

/**
 * Rewrites the shape initializers of Reshape nodes whose leading dim is a hard-coded 1 to 0 ("copy
 * from input", the default at opset < 14 with allowzero 0), and the batch dim of every graph
 * input/output/value_info to a symbolic one. Returns how many initializers changed.
 */
export function patchBatch(graph: onnx.IGraphProto, index: GraphIndex): number {
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
export function batchDimOf(input: onnx.IValueInfoProto): number | string {
  const dim = input.type?.tensorType?.shape?.dim?.[0];
  return dim?.dimParam ? dim.dimParam : int(dim?.dimValue) || BATCH_DIM;
}
