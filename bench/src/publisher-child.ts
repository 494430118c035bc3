import { SnapshotWriter } from '@lookalike/index-store';
import { defaultModelIdentity, randomUnitVectors, sleep, syntheticItems } from './common';

/**
 * The indexer's part in the hot-reload suite, in its own process (as in production, and so its CPU
 * work does not distort the load generator's clock): publishes `swaps` snapshots, one every
 * `intervalMs` at most, each replacing the vectors of `changed` items. Prints one JSON line per publish.
 * argv: dataDir items swaps intervalMs changed
 */
async function main(): Promise<void> {
  const [dataDir, items, swaps, intervalMs, changed] = process.argv.slice(2);
  const model = defaultModelIdentity();
  const writer = await SnapshotWriter.open({ dataDir: dataDir as string, model, gcGraceMs: 5_000 });
  for (let swap = 1; swap <= Number(swaps); swap++) {
    const started = Date.now();
    const count = Number(changed);
    const first = (swap * 7919) % Math.max(1, Number(items) - count);
    const vectors = randomUnitVectors(count, model.dimension, 0xabc + swap);
    const upserts = syntheticItems(vectors, model.dimension).map((item, i) => ({
      ...item,
      id: `item-${first + i}`,
    }));
    const result = await writer.publish({ upserts, deletes: [] });
    process.stdout.write(
      `${JSON.stringify({ published: result.version, ms: Date.now() - started, at: Date.now() })}\n`,
    );
    await sleep(Math.max(0, Number(intervalMs) - (Date.now() - started)));
  }
  await writer.close();
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
