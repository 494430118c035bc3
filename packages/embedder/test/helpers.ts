import path from 'node:path';
import { existsSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import {
  embeddingModelOf,
  fetchModel,
  modelRegistry,
  type EmbeddingModel,
  type ModelEntry,
} from '@lookalike/models';

export const repoRoot = path.resolve(__dirname, '../../..');
export const sharedDir = process.env.LOOKALIKE_SHARED_DIR ?? path.resolve(repoRoot, '../shared');
export const modelCacheDir = path.join(repoRoot, '.cache/models');
export const modelMirror = path.join(sharedDir, 'models');
export const hasSharedModels = existsSync(modelMirror);

export async function modelFile(name: string): Promise<{ entry: ModelEntry; path: string }> {
  const entry = modelRegistry.get(name);
  const fetched = await fetchModel(entry, { cacheDir: modelCacheDir, mirror: modelMirror });
  return { entry, path: fetched.path };
}

/** Embedder options for one model file (entry possibly altered by a test) at `path`. */
export function singleFile(
  entry: ModelEntry,
  path: string,
): { embeddingModel: EmbeddingModel; modelPaths: string[] } {
  return { embeddingModel: embeddingModelOf(entry), modelPaths: [path] };
}

/** The same entry, pretending the registry does not know which tensor is the embedding. */
export function withUnknownTensor(entry: ModelEntry): ModelEntry {
  return { ...entry, embedding: { ...entry.embedding, tensor: null, pooling: 'auto' } };
}

/**
 * Generated test scenes (SVG rendered by sharp): shapes, gradients and a little texture, so they
 * behave like photos under re-encoding and resizing, and differ clearly from each other.
 */
export const scenes = {
  shirt: (w = 480, h = 360) => `
    <svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 480 360">
      <defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1">
        <stop offset="0" stop-color="#d02030"/><stop offset="1" stop-color="#801018"/></linearGradient></defs>
      <rect width="480" height="360" fill="#f4f4f4"/>
      <path d="M170 60 L210 50 Q240 80 270 50 L310 60 L380 120 L345 160 L320 140 L320 320 L160 320 L160 140 L135 160 L100 120 Z"
        fill="url(#g)" stroke="#501010" stroke-width="3"/>
      <circle cx="240" cy="170" r="28" fill="#f0e0a0"/>
    </svg>`,
  stripes: (w = 480, h = 360) => `
    <svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 480 360">
      <defs><pattern id="p" width="40" height="40" patternUnits="userSpaceOnUse" patternTransform="rotate(35)">
        <rect width="20" height="40" fill="#1040c0"/><rect x="20" width="20" height="40" fill="#f0d020"/></pattern></defs>
      <rect width="480" height="360" fill="url(#p)"/>
    </svg>`,
  dots: (w = 480, h = 360) => `
    <svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 480 360">
      <defs><radialGradient id="r"><stop offset="0" stop-color="#60ff60"/><stop offset="1" stop-color="#004000"/></radialGradient>
      <pattern id="d" width="60" height="60" patternUnits="userSpaceOnUse"><circle cx="30" cy="30" r="22" fill="url(#r)"/></pattern></defs>
      <rect width="480" height="360" fill="#101010"/><rect width="480" height="360" fill="url(#d)"/>
    </svg>`,
};

export type SceneName = keyof typeof scenes;

export function renderScene(name: SceneName, width = 480, height = 360): sharp.Sharp {
  return sharp(Buffer.from(scenes[name](width, height)));
}

export async function scenePng(name: SceneName, width = 480, height = 360): Promise<Buffer> {
  return renderScene(name, width, height).png().toBuffer();
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A valid 1-bit greyscale PNG of width × height black pixels: tiny on disk (zeros deflate ~1000:1),
 * huge when decoded. With `rowsOfData` < height the header lies: it promises more rows than it holds.
 */
export function bombPng(width: number, height: number, rowsOfData = height): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const parts = [Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), pngChunk('IHDR', ihdr)];
  const rowBytes = 1 + Math.ceil(width / 8); // filter byte + packed bits
  parts.push(pngChunk('IDAT', deflateSync(Buffer.alloc(rowBytes * rowsOfData), { level: 9 })));
  parts.push(pngChunk('IEND', new Uint8Array(0)));
  return Buffer.concat(parts);
}

/** A valid 24-bit BMP (a format libvips could read with other loaders, but lookalike does not accept). */
export function bmp(width: number, height: number): Buffer {
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const header = Buffer.alloc(54);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(54 + rowBytes * height, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(width, 18);
  header.writeInt32LE(height, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(24, 28);
  return Buffer.concat([header, Buffer.alloc(rowBytes * height, 0x80)]);
}
