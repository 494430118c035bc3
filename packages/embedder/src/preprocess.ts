import sharp from 'sharp';
import { jpegTruncation, pngTruncation, webpTruncation } from './container';
import { cropBox, type Crop } from './crop';
import { ImageError } from './errors';

/** Formats the embedder accepts. Everything else (SVG, PDF, HEIC, BMP, text…) is IMAGE_UNSUPPORTED. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'tiff';
export const SUPPORTED_FORMATS: readonly ImageFormat[] = ['jpeg', 'png', 'webp', 'gif', 'avif', 'tiff'];

export type Fit = 'crop' | 'letterbox';

export interface PreprocessOptions {
  /** Model input side (224). */
  size: number;
  /** Crop mode: the shorter side is scaled to this, then the centre `size`×`size` is taken (256). */
  resizeShorterSide: number;
  fit: Fit;
  maxPixels: number;
  minSide: number;
  /** libvips gives up on one image after this long (whole seconds, at least 1). */
  timeoutSeconds: number;
  /** Embed only this region of the oriented image (CropError INVALID_CROP when it cannot be applied). */
  crop?: Crop | undefined;
}

export interface PreprocessedImage {
  /** `size`×`size`×3 sRGB bytes, row-major, interleaved (HWC). */
  pixels: Uint8Array;
  format: ImageFormat;
  /** Source dimensions after EXIF orientation. */
  width: number;
  height: number;
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

/**
 * Identifies the container from magic bytes. Decoders are only ever handed formats on this list, so
 * libvips' other loaders (SVG, PDF, raw matrices…) are never reached by untrusted input.
 *
 * Not file-type: it tells an ISO-BMFF file by its major brand alone, so an AVIF whose major brand
 * is `mif1` (allowed: AVIF needs `avif` among the compatible brands) comes out as HEIF and would be
 * refused; and since v17 it is ESM-only, which this CommonJS build and its jest runs would need a
 * dynamic import and an ESM transform of its dependency tree for, for six signatures checked here.
 */
export function sniffFormat(bytes: Uint8Array): ImageFormat | 'heic' | null {
  const b = (i: number) => bytes[i] ?? -1;
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  if (ascii(bytes, 0, 8) === '\x89PNG\r\n\x1a\n') return 'png';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'webp';
  if (ascii(bytes, 0, 4) === 'II*\0' || ascii(bytes, 0, 4) === 'MM\0*') return 'tiff';
  if (ascii(bytes, 4, 4) === 'ftyp') {
    const boxSize = Math.min(((b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3)) >>> 0, bytes.length, 256);
    const brands: string[] = [ascii(bytes, 8, 4)];
    for (let i = 16; i + 4 <= boxSize; i += 4) brands.push(ascii(bytes, i, 4));
    if (brands.some((brand) => brand === 'avif' || brand === 'avis')) return 'avif';
    if (
      brands.some((brand) => ['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1'].includes(brand))
    )
      return 'heic';
  }
  return null;
}

const SHARP_FORMAT: Record<ImageFormat, string> = {
  jpeg: 'jpeg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  avif: 'heif',
  tiff: 'tiff',
};

const WHITE = { r: 255, g: 255, b: 255 };
/** Longest aspect ratio decoded in full in crop mode; see preprocessImage. */
const MAX_ASPECT = 4;

function describe(err: unknown): string {
  return err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err);
}

/** Maps a libvips failure during decode to the image error it means. */
function decodeError(err: unknown, format: ImageFormat): ImageError {
  const reason = describe(err);
  if (/pixel limit/i.test(reason)) {
    return new ImageError('IMAGE_TOO_MANY_PIXELS', `Image has more pixels than allowed: ${reason}`, {
      cause: err,
    });
  }
  if (/timeout/i.test(reason)) {
    return new ImageError('IMAGE_DECODE_TIMEOUT', `Decoding the ${format} image took too long`, {
      cause: err,
    });
  }
  return new ImageError('IMAGE_CORRUPT', `The ${format} image is truncated or corrupt: ${reason}`, {
    cause: err,
  });
}

/**
 * Image bytes → the model's input pixels, following the registry recipe: EXIF orientation, alpha
 * flattened onto white, any colour space / bit depth / palette to 8-bit sRGB, first frame only, then
 * shorter side → `resizeShorterSide` + centre crop `size` (or letterbox into `size`×`size` on white).
 * The header is checked (format, pixel count, sides) before any pixel is decoded. With `crop`, the
 * recipe runs on that region of the oriented image as if it were the whole image, so a crop embeds
 * exactly like the same region saved as a file of its own.
 */
export async function preprocessImage(
  bytes: Uint8Array,
  options: PreprocessOptions,
): Promise<PreprocessedImage> {
  const sniffed = sniffFormat(bytes);
  if (sniffed === null) {
    throw new ImageError(
      'IMAGE_UNSUPPORTED',
      `Not an image in a supported format (${SUPPORTED_FORMATS.join(', ')})`,
    );
  }
  if (sniffed === 'heic')
    throw new ImageError(
      'IMAGE_UNSUPPORTED',
      'HEIC/HEIF images are not supported; use JPEG, PNG, WebP or AVIF',
    );
  const format = sniffed;
  const truncation =
    format === 'jpeg'
      ? jpegTruncation(bytes)
      : format === 'png'
        ? pngTruncation(bytes)
        : format === 'webp'
          ? webpTruncation(bytes)
          : null;
  if (truncation) throw new ImageError('IMAGE_CORRUPT', `Truncated or corrupt image: ${truncation}`);

  let meta: sharp.Metadata;
  try {
    // Header only: no pixels are decoded here, so a decompression bomb costs nothing yet.
    meta = await sharp(bytes, { limitInputPixels: false, failOn: 'warning', pages: 1 }).metadata();
  } catch (err) {
    throw new ImageError('IMAGE_CORRUPT', `The ${format} image header is unreadable: ${describe(err)}`, {
      cause: err,
    });
  }
  if (meta.format !== SHARP_FORMAT[format]) {
    throw new ImageError(
      'IMAGE_CORRUPT',
      `Bytes look like ${format} but decode as ${meta.format ?? 'nothing'}`,
    );
  }
  if (format === 'avif' && meta.compression !== 'av1') {
    throw new ImageError(
      'IMAGE_UNSUPPORTED',
      `HEIF with ${meta.compression ?? 'unknown'} compression is not supported; only AVIF`,
    );
  }
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new ImageError('IMAGE_CORRUPT', `The ${format} image has no dimensions`);
  if (width * height > options.maxPixels) {
    throw new ImageError(
      'IMAGE_TOO_MANY_PIXELS',
      `Image is ${width}×${height} = ${width * height} pixels; the limit is ${options.maxPixels}`,
      { details: { width, height, maxPixels: options.maxPixels } },
    );
  }
  if (Math.min(width, height) < options.minSide) {
    throw new ImageError(
      'IMAGE_TOO_SMALL',
      `Image is ${width}×${height}; each side must be at least ${options.minSide} pixels`,
      {
        details: { width, height, minSide: options.minSide },
      },
    );
  }

  // The region the recipe sees: the whole oriented image, or the crop (refused before any decoding).
  const region = options.crop ? cropBox(options.crop, width, height) : { left: 0, top: 0, width, height };
  const cropped = region.width !== width || region.height !== height;

  const { size } = options;
  let pipeline = sharp(bytes, {
    // Strictest level (sharp's advice for untrusted input): libjpeg's "corrupt data" warnings mean
    // garbage pixels, and none of the 5,885 fashion-sample photos trips it.
    failOn: 'warning',
    limitInputPixels: options.maxPixels,
    sequentialRead: true,
    autoOrient: true,
    page: 0,
    pages: 1,
  })
    .timeout({ seconds: Math.max(1, Math.ceil(options.timeoutSeconds)) })
    .flatten({ background: WHITE });
  if (options.fit === 'crop') {
    // Shorter side → resizeShorterSide, then the centre size×size. The whole image (or region) is
    // resized, not just the centre, so every row is decoded and a truncated or corrupt tail is noticed
    // (with a crop, only down to its bottom edge; the container checks above still cover the file).
    const shorter = Math.min(region.width, region.height);
    let [srcWidth, srcHeight] = [region.width, region.height];
    if (Math.max(region.width, region.height) > shorter * MAX_ASPECT) {
      // A banner/strip: only its centre can reach the crop, so cut the long side before upscaling.
      const window = shorter * MAX_ASPECT;
      [srcWidth, srcHeight] = region.width > region.height ? [window, region.height] : [region.width, window];
    }
    if (cropped || srcWidth !== width || srcHeight !== height) {
      // One extract before the resize (sharp keeps only one per side of it): the crop and the banner
      // window in one rectangle. autoOrient has already turned the image, so the box is in the
      // coordinates the user saw.
      pipeline = pipeline.extract({
        left: region.left + Math.floor((region.width - srcWidth) / 2),
        top: region.top + Math.floor((region.height - srcHeight) / 2),
        width: srcWidth,
        height: srcHeight,
      });
    }
    const scale = options.resizeShorterSide / shorter;
    const resizedWidth = Math.max(size, Math.round(srcWidth * scale));
    const resizedHeight = Math.max(size, Math.round(srcHeight * scale));
    pipeline = pipeline.resize(resizedWidth, resizedHeight, { fit: 'fill', kernel: 'linear' }).extract({
      left: Math.floor((resizedWidth - size) / 2),
      top: Math.floor((resizedHeight - size) / 2),
      width: size,
      height: size,
    });
  } else {
    if (cropped) pipeline = pipeline.extract(region);
    pipeline = pipeline.resize(size, size, { fit: 'contain', background: WHITE, kernel: 'linear' });
  }

  let data: Buffer;
  let info: sharp.OutputInfo;
  try {
    ({ data, info } = await pipeline
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw decodeError(err, format);
  }
  if (info.width !== size || info.height !== size || data.length !== size * size * info.channels) {
    throw new ImageError(
      'IMAGE_CORRUPT',
      `Decoder returned ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×3`,
    );
  }
  if (info.channels === 3) return { pixels: data, format, width, height };
  if (info.channels === 1) {
    const rgb = new Uint8Array(size * size * 3);
    for (let i = 0; i < size * size; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = data[i] as number;
    return { pixels: rgb, format, width, height };
  }
  throw new ImageError('IMAGE_CORRUPT', `Decoder returned ${info.channels} channels`);
}
