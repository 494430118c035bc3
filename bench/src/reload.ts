import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SnapshotWriter, readPointer, switchPointer, type Pointer } from '@lookalike/index-store';
import { RssSampler, defaultModelIdentity, median, round, sleep, startApi, syntheticItems } from './common';
import { COMPACT_SPEC, catalogueSpace, fitCompactProjection, type Configuration } from './compact';
import { byIdRequests, runLoad, startLoad } from './load';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * Hot reload under load: a real API process serves a 50k-item snapshot under by-id load (8
 * connections). Steady phase first; then, during a 30 s load, the snapshot pointer moves to a new
 * version every 3 s, 10 times — exactly the atomic CURRENT switch SnapshotWriter commits with; the 10
 * versions (each replacing 500 items' vectors) were published beforehand by SnapshotWriter, so the
 * writer's own work (the indexer's, measured in the search suite) does not compete with the API here.
 * The API loads, verifies and swaps each in while answering. Afterwards it idles and its RSS is
 * compared with the steady baseline. Run for the compact configuration (projection fitted on the
 * catalogue, set with the first publish; the successors' upserts are projected by the writer) and for
 * raw, on the same "looks"-structured catalogue.
 */

const ITEMS = 50_000;
const CONNECTIONS = 8;
const CHANGED_PER_VERSION = 500;

/** The published pointer (CURRENT), through the index store's pointer codec. */
async function currentPointer(dataDir: string): Promise<Pointer> {
  const pointer = await readPointer(dataDir);
  if (!pointer) throw new Error('bench: the writer published no snapshot');
  return pointer;
}

/** The p99 target of issue 15 (compact snapshots): p99 during the swaps ≤ 1.5 × steady p99. */
const P99_RATIO_TARGET = 1.5;
/** The steady by-id throughput target at 8 connections, 50k items (compact). */
const STEADY_RPS_TARGET = 600;

async function runReload(context: BenchContext, configuration: Configuration) {
  {
    const model = defaultModelIdentity();
    const swaps = context.quick ? 4 : 10;
    const swapWindowMs = context.quick ? 12_000 : 30_000;
    const steadySeconds = context.quick ? 5 : 10;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-reload-'));
    try {
      context.log(`reload: ${configuration}, publishing a ${ITEMS}-item snapshot and ${swaps} successors`);
      const space = catalogueSpace(model, ITEMS);
      const vectors = space.sample(ITEMS, 0x5eed);
      const projection =
        configuration === 'compact' ? fitCompactProjection(vectors, ITEMS, model).projection : null;
      const writer = await SnapshotWriter.open({
        dataDir,
        model,
        keepVersions: swaps + 2,
        gcGraceMs: 3_600_000,
      });
      await writer.publish({
        upserts: syntheticItems(vectors, model.dimension),
        deletes: [],
        ...(projection ? { projection, projectionReplaces: null } : {}),
      });
      const pointers = [await currentPointer(dataDir)];
      const publishMs: number[] = [];
      const publishBytes: number[] = [];
      for (let swap = 1; swap <= swaps; swap++) {
        const started = performance.now();
        const first = (swap * 7919) % (ITEMS - CHANGED_PER_VERSION);
        const changed = space.sample(CHANGED_PER_VERSION, 0xabc + swap, first);
        const upserts = syntheticItems(changed, model.dimension).map((item, i) => ({
          ...item,
          id: `item-${first + i}`,
        }));
        const result = await writer.publish({ upserts, deletes: [] });
        publishMs.push(performance.now() - started);
        publishBytes.push(result.bytesWritten);
        pointers.push(await currentPointer(dataDir));
      }
      await writer.close();
      // Back to the first version (the writer's atomic pointer switch, without its checks).
      await switchPointer(dataDir, pointers[0] as Pointer);
      const api = await startApi(context, dataDir, ITEMS);
      const requests = byIdRequests(ITEMS);
      try {
        await runLoad(api.url, api.pid, requests, CONNECTIONS, 2); // warm-up
        context.log(`reload: steady load, ${CONNECTIONS} connections, ${steadySeconds} s`);
        const rss = new RssSampler(api.pid);
        const steadyFrom = Date.now();
        const steady = await runLoad(api.url, api.pid, requests, CONNECTIONS, steadySeconds);
        const baselineMiB = median(rss.samples.filter((s) => s.at >= steadyFrom).map((s) => s.mib));

        context.log(`reload: ${swaps} snapshot swaps during load`);
        const swapsBefore = api.swaps();
        const load = startLoad(api.url, api.pid, requests, CONNECTIONS, 600);
        const swapsFrom = Date.now();
        const publishes: Array<{ published: number; at: number }> = [];
        for (let swap = 1; swap <= swaps; swap++) {
          await sleep(swapsFrom + swap * (swapWindowMs / swaps) - Date.now() - swapWindowMs / swaps / 2);
          await switchPointer(dataDir, pointers[swap] as Pointer);
          publishes.push({ published: swap + 1, at: Date.now() });
        }
        await sleep(swapsFrom + swapWindowMs - Date.now());
        // Keep loading until the API serves the last version (it loads in the background).
        const lastVersion = publishes.at(-1)?.published ?? 0;
        const deadline = Date.now() + 60_000;
        let served = 0;
        while (Date.now() < deadline) {
          const index = (await fetch(`${api.url}/v1/index`).then((r) => r.json())) as { version: number };
          served = index.version;
          if (served >= lastVersion) break;
          await sleep(200);
        }
        await sleep(1000);
        load.stop();
        const during = await load.done;
        const swapsTo = Date.now();
        const apiSwaps = api.swaps() - swapsBefore;
        context.log('reload: idle 10 s, then a short light load, then RSS');
        await sleep(10_000);
        await runLoad(api.url, api.pid, requests, 1, 3);
        await sleep(2_000);
        rss.stop();
        const afterMiB = median(rss.samples.filter((s) => s.at >= Date.now() - 1500).map((s) => s.mib));
        const peakMiB = rss.max(swapsFrom, swapsTo);
        const p99Ratio = during.p99 / steady.p99;
        const errors = steady.errors + during.errors;
        const rpsVerdict =
          configuration === 'compact'
            ? `; steady req/s ${round(steady.requestsPerSecond, 0)} ≥ ${STEADY_RPS_TARGET} — ${steady.requestsPerSecond >= STEADY_RPS_TARGET ? 'met' : 'gap'}`
            : '';
        const rows: Array<Array<string | number>> = [
          [
            configuration,
            'steady (no swaps)',
            round(steady.seconds, 0),
            steady.requests,
            round(steady.requestsPerSecond, 1),
            round(steady.p50, 1),
            round(steady.p99, 1),
            steady.errors,
            `${round(baselineMiB, 0)} (median)`,
          ],
          [
            configuration,
            `during ${publishes.length} pointer switches (API swapped ${apiSwaps}×, serving v${served})`,
            round(during.seconds, 0),
            during.requests,
            round(during.requestsPerSecond, 1),
            round(during.p50, 1),
            round(during.p99, 1),
            during.errors,
            `${round(peakMiB, 0)} (peak)`,
          ],
          [
            configuration,
            'after (idle 10 s + light load)',
            '',
            '',
            '',
            '',
            '',
            '',
            `${round(afterMiB, 0)} (median)`,
          ],
          [
            configuration,
            `targets: errors 0 — ${errors === 0 ? 'met' : 'gap'}; p99 during / steady ${round(p99Ratio)}× ≤ ${P99_RATIO_TARGET}× — ${p99Ratio <= P99_RATIO_TARGET ? 'met' : 'gap'}; ` +
              `memory after / baseline ${round(afterMiB / baselineMiB)}× — ${afterMiB <= baselineMiB * 1.1 ? 'met (≤ 1.1×)' : 'gap (> 1.1×)'}${rpsVerdict}`,
            '',
            '',
            '',
            '',
            '',
            '',
            '',
          ],
        ];
        const note =
          `${configuration}: ${swaps} versions published beforehand by SnapshotWriter (${CHANGED_PER_VERSION} items changed each, median ` +
          `${round(median(publishMs), 0)} ms and ${round(median(publishBytes) / 1e6, 1)} MB written per publish), CURRENT switched to the next one every ${round(swapWindowMs / swaps / 1000, 1)} s.`;
        return {
          rows,
          note,
          raw: {
            configuration,
            publishBytes,
            apiSwaps,
            items: ITEMS,
            swaps,
            publishes,
            publishMs,
            served,
            steady,
            during,
            baselineMiB,
            peakMiB,
            afterMiB,
            p99Ratio,
            errors,
            rss: rss.samples,
            warnings: api.warnings,
          },
        };
      } finally {
        await api.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

export const reloadSuite: BenchSuite = {
  name: 'reload',
  async run(context: BenchContext) {
    const swaps = context.quick ? 4 : 10;
    // Compact (the configuration) first; quick runs only it.
    const configurations: Configuration[] = context.quick ? ['compact'] : ['compact', 'raw'];
    const runs = [];
    for (const configuration of configurations) runs.push(await runReload(context, configuration));
    const table: BenchTable = {
      title: `Hot reload under load: ${swaps} snapshot swaps, ${ITEMS / 1000}k items, by id, ${CONNECTIONS} connections, compact (${COMPACT_SPEC}) and raw`,
      columns: [
        'configuration',
        'phase',
        'seconds',
        'requests',
        'req/s',
        'p50 ms',
        'p99 ms',
        'errors',
        'API RSS MiB',
      ],
      rows: runs.flatMap((r) => r.rows),
      notes: [
        ...runs.map((r) => r.note),
        'The API polls every 200 ms (and watches the directory), reads and verifies every file (sha256) before swapping; ' +
          'a pointer that moves on while a version loads is followed to the newest, so swaps can be fewer than switches.',
      ],
    };
    return { tables: [table], raw: runs.map((r) => r.raw) };
  },
};
