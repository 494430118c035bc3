import path from 'node:path';
import type http from 'node:http';
import closeWithGrace from 'close-with-grace';
import { createLogger, isLookalikeError } from '@lookalike/config';
import { Embedder } from '@lookalike/embedder';
import { ImageSource } from '@lookalike/image-source';
import { SnapshotWriter } from '@lookalike/index-store';
import { DEFAULT_RANKING_CONFIG, RankingMaintainer } from '@lookalike/ranking';
import { fetchModelFiles, modelRegistry } from '@lookalike/models';
import { loadConfig, type IndexerConfig } from './config';
import { IndexerMetrics, type HealthReport } from './metrics';
import { DebouncedPublisher } from './publisher';
import { queueReindexIfModelChanged } from './auto-reindex';
import { BlobStore } from './source-ref';
import { ThumbnailStore } from './thumbnails';
import { createCatalogueWorker, createJobHandler } from './worker';

/**
 * config → logger → model → Embedder → SnapshotWriter → BullMQ Worker. Logs `ready` once it
 * consumes jobs. SIGTERM/SIGINT: running jobs stop starting items, publish what is done and hand
 * the rest back to the queue; then everything closes (forced exit after SHUTDOWN_GRACE_MS).
 */
async function main(config: IndexerConfig): Promise<void> {
  const logger = createLogger('indexer', config.LOG_LEVEL).child({ worker: config.workerName });
  const embeddingModel = modelRegistry.resolve(config.MODEL);
  const modelFiles = await fetchModelFiles(embeddingModel, {
    cacheDir: path.resolve(config.MODEL_CACHE_DIR),
    mirror: config.MODEL_MIRROR,
    log: (message) => logger.info(message),
  });
  const embedder = await Embedder.create({
    embeddingModel,
    modelPaths: modelFiles.map((file) => file.path),
    sessions: config.EMBEDDER_SESSIONS,
    maxBytes: config.IMAGE_MAX_BYTES,
    logger: logger.child({ component: 'embedder' }),
  });
  const dataDir = path.resolve(config.DATA_DIR);
  const writer = await SnapshotWriter.open({
    dataDir,
    model: embedder.model,
    keepVersions: config.KEEP_VERSIONS,
    ...(config.INDEX_FACTORY
      ? { indexFactory: config.INDEX_FACTORY, searchParameters: config.INDEX_SEARCH_PARAMS }
      : {}),
    logger: logger.child({ component: 'index-store' }),
  });
  const images = new ImageSource({
    catalogueRoot: config.CATALOGUE_ROOT === undefined ? undefined : path.resolve(config.CATALOGUE_ROOT),
    maxBytes: config.IMAGE_MAX_BYTES,
    timeoutMs: config.IMAGE_FETCH_TIMEOUT_MS,
    maxRedirects: config.IMAGE_MAX_REDIRECTS,
    allowPrivateNetworks: config.ALLOW_PRIVATE_IMAGE_URLS,
    allowedHosts: config.imageAllowedHosts,
  });
  const metrics = new IndexerMetrics({ defaultMetrics: true });
  let metricsServer: http.Server | undefined;
  // Replaced once the worker exists; until then the healthcheck answers 503 (still loading the model).
  let health = (): HealthReport => ({ ok: false });
  if (config.METRICS_PORT !== undefined) {
    metricsServer = await metrics.serve(config.METRICS_PORT, config.METRICS_HOST, () => health());
    logger.info({ port: config.METRICS_PORT }, 'metrics listening');
  }
  // Every publish carries the ranking state derived from its exact base; refits run in a worker thread.
  const ranking = new RankingMaintainer(writer, {
    config: {
      ...DEFAULT_RANKING_CONFIG,
      labelFields: config.rankingLabelFields,
      colourField: config.rankingColourField,
      minLabelled: config.RANKING_MIN_LABELLED,
      refitFraction: config.RANKING_REFIT_FRACTION,
    },
    dimension: embedder.model.dimension,
    logger: logger.child({ component: 'ranking' }),
  });
  const publisher = new DebouncedPublisher(ranking, {
    debounceMs: config.PUBLISH_DEBOUNCE_MS,
    maxChanges: config.PUBLISH_MAX_CHANGES,
    logger,
    onPublished: (info) => metrics.recordPublish(info),
    onPublishFailed: () => metrics.publishFailures.inc(),
  });
  const shutdown = new AbortController();
  const handler = createJobHandler({
    deps: {
      images,
      embedder,
      store: writer,
      publisher,
      blobs: new BlobStore(path.join(dataDir, 'sources')),
      thumbnails: new ThumbnailStore(dataDir),
      counters: metrics.itemCounters(),
      itemConcurrency: config.itemConcurrency,
    },
    logger,
    metrics,
    shutdown: shutdown.signal,
  });
  const { worker, connection } = createCatalogueWorker(handler, {
    redisUrl: config.REDIS_URL,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    lockDurationMs: config.JOB_LOCK_MS,
    stalledIntervalMs: config.STALLED_INTERVAL_MS,
    maxStalledCount: config.MAX_STALLED_COUNT,
    name: config.workerName,
  });
  health = () => ({ ok: worker.isRunning(), redis: connection.status });
  // Redis blips surface here; BullMQ reconnects by itself, so they are logged, not fatal.
  worker.on('error', (err) => logger.warn({ err }, 'worker error'));
  connection.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
  worker.on('failed', (job, err) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      logger.error({ jobId: job.id, err }, 'job failed for good');
    }
  });
  worker.on('stalled', (jobId) => logger.warn({ jobId }, 'stalled job moved back to the queue'));

  closeWithGrace(
    {
      delay: config.SHUTDOWN_GRACE_MS,
      logger: { error: (message: unknown) => logger.error({ detail: message }, 'shutdown problem') },
    },
    async ({ signal, err }) => {
      if (err) logger.fatal({ err }, 'unexpected error; shutting down');
      logger.info({ signal }, 'shutting down');
      shutdown.abort();
      publisher.drain();
      await worker.close();
      await connection.quit().catch(() => connection.disconnect());
      await publisher.close();
      await ranking.close();
      await writer.close();
      await embedder.close();
      await images.close();
      await new Promise<void>((resolve) =>
        metricsServer ? metricsServer.close(() => resolve()) : resolve(),
      );
      logger.info('closed');
    },
  );

  await worker.waitUntilReady();
  if (config.AUTO_REINDEX) {
    await queueReindexIfModelChanged({
      store: writer,
      model: embedder.model,
      connection,
      prefix: config.QUEUE_PREFIX,
      logger,
    });
  }
  void worker.run().catch((err: unknown) => {
    logger.fatal({ err }, 'worker stopped');
    process.exitCode = 1;
  });
  logger.info(
    {
      queue: 'catalogue',
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      itemConcurrency: config.itemConcurrency,
      sessions: embedder.options.sessions,
      model: embedder.model.id,
      dataDir,
      catalogueRoot: config.CATALOGUE_ROOT ?? null,
    },
    'ready',
  );
}

let config: IndexerConfig;
try {
  config = loadConfig(process.env);
} catch (err) {
  console.error(isLookalikeError(err) ? err.message : err);
  process.exit(1);
}
main(config).catch((err: unknown) => {
  console.error(isLookalikeError(err) ? `error [${err.code}]: ${err.message}` : err);
  process.exit(1);
});
