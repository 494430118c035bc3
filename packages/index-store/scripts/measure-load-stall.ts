/**
 * Max event-loop delay while a snapshot loads (issue 15, part 3): a 200k × 256 synthetic snapshot,
 * loaded the way a reader does (verified, field index built), with the segment files read on the
 * event loop (time-sliced) or in a worker thread. Run from the repo root:
 *   node -r ./packages/index-store/test/fixtures/register.cjs packages/index-store/scripts/measure-load-stall.ts [items] [runs]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SnapshotWriter, type ItemInput } from '../src';
import { loadSnapshot } from '../src/read/load';
import { rng, unitVector } from '../test/helpers';

const ITEMS = Number(process.argv[2] ?? 200_000);
const RUNS = Number(process.argv[3] ?? 3);
const model = { id: 'stall-model', sha256: 'f'.repeat(64), dimension: 256 };

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'measure-stall-'));
  try {
    const writer = await SnapshotWriter.open({ dataDir, model });
    const random = rng(1);
    const upserts: ItemInput[] = Array.from({ length: ITEMS }, (_, i) => ({
      id: `i${i}`,
      vector: unitVector(random, model.dimension),
      metadata: { category: `c${i % 40}`, brand: `brand-${i % 300}`, price: i % 997 },
      contentHash: `h${i}`,
    }));
    const { version } = await writer.publish({ upserts, deletes: [] });
    // A second, small publish: two segments with a tombstone, as after a day of updates.
    await writer.publish({ upserts: [{ ...(upserts[5] as ItemInput), id: 'i7' }], deletes: ['i9'] });
    await writer.close();
    upserts.length = 0;
    for (let run = 0; run < RUNS; run++) {
      for (const readInWorker of [false, true]) {
        const histogram = monitorEventLoopDelay({ resolution: 1 });
        histogram.enable();
        const started = performance.now();
        const snapshot = await loadSnapshot(dataDir, version + 1, {
          loadFaiss: true,
          eager: true,
          readInWorker,
        });
        const ms = performance.now() - started;
        histogram.disable();
        process.stdout.write(
          `${JSON.stringify({
            items: snapshot.count,
            dimension: snapshot.dimension,
            mode: readInWorker ? 'worker' : 'event loop (time-sliced)',
            loadMs: Math.round(ms),
            maxDelayMs: +(histogram.max / 1e6).toFixed(1),
            p99DelayMs: +(histogram.percentile(99) / 1e6).toFixed(1),
          })}\n`,
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

void main();
