import closeWithGrace from 'close-with-grace';
import { ConfigError, createLogger, type Env, type Logger } from '@lookalike/config';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { ImageSource } from '@lookalike/image-source';
import { SnapshotReader } from '@lookalike/index-store';
import { InProcessEventIngestor, RedisEventLog, type EventIngestor } from '@lookalike/events';
import { CatalogueQueue, closeRedisConnection, createRedisConnection } from '@lookalike/queue';
import { buildApp, type App } from './app';
import { ReplacedSnapshotCollector, exposeMajorGc } from './replaced-snapshot-collector';
import { eventDedupeTtlSeconds, loadConfig, type ApiConfig } from './config';
import { ThreadedEventIngestor, ingestThreadAvailable } from './events/threaded-ingestor';
import type { ApiDeps } from './ports';
import { ServedSnapshots } from './served-snapshots';

export interface RunningServer {
  app: App;
  config: ApiConfig;
  /** Loopback-reachable base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  port: number;
  /** Stops accepting, finishes in-flight requests, then closes the snapshot reader, Redis and the embedder. */
  close(): Promise<void>;
  /** The root logger (the app's is a child of it): flushed last on shutdown. */
  logger: Logger;
}

/** Loopback addresses: only this machine can reach a server bound to one. */
function isLoopback(host: string): boolean {
  const address = host.toLowerCase().replace(/^\[|\]$/g, '');
  return (
    address === 'localhost' ||
    address === '::1' ||
    /^127(\.\d{1,3}){3}$/.test(address) ||
    /^::ffff:127(\.\d{1,3}){3}$/.test(address)
  );
}

/**
 * The start-up warning for a server anyone on the network may write to (no API_KEY, HOST not
 * loopback), or null. A warning, not a refusal: open writes on a trusted network are a choice.
 */
export function openWritesWarning(config: Pick<ApiConfig, 'API_KEY' | 'HOST' | 'EVENTS_KEY'>): string | null {
  if (config.API_KEY || isLoopback(config.HOST)) return null;
  const events = config.EVENTS_KEY ? '' : ', POST /v1/events';
  return (
    `writes are open to anyone who can reach ${config.HOST}: API_KEY is not set, so POST/DELETE /v1/items` +
    `${events} and POST /v1/reindex need no key; set API_KEY (openssl rand -hex 32) or bind HOST=127.0.0.1`
  );
}

/**
 * Config → logger → real adapters → app → listen. Everything opened is closed again if a later
 * step fails, so a failed start leaves no threads or sockets behind.
 */
export async function startServer(env: Env, logger?: Logger): Promise<RunningServer> {
  const config = loadConfig(env);
  const log = logger ?? createLogger('api', config.LOG_LEVEL);
  const closers: Array<{ name: string; close: () => Promise<void> }> = [];
  const closeAll = async () => {
    for (const { name, close } of closers.splice(0).reverse()) {
      const started = Date.now();
      await close().catch((err: unknown) => log.warn({ err, component: name }, 'error while closing'));
      // At info: a shutdown names what it closed, in order (HTTP first, Redis and the embedder after).
      log.info({ component: name, ms: Date.now() - started }, 'component closed');
    }
  };

  try {
    const embedder: Embedder = await createEmbedder({
      model: config.MODEL,
      cacheDir: config.MODEL_CACHE_DIR,
      ...(config.MODEL_MIRROR ? { mirror: config.MODEL_MIRROR } : {}),
      sessions: config.INFERENCE_CONCURRENCY,
      maxBytes: config.MAX_UPLOAD_BYTES,
      maxPixels: config.MAX_IMAGE_PIXELS,
      // Image queries wait in one place, the API's InferenceQueue, which hands the embedder at most
      // INFERENCE_CONCURRENCY images at once: as many decode places and pending embeds as that,
      // so the embedder never queues them a second time (its bound is only a backstop).
      decodeConcurrency: config.INFERENCE_CONCURRENCY,
      maxQueue: config.INFERENCE_CONCURRENCY,
      logger: log,
    });
    // The embedder logs its own 'embedder ready' line (model, feature, sessions): not a second one here.
    closers.push({ name: 'embedder', close: () => embedder.close() });

    const snapshots = await SnapshotReader.open({
      dataDir: config.DATA_DIR,
      expectedModel: embedder.model,
      pollIntervalMs: config.RELOAD_POLL_MS,
      searchParameters: config.INDEX_SEARCH_PARAMS,
      logger: log,
    });
    closers.push({ name: 'snapshot reader', close: () => snapshots.close() });
    snapshots.on('swap', (snapshot) =>
      log.info({ version: snapshot.version, count: snapshot.count }, 'snapshot swapped in'),
    );
    const gc = config.GC_AFTER_SWAP_MS > 0 ? exposeMajorGc() : null;
    if (gc) {
      const collector = new ReplacedSnapshotCollector(gc, config.GC_AFTER_SWAP_MS);
      snapshots.on('swap', () => collector.swapped());
      closers.push({ name: 'snapshot collector', close: async () => collector.close() });
    } else if (config.GC_AFTER_SWAP_MS > 0) {
      log.warn('V8 refused to expose its collector: a replaced snapshot is freed at its next major GC');
    }
    snapshots.on('reject', (version, reason) => log.warn({ version, reason }, 'snapshot rejected'));
    const served = new ServedSnapshots(snapshots, config.DATA_DIR, log);
    await served.fallBackFromRefusedPointer();
    const initial = snapshots.current();
    log.info({ version: initial?.version ?? null, count: initial?.count ?? 0 }, 'snapshot reader open');

    const queue = new CatalogueQueue({
      redisUrl: config.REDIS_URL,
      prefix: config.QUEUE_PREFIX,
      enqueueTimeoutMs: config.REDIS_TIMEOUT_MS,
      logger: log,
    });
    closers.push({ name: 'queue', close: () => queue.close() });

    // Shopper events: parsed, validated and appended in a thread of their own with its own Redis
    // connection (ThreadedEventIngestor says why), failing fast while Redis is down (503, like writes).
    // Run from TypeScript sources (no compiled worker file), on the event loop instead.
    const eventLog = {
      prefix: config.QUEUE_PREFIX,
      maxLength: config.EVENTS_STREAM_MAXLEN,
      dedupeTtlSeconds: eventDedupeTtlSeconds(config),
      readyTimeoutMs: config.REDIS_TIMEOUT_MS,
    };
    let events: EventIngestor;
    if (ingestThreadAvailable()) {
      events = new ThreadedEventIngestor({ redisUrl: config.REDIS_URL, ...eventLog });
    } else {
      const eventsConnection = createRedisConnection(config.REDIS_URL, 'queue');
      // The catalogue queue already warns about the same outage; this one only at debug.
      eventsConnection.on('error', (err: Error) => log.debug({ err }, 'event log redis connection error'));
      closers.push({ name: 'event log connection', close: () => closeRedisConnection(eventsConnection) });
      events = new InProcessEventIngestor(new RedisEventLog({ connection: eventsConnection, ...eventLog }));
    }
    closers.push({ name: 'event ingest', close: () => events.close() });

    const images = new ImageSource({
      ...(config.CATALOGUE_ROOT ? { catalogueRoot: config.CATALOGUE_ROOT } : {}),
      maxBytes: config.MAX_UPLOAD_BYTES,
      timeoutMs: config.IMAGE_FETCH_TIMEOUT_MS,
      maxRedirects: config.IMAGE_MAX_REDIRECTS,
      allowPrivateNetworks: config.ALLOW_PRIVATE_IMAGE_URLS,
      allowedHosts: config.IMAGE_ALLOWED_HOSTS,
    });
    closers.push({ name: 'image source', close: () => images.close() });

    const deps: ApiDeps = { embedder, snapshots: served, queue, images, events };
    const app = await buildApp({ config, logger: log, deps });
    closers.push({ name: 'http', close: () => app.close() });

    await app.listen({ port: config.PORT, host: config.HOST });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    // One line test harnesses and operators can rely on (PORT=0 picks a free port).
    log.info({ url, port }, 'listening');
    const openWrites = openWritesWarning(config);
    if (openWrites) log.warn({ host: config.HOST, port }, openWrites);
    return { app, config, logger: log, url, port, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function main(): Promise<void> {
  let server: RunningServer;
  try {
    server = await startServer(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee services/api/.env.example for every variable.\n`);
    } else {
      process.stderr.write(
        `lookalike api failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
    }
    process.exit(1);
  }
  const log = server.logger;
  closeWithGrace({ delay: server.config.SHUTDOWN_GRACE_MS }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an uncaught error');
    else log.info({ signal }, 'shutting down');
    await server.close();
    log.info('closed');
  });
}

if (require.main === module) void main();
