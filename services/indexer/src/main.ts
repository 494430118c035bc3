import path from 'node:path';
import type http from 'node:http';
import closeWithGrace from 'close-with-grace';
import { createLogger, isLookalikeError, type Env, type Logger } from '@lookalike/config';
import { sourcesDir } from '@lookalike/contracts';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { ImageSource } from '@lookalike/image-source';
import { SnapshotWriter } from '@lookalike/index-store';
import { ProjectionMaintainer } from '@lookalike/projection';
import { RedisEventStream } from '@lookalike/events';
import { CatalogueQueue, createRedisConnection } from '@lookalike/queue';
import { DEFAULT_RANKING_CONFIG, RankingMaintainer } from '@lookalike/ranking';
import { loadConfig, type IndexerConfig } from './config';
import { IndexerMetrics, type HealthReport } from './metrics';
import { FeedbackRefresher } from './feedback-refresher';
import { DebouncedPublisher } from './publisher';
import { queueReindexIfModelChanged } from './auto-reindex';
import { BlobStore } from './source-ref';
import { ThumbnailStore } from './thumbnails';
import { createCatalogueWorker, createJobHandler } from './worker';

/** An indexer whose parts are open; `run()` starts consuming jobs. */
export interface OpenIndexer {
  config: IndexerConfig;
  logger: Logger;
  /** Waits for Redis, queues the model-change reindex (AUTO_REINDEX), starts the worker, logs `ready`. */
  run(): Promise<void>;
  /**
   * Running jobs stop starting items, publish what is done and hand the rest back to the queue; then
   * the worker, Redis, publisher, ranking, index store, embedder, image source and metrics close.
   */
  close(): Promise<void>;
}

/** A running indexer (see `start`). */
export type RunningIndexer = Omit<OpenIndexer, 'run'>;

/**
 * config → logger → model → Embedder (the same `createEmbedder` the API uses) → SnapshotWriter →
 * ranking → publisher → BullMQ Worker, not yet consuming. What was opened is closed again when a
 * later step fails.
 */
export async function openIndexer(config: IndexerConfig, log?: Logger): Promise<OpenIndexer> {
  const logger = log ?? createLogger('indexer', config.LOG_LEVEL).child({ worker: config.workerName });
  let embedder: Embedder | undefined;
  let writer: SnapshotWriter | undefined;
  let images: ImageSource | undefined;
  let metricsServer: http.Server | undefined;
  const closeOpened = async () => {
    await writer?.close();
    await embedder?.close();
    await images?.close();
    await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
  };
  try {
    embedder = await createEmbedder({
      model: config.MODEL,
      cacheDir: path.resolve(config.MODEL_CACHE_DIR),
      mirror: config.MODEL_MIRROR,
      sessions: config.EMBEDDER_SESSIONS,
      maxBytes: config.IMAGE_MAX_BYTES,
      logger: logger.child({ component: 'embedder' }),
    });
    const dataDir = path.resolve(config.DATA_DIR);
    writer = await SnapshotWriter.open({
      dataDir,
      model: embedder.model,
      keepVersions: config.KEEP_VERSIONS,
      ...(config.INDEX_FACTORY
        ? { indexFactory: config.INDEX_FACTORY, searchParameters: config.INDEX_SEARCH_PARAMS }
        : {}),
      logger: logger.child({ component: 'index-store' }),
    });
    images = new ImageSource({
      catalogueRoot: config.CATALOGUE_ROOT === undefined ? undefined : path.resolve(config.CATALOGUE_ROOT),
      maxBytes: config.IMAGE_MAX_BYTES,
      timeoutMs: config.IMAGE_FETCH_TIMEOUT_MS,
      maxRedirects: config.IMAGE_MAX_REDIRECTS,
      allowPrivateNetworks: config.ALLOW_PRIVATE_IMAGE_URLS,
      allowedHosts: config.imageAllowedHosts,
    });
    const metrics = new IndexerMetrics({ defaultMetrics: true });
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
    // After each publish: is a (re)fit of the served projection due? Fits run in a worker thread and
    // publish the projection alone (through the ranking, whose state follows every publish).
    const rawStore = writer;
    const projection = new ProjectionMaintainer(
      {
        latest: () => rawStore.latest(),
        readRawVectors: (options) => rawStore.readRawVectors(options),
        publish: (change) => ranking.publish(change),
      },
      {
        policy: {
          spec: config.INDEX_PROJECTION,
          minItems: config.PROJECTION_MIN_ITEMS,
          refitFraction: config.PROJECTION_REFIT_FRACTION,
        },
        model: embedder.model,
        labelField: config.rankingLabelFields[0],
        logger: logger.child({ component: 'projection' }),
        events: metrics.projectionEvents(),
      },
    );
    const publisher = new DebouncedPublisher(ranking, {
      debounceMs: config.PUBLISH_DEBOUNCE_MS,
      maxChanges: config.PUBLISH_MAX_CHANGES,
      logger,
      onPublished: (info) => {
        metrics.recordPublish(info);
        projection.scheduleCheck();
      },
      onPublishFailed: () => metrics.publishFailures.inc(),
    });
    const shutdown = new AbortController();
    const handler = createJobHandler({
      deps: {
        images,
        embedder,
        store: writer,
        publisher,
        blobs: new BlobStore(sourcesDir(dataDir)),
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
    // Learning from shoppers: its own connection (the worker's blocks on BullMQ commands).
    const eventsConnection = config.FEEDBACK ? createRedisConnection(config.REDIS_URL, 'queue') : null;
    eventsConnection?.on('error', (err: Error) => logger.debug({ err }, 'redis connection error (events)'));
    const feedback = eventsConnection
      ? new FeedbackRefresher(
          new RedisEventStream(eventsConnection, config.QUEUE_PREFIX),
          {
            latest: () => rawStore.latest(),
            publish: (change) => ranking.publish(change),
          },
          {
            intervalMs: config.FEEDBACK_INTERVAL,
            retentionMs: config.EVENTS_RETENTION,
            candidates: config.FEEDBACK_CANDIDATES,
            slotFields: [
              ...config.rankingLabelFields,
              ...(config.rankingColourField ? [config.rankingColourField] : []),
            ],
            floorSample: 2000,
            floorQuantile: 0.05,
            logger: logger.child({ component: 'feedback' }),
          },
        )
      : null;
    // Redis blips surface here; BullMQ reconnects by itself, so they are logged, not fatal.
    worker.on('error', (err) => logger.warn({ err }, 'worker error'));
    connection.on('error', (err: Error) => logger.debug({ err }, 'redis connection error'));
    worker.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        logger.error({ jobId: job.id, err }, 'job failed for good');
      }
    });
    worker.on('stalled', (jobId) => logger.warn({ jobId }, 'stalled job moved back to the queue'));

    const opened = { embedder, writer };
    let closing: Promise<void> | undefined;
    return {
      config,
      logger,
      async run() {
        await worker.waitUntilReady();
        if (config.AUTO_REINDEX) {
          // The worker's connection, left open by the queue's close().
          const queue = new CatalogueQueue({
            redisUrl: config.REDIS_URL,
            prefix: config.QUEUE_PREFIX,
            connection,
            logger,
          });
          try {
            await queueReindexIfModelChanged({
              store: opened.writer,
              model: opened.embedder.model,
              queue,
              logger,
            });
          } finally {
            await queue.close();
          }
        }
        // Once at start: INDEX_PROJECTION may have changed (none clears, a new spec refits).
        projection.scheduleCheck();
        feedback?.start();
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
            sessions: opened.embedder.options.sessions,
            model: opened.embedder.model.id,
            dataDir,
            catalogueRoot: config.CATALOGUE_ROOT ?? null,
          },
          'ready',
        );
      },
      close() {
        closing ??= (async () => {
          shutdown.abort();
          publisher.drain();
          await feedback?.close();
          await eventsConnection?.quit().catch(() => eventsConnection.disconnect());
          await worker.close();
          await connection.quit().catch(() => connection.disconnect());
          await publisher.close();
          await projection.close();
          await ranking.close();
          await closeOpened();
        })();
        return closing;
      },
    };
  } catch (err) {
    await closeOpened().catch((closeErr: unknown) => logger.warn({ err: closeErr }, 'error while closing'));
    throw err;
  }
}

/**
 * Opens an indexer from the environment and starts consuming jobs (resolves once it logged `ready`).
 * Throws ConfigError for a bad environment; a failed start closes what it opened.
 */
export async function start(env: Env = process.env, logger?: Logger): Promise<RunningIndexer> {
  const indexer = await openIndexer(loadConfig(env), logger);
  try {
    await indexer.run();
  } catch (err) {
    await indexer.close().catch(() => undefined);
    throw err;
  }
  return { config: indexer.config, logger: indexer.logger, close: () => indexer.close() };
}

/**
 * The service: SIGTERM/SIGINT (and an uncaught error) close the indexer gracefully, with a forced
 * exit after SHUTDOWN_GRACE_MS. The handler is installed before the worker starts, so a signal
 * while waiting for Redis or queueing the reindex also shuts down cleanly.
 */
async function main(): Promise<void> {
  let config: IndexerConfig;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    console.error(isLookalikeError(err) ? err.message : err);
    process.exit(1);
  }
  const indexer = await openIndexer(config);
  const { logger } = indexer;
  closeWithGrace(
    {
      delay: config.SHUTDOWN_GRACE_MS,
      logger: { error: (message: unknown) => logger.error({ detail: message }, 'shutdown problem') },
    },
    async ({ signal, err }) => {
      if (err) logger.fatal({ err }, 'unexpected error; shutting down');
      logger.info({ signal }, 'shutting down');
      await indexer.close();
      logger.info('closed');
    },
  );
  await indexer.run();
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(isLookalikeError(err) ? `error [${err.code}]: ${err.message}` : err);
    process.exit(1);
  });
}
