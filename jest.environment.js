// Native addons (onnxruntime-node, faiss-node, sharp) create typed arrays in Node's main realm, while
// jest runs each test file in its own vm context with its own Float32Array & co. onnxruntime checks
// `instanceof Float32Array`, so the two must be the same constructors: share them with the test context.
const NodeEnvironment = require('jest-environment-node').TestEnvironment;

const shared = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int8Array',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class NativeRealmEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of shared) this.global[name] = globalThis[name];
  }
}

module.exports = NativeRealmEnvironment;
