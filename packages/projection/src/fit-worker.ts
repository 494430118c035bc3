/**
 * Worker-thread entry of ProjectionMaintainer: fits off the main thread, so an indexer keeps renewing
 * its job locks, embedding and publishing while an O(n·d²) fit runs. workerData: FitJob.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fitProjectionWithStats } from './fit';
import type { FitJob, FitReply } from './maintainer';

const job = workerData as FitJob;
try {
  const { projection, stats } = fitProjectionWithStats(job.vectors, job.rows, job.model, job.options);
  const encoded = projection.encode();
  const reply: FitReply = { ok: true, projection: encoded, durationMs: stats.durationMs };
  parentPort?.postMessage(reply, [encoded.buffer as ArrayBuffer]);
} catch (err) {
  const reply: FitReply = { ok: false, message: err instanceof Error ? err.message : String(err) };
  parentPort?.postMessage(reply);
}
