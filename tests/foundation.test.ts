/**
 * Foundation checks: the native pieces every capability stands on install and work on this machine —
 * faiss-node (built against Debian's libfaiss), onnxruntime-node with the default model, and Redis.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { IndexFlatIP } from 'faiss-node';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import Redis from 'ioredis';
import { fetchModel, modelRegistry } from '@lookalike/models';

const repoRoot = path.resolve(__dirname, '..');
const sharedDir = process.env.LOOKALIKE_SHARED_DIR ?? path.resolve(repoRoot, '../shared');

it('faiss-node searches an IndexFlatIP by inner product', () => {
  const index = new IndexFlatIP(4);
  const vectors = [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [Math.SQRT1_2, Math.SQRT1_2, 0, 0],
  ];
  index.add(vectors.flat());
  expect(index.ntotal()).toBe(3);
  const { labels, distances } = index.search([0.9, 0.1, 0, 0], 3);
  expect(labels).toEqual([0, 2, 1]);
  expect(distances[0]).toBeCloseTo(0.9, 5);
  expect(distances[1]).toBeCloseTo(Math.SQRT1_2, 5);
  // Round-trips through its own serialisation.
  const copy = IndexFlatIP.fromBuffer(index.toBuffer());
  expect(copy.search([0, 1, 0, 0], 1).labels).toEqual([1]);
});

it.each(
  modelRegistry.resolve(modelRegistry.defaultModel).members.map((m) => [m.entry.name, m.entry] as const),
)('onnxruntime-node runs %s (a file of the default model) on a generated image', async (_name, entry) => {
  const { path: modelPath } = await fetchModel(entry, {
    cacheDir: path.join(repoRoot, '.cache/models'),
    mirror: path.join(sharedDir, 'models'),
  });
  const size = entry.input.size;
  // A red square on white: sharp draws the fixture, nothing is read from disk.
  const { data } = await sharp({ create: { width: size, height: size, channels: 3, background: '#ffffff' } })
    .composite([
      {
        input: { create: { width: 120, height: 120, channels: 3, background: '#d01010' } },
        top: 52,
        left: 52,
      },
    ])
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { mean, std } = entry.preprocessing;
  const tensor = new Float32Array(3 * size * size);
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++)
      tensor[c * size * size + i] = ((data[i * 3 + c] ?? 0) / 255 - mean[c]!) / std[c]!;
  }
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  try {
    const output = await session.run({ input: new ort.Tensor('float32', tensor, [1, 3, size, size]) });
    const logits = output.output!.data as Float32Array;
    expect(logits).toHaveLength(1000);
    expect(logits.every(Number.isFinite)).toBe(true);
    // Not a constant output: the model actually looked at the picture.
    expect(Math.max(...logits) - Math.min(...logits)).toBeGreaterThan(1);
  } finally {
    await session.release();
  }
});

it('talks to a real Redis without touching other users’ keys', async () => {
  const prefix = `lookalike-test:${randomUUID()}:`;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    keyPrefix: prefix,
    lazyConnect: true,
  });
  await redis.connect();
  try {
    expect(await redis.ping()).toBe('PONG');
    await redis.set('probe', 'ok', 'EX', 30);
    expect(await redis.get('probe')).toBe('ok');
  } finally {
    await redis.del('probe');
    await redis.quit();
  }
});
