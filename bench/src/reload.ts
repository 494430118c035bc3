import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SnapshotWriter } from '@lookalike/index-store';
import {
  RssSampler,
  defaultModelIdentity,
  median,
  randomUnitVectors,
  round,
  sleep,
  startApi,
  syntheticItems,
} from './common';
import { byIdRequests, runLoad, startLoad } from './load';
import type { BenchContext, BenchSuite, BenchTable } from './types';

/**
 * Hot reload under load: a real API process serves a 50k-item snapshot under by-id load (8
 * connections). Steady phase first; then, during a ~30 s load, another process publishes 10 new
 * snapshots (each replacing 500 items' vectors) which the API loads, verifies and swaps in while
 * answering. Afterwards the API idles and its RSS is compared with the steady baseline.
 */

const ITEMS = 50_000;
const CONNECTIONS = 8;

export const reloadSuite: BenchSuite = {
  name: 'reload',
  async run(context: BenchContext) {
    const model = defaultModelIdentity();
    const swaps = context.quick ? 4 : 10;
    const swapWindowMs = context.quick ? 12_000 : 30_000;
    const steadySeconds = context.quick ? 5 : 10;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-reload-'));
    try {
      context.log(`reload: writing a ${ITEMS}-item snapshot`);
      const vectors = randomUnitVectors(ITEMS, model.dimension, 0x5eed);
      const writer = await SnapshotWriter.open({ dataDir, model, gcGraceMs: 5_000 });
      await writer.publish({ upserts: syntheticItems(vectors, model.dimension), deletes: [] });
      await writer.close();
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
        const load = startLoad(api.url, api.pid, requests, CONNECTIONS, 600);
        const swapsFrom = Date.now();
        const publisher = spawn(
          process.execPath,
          [
            path.join(context.repoRoot, 'bench/dist/publisher-child.js'),
            dataDir,
            String(ITEMS),
            String(swaps),
            String(Math.floor(swapWindowMs / swaps)),
            '500',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        const publishes: Array<{ published: number; ms: number; at: number }> = [];
        let stderr = '';
        publisher.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          for (const line of chunk.split('\n').filter(Boolean))
            publishes.push(JSON.parse(line) as { published: number; ms: number; at: number });
        });
        publisher.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        const code = await new Promise<number | null>((resolve) => publisher.once('close', resolve));
        if (code !== 0) throw new Error(`bench: publisher failed: ${stderr}`);
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
        context.log('reload: idle 10 s, then a short light load, then RSS');
        await sleep(10_000);
        await runLoad(api.url, api.pid, requests, 1, 3);
        await sleep(2_000);
        rss.stop();
        const afterMiB = median(rss.samples.filter((s) => s.at >= Date.now() - 1500).map((s) => s.mib));
        const peakMiB = rss.max(swapsFrom, swapsTo);
        const p99Ratio = during.p99 / steady.p99;
        const errors = steady.errors + during.errors;
        const table: BenchTable = {
          title: `Hot reload under load: ${swaps} snapshot swaps, ${ITEMS / 1000}k items, by id, ${CONNECTIONS} connections`,
          columns: ['phase', 'seconds', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'API RSS MiB'],
          rows: [
            [
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
              `during ${publishes.length} swaps (served v${served})`,
              round(during.seconds, 0),
              during.requests,
              round(during.requestsPerSecond, 1),
              round(during.p50, 1),
              round(during.p99, 1),
              during.errors,
              `${round(peakMiB, 0)} (peak)`,
            ],
            ['after (idle 10 s + light load)', '', '', '', '', '', '', `${round(afterMiB, 0)} (median)`],
            [
              `targets: errors 0 — ${errors === 0 ? 'met' : 'gap'}; p99 during / steady ${round(p99Ratio)}× ≤ 2× — ${p99Ratio <= 2 ? 'met' : 'gap'}; ` +
                `memory after / baseline ${round(afterMiB / baselineMiB)}× — ${afterMiB <= baselineMiB * 1.1 ? 'met (≤ 1.1×)' : 'gap (> 1.1×)'}`,
              '',
              '',
              '',
              '',
              '',
              '',
              '',
            ],
          ],
          notes: [
            `Publishes by a separate process (SnapshotWriter, 500 items changed each, one every ≤ ${round(swapWindowMs / swaps / 1000, 1)} s): ` +
              `median ${round(median(publishes.map((p) => p.ms)), 0)} ms each. The API polls every 200 ms and verifies every file before swapping.`,
          ],
        };
        return {
          tables: [table],
          raw: {
            items: ITEMS,
            swaps,
            publishes,
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
  },
};
