/**
 * Measures the bytes a small publish writes at scale (issue 15): 50k items of the production raw
 * dimension (2,304), with and without a 256-d projection. Run from the repo root:
 *   node -r ./packages/index-store/test/fixtures/register.cjs packages/index-store/scripts/measure-publish.ts [items]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SnapshotWriter, type ItemInput } from '../src';
import { orthonormalProjection, rng, unitVector } from '../test/helpers';

const ITEMS = Number(process.argv[2] ?? 50_000);
const model = { id: 'measure-model', sha256: 'e'.repeat(64), dimension: 2304 };

function items(count: number, prefix: string, seed: number): ItemInput[] {
  const random = rng(seed);
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}${i}`,
    vector: unitVector(random, model.dimension),
    metadata: { category: `c${i % 40}`, brand: `brand-${i % 300}`, price: i % 997 },
    contentHash: `sha256:${i.toString(16).padStart(64, '0')}`,
    source: { imageUrl: `https://images.example.com/catalogue/${prefix}${i}.jpg` },
  }));
}

async function measure(projected: boolean): Promise<Record<string, number | string>> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'measure-publish-'));
  try {
    const writer = await SnapshotWriter.open({ dataDir, model, gcGraceMs: 0 });
    let started = Date.now();
    const full = await writer.publish({ upserts: items(ITEMS, 'i', 1), deletes: [] });
    const fullMs = Date.now() - started;
    let projectMs = 0;
    let setBytes = 0;
    if (projected) {
      const projection = orthonormalProjection(model, 256, 2);
      started = Date.now();
      setBytes = (await writer.publish({ upserts: [], deletes: [], projection, projectionReplaces: null }))
        .bytesWritten;
      projectMs = Date.now() - started;
    }
    const results: Record<string, number | string> = {
      projection: projected ? '2304→256' : 'none',
      items: ITEMS,
      fullPublishMB: +(full.bytesWritten / 1e6).toFixed(1),
      fullPublishMs: fullMs,
      ...(projected ? { setProjectionMB: +(setBytes / 1e6).toFixed(1), setProjectionMs: projectMs } : {}),
    };
    const fresh = items(3, 'new', 3);
    for (const [name, change] of [
      ['oneNewItem', { upserts: [fresh[0] as ItemInput], deletes: [] }],
      ['oneReplacedItem', { upserts: [{ ...(items(1, 'i', 9)[0] as ItemInput), id: 'i123' }], deletes: [] }],
      ['oneDelete', { upserts: [], deletes: ['i456'] }],
      ['anotherNewItem', { upserts: [fresh[1] as ItemInput], deletes: [] }],
    ] as const) {
      started = Date.now();
      const result = await writer.publish(change);
      results[`${name}Bytes`] = result.bytesWritten;
      results[`${name}Ms`] = Date.now() - started;
    }
    await writer.close();
    return results;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  for (const projected of [false, true])
    process.stdout.write(`${JSON.stringify(await measure(projected))}\n`);
}

void main();
