/**
 * The seed's model family (ResNet-50) without downloading it: a graph with ResNet-50 v1's architecture
 * and random weights (resnet50-graph.ts), run under the registry's own `resnet50-v1-12-int8` entry,
 * which names no input and no embedding tensor (`pooling: "auto"`). What a user with internet gets
 * from `MODEL=resnet50-v1-12-int8` is this code path on the real weights.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Embedder, cosine, prepareModel } from '@lookalike/embedder';
import { SnapshotWriter } from '@lookalike/index-store';
import { modelRegistry, type ModelEntry } from '@lookalike/models';
import { fitProjection, parseProjectionSpec } from '@lookalike/projection';
import { renderScene, scenePng, singleFile, type SceneName } from './helpers';
import { RESNET50_INPUT, resnet50Graph } from './resnet50-graph';

describe('ResNet-50 architecture under the registry entry resnet50-v1-12-int8', () => {
  let dir: string;
  let entry: ModelEntry;
  let modelPath: string;
  let bytes: Uint8Array;

  beforeAll(() => {
    const graph = resnet50Graph();
    bytes = graph.bytes;
    // ResNet-50 has 25.6 M parameters (25.5 M here: batch norm is folded into the biases).
    expect(graph.parameters).toBeGreaterThan(25_000_000);
    dir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-resnet50-'));
    modelPath = path.join(dir, 'resnet50-random.onnx');
    writeFileSync(modelPath, bytes);
    const registered = modelRegistry.get('resnet50-v1-12-int8');
    // The registry's entry as it is, except for the file's identity (these weights are not upstream's).
    expect(registered.embedding).toEqual({ tensor: null, pooling: 'auto', dimension: 2048 });
    expect(registered.input.name).toBeNull();
    entry = {
      ...registered,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds the 2048-d global-average-pooled feature feeding the classifier, and the input, by itself', () => {
    const prepared = prepareModel(bytes, entry);
    expect(prepared.inputName).toBe(RESNET50_INPUT);
    expect(prepared.feature).toMatch(/input of Gemm resnetv17_dense0: GlobalAveragePool/);
    expect(prepared.featureTensor).toMatch(/globalaveragepool/);
  });

  it('embeds photos into L2-normalised 2048-d vectors, batched as single, that tell scenes apart', async () => {
    const embedder = await Embedder.create({ ...singleFile(entry, modelPath), sessions: 1, maxBatch: 4 });
    try {
      expect(embedder.model).toEqual({ id: 'resnet50-v1-12-int8', sha256: entry.sha256, dimension: 2048 });
      const shirt = await scenePng('shirt');
      const shirtJpeg = await renderScene('shirt', 640, 480).jpeg({ quality: 80 }).toBuffer();
      const stripes = await scenePng('stripes');
      const single = (await embedder.embed(shirt)).vector;
      const [again, jpeg, other] = await Promise.all(
        [shirt, shirtJpeg, stripes].map(async (image) => (await embedder.embed(image)).vector),
      );
      expect(single.length).toBe(2048);
      let norm = 0;
      for (const v of single) norm += v * v;
      expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
      expect(cosine(single, again as Float32Array)).toBeGreaterThanOrEqual(0.99999);
      // The same photo re-encoded at another size is nearer than a different photo.
      expect(cosine(single, jpeg as Float32Array)).toBeGreaterThan(cosine(single, other as Float32Array));
      const grey = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#808080' } })
        .png()
        .toBuffer();
      expect((await embedder.embed(grey)).vector.length).toBe(2048);
    } finally {
      await embedder.close();
    }
  }, 120_000);
  it('embed → project → search: a fitted projection of its 2048-d vectors serves a snapshot that finds a re-encoded photo', async () => {
    const embedder = await Embedder.create({ ...singleFile(entry, modelPath), sessions: 2, maxBatch: 4 });
    const dataDir = path.join(dir, 'data');
    const writer = await SnapshotWriter.open({ dataDir, model: embedder.model });
    try {
      // 36 catalogue photos: three scenes, each tinted and cropped twelve ways.
      const names: SceneName[] = ['shirt', 'stripes', 'dots'];
      const photos = names.flatMap((name) =>
        Array.from({ length: 12 }, (_, i) => ({ id: `${name}-${i}`, name, i })),
      );
      const render = ({ name, i }: { name: SceneName; i: number }) =>
        renderScene(name, 400 + 20 * i, 300 + 15 * (i % 4))
          .modulate({ hue: 25 * i, brightness: 0.8 + 0.03 * i })
          .png()
          .toBuffer();
      const vectors = await Promise.all(
        photos.map(async (p) => (await embedder.embed(await render(p))).vector),
      );
      const raw = new Float32Array(photos.length * 2048);
      vectors.forEach((v, i) => raw.set(v, i * 2048));
      const spec = parseProjectionSpec('pca-whiten:16');
      if (spec.kind === 'none') throw new Error('a projection spec');
      const projection = fitProjection(raw, photos.length, embedder.model, spec);
      expect(projection.inputDimension).toBe(2048);
      await writer.publish({
        upserts: photos.map((p, i) => ({
          id: p.id,
          vector: vectors[i] as Float32Array,
          metadata: { scene: p.name },
          contentHash: p.id,
        })),
        deletes: [],
        projection,
        projectionReplaces: null,
      });
      const snapshot = await writer.latest();
      expect(snapshot?.dimension).toBe(16);
      expect(snapshot?.model.dimension).toBe(2048);
      // The upload path: the photo re-encoded as JPEG, embedded, projected with the snapshot's own projection.
      const query = await sharp(await render({ name: 'stripes', i: 5 }))
        .jpeg({ quality: 85 })
        .toBuffer();
      const projected = snapshot?.projector()?.project((await embedder.embed(query)).vector) as Float32Array;
      const hits = snapshot?.search(projected, { k: 3 }) ?? [];
      expect(hits[0]?.id).toBe('stripes-5');
    } finally {
      await writer.close();
      await embedder.close();
    }
  }, 180_000);
});
