import sharp from 'sharp';
import {
  Embedder,
  EmbedderBusyError,
  EmbedderModelError,
  ImageError,
  cosine,
  createEmbedder,
  type Embedding,
} from '@lookalike/embedder';
import { LookalikeError } from '@lookalike/config';
import {
  bmp,
  bombPng,
  modelCacheDir,
  modelFile,
  modelMirror,
  renderScene,
  scenePng,
  singleFile,
  withUnknownTensor,
} from './helpers';
import { modelRegistry } from '@lookalike/models';

const DEFAULT_MODEL = 'mobilenetv2-12-int8';

function norm(v: Float32Array): number {
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0));
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<LookalikeError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ${code}, got a vector`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LookalikeError);
  expect((err as LookalikeError).code).toBe(code);
  return err as LookalikeError;
}

describe('Embedder (default model)', () => {
  let embedder: Embedder;
  beforeAll(async () => {
    embedder = await createEmbedder({
      model: DEFAULT_MODEL,
      cacheDir: modelCacheDir,
      mirror: modelMirror,
      sessions: 2,
    });
  });
  afterAll(async () => embedder.close());

  it('stamps every vector with the model identity and returns unit vectors', async () => {
    const { entry } = await modelFile(DEFAULT_MODEL);
    expect(embedder.model).toEqual({ id: DEFAULT_MODEL, sha256: entry.sha256, dimension: 1280 });
    const { vector, model } = await embedder.embed(await scenePng('shirt'));
    expect(model).toEqual(embedder.model);
    expect(vector).toBeInstanceOf(Float32Array);
    expect(vector.length).toBe(1280);
    expect(Math.abs(norm(vector) - 1)).toBeLessThan(1e-5);
    expect(embedder.feature).toContain('GlobalAveragePool(627)');
  });

  it('gives the same vector for the same image on every run', async () => {
    const png = await scenePng('stripes');
    const first = await embedder.embed(png);
    for (let run = 0; run < 3; run++) {
      const again = await embedder.embed(Buffer.from(png));
      expect(cosine(first.vector, again.vector)).toBeGreaterThanOrEqual(0.99999);
    }
  });

  it('is robust to JPEG re-encoding at q80 and a 90% resize, and separates different images', async () => {
    const names = ['shirt', 'stripes', 'dots'] as const;
    const originals: Record<string, Float32Array> = {};
    let weakestRobust = 1;
    for (const name of names) {
      const png = await scenePng(name);
      const original = (await embedder.embed(png)).vector;
      originals[name] = original;
      const q80 = (await embedder.embed(await sharp(png).jpeg({ quality: 80 }).toBuffer())).vector;
      const resized = (await embedder.embed(await renderScene(name, 432, 324).png().toBuffer())).vector;
      const resampled = (await embedder.embed(await sharp(png).resize(432, 324).png().toBuffer())).vector;
      for (const variant of [q80, resized, resampled]) {
        const similarity = cosine(original, variant);
        expect(similarity).toBeGreaterThanOrEqual(0.95);
        weakestRobust = Math.min(weakestRobust, similarity);
      }
    }
    const different = [
      cosine(originals.shirt as Float32Array, originals.stripes as Float32Array),
      cosine(originals.shirt as Float32Array, originals.dots as Float32Array),
      cosine(originals.stripes as Float32Array, originals.dots as Float32Array),
    ];
    for (const similarity of different) {
      expect(similarity).toBeLessThan(0.7);
      expect(similarity).toBeLessThan(weakestRobust - 0.25);
    }
  });

  it('embeds every supported format, close to the PNG original', async () => {
    const png = await scenePng('shirt');
    const reference = (await embedder.embed(png)).vector;
    for (const format of ['jpeg', 'webp', 'gif', 'avif', 'tiff'] as const) {
      const { vector } = await embedder.embed(await sharp(png).toFormat(format).toBuffer());
      expect(cosine(reference, vector)).toBeGreaterThan(0.95);
    }
  });

  describe('refuses bad input with a precise code', () => {
    let cases: Array<[string, Uint8Array, string]>;
    beforeAll(async () => {
      const jpeg = await renderScene('shirt').jpeg({ quality: 90 }).toBuffer();
      const png = await scenePng('shirt');
      const webp = await renderScene('shirt').webp().toBuffer();
      const avif = await renderScene('shirt').avif().toBuffer();
      const corruptJpeg = Buffer.from(jpeg);
      const middle = corruptJpeg.length >> 1;
      // A torn write: a run of 0xFF inside the scan data. (Arbitrary bit flips in JPEG entropy data are
      // not detectable in general: the format has no checksum. PNG's CRCs catch them, see below.)
      corruptJpeg.fill(0xff, middle, middle + 64);
      const corruptPng = Buffer.from(png);
      for (let i = 0; i < 20; i++)
        corruptPng[(png.length >> 1) + i] = (png[(png.length >> 1) + i] as number) ^ 0x5a;
      const heic = Buffer.alloc(64);
      heic.writeUInt32BE(24, 0);
      heic.write('ftypheic\0\0\0\0mif1heic', 4, 'latin1');
      cases = [
        ['empty input', new Uint8Array(0), 'IMAGE_EMPTY'],
        ['over the byte limit (20 MiB + 1)', Buffer.alloc(20 * 1024 * 1024 + 1, 0xff), 'IMAGE_TOO_LARGE'],
        [
          'random bytes',
          Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24),
          'IMAGE_UNSUPPORTED',
        ],
        [
          'an HTML page',
          Buffer.from('<!doctype html><html><body>404 Not Found</body></html>'),
          'IMAGE_UNSUPPORTED',
        ],
        ['an SVG (renderable, but not accepted)', Buffer.from(renderSvgText()), 'IMAGE_UNSUPPORTED'],
        ['a PDF header', Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n'), 'IMAGE_UNSUPPORTED'],
        ['a BMP', bmp(64, 64), 'IMAGE_UNSUPPORTED'],
        ['a HEIC container', heic, 'IMAGE_UNSUPPORTED'],
        ['a truncated JPEG (60%)', jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), 'IMAGE_CORRUPT'],
        ['a JPEG cut 2 bytes short', jpeg.subarray(0, jpeg.length - 2), 'IMAGE_CORRUPT'],
        ['a JPEG with a torn write in its scan data', corruptJpeg, 'IMAGE_CORRUPT'],
        ['a JPEG marker and nothing else', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]), 'IMAGE_CORRUPT'],
        ['a truncated PNG (50%)', png.subarray(0, png.length >> 1), 'IMAGE_CORRUPT'],
        ['a PNG with corrupt compressed data', corruptPng, 'IMAGE_CORRUPT'],
        [
          'a PNG signature and garbage',
          Buffer.concat([png.subarray(0, 8), Buffer.alloc(100, 0x41)]),
          'IMAGE_CORRUPT',
        ],
        ['a truncated WebP', webp.subarray(0, webp.length >> 1), 'IMAGE_CORRUPT'],
        ['a truncated AVIF', avif.subarray(0, avif.length >> 1), 'IMAGE_CORRUPT'],
        ['a GIF header only', Buffer.from('GIF89a\x10\x00\x10\x00', 'latin1'), 'IMAGE_CORRUPT'],
        ['a decompression-bomb PNG (10000×10000, ~12 KB)', bombPng(10_000, 10_000), 'IMAGE_TOO_MANY_PIXELS'],
        [
          'a PNG header claiming 100000×100000 (10 rows of data)',
          bombPng(100_000, 100_000, 10),
          'IMAGE_TOO_MANY_PIXELS',
        ],
        [
          'an 8×8 icon',
          await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
            .png()
            .toBuffer(),
          'IMAGE_TOO_SMALL',
        ],
        [
          'a 4000×10 strip',
          await sharp({ create: { width: 4000, height: 10, channels: 3, background: '#f00' } })
            .png()
            .toBuffer(),
          'IMAGE_TOO_SMALL',
        ],
      ];
    });

    function renderSvgText(): string {
      return '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300"><circle cx="150" cy="150" r="100"/></svg>';
    }

    it('each malformed input gets its expected code, as a permanent ImageError', async () => {
      expect(cases.length).toBeGreaterThanOrEqual(12);
      const bombBytes = (
        cases.find(([name]) => name.startsWith('a decompression-bomb'))?.[1] ?? new Uint8Array()
      ).length;
      expect(bombBytes).toBeLessThan(64 * 1024);
      const seen = new Set<string>();
      for (const [name, bytes, code] of cases) {
        const err = await expectCode(embedder.embed(bytes), code).catch((e: unknown) => {
          throw new Error(`${name}: ${e instanceof Error ? e.message : String(e)}`);
        });
        expect(err).toBeInstanceOf(ImageError);
        expect(err.permanent).toBe(true);
        expect(err.message.length).toBeGreaterThan(10);
        seen.add(code);
      }
      expect(seen.size).toBe(6);
    });

    it('refuses them all at once while good images still embed', async () => {
      const good = await scenePng('dots');
      const expected = (await embedder.embed(good)).vector;
      const results = await Promise.allSettled([
        ...cases.map(([, bytes]) => embedder.embed(bytes)),
        embedder.embed(good),
        embedder.embed(good),
      ]);
      results.slice(0, cases.length).forEach((result, i) => {
        expect(result.status).toBe('rejected');
        expect(((result as PromiseRejectedResult).reason as LookalikeError).code).toBe(cases[i]?.[2]);
      });
      for (const result of results.slice(cases.length)) {
        expect(result.status).toBe('fulfilled');
        expect(
          cosine((result as PromiseFulfilledResult<Embedding>).value.vector, expected),
        ).toBeGreaterThanOrEqual(0.99999);
      }
      expect(embedder.stats().pending).toBe(0);
    });
  });
});

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
