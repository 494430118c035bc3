import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setThreading } from 'faiss-node';
import { FAISS_THREADING, SnapshotReader, SnapshotWriter, type Snapshot } from '@lookalike/index-store';
import { defaultModelIdentity, randomUnitVectors, round, startApi, type ApiProcess } from './common';
import {
  BATCH,
  FAISS_DEFAULT_THREADING,
  IVF_FACTORY,
  IVF_NPROBE,
  K,
  METHOD,
  bareIndex,
  memoryReadFloorMs,
  runSklearn,
  searchItems,
  type MethodTiming,
  type SizeResult,
} from './search-methods';
import type { BenchContext } from './types';

/**
 * One size of the search suite: publish and load the snapshot (timed, with the longest event-loop
 * stall), start the API on it (and a second one with INDEX_FACTORY from 50k items), then time every
 * method on the same queries, interleaved.
 */
export async function benchSize(
  items: number,
  queriesPerMethod: number,
  sklearnQueries: number,
  python: { python: string } | { skipped: string },
  context: BenchContext,
): Promise<SizeResult> {
  const model = defaultModelIdentity();
  const dimension = model.dimension;
  context.log(`search: generating ${items} × ${dimension} vectors`);
  const vectors = randomUnitVectors(items, dimension, 0x5eed + items);
  const queries = randomUnitVectors(queriesPerMethod, dimension, 0xbeef);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-search-'));
  const ivfDataDir = mkdtempSync(path.join(os.tmpdir(), 'lookalike-bench-search-ivf-'));
  let api: ApiProcess | null = null;
  let ivfApi: ApiProcess | null = null;
  try {
    const upserts = searchItems(vectors, items, dimension);
    // The longest the event loop was blocked during publish / load (what an API request would wait).
    const stall = monitorEventLoopDelay({ resolution: 5 });
    stall.enable();
    let started = performance.now();
    const writer = await SnapshotWriter.open({ dataDir, model });
    await writer.publish({ upserts, deletes: [] });
    const publishMs = performance.now() - started;
    const publishStallMs = stall.max / 1e6;
    await writer.close();
    stall.reset();
    started = performance.now();
    const reader = await SnapshotReader.open({ dataDir, expectedModel: model, pollIntervalMs: 60_000 });
    const loadMs = performance.now() - started;
    const loadStallMs = stall.max / 1e6;
    stall.disable();
    const snapshot = reader.current() as Snapshot;
    context.log(
      `search: ${items} items published in ${round(publishMs, 0)} ms, loaded in ${round(loadMs, 0)} ms`,
    );
    api = await startApi(context, dataDir, items);
    const apiUrl = api.url;
    context.log(`search: API serving ${items} items at ${apiUrl}`);
    if (items >= 50_000) {
      // The same items published with INDEX_FACTORY (the indexer's setting) and served by a second API.
      const ivfWriter = await SnapshotWriter.open({
        dataDir: ivfDataDir,
        model,
        indexFactory: IVF_FACTORY,
        searchParameters: { nprobe: IVF_NPROBE },
      });
      await ivfWriter.publish({ upserts, deletes: [] });
      await ivfWriter.close();
      ivfApi = await startApi(context, ivfDataDir, items);
    }
    const apiByIdOn = (url: string) => async (q: number) => {
      const response = await fetch(`${url}/v1/items/item-${anchor(q)}/similar?k=${K}`);
      const body = (await response.json()) as { results?: unknown[] };
      if (response.status !== 200 || body.results?.length !== K)
        throw new Error(`bench: API by-id answered ${response.status}`);
      return body;
    };

    const bare = bareIndex(vectors, dimension);
    const query = (q: number) => queries.subarray(q * dimension, (q + 1) * dimension);
    const anchor = (q: number) => (q * 7919) % items;
    const methods: Array<{ method: string; run: (q: number) => unknown }> = [
      { method: METHOD.bareVector, run: (q) => bare.search(query(q), K) },
      {
        method: METHOD.bareVectorDefault,
        run: (q) => {
          setThreading(FAISS_DEFAULT_THREADING);
          try {
            return bare.search(query(q), K);
          } finally {
            setThreading(FAISS_THREADING);
          }
        },
      },
      {
        method: METHOD.bareById,
        run: (q) => {
          const position = anchor(q);
          const result = bare.search(
            vectors.subarray(position * dimension, (position + 1) * dimension),
            K + 1,
          );
          return result.labels.filter((label) => label !== position).slice(0, K);
        },
      },
      { method: METHOD.snapshotSearch, run: (q) => snapshot.search(query(q), { k: K }) },
      { method: METHOD.snapshotById, run: (q) => snapshot.searchById(`item-${anchor(q)}`, { k: K }) },
      { method: METHOD.apiById, run: apiByIdOn(apiUrl) },
      ...(ivfApi ? [{ method: METHOD.apiByIdIvf, run: apiByIdOn(ivfApi.url) }] : []),
      {
        method: 'Snapshot.search, filter 0.1% (scan)',
        run: (q) => snapshot.search(query(q), { k: K, filter: { rare: 'yes' } }),
      },
      {
        method: 'Snapshot.search, filter 10% (scan)',
        run: (q) => snapshot.search(query(q), { k: K, filter: { tenth: 'yes' } }),
      },
      {
        method: 'Snapshot.search, filter 40% (FAISS over-fetch)',
        run: (q) => snapshot.search(query(q), { k: K, filter: { big: 'yes' } }),
      },
      {
        method: 'Snapshot.searchById, collapse 0.95',
        run: (q) => snapshot.searchById(`item-${anchor(q)}`, { k: K, collapse: 0.95 }),
      },
    ];
    // Warm-up, then rounds that rotate which method goes first.
    for (const m of methods) await m.run(0);
    const timings: MethodTiming[] = methods.map((m) => ({ method: m.method, samples: [] }));
    for (let q = 0; q < queriesPerMethod; q++) {
      for (let j = 0; j < methods.length; j++) {
        const index = (q + j) % methods.length;
        const t0 = performance.now();
        await (methods[index] as (typeof methods)[number]).run(q);
        (timings[index] as MethodTiming).samples.push(performance.now() - t0);
      }
    }

    const batch = queries.subarray(0, Math.min(BATCH, queriesPerMethod) * dimension);
    const batchQueries = batch.length / dimension;
    bare.search(batch, K);
    const batchRounds = 3;
    started = performance.now();
    for (let r = 0; r < batchRounds; r++) bare.search(batch, K);
    const batchQueriesPerSecond = (batchRounds * batchQueries * 1000) / (performance.now() - started);

    const memoryFloorMs = memoryReadFloorMs(vectors.byteLength);

    const sklearn = runSklearn(python, {
      dir: dataDir,
      vectors,
      items,
      dimension,
      anchors: Array.from({ length: sklearnQueries }, (_, q) => anchor(q)),
    });
    await reader.close();
    return {
      items,
      publishMs,
      publishStallMs,
      loadMs,
      loadStallMs,
      timings,
      batchQueriesPerSecond,
      memoryFloorMs,
      sklearn,
    };
  } finally {
    await api?.stop();
    await ivfApi?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(ivfDataDir, { recursive: true, force: true });
  }
}
