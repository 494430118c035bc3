/**
 * Colour features of a product photo: an HSV histogram of the foreground. Catalogue photos are shot
 * on white, so the background is the near-white region connected to the image border; removing it
 * keeps a white garment's own pixels (enclosed by its outline) while dropping the backdrop.
 */

export interface ColourHistogramOptions {
  /** Hue bins for chromatic pixels. */
  hueBins: number;
  /** Saturation bins for chromatic pixels. */
  saturationBins: number;
  /** Value bins for chromatic pixels. */
  valueBins: number;
  /** Bins for achromatic pixels (black … white), by value. */
  greyBins: number;
  /** Below this saturation (0..1) a pixel counts as grey. */
  greySaturation: number;
  /** Below this value (0..1) a pixel counts as black (grey bin 0), whatever its hue. */
  blackValue: number;
  /** `border`: near-white pixels connected to the border are background. `threshold`: every near-white pixel. `none`. */
  background: 'border' | 'threshold' | 'none';
  /** A pixel is near-white when min(r,g,b) ≥ this and max − min ≤ whiteSpread. */
  whiteLevel: number;
  whiteSpread: number;
  /** Every `stride`-th pixel in each direction is read (224² pixels do not need all 50k). */
  stride: number;
}

export const COLOUR_DEFAULTS: ColourHistogramOptions = {
  hueBins: 16,
  saturationBins: 2,
  valueBins: 3,
  greyBins: 5,
  greySaturation: 0.18,
  blackValue: 0.15,
  background: 'border',
  whiteLevel: 232,
  whiteSpread: 14,
  stride: 2,
};

/** Length of the histogram Embedding.colour holds (COLOUR_DEFAULTS). */
export const COLOUR_HISTOGRAM_LENGTH = 16 * 2 * 3 + 5;

export function histogramLength(options: ColourHistogramOptions): number {
  return options.hueBins * options.saturationBins * options.valueBins + options.greyBins;
}

/**
 * The L1-normalised foreground histogram of `pixels` (width × height × 3 sRGB bytes, HWC). When no
 * foreground is found (an all-white image) every pixel counts. Hue is soft-binned between the two
 * nearest hue bins so a colour on a bin edge does not flip between bins.
 */
export function colourHistogram(
  pixels: Uint8Array,
  width: number,
  height: number,
  options: ColourHistogramOptions = COLOUR_DEFAULTS,
): Float32Array {
  const stride = Math.max(1, options.stride);
  const w = Math.ceil(width / stride);
  const h = Math.ceil(height / stride);
  const background = new Uint8Array(w * h);
  const isWhite = (x: number, y: number): boolean => {
    const o = (y * stride * width + x * stride) * 3;
    const r = pixels[o] as number;
    const g = pixels[o + 1] as number;
    const b = pixels[o + 2] as number;
    const lo = Math.min(r, g, b);
    return lo >= options.whiteLevel && Math.max(r, g, b) - lo <= options.whiteSpread;
  };
  if (options.background === 'threshold') {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (isWhite(x, y)) background[y * w + x] = 1;
  } else if (options.background === 'border') {
    const stack: number[] = [];
    const push = (x: number, y: number) => {
      const p = y * w + x;
      if (background[p] === 0 && isWhite(x, y)) {
        background[p] = 1;
        stack.push(p);
      }
    };
    for (let x = 0; x < w; x++) {
      push(x, 0);
      push(x, h - 1);
    }
    for (let y = 0; y < h; y++) {
      push(0, y);
      push(w - 1, y);
    }
    while (stack.length > 0) {
      const p = stack.pop() as number;
      const x = p % w;
      const y = (p - x) / w;
      if (x > 0) push(x - 1, y);
      if (x < w - 1) push(x + 1, y);
      if (y > 0) push(x, y - 1);
      if (y < h - 1) push(x, y + 1);
    }
  }
  let foreground = 0;
  for (let p = 0; p < w * h; p++) if (background[p] === 0) foreground++;
  const all = foreground === 0;

  const { hueBins, saturationBins, valueBins, greyBins } = options;
  const chromatic = hueBins * saturationBins * valueBins;
  const hist = new Float32Array(chromatic + greyBins);
  let total = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!all && background[y * w + x] === 1) continue;
      const o = (y * stride * width + x * stride) * 3;
      const r = (pixels[o] as number) / 255;
      const g = (pixels[o + 1] as number) / 255;
      const b = (pixels[o + 2] as number) / 255;
      const max = Math.max(r, g, b);
      const min = Math.min(r, g, b);
      const delta = max - min;
      const value = max;
      const saturation = max === 0 ? 0 : delta / max;
      total++;
      if (value < options.blackValue || saturation < options.greySaturation) {
        const bin = Math.min(greyBins - 1, Math.floor(value * greyBins));
        hist[chromatic + bin] = (hist[chromatic + bin] as number) + 1;
        continue;
      }
      let hue: number;
      if (max === r) hue = ((g - b) / delta + 6) % 6;
      else if (max === g) hue = (b - r) / delta + 2;
      else hue = (r - g) / delta + 4;
      const hPos = (hue / 6) * hueBins - 0.5;
      const h0 = Math.floor(hPos);
      const frac = hPos - h0;
      const hA = (h0 + hueBins) % hueBins;
      const hB = (h0 + 1) % hueBins;
      const sBin = Math.min(
        saturationBins - 1,
        Math.floor(((saturation - options.greySaturation) / (1 - options.greySaturation)) * saturationBins),
      );
      const vBin = Math.min(
        valueBins - 1,
        Math.floor(((value - options.blackValue) / (1 - options.blackValue)) * valueBins),
      );
      const rest = (sBin * valueBins + vBin) * hueBins;
      hist[rest + hA] = (hist[rest + hA] as number) + (1 - frac);
      hist[rest + hB] = (hist[rest + hB] as number) + frac;
    }
  }
  if (total > 0) for (let i = 0; i < hist.length; i++) hist[i] = (hist[i] as number) / total;
  return hist;
}
