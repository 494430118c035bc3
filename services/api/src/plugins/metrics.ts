import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CatalogueJobs, JobState, SnapshotSource } from '../ports';
import type { InferenceQueue } from '../search/inference-queue';
import { routeOf } from './request-log';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ApiMetrics;
  }
}

/**
 * The prefix of every product metric of the API and the indexer. Counters end in `_total`, gauges never
 * do; prom-client's default process_* and nodejs_* metrics keep their standard names.
 */
export const METRIC_PREFIX = 'lookalike_';

const JOB_STATES: JobState[] = ['waiting', 'active', 'completed', 'failed', 'delayed'];

/** Bounded wait on Redis while scraping: a dead Redis must not hang /metrics. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export interface MetricsSources {
  snapshots: SnapshotSource;
  queue: CatalogueJobs;
  /** The one admission queue of image queries. */
  inference: InferenceQueue;
  redisTimeoutMs: number;
}

/**
 * The API's Prometheus metrics, in a registry of its own (several apps can live in one process, as
 * in tests). Index, reload, queue and inference-queue figures are read at scrape time, so they cannot drift.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly inferenceDuration: Histogram<'outcome'>;
  readonly queryDuration: Histogram<'kind'>;
  readonly searchBatchSize: Histogram;
  readonly eventsAccepted: Counter;
  readonly eventsRejected: Counter<'reason'>;
  readonly eventsDuplicate: Counter;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    // Node's own figures under their standard names (process_cpu_seconds_total, nodejs_eventloop_lag_seconds,
    // …) so stock Node dashboards work; every product metric starts with METRIC_PREFIX.
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'lookalike_http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.inferenceDuration = new Histogram({
      name: 'lookalike_inference_duration_seconds',
      help: 'Time to embed one query image (decode + model), excluding the wait for a slot',
      labelNames: ['outcome'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.queryDuration = new Histogram({
      name: 'lookalike_search_duration_seconds',
      help: 'Time of the nearest-neighbour search in the snapshot (waiting for its batch included)',
      labelNames: ['kind'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.searchBatchSize = new Histogram({
      name: 'lookalike_search_batch_size',
      help: 'Queries answered by one FAISS pass (concurrent searches are batched)',
      buckets: [1, 2, 4, 8, 16, 32],
      registers,
    });
    this.eventsAccepted = new Counter({
      name: 'lookalike_events_accepted_total',
      help: 'Shopper events appended to the event stream',
      registers,
    });
    this.eventsRejected = new Counter({
      name: 'lookalike_events_rejected_total',
      help: 'Shopper events refused: invalid (contract), too_old or in_future (timestamp window)',
      labelNames: ['reason'],
      registers,
    });
    // Zeros from the start, so a dashboard's rate() has a series before the first refusal.
    for (const reason of ['invalid', 'too_old', 'in_future']) this.eventsRejected.inc({ reason }, 0);
    this.eventsDuplicate = new Counter({
      name: 'lookalike_events_duplicate_total',
      help: 'Shopper events not appended because their eventId was already stored (client retries)',
      registers,
    });
    const { snapshots, queue, inference, redisTimeoutMs } = sources;
    new Gauge({
      name: 'lookalike_index_version',
      help: 'Version of the snapshot being served (0 = none yet)',
      registers,
      collect() {
        this.set(snapshots.current()?.version ?? 0);
      },
    });
    new Gauge({
      name: 'lookalike_index_items',
      help: 'Items in the snapshot being served',
      registers,
      collect() {
        this.set(snapshots.current()?.count ?? 0);
      },
    });
    new Counter({
      name: 'lookalike_index_reloads_total',
      help: 'Snapshots swapped in without a restart',
      registers,
      collect() {
        this.reset();
        this.inc(snapshots.reloads);
      },
    });
    new Counter({
      name: 'lookalike_index_reload_rejections_total',
      help: 'Published snapshots refused by the reader (corrupt, other model)',
      registers,
      collect() {
        this.reset();
        this.inc(snapshots.rejections);
      },
    });
    new Gauge({
      name: 'lookalike_index_refused_version',
      help: 'A newer published snapshot refused since the last swap (an older one keeps serving); 0 = none, -1 = CURRENT unreadable',
      registers,
      collect() {
        this.set(snapshots.refusal?.version ?? 0);
      },
    });
    new Gauge({
      name: 'lookalike_queue_jobs',
      help: 'Catalogue jobs by state (absent when Redis is unreachable)',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        try {
          const counts = await withTimeout(queue.counts(), redisTimeoutMs);
          for (const state of JOB_STATES) this.set({ state }, counts[state] ?? 0);
        } catch {
          // Redis down: report nothing rather than stale numbers; /readyz says why.
        }
      },
    });
    new Gauge({
      name: 'lookalike_inference_running',
      help: 'Query images being embedded now',
      registers,
      collect() {
        this.set(inference.running);
      },
    });
    new Gauge({
      name: 'lookalike_inference_waiting',
      help: 'Query images admitted and waiting for an inference slot',
      registers,
      collect() {
        this.set(inference.admitted - inference.running);
      },
    });
    new Counter({
      name: 'lookalike_inference_rejected_total',
      help: 'Image queries refused with 503 because the inference queue was full',
      registers,
      collect() {
        this.reset();
        this.inc(inference.rejected);
      },
    });
  }
}

async function metricsPlugin(app: FastifyInstance, sources: MetricsSources): Promise<void> {
  const metrics = new ApiMetrics(sources);
  app.decorate('metrics', metrics);
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the raw URL, so ids do not explode the label set.
    const route = routeOf(request);
    metrics.httpDuration.observe(
      { method: request.method, route, status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
}

export default fp(metricsPlugin, { name: 'lookalike-metrics', fastify: '5.x' });
