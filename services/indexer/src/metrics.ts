import http from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ItemCounters } from './processors/common';

export interface HealthReport {
  ok: boolean;
  [detail: string]: unknown;
}

/**
 * Prometheus metrics of one indexer replica (served on METRICS_PORT when set). The conventions are
 * the API's: product metrics named lookalike_indexer_…, counters ending in _total, gauges never;
 * prom-client's process_* / nodejs_* defaults unprefixed, under their standard names.
 */
export class IndexerMetrics {
  readonly registry = new Registry();
  readonly itemsEmbedded = new Counter({
    name: 'lookalike_indexer_items_embedded_total',
    help: 'Items embedded (new or changed content)',
    registers: [this.registry],
  });
  readonly itemsUnchanged = new Counter({
    name: 'lookalike_indexer_items_unchanged_total',
    help: 'Upserted items skipped because bytes, metadata and model were unchanged',
    registers: [this.registry],
  });
  readonly itemsFailed = new Counter({
    name: 'lookalike_indexer_items_failed_total',
    help: 'Items that failed for good, by error code',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly jobs = new Counter({
    name: 'lookalike_indexer_jobs_total',
    help: 'Jobs finished by this replica, by kind and outcome (completed, failed, retried, deferred, handed_back, error)',
    labelNames: ['kind', 'outcome'],
    registers: [this.registry],
  });
  readonly publishDuration = new Histogram({
    name: 'lookalike_indexer_publish_duration_seconds',
    help: 'Time to publish one snapshot (writer lock, build, write, fsync)',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly publishFailures = new Counter({
    name: 'lookalike_indexer_publish_failures_total',
    help: 'Snapshot publishes that failed (their jobs are retried)',
    registers: [this.registry],
  });
  readonly publishedChanges = new Counter({
    name: 'lookalike_indexer_published_changes_total',
    help: 'Upserts and deletes published',
    labelNames: ['op'],
    registers: [this.registry],
  });
  readonly snapshotVersion = new Gauge({
    name: 'lookalike_indexer_snapshot_version',
    help: 'Version of the last snapshot this replica published',
    registers: [this.registry],
  });

  readonly projectionFits = new Counter({
    name: 'lookalike_indexer_projection_fits_total',
    help: 'Projection fits by outcome (published; superseded: another replica published one meanwhile; failed)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly projectionFitDuration = new Histogram({
    name: 'lookalike_indexer_projection_fit_duration_seconds',
    help: 'Duration of a projection fit (in its worker thread)',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  readonly servedDimension = new Gauge({
    name: 'lookalike_indexer_served_dimension',
    help: 'Dimension of the vectors the newest snapshot serves (the projection output, else the raw model)',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  itemCounters(): ItemCounters {
    return {
      embedded: (count = 1) => this.itemsEmbedded.inc(count),
      unchanged: (count = 1) => this.itemsUnchanged.inc(count),
      failed: (code) => this.itemsFailed.inc({ code }),
    };
  }

  /** ProjectionMaintainer's events. */
  projectionEvents(): {
    fitEnded(outcome: 'published' | 'superseded' | 'failed', fitMs: number): void;
    served(dimension: number): void;
  } {
    return {
      fitEnded: (outcome, fitMs) => {
        this.projectionFits.inc({ outcome });
        if (fitMs > 0) this.projectionFitDuration.observe(fitMs / 1000);
      },
      served: (dimension) => this.servedDimension.set(dimension),
    };
  }

  recordPublish(info: { durationMs: number; upserts: number; deletes: number; version: number }): void {
    this.publishDuration.observe(info.durationMs / 1000);
    this.publishedChanges.inc({ op: 'upsert' }, info.upserts);
    this.publishedChanges.inc({ op: 'delete' }, info.deletes);
    this.snapshotVersion.set(info.version);
  }

  /**
   * A tiny /metrics + /healthz endpoint (container healthchecks probe /healthz); resolves once
   * listening. `health` reports whether the worker is consuming jobs; 503 until it is.
   */
  serve(port: number, host: string, health: () => HealthReport = () => ({ ok: true })): Promise<http.Server> {
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/healthz') {
        const report = health();
        res.writeHead(report.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ status: report.ok ? 'ok' : 'starting', ...report }));
        return;
      }
      if (req.method === 'GET' && req.url === '/metrics') {
        this.registry.metrics().then(
          (body) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(body);
          },
          () => {
            res.writeHead(500).end();
          },
        );
        return;
      }
      res.writeHead(404).end();
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
