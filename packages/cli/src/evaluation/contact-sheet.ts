import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { SearchHit } from '@lookalike/ranking';
import type { EvalItem } from './judging';

const TILE = 112;
const FRAME = 6;

/** 12 queries × (query + top 5): hits (same articleType) framed green, misses red. */
export async function contactSheet(
  file: string,
  rows: Array<{ query: EvalItem; hits: SearchHit[] }>,
  byId: Map<string, EvalItem>,
  root: string,
): Promise<void> {
  const cell = TILE + 2 * FRAME;
  const gap = 4;
  const width = 6 * cell + 5 * gap + cell / 2;
  const height = rows.length * (cell + gap);
  const composites: sharp.OverlayOptions[] = [];
  const tile = async (item: EvalItem, frame: { r: number; g: number; b: number }) =>
    sharp(await readFile(path.join(root, item.imagePath)))
      .resize(TILE, TILE, { fit: 'contain', background: '#ffffff' })
      .flatten({ background: '#ffffff' })
      .extend({ top: FRAME, bottom: FRAME, left: FRAME, right: FRAME, background: frame })
      .png()
      .toBuffer();
  for (const [r, { query, hits }] of rows.entries()) {
    const top = r * (cell + gap);
    composites.push({ input: await tile(query, { r: 60, g: 60, b: 60 }), left: 0, top });
    for (const [c, hit] of hits.slice(0, 5).entries()) {
      const item = byId.get(hit.id);
      if (!item) continue;
      const same = item.metadata.articleType === query.metadata.articleType;
      composites.push({
        input: await tile(item, same ? { r: 30, g: 170, b: 60 } : { r: 210, g: 40, b: 40 }),
        left: cell + cell / 2 + c * (cell + gap),
        top,
      });
    }
  }
  await mkdir(path.dirname(file), { recursive: true });
  await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(composites)
    .png()
    .toFile(file);
}
