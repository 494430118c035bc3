/** The other registry models: shufflenet-v2 (batch-patched) and the default ensemble. */
import { Embedder, cosine, createEmbedder, type Embedding } from '@lookalike/embedder';
import { modelCacheDir, modelFile, modelMirror, scenePng, singleFile, withUnknownTensor } from './helpers';
import { modelRegistry } from '@lookalike/models';
import { norm } from './embedder-shared';

describe('Embedder (shufflenet-v2-12-qdq, batch patched)', () => {
  it('embeds 1024-d vectors, batched like single, and finds the same feature when the tensor is unknown', async () => {
    const { entry, path } = await modelFile('shufflenet-v2-12-qdq');
    const named = await Embedder.create({
      ...singleFile(entry, path),
      sessions: 1,
      maxBatch: 4,
      decodeConcurrency: 4,
    });
    const found = await Embedder.create({
      ...singleFile(withUnknownTensor(entry), path),
      sessions: 1,
      maxBatch: 1,
    });
    try {
      expect(named.model.dimension).toBe(1024);
      const images = await Promise.all((['shirt', 'stripes', 'dots'] as const).map((n) => scenePng(n)));
      const single: Float32Array[] = [];
      for (const image of images) single.push((await found.embed(image)).vector);
      const batched = await Promise.all([...images, ...images, ...images].map((image) => named.embed(image)));
      batched.forEach((result, i) => {
        expect(result.vector.length).toBe(1024);
        expect(cosine(result.vector, single[i % 3] as Float32Array)).toBeGreaterThanOrEqual(0.99999);
      });
      expect(named.stats().batches).toBeLessThan(9);
      expect(cosine(single[0] as Float32Array, single[1] as Float32Array)).toBeLessThan(0.5);
    } finally {
      await Promise.all([named.close(), found.close()]);
    }
  });
});

describe('Embedder (ensemble mobilenetv2-shufflenetv2-int8, the default)', () => {
  it('is the registry default and embeds Concat(1·L2(MobileNetV2), 0.7·L2(ShuffleNetV2)), normalised, in one graph', async () => {
    expect(modelRegistry.defaultModel).toBe('mobilenetv2-shufflenetv2-int8');
    const ensemble = modelRegistry.resolve('mobilenetv2-shufflenetv2-int8');
    expect(ensemble.members.map((m) => [m.entry.name, m.weight])).toEqual([
      ['mobilenetv2-12-int8', 1],
      ['shufflenet-v2-12-qdq', 0.7],
    ]);
    const options = { cacheDir: modelCacheDir, mirror: modelMirror, sessions: 1 };
    const joined = await createEmbedder({
      ...options,
      model: ensemble.name,
      maxBatch: 4,
      decodeConcurrency: 4,
    });
    const mobile = await createEmbedder({ ...options, model: 'mobilenetv2-12-int8' });
    const shuffle = await createEmbedder({ ...options, model: 'shufflenet-v2-12-qdq' });
    try {
      // Its own identity: neither member's vectors are comparable with it.
      expect(joined.model).toEqual({ id: ensemble.name, sha256: ensemble.sha256, dimension: 2304 });
      expect(joined.model.sha256).not.toBe(mobile.model.sha256);
      expect(joined.feature).toMatch(/^Concat\(1·L2\(mobilenetv2-12-int8: .*0\.7·L2\(shufflenet-v2-12-qdq: /);
      const images = await Promise.all((['shirt', 'stripes', 'dots'] as const).map((n) => scenePng(n)));
      const batched = await Promise.all([...images, ...images].map((image) => joined.embed(image)));
      for (const [i, image] of images.entries()) {
        const a = (await mobile.embed(image)).vector;
        const b = (await shuffle.embed(image)).vector;
        const expected = new Float32Array(2304);
        expected.set(a, 0);
        expected.set(
          b.map((x) => 0.7 * x),
          1280,
        );
        const got = (batched[i] as Embedding).vector;
        expect(Math.abs(norm(got) - 1)).toBeLessThan(1e-5);
        expect(cosine(got, expected)).toBeGreaterThanOrEqual(0.99999);
        // The parts keep their weights: the ShuffleNet half holds 0.7² / (1 + 0.7²) of the energy.
        const tail = norm(got.subarray(1280)) ** 2;
        expect(tail).toBeCloseTo(0.49 / 1.49, 4);
        expect(cosine(got, (batched[i + 3] as Embedding).vector)).toBeGreaterThanOrEqual(0.99999);
      }
      expect(joined.stats().batches).toBeLessThan(6);
    } finally {
      await Promise.all([joined.close(), mobile.close(), shuffle.close()]);
    }
  });

  it('refuses a wrong file for any member', async () => {
    const ensemble = modelRegistry.resolve('mobilenetv2-shufflenetv2-int8');
    const mobile = await modelFile('mobilenetv2-12-int8');
    await expect(
      Embedder.create({ embeddingModel: ensemble, modelPaths: [mobile.path, mobile.path] }),
    ).rejects.toThrow(/is not shufflenet-v2-12-qdq: sha256/);
    await expect(Embedder.create({ embeddingModel: ensemble, modelPaths: [mobile.path] })).rejects.toThrow(
      /has 2 model files, got 1 paths/,
    );
  });
});
