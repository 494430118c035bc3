import sharp from 'sharp';
import { jpegTruncation, pngTruncation, webpTruncation } from '../src/container';
import { renderScene } from './helpers';

describe('container completeness checks', () => {
  it('accept complete JPEGs (baseline, progressive, with EXIF, with trailing data) and flag every cut', async () => {
    for (const options of [{}, { progressive: true }, { quality: 100, chromaSubsampling: '4:4:4' }]) {
      const jpeg = await renderScene('shirt').jpeg(options).toBuffer();
      expect(jpegTruncation(jpeg)).toBeNull();
      expect(
        jpegTruncation(await renderScene('shirt').jpeg(options).withMetadata({ orientation: 3 }).toBuffer()),
      ).toBeNull();
      // Data after EOI (motion photos, gain maps) is not the image's business.
      expect(jpegTruncation(Buffer.concat([jpeg, Buffer.from([0xff, 0xda, 0, 4, 1, 2, 3])]))).toBeNull();
      for (const cut of [1, 2, 3, 10, 100, jpeg.length >> 1, jpeg.length - 3]) {
        expect(jpegTruncation(jpeg.subarray(0, jpeg.length - cut))).toMatch(/JPEG ends/);
      }
    }
  });

  it('accept a complete PNG and WebP and flag cut ones', async () => {
    const png = await renderScene('dots').png().toBuffer();
    expect(pngTruncation(png)).toBeNull();
    expect(pngTruncation(Buffer.concat([png, Buffer.from('trailing')]))).toBeNull();
    expect(pngTruncation(png.subarray(0, png.length - 1))).toMatch(/IEND/);
    expect(pngTruncation(png.subarray(0, png.length - 12))).toMatch(/before its IEND/);
    expect(pngTruncation(png.subarray(0, png.length >> 1))).toMatch(/inside its IDAT/);
    const webp = await sharp(png).webp().toBuffer();
    expect(webpTruncation(webp)).toBeNull();
    expect(webpTruncation(webp.subarray(0, webp.length - 1))).toMatch(/declares/);
    expect(webpTruncation(webp.subarray(0, 10))).toMatch(/incomplete/);
  });
});
