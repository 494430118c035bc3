/** Embedder options (limits, micro-batching, back-pressure, time limits), close() and model checks. */
import { Embedder, EmbedderBusyError, EmbedderModelError, cosine, createEmbedder } from '@lookalike/embedder';
import { modelCacheDir, modelFile, modelMirror, renderScene, scenePng, singleFile } from './helpers';
import { DEFAULT_MODEL, expectCode } from './embedder-shared';

describe('Embedder options and lifecycle', () => {
  it('honours maxPixels, maxBytes and minSide', async () => {
    const embedder = await createEmbedder({
      model: DEFAULT_MODEL,
      cacheDir: modelCacheDir,
      mirror: modelMirror,
      sessions: 1,
      maxPixels: 1_000_000,
      maxBytes: 50_000,
      minSide: 100,
    });
    try {
      const big = await renderScene('shirt', 1200, 900).jpeg({ quality: 50 }).toBuffer();
      expect(big.length).toBeLessThan(50_000);
      await expectCode(embedder.embed(big), 'IMAGE_TOO_MANY_PIXELS');
      await expectCode(embedder.embed(Buffer.alloc(50_001)), 'IMAGE_TOO_LARGE');
      await expectCode(embedder.embed(await scenePng('shirt', 120, 90)), 'IMAGE_TOO_SMALL');
      expect((await embedder.embed(await scenePng('shirt', 480, 360))).vector.length).toBe(1280);
    } finally {
      await embedder.close();
    }
  });

  it('micro-batches queued images and gives the same vectors as one-at-a-time', async () => {
    const { entry, path } = await modelFile(DEFAULT_MODEL);
    const single = await Embedder.create({ ...singleFile(entry, path), sessions: 1, maxBatch: 1 });
    const batched = await Embedder.create({
      ...singleFile(entry, path),
      sessions: 1,
      maxBatch: 8,
      decodeConcurrency: 4,
    });
    try {
      const images = await Promise.all((['shirt', 'stripes', 'dots'] as const).map((n) => scenePng(n)));
      const expected: Float32Array[] = [];
      for (const image of images) expected.push((await single.embed(image)).vector);
      const inputs = Array.from({ length: 24 }, (_, i) => i % 3);
      const results = await Promise.all(inputs.map((k) => batched.embed(images[k] as Buffer)));
      results.forEach((result, i) => {
        expect(cosine(result.vector, expected[inputs[i] as number] as Float32Array)).toBeGreaterThanOrEqual(
          0.99999,
        );
      });
      const stats = batched.stats();
      expect(stats.embedded).toBe(24);
      expect(stats.batches).toBeLessThan(24); // some batches held more than one image
      expect(single.stats().batches).toBe(single.stats().embedded);
    } finally {
      await Promise.all([single.close(), batched.close()]);
    }
  });

  it('applies back-pressure: beyond maxQueue pending embeds it rejects with EMBEDDER_BUSY', async () => {
    const embedder = await createEmbedder({
      model: DEFAULT_MODEL,
      cacheDir: modelCacheDir,
      mirror: modelMirror,
      sessions: 1,
      maxQueue: 3,
    });
    try {
      const image = await scenePng('shirt');
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => embedder.embed(image)));
      const busy = results.filter((r) => r.status === 'rejected');
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      expect(busy).toHaveLength(7);
      for (const r of busy) {
        const reason = (r as PromiseRejectedResult).reason as EmbedderBusyError;
        expect(reason).toBeInstanceOf(EmbedderBusyError);
        expect(reason.code).toBe('EMBEDDER_BUSY');
        expect(reason.permanent).toBe(false);
      }
      // Capacity comes back once the queue drains.
      expect(embedder.stats().pending).toBe(0);
      expect((await embedder.embed(image)).vector.length).toBe(1280);
    } finally {
      await embedder.close();
    }
  });

  it('replaces a session that exceeds the inference time limit instead of hanging', async () => {
    const { entry, path } = await modelFile(DEFAULT_MODEL);
    const embedder = await Embedder.create({
      ...singleFile(entry, path),
      sessions: 1,
      inferenceTimeoutMs: 1,
    });
    try {
      const err = await expectCode(embedder.embed(await scenePng('shirt')), 'EMBEDDER_INFERENCE');
      expect(err.permanent).toBe(false);
      expect(err.message).toMatch(/longer than 1 ms/);
      const deadline = Date.now() + 20_000;
      while (embedder.stats().sessions < 1 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(embedder.stats().sessions).toBe(1);
    } finally {
      await embedder.close();
    }
  });

  it('rejects work after close()', async () => {
    const embedder = await createEmbedder({
      model: DEFAULT_MODEL,
      cacheDir: modelCacheDir,
      mirror: modelMirror,
      sessions: 1,
    });
    const image = await scenePng('shirt');
    const inFlight = embedder.embed(image);
    await embedder.close();
    expect((await inFlight).vector.length).toBe(1280); // accepted work finishes
    await expectCode(embedder.embed(image), 'EMBEDDER_CLOSED');
  });

  it('refuses a model file that is not the registry entry, and a wrong dimension', async () => {
    const shuffle = await modelFile('shufflenet-v2-12-qdq');
    const mobile = await modelFile(DEFAULT_MODEL);
    await expect(Embedder.create({ ...singleFile(shuffle.entry, mobile.path) })).rejects.toThrow(/sha256/);
    const wrongDimension = { ...mobile.entry, embedding: { ...mobile.entry.embedding, dimension: 2048 } };
    const err = await Embedder.create({ ...singleFile(wrongDimension, mobile.path), sessions: 1 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EmbedderModelError);
    expect((err as EmbedderModelError).message).toMatch(/expected 2048/);
    await expect(Embedder.create({ ...singleFile(mobile.entry, mobile.path), sessions: 0 })).rejects.toThrow(
      RangeError,
    );
  });
});
