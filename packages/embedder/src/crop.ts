import { LookalikeError } from '@lookalike/config';

/**
 * A region of the image to embed instead of the whole image ("crop to search"), in normalised
 * coordinates of the image as displayed (after EXIF orientation): `x`, `y` the top-left corner, `w`,
 * `h` the size, each a fraction 0…1 of the width or height. Normalised so a front end can send what
 * the shopper drew on a scaled preview without knowing the original's pixel size.
 */
export interface Crop {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The smallest crop, in source pixels per side: below it a model input is upscaled noise. */
export const MIN_CROP_SIDE = 8;

/** Slack for `x + w ≤ 1`: 0.7 + 0.3 is 1.0000000000000002 in floating point, and means 1. */
const EPSILON = 1e-9;

/** A crop that cannot be applied: out of range, or smaller than MIN_CROP_SIDE pixels. Permanent. */
export class CropError extends LookalikeError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INVALID_CROP', message, { permanent: true, details });
  }
}

/** Pixel rectangle of the oriented image. */
export interface PixelBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Refuses a crop that lies outside the image whatever its size: each value finite, `x`, `y` ≥ 0,
 * `w`, `h` > 0, `x + w` ≤ 1, `y + h` ≤ 1. Cheap, so callers check before any decoding.
 */
export function checkCrop(crop: Crop): void {
  const { x, y, w, h } = crop;
  if (![x, y, w, h].every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new CropError('crop x, y, w and h must be finite numbers', { crop });
  }
  if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > 1 + EPSILON || y + h > 1 + EPSILON) {
    throw new CropError(
      `crop {x: ${x}, y: ${y}, w: ${w}, h: ${h}} is not inside the image: need 0 ≤ x, 0 ≤ y, w > 0, h > 0, ` +
        'x + w ≤ 1, y + h ≤ 1',
      { crop },
    );
  }
}

/**
 * The pixel rectangle a crop covers on a `width`×`height` image: each edge rounded to the nearest
 * pixel (so adjacent crops share edges and never overlap or leave a gap), clamped to the image.
 * Throws CropError when the crop is invalid or either side is under MIN_CROP_SIDE pixels.
 */
export function cropBox(crop: Crop, width: number, height: number): PixelBox {
  checkCrop(crop);
  const left = Math.min(width, Math.round(crop.x * width));
  const top = Math.min(height, Math.round(crop.y * height));
  const right = Math.min(width, Math.round((crop.x + crop.w) * width));
  const bottom = Math.min(height, Math.round((crop.y + crop.h) * height));
  const box = { left, top, width: right - left, height: bottom - top };
  if (box.width < MIN_CROP_SIDE || box.height < MIN_CROP_SIDE) {
    throw new CropError(
      `crop covers ${box.width}×${box.height} pixels of the ${width}×${height} image; ` +
        `each side must be at least ${MIN_CROP_SIDE}`,
      { crop, box, width, height, minSide: MIN_CROP_SIDE },
    );
  }
  return box;
}
