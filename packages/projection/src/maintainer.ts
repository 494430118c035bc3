import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { sameModel, type ModelIdentity } from '@lookalike/contracts';
import { FIT_DEFAULTS, fitProjectionWithStats, type FitOptions } from './fit';
import { LinearProjection } from './linear-projection';
import type {
  ProjectionEvents,
  ProjectionFitInput,
  ProjectionLogger,
  ProjectionSnapshot,
  ProjectionStore,
} from './maintainer-ports';
import { decideProjection, specKind, type ProjectionPolicyConfig } from './policy';
import type { ProjectionSpec } from './spec';

type FitSpec = Exclude<ProjectionSpec, { kind: 'none' }>;

/** What the fit worker is given (vectors transferred, not copied). */
export interface FitJob {
  vectors: Float32Array;
  rows: number;
  model: ModelIdentity;
  options: FitOptions;
}

export type FitReply =
  { ok: true; projection: Uint8Array; durationMs: number } | { ok: false; message: string };

export interface ProjectionMaintainerOptions {
  policy: ProjectionPolicyConfig;
  /** The writer's model: a snapshot of another model (a reindex pending) is left alone. */
  model: ModelIdentity;
  /** Metadata field whose values are the labels of an LDA-joined spec (`lda=<m>`); the ranking's first label field. */
  labelField?: string;
  logger?: ProjectionLogger;
  events?: ProjectionEvents;
  /** Fit in a worker thread (default: when the compiled worker file exists, i.e. outside ts tests). */
  worker?: boolean;
  /** Test seam: awaited after a fit, before its publish (to order two replicas' publishes in a test). */
  beforePublish?: () => Promise<void>;
}

/** Fits in a worker thread, so the caller's event loop (job locks, publishes, embeds) keeps running. */
export function fitInWorker(
  job: FitJob,
  onStarted?: (worker: Worker) => void,
): Promise<{ projection: LinearProjection; durationMs: number }> {
  const file = path.join(__dirname, 'fit-worker.js');
  return new Promise((resolve, reject) => {
    const worker = new Worker(file, { workerData: job, transferList: [job.vectors.buffer as ArrayBuffer] });
    onStarted?.(worker);
    worker.once('message', (reply: FitReply) => {
      void worker.terminate();
      if (!reply.ok) reject(new Error(`projection fit failed: ${reply.message}`));
      else resolve({ projection: LinearProjection.decode(reply.projection), durationMs: reply.durationMs });
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`projection fit worker exited with code ${code}`));
    });
  });
}

function isProjectionConflict(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'PROJECTION_CONFLICT';
}

/** Live items indexed after `since` (ISO 8601 strings of one format compare as times). */
function indexedSince(snapshot: ProjectionSnapshot, since: string): number {
  let n = 0;
  for (const id of snapshot.ids()) if ((snapshot.get(id)?.indexedAt ?? '') > since) n++;
  return n;
}

/**
 * Keeps the served projection as INDEX_PROJECTION asks (see policy.ts for the rule). After each
 * publish (scheduleCheck) it reads the newest version and decides; a fit reads that version's raw
 * vectors (index-store's readRawVectors, a sample of at most the spec's covariance samples), fits in a
 * worker thread — the indexer keeps processing jobs meanwhile, their upserts published raw-stored and
 * projected with the old projection — and publishes the projection alone: the writer re-projects
 * every item from its stored raw vector (no re-embedding). At most one check or fit runs at a time.
 *
 * Replicas: the publish names the projection current when the fit started (`projectionReplaces`);
 * when another replica published one meanwhile, the writer refuses it (PROJECTION_CONFLICT) under its
 * lock, so two fits never publish out of order. Then the state is checked again — which usually
 * finds the other replica's projection current — never retried blindly.
 */
export class ProjectionMaintainer<S extends ProjectionSnapshot, R> {
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  private fitWorker: Worker | null = null;
  /** Projections (or clears) this maintainer published. */
  published = 0;
  /** Fits refused because another projection was published meanwhile. */
  superseded = 0;

  constructor(
    private readonly store: ProjectionStore<S, R>,
    private readonly options: ProjectionMaintainerOptions,
  ) {}

  /** Starts a check unless one runs; one that runs is followed by another check. */
  scheduleCheck(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.checkOnce();
        } while (this.again && !this.closed);
      } finally {
        this.running = null;
      }
    })();
  }

  /**
   * One check: decides on the newest version and fits/clears when due. Returns what it did. Errors
   * are logged (the served projection stays); a conflict schedules another check.
   */
  async checkOnce(): Promise<'kept' | 'published' | 'cleared' | 'superseded' | 'failed'> {
    const { logger, events } = this.options;
    let fitMs = 0;
    try {
      const snapshot = await this.store.latest();
      if (!snapshot || !sameModel(snapshot.model, this.options.model)) return 'kept';
      const served = snapshot.projection;
      const modelCurrent = !served || sameModel(served.model, snapshot.model);
      const decision = decideProjection(
        {
          count: snapshot.count,
          projection: served,
          indexedSinceFit: served ? indexedSince(snapshot, served.fittedAt) : 0,
          projectionModelCurrent: modelCurrent,
        },
        this.options.policy,
      );
      if (decision.action === 'keep') {
        events?.served?.(served ? served.outputDimension : snapshot.model.dimension);
        return 'kept';
      }
      if (decision.action === 'clear') {
        await this.store.publish({
          upserts: [],
          deletes: [],
          projection: null,
          projectionReplaces: served?.id ?? null,
        });
        this.published++;
        events?.served?.(snapshot.model.dimension);
        logger?.info(
          { reason: decision.reason, from: served?.id ?? null },
          'projection cleared: serving raw embeddings',
        );
        return 'cleared';
      }
      const spec = decision.spec;
      const maxRows = spec.maxSamples ?? FIT_DEFAULTS.maxSamples;
      const started = performance.now();
      const raw = await this.store.readRawVectors({ maxRows });
      if (!raw) return 'kept';
      logger?.info(
        {
          reason: decision.reason,
          spec: specKind(spec),
          fromVersion: raw.version,
          fittedOn: raw.count,
          rows: raw.rows,
          replaces: raw.projection?.id ?? null,
        },
        'projection fit started',
      );
      let fitted: { projection: LinearProjection; durationMs: number };
      try {
        fitted = await this.fit(raw, spec);
      } catch (err) {
        // close() terminated the worker: a shutdown, not a failure.
        if (this.closed) return 'kept';
        throw err;
      }
      const { projection, durationMs } = fitted;
      fitMs = Math.round(durationMs);
      if (this.closed) return 'kept';
      await this.options.beforePublish?.();
      try {
        await this.store.publish({
          upserts: [],
          deletes: [],
          projection,
          projectionReplaces: raw.projection?.id ?? null,
        });
      } catch (err) {
        if (!isProjectionConflict(err)) throw err;
        this.superseded++;
        events?.fitEnded?.('superseded', fitMs);
        logger?.info(
          { fromVersion: raw.version, replaces: raw.projection?.id ?? null, fitMs },
          'projection fit superseded: another projection was published meanwhile; checking again',
        );
        this.again = true;
        return 'superseded';
      }
      this.published++;
      events?.fitEnded?.('published', fitMs);
      events?.served?.(projection.outputDimension);
      logger?.info(
        {
          projection: projection.descriptor.id,
          spec: projection.descriptor.kind,
          fromVersion: raw.version,
          fittedOn: projection.descriptor.fittedOn,
          rows: raw.rows,
          inputDimension: projection.inputDimension,
          outputDimension: projection.outputDimension,
          fitMs,
          totalMs: Math.round(performance.now() - started),
        },
        'projection fit published',
      );
      return 'published';
    } catch (err) {
      events?.fitEnded?.('failed', fitMs);
      logger?.warn({ err }, 'projection check failed; the served projection stays');
      return 'failed';
    }
  }

  private async fit(
    raw: ProjectionFitInput,
    spec: FitSpec,
  ): Promise<{ projection: LinearProjection; durationMs: number }> {
    const field = this.options.labelField;
    const options: FitOptions = {
      ...spec,
      // The canonical spec text, so a later check can tell whether the served projection is the configured one.
      kind: specKind(spec),
      fittedOn: raw.count,
      // Every item of the version fitted was indexed by then: items indexed later are the ones the fit never saw.
      fittedAt: raw.builtAt,
      labels:
        (spec.ldaDimensions ?? 0) > 0 && field
          ? raw.items.map((item) => {
              const value = item.metadata[field];
              return typeof value === 'string' && value !== '' ? value : null;
            })
          : undefined,
    };
    const useWorker = this.options.worker ?? existsSync(path.join(__dirname, 'fit-worker.js'));
    if (useWorker) {
      try {
        return await fitInWorker(
          { vectors: raw.vectors, rows: raw.rows, model: raw.model, options },
          (worker) => (this.fitWorker = worker),
        );
      } finally {
        this.fitWorker = null;
      }
    }
    const { projection, stats } = fitProjectionWithStats(raw.vectors, raw.rows, raw.model, options);
    return { projection, durationMs: stats.durationMs };
  }

  /** Waits for a running check or fit (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops: a fit in its worker thread is abandoned (terminated), so shutdown does not wait for it. */
  async close(): Promise<void> {
    this.closed = true;
    await this.fitWorker?.terminate();
    await this.idle();
  }
}
