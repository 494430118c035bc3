/**
 * Generated test images and hand-built multipart bodies (never photos from the repo). Used by the API
 * unit tests and by the system tests in tests/.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

export async function solidPng(rgb: [number, number, number], width = 64, height = 64): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}

/** A photo-like JPEG: gradient, shapes and noise, different per seed. */
export async function sceneJpeg(seed: number, width = 320, height = 240): Promise<Buffer> {
  const hue = (seed * 67) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="hsl(${hue},70%,60%)"/><stop offset="1" stop-color="hsl(${(hue + 120) % 360},60%,30%)"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${40 + ((seed * 37) % 200)}" cy="${60 + ((seed * 53) % 120)}" r="${20 + (seed % 5) * 10}" fill="hsl(${(hue + 200) % 360},80%,50%)"/>
    <rect x="${(seed * 29) % 160}" y="${(seed * 17) % 100}" width="90" height="50" fill="hsl(${(hue + 90) % 360},50%,70%)" transform="rotate(${seed * 13} 160 120)"/>
  </svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A valid 1-bit PNG of width × height pixels: a few KB on the wire, gigapixels when decoded. */
export function pixelBombPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1;
  ihdr[9] = 0;
  const rows = Math.min(height, 64); // enough IDAT to look real; the header is what a bomb abuses
  const idat = deflateSync(Buffer.alloc((1 + Math.ceil(width / 8)) * rows), { level: 9 });
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** A multipart/form-data body built by hand, so tests control every byte. */
export function multipartBody(
  parts: Array<
    { name: string; value: string } | { name: string; filename: string; contentType: string; data: Buffer }
  >,
  boundary = '----lookalike-test-boundary',
): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if ('data' in part) {
      chunks.push(
        Buffer.from(
          `Content-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n` +
            `Content-Type: ${part.contentType}\r\n\r\n`,
        ),
        part.data,
        Buffer.from('\r\n'),
      );
    } else {
      chunks.push(
        Buffer.from(`Content-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`),
      );
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A valid shopper event (POST /v1/events), happening now; fields overridden per case. */
export function shopperEvent(
  eventId: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    eventId,
    type: 'click',
    itemId: 'green-shirt',
    context: { sourceItemId: 'red-shirt' },
    position: 0,
    timestamp: new Date().toISOString(),
    sessionId: 's_route_test_1',
    ...overrides,
  };
}
