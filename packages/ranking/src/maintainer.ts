import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  collectFitData,
  deriveRankingAttachments,
  fitRankingModel,
  readRankingModel,
  refitDue,
  servedSpaceOf,
  type FitData,
  type RankingConfig,
} from './fit';
import { decodeRankingModel, type RankingModel } from './model';
import type { RankedItemInput, RankingProjector, RankingSnapshot } from './ports';

type Attachments = Record<string, Uint8Array | null>;

export interface RankingStoreChange<S> {
  upserts: RankedItemInput[];
  deletes: string[];
  replaceAll?: boolean;
  /** Sets (or clears: null) the served projection; undefined keeps the base's (SnapshotChange.projection). */
  projection?: RankingProjector | null;
  deriveAttachments?: (base: S | null) => Attachments | Promise<Attachments>;
}

/** The index-store SnapshotWriter, as the maintainer uses it. */
export interface RankingStore<S extends RankingSnapshot, C extends RankingStoreChange<S>, R> {
  publish(change: C): Promise<R>;
  latest(): Promise<S | null>;
}

export interface RankingLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface RankingMaintainerOptions {
  config: RankingConfig;
  /**
   * Unused: the fit reads the served dimension from the snapshot (compact with a projection, the raw
   * embedding dimension without). Kept so existing callers compile.
   */
  dimension?: number;
  logger?: RankingLogger;
  /** Fit in a worker thread (default: when the compiled worker file exists). */
  worker?: boolean;
}

/** Fits in a worker thread; resolves to the model (or null: too few labels). */
export function fitInWorker(data: FitData, config: RankingConfig): Promise<RankingModel | null> {
  const file = path.join(__dirname, 'fit-worker.js');
  return new Promise((resolve, reject) => {
    const worker = new Worker(file, { workerData: { data, config } });
    worker.once('message', (reply: { ok: boolean; model?: Uint8Array | null; message?: string }) => {
      void worker.terminate();
      if (!reply.ok) reject(new Error(`ranking fit failed: ${reply.message ?? 'unknown'}`));
      else resolve(reply.model ? decodeRankingModel(reply.model) : null);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`ranking fit worker exited with code ${code}`));
    });
  });
}

/** Whether `snapshot` carries a model fitted on `version` or a later snapshot (by another replica). */
function fittedOnNewer(snapshot: RankingSnapshot | null, version: number): boolean {
  const fittedOn = readRankingModel(snapshot)?.stats.snapshotVersion;
  return fittedOn !== undefined && fittedOn !== null && fittedOn >= version;
}

/**
 * Keeps a catalogue's learned ranking current at publish time. Every publish carries the ranking
 * attachments derived from the exact base it is applied to (item features follow the items). After a
 * publish, when the labelled set has changed enough since the last fit (or there is no model yet), a
 * fit runs off the publish path — in a worker thread — and its model is published on its own.
 */
export class RankingMaintainer<S extends RankingSnapshot, C extends RankingStoreChange<S>, R> {
  private fitting: Promise<void> | null = null;
  private again = false;
  private closed = false;
  fits = 0;

  constructor(
    private readonly store: RankingStore<S, C, R>,
    private readonly options: RankingMaintainerOptions,
  ) {}

  /** Publishes `change` with its ranking attachments, then checks (in the background) whether to refit. */
  async publish(change: C): Promise<R> {
    // `change` may set or clear the projection (SnapshotChange.projection): the hook projects the
    // upserts with the projection of the version it publishes.
    const result = await this.store.publish({
      ...change,
      deriveAttachments: (base: S | null) => deriveRankingAttachments(base, change),
    });
    this.scheduleRefit();
    return result;
  }

  /** Starts a refit check unless one runs; one that runs is followed by another check. */
  scheduleRefit(): void {
    if (this.closed) return;
    if (this.fitting) {
      this.again = true;
      return;
    }
    this.fitting = (async () => {
      try {
        do {
          this.again = false;
          await this.refitIfDue();
        } while (this.again && !this.closed);
      } catch (err) {
        this.options.logger?.warn({ err }, 'ranking fit failed; the previous ranking stays');
      } finally {
        this.fitting = null;
      }
    })();
  }

  /** Fits and publishes a model when one is due; returns whether it published one. */
  async refitIfDue(): Promise<boolean> {
    const { config, logger } = this.options;
    const snapshot = await this.store.latest();
    if (!snapshot) return false;
    const reason = refitDue(snapshot, config);
    if (!reason) return false;
    // Every start is followed by one of: fitted and published, superseded, failed (logged by the caller).
    logger?.info({ reason, fromVersion: snapshot.version }, 'ranking fit started');
    const started = performance.now();
    const data = collectFitData(snapshot, config);
    const useWorker = this.options.worker ?? existsSync(path.join(__dirname, 'fit-worker.js'));
    const model = useWorker ? await fitInWorker(data, config) : fitRankingModel(data, config);
    if (this.closed) return false;
    // Another replica may have published a model fitted on a newer snapshot while this one fitted.
    if (fittedOnNewer(await this.store.latest(), snapshot.version)) {
      logger?.info({ fromVersion: snapshot.version }, 'ranking fit superseded by a newer one; not published');
      return false;
    }
    let spaceMoved = false;
    const result = await this.store.publish({
      upserts: [],
      deletes: [],
      // Decided again under the writer lock on the exact base: an older fit never replaces a newer one,
      // and a fit in a served space the base no longer serves (a projection published meanwhile) is
      // dropped — the check that follows fits again in the new space.
      deriveAttachments: (base: S | null) => {
        spaceMoved = model !== null && model.servedSpace !== servedSpaceOf(base);
        const stale = fittedOnNewer(base, snapshot.version) || spaceMoved;
        return deriveRankingAttachments(base, { upserts: [], deletes: [] }, stale ? undefined : model);
      },
    } as unknown as C);
    if (spaceMoved) {
      logger?.info(
        { fromVersion: snapshot.version },
        'ranking fit superseded by a new served space; fitting again',
      );
      this.again = true;
      return false;
    }
    this.fits++;
    logger?.info(
      {
        reason,
        fromVersion: snapshot.version,
        labelled: model?.stats.labelled ?? 0,
        classes: model?.stats.classes ?? 0,
        projection: model?.lda?.dimensions ?? 0,
        fitMs: model?.stats.durationMs ?? 0,
        totalMs: Math.round(performance.now() - started),
        result,
      },
      'ranking model fitted and published',
    );
    return true;
  }

  /** Waits for a running fit (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.fitting) await this.fitting;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }
}
