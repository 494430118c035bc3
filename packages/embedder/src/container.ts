/**
 * Container-level completeness checks, run before decoding. libvips reads only as far as it needs, so
 * a file cut off after the last pixel data (or a JPEG missing only its EOI marker) can decode "fine";
 * such a file is still a truncated transfer, and the caller should fetch it again rather than index it.
 * Each check returns why the file is incomplete, or null.
 */

/** Walks JPEG markers from SOI through each scan's entropy data to the first EOI. */
export function jpegTruncation(bytes: Uint8Array): string | null {
  const length = bytes.length;
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 2; // after SOI
  // Bounded: every iteration moves forward by at least one byte.
  while (i < length) {
    if (bytes[i] !== 0xff)
      return `unexpected byte 0x${(bytes[i] ?? 0).toString(16)} where a JPEG marker should be at offset ${i}`;
    const marker = bytes[i + 1];
    if (marker === undefined) break;
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    if (marker === 0xd9) return null; // EOI
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i += 2; // standalone markers
      continue;
    }
    if (i + 4 > length) break;
    const segmentEnd = i + 2 + (((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number));
    if (segmentEnd > length) break;
    if (marker !== 0xda) {
      i = segmentEnd;
      continue;
    }
    // Entropy-coded data after SOS: runs to the next marker that is not a stuffed 0xFF00 or RSTn.
    let j = segmentEnd;
    for (;;) {
      j = view.indexOf(0xff, j);
      if (j < 0 || j + 1 >= length)
        return 'the JPEG ends inside its compressed data (no end-of-image marker)';
      const next = bytes[j + 1] as number;
      if (next === 0x00 || next === 0xff || (next >= 0xd0 && next <= 0xd7)) {
        j += next === 0xff ? 1 : 2;
        continue;
      }
      break;
    }
    i = j;
  }
  return 'the JPEG ends before its end-of-image marker';
}

/** Walks PNG chunks from the signature to IEND. */
export function pngTruncation(bytes: Uint8Array): string | null {
  let i = 8;
  while (i + 8 <= bytes.length) {
    const chunkLength =
      (((bytes[i] as number) << 24) |
        ((bytes[i + 1] as number) << 16) |
        ((bytes[i + 2] as number) << 8) |
        (bytes[i + 3] as number)) >>>
      0;
    const type = String.fromCharCode(...bytes.subarray(i + 4, i + 8));
    const next = i + 12 + chunkLength;
    if (next > bytes.length) return `the PNG ends inside its ${type} chunk`;
    if (type === 'IEND') return null;
    i = next;
  }
  return 'the PNG ends before its IEND chunk';
}

/** Compares the RIFF size field with the bytes present. */
export function webpTruncation(bytes: Uint8Array): string | null {
  if (bytes.length < 12) return 'the WebP header is incomplete';
  const riffSize =
    ((bytes[4] as number) |
      ((bytes[5] as number) << 8) |
      ((bytes[6] as number) << 16) |
      ((bytes[7] as number) << 24)) >>>
    0;
  if (bytes.length < 8 + riffSize) return `the WebP is ${bytes.length} bytes but declares ${8 + riffSize}`;
  return null;
}
