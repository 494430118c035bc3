/** The embedder with the default single-file model: identity, determinism, robustness, formats, bad input. */
import sharp from 'sharp';
import { CropError, Embedder, ImageError, cosine, createEmbedder, type Embedding } from '@lookalike/embedder';
import { LookalikeError } from '@lookalike/config';
import { bmp, bombPng, modelCacheDir, modelFile, modelMirror, renderScene, scenePng } from './helpers';
import { DEFAULT_MODEL, expectCode, norm } from './embedder-shared';

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

  it('embeds a crop exactly like the region saved as an image of its own, through the one embed path', async () => {
    // Two very different scenes side by side: a crop of either half must find that half.
    const [shirt, stripes] = [await scenePng('shirt'), await scenePng('stripes')];
    const composite = await sharp({ create: { width: 960, height: 360, channels: 3, background: '#ffffff' } })
      .composite([
        { input: shirt, left: 0, top: 0 },
        { input: stripes, left: 480, top: 0 },
      ])
      .png()
      .toBuffer();
    const leftHalf = { x: 0, y: 0, w: 0.5, h: 1 };
    const cropped = await embedder.embed(composite, { crop: leftHalf });
    const precropped = await embedder.embed(
      await sharp(composite).extract({ left: 0, top: 0, width: 480, height: 360 }).png().toBuffer(),
    );
    expect(cosine(cropped.vector, precropped.vector)).toBeGreaterThanOrEqual(0.99999);
    for (let i = 0; i < cropped.vector.length; i++) {
      expect(Math.abs((cropped.vector[i] as number) - (precropped.vector[i] as number))).toBeLessThan(1e-5);
    }
    // The colour histogram comes from the same cropped pixels.
    expect(Array.from(cropped.colour)).toEqual(Array.from(precropped.colour));

    const rightHalf = (await embedder.embed(composite, { crop: { x: 0.5, y: 0, w: 0.5, h: 1 } })).vector;
    const whole = (await embedder.embed(composite)).vector;
    const shirtVector = (await embedder.embed(shirt)).vector;
    const stripesVector = (await embedder.embed(stripes)).vector;
    expect(cosine(cropped.vector, shirtVector)).toBeGreaterThan(cosine(cropped.vector, stripesVector) + 0.2);
    expect(cosine(rightHalf, stripesVector)).toBeGreaterThan(cosine(rightHalf, shirtVector) + 0.2);
    expect(cosine(cropped.vector, whole)).toBeLessThan(0.99);
  });

  it('refuses a crop it cannot apply with INVALID_CROP before any inference', async () => {
    const png = await scenePng('shirt'); // 480×360
    await expectCode(embedder.embed(png, { crop: { x: 0.8, y: 0, w: 0.4, h: 1 } }), 'INVALID_CROP');
    const tiny = await expectCode(
      embedder.embed(png, { crop: { x: 0, y: 0, w: 0.01, h: 0.5 } }),
      'INVALID_CROP',
    );
    expect(tiny).toBeInstanceOf(CropError);
    expect(tiny.permanent).toBe(true);
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
