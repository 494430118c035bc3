import sharp from 'sharp';
import { CropError } from '../src/crop';
import { preprocessImage, sniffFormat, type PreprocessOptions } from '../src/preprocess';
import { scenePng, renderScene } from './helpers';

const options: PreprocessOptions = {
  size: 224,
  resizeShorterSide: 256,
  fit: 'crop',
  maxPixels: 40_000_000,
  minSide: 16,
  timeoutSeconds: 30,
};

/** Mean absolute difference per byte of two preprocessed images. */
function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  return sum / a.length;
}

function pixelAt(pixels: Uint8Array, x: number, y: number, size = 224): [number, number, number] {
  const i = (y * size + x) * 3;
  return [pixels[i] as number, pixels[i + 1] as number, pixels[i + 2] as number];
}

const solid = (width: number, height: number, colour: string, channels: 3 | 4 = 3) =>
  sharp({ create: { width, height, channels, background: colour } });

describe('sniffFormat', () => {
  it('recognises the supported containers by magic bytes and nothing else', async () => {
    const png = await scenePng('shirt', 64, 48);
    expect(sniffFormat(png)).toBe('png');
    expect(sniffFormat(await sharp(png).jpeg().toBuffer())).toBe('jpeg');
    expect(sniffFormat(await sharp(png).webp().toBuffer())).toBe('webp');
    expect(sniffFormat(await sharp(png).gif().toBuffer())).toBe('gif');
    expect(sniffFormat(await sharp(png).tiff().toBuffer())).toBe('tiff');
    expect(sniffFormat(await sharp(png).avif().toBuffer())).toBe('avif');
    // AVIF with the generic major brand `mif1` (`avif` among the compatible brands) is still AVIF:
    // the reason this is not file-type, which decides by the major brand alone (→ HEIF).
    const mif1Avif = Buffer.from(await sharp(png).avif().toBuffer());
    mif1Avif.write('mif1', 8, 'latin1');
    expect(sniffFormat(mif1Avif)).toBe('avif');
    expect(sniffFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
    expect(sniffFormat(Buffer.from('%PDF-1.7\n'))).toBeNull();
    expect(sniffFormat(Buffer.from('BM\x00\x00'))).toBeNull();
    expect(sniffFormat(new Uint8Array(0))).toBeNull();
    const heic = Buffer.alloc(32);
    heic.writeUInt32BE(24, 0);
    heic.write('ftypheic', 4, 'latin1');
    heic.write('mif1heic', 16, 'latin1');
    expect(sniffFormat(heic)).toBe('heic');
  });
});

describe('preprocessImage', () => {
  it('returns size×size×3 bytes for every supported format, all close to the PNG original', async () => {
    const png = await scenePng('shirt');
    const reference = (await preprocessImage(png, options)).pixels;
    expect(reference.length).toBe(224 * 224 * 3);
    for (const format of ['jpeg', 'webp', 'gif', 'avif', 'tiff'] as const) {
      const encoded = await sharp(png).toFormat(format).toBuffer();
      const out = await preprocessImage(encoded, options);
      expect(out.format).toBe(format);
      expect([out.width, out.height]).toEqual([480, 360]);
      expect(meanAbsDiff(out.pixels, reference)).toBeLessThan(6);
    }
  });

  it('applies EXIF orientation before cropping', async () => {
    const upright = await renderScene('shirt').jpeg({ quality: 95 }).toBuffer();
    // Pixels stored rotated 90° anticlockwise, tagged "rotate 90° clockwise to display" (6).
    const tagged = await renderScene('shirt')
      .rotate(-90)
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const stored = await sharp(tagged).metadata();
    expect([stored.width, stored.height, stored.orientation]).toEqual([360, 480, 6]);
    const a = await preprocessImage(upright, options);
    const b = await preprocessImage(tagged, options);
    expect([b.width, b.height]).toEqual([480, 360]);
    expect(meanAbsDiff(a.pixels, b.pixels)).toBeLessThan(3);
  });

  it('flattens transparency onto white', async () => {
    const transparent = await solid(64, 64, 'rgba(0,0,0,0)', 4).png().toBuffer();
    const { pixels } = await preprocessImage(transparent, options);
    expect(pixels.every((v) => v === 255)).toBe(true);
    const halfRed = await solid(64, 64, 'rgba(255,0,0,0.5)', 4).png().toBuffer();
    const [r, g, b] = pixelAt((await preprocessImage(halfRed, options)).pixels, 100, 100);
    expect(r).toBeGreaterThan(250);
    expect(g).toBeGreaterThan(120);
    expect(g).toBeLessThan(135);
    expect(b).toBe(g);
  });

  it('converts greyscale, 16-bit, palette and CMYK input to 8-bit sRGB', async () => {
    const png = await scenePng('shirt');
    const reference = (await preprocessImage(png, options)).pixels;

    const grey = (await preprocessImage(await sharp(png).greyscale().png().toBuffer(), options)).pixels;
    expect(grey.length).toBe(224 * 224 * 3);
    const [gr, gg, gb] = pixelAt(grey, 112, 150);
    expect(gr).toBe(gg);
    expect(gg).toBe(gb);

    const sixteen = await sharp(png).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(sixteen).metadata()).depth).toBe('ushort');
    expect(meanAbsDiff((await preprocessImage(sixteen, options)).pixels, reference)).toBeLessThan(1.5);

    const palette = await sharp(png).png({ palette: true, colours: 64 }).toBuffer();
    expect((await sharp(palette).metadata()).isPalette).toBe(true);
    expect(meanAbsDiff((await preprocessImage(palette, options)).pixels, reference)).toBeLessThan(4);

    const cmyk = await sharp(png).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const fromCmyk = (await preprocessImage(cmyk, options)).pixels;
    expect(fromCmyk.length).toBe(224 * 224 * 3);
    // CMYK has a smaller gamut than sRGB, so saturated colours move a little; the picture must not.
    expect(meanAbsDiff(fromCmyk, reference)).toBeLessThan(20);
  });

  it('uses the first frame of an animated image', async () => {
    const red = await solid(64, 64, '#ff0000').png().toBuffer();
    const blue = await solid(64, 64, '#0000ff').png().toBuffer();
    for (const format of ['gif', 'webp'] as const) {
      const animated = await sharp([red, blue], { join: { animated: true } })
        .toFormat(format)
        .toBuffer();
      expect((await sharp(animated).metadata()).pages).toBe(2);
      const out = await preprocessImage(animated, options);
      expect([out.width, out.height]).toEqual([64, 64]);
      const [r, , b] = pixelAt(out.pixels, 10, 10);
      expect(r).toBeGreaterThan(240);
      expect(b).toBeLessThan(15);
    }
  });

  it('crops the centre in crop mode and pads with white in letterbox mode', async () => {
    // Wide image: red left quarter, blue centre, green right quarter.
    const wide = await sharp(
      Buffer.from(
        `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="200">
          <rect width="800" height="200" fill="#0000ff"/><rect width="200" height="200" fill="#ff0000"/>
          <rect x="600" width="200" height="200" fill="#00ff00"/></svg>`,
      ),
    )
      .png()
      .toBuffer();
    const cropped = (await preprocessImage(wide, options)).pixels;
    expect(pixelAt(cropped, 0, 112)).toEqual([0, 0, 255]);
    expect(pixelAt(cropped, 223, 112)).toEqual([0, 0, 255]);

    const boxed = (await preprocessImage(wide, { ...options, fit: 'letterbox' })).pixels;
    expect(pixelAt(boxed, 112, 5)).toEqual([255, 255, 255]); // padding above
    expect(pixelAt(boxed, 112, 218)).toEqual([255, 255, 255]); // padding below
    expect(pixelAt(boxed, 5, 112)[0]).toBeGreaterThan(240); // red edge kept
    expect(pixelAt(boxed, 218, 112)[1]).toBeGreaterThan(240); // green edge kept
  });

  describe('with a crop', () => {
    /** The scene side by side with a copy of itself turned upside down: every region looks different. */
    const twoSided = async () => {
      const shirt = await scenePng('shirt');
      return sharp({ create: { width: 960, height: 360, channels: 3, background: '#ffffff' } })
        .composite([
          { input: shirt, left: 0, top: 0 },
          { input: await sharp(shirt).rotate(180).png().toBuffer(), left: 480, top: 0 },
        ])
        .png()
        .toBuffer();
    };

    it.each([
      ['crop', { x: 0, y: 0, w: 0.5, h: 1 }],
      ['crop', { x: 0.3, y: 0.2, w: 0.45, h: 0.7 }],
      // 960×36 px: a strip whose long side is cut to 4× its short side, inside the crop.
      ['crop', { x: 0, y: 0.45, w: 1, h: 0.1 }],
      ['letterbox', { x: 0.5, y: 0, w: 0.5, h: 1 }],
      ['letterbox', { x: 0.1, y: 0.6, w: 0.2, h: 0.4 }],
    ] as const)(
      'in %s mode gives the pixels of the region saved as an image of its own (%o)',
      async (fit, crop) => {
        const png = await twoSided();
        const left = Math.round(crop.x * 960);
        const top = Math.round(crop.y * 360);
        const region = await sharp(png)
          .extract({
            left,
            top,
            width: Math.round((crop.x + crop.w) * 960) - left,
            height: Math.round((crop.y + crop.h) * 360) - top,
          })
          .png()
          .toBuffer();
        const cropped = await preprocessImage(png, { ...options, fit, crop });
        const expected = await preprocessImage(region, { ...options, fit });
        expect(meanAbsDiff(cropped.pixels, expected.pixels)).toBe(0);
        // …and not what the whole image gives: the crop was applied (the centred crop overlaps the
        // whole image's centre crop the most, at a mean difference of about 7).
        const whole = await preprocessImage(png, { ...options, fit });
        expect(meanAbsDiff(cropped.pixels, whole.pixels)).toBeGreaterThan(5);
        // The reported dimensions stay those of the source image.
        expect([cropped.width, cropped.height]).toEqual([960, 360]);
      },
    );

    it('is applied after EXIF orientation: the box is in the coordinates of the image as displayed', async () => {
      const upright = await renderScene('shirt').jpeg({ quality: 95 }).toBuffer();
      const tagged = await renderScene('shirt')
        .rotate(-90)
        .jpeg({ quality: 95 })
        .withMetadata({ orientation: 6 })
        .toBuffer();
      const top = { x: 0, y: 0, w: 1, h: 0.5 };
      const bottom = { x: 0, y: 0.5, w: 1, h: 0.5 };
      const a = await preprocessImage(upright, { ...options, crop: top });
      const b = await preprocessImage(tagged, { ...options, crop: top });
      expect(meanAbsDiff(a.pixels, b.pixels)).toBeLessThan(3);
      const other = await preprocessImage(upright, { ...options, crop: bottom });
      expect(meanAbsDiff(a.pixels, other.pixels)).toBeGreaterThan(10);
    });

    it('refuses a crop outside the image or under 8×8 source pixels with INVALID_CROP', async () => {
      const png = await scenePng('shirt'); // 480×360
      const refused = async (crop: { x: number; y: number; w: number; h: number }) => {
        const err = await preprocessImage(png, { ...options, crop }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(CropError);
        expect(err).toMatchObject({ code: 'INVALID_CROP', permanent: true });
        return err as CropError;
      };
      await refused({ x: 0.6, y: 0, w: 0.5, h: 1 });
      await refused({ x: 0, y: -0.1, w: 0.5, h: 0.5 });
      await refused({ x: 0, y: 0, w: 0, h: 1 });
      await refused({ x: 0, y: 0, w: Number.NaN, h: 1 });
      // 0.015 × 480 = 7.2 → 7 px wide: too small; 0.017 × 480 = 8.16 → 8 px: enough.
      const small = await refused({ x: 0.5, y: 0.5, w: 0.015, h: 0.1 });
      expect(small.details).toMatchObject({ box: { width: 7, height: 36 }, minSide: 8 });
      await expect(
        preprocessImage(png, { ...options, crop: { x: 0.5, y: 0.5, w: 0.017, h: 0.1 } }),
      ).resolves.toBeTruthy();
      // Floating-point sums a hair over 1 are 1: 0.7 + 0.3 covers the image to its edge.
      await expect(
        preprocessImage(png, { ...options, crop: { x: 0.7, y: 0.1, w: 0.3, h: 0.9 } }),
      ).resolves.toBeTruthy();
    });
  });

  it('handles extreme aspect ratios without upscaling the whole image', async () => {
    const thin = await solid(20_000, 16, '#808080').png().toBuffer();
    const started = Date.now();
    const out = await preprocessImage(thin, options);
    expect(out.pixels.length).toBe(224 * 224 * 3);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
