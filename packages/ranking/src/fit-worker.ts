/**
 * Worker-thread entry of RankingMaintainer: fits off the main thread, so an indexer keeps renewing
 * its job locks and publishing while an O(n·d²) fit runs. workerData: { data: FitData, config }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fitRankingModel, type FitData, type RankingConfig } from './fit';
import { encodeRankingModel } from './model';

const { data, config } = workerData as { data: FitData; config: RankingConfig };
try {
  const model = fitRankingModel(data, config);
  parentPort?.postMessage({ ok: true, model: model ? encodeRankingModel(model) : null });
} catch (err) {
  parentPort?.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err) });
}
