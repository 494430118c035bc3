import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { StoredEvent } from '@lookalike/events';
import {
  CO_ENGAGEMENT_ATTACHMENT,
  buildFeedback,
  judgedSources,
  similarityFloor,
  type BlendWeights,
  type CatalogueCandidate,
} from '@lookalike/feedback';
import type { Logger } from '@lookalike/config';
import type { PublishResult, Snapshot } from '@lookalike/index-store';
import { rankedSearchById } from '@lookalike/ranking';

/**
 * The indexer's half of "learning from shoppers" (issue 17): now and then it reads the whole event
 * stream, aggregates co-engagement, fits the blend weights on held-out sessions, and publishes the
 * result as the snapshot attachment `feedback-co-engagement.bin` — with the snapshot, so every API
 * replica that serves a version ranks with the same feedback. Nothing is published when the result
 * is byte-for-byte what the latest snapshot already carries (the build is deterministic).
 *
 * Why a full re-read instead of an incremental consumer: the stream is bounded (MAXLEN and the
 * retention window), the aggregation needs whole sessions (distinct-session counts) and decays to
 * the newest event, and a stateless pass needs no cursor to lose in a crash or to share between
 * replicas. The cost is one pass over at most EVENTS_STREAM_MAXLEN entries per refresh.
 */

/** The event log as the refresher reads it (RedisEventStream in production). */
export interface FeedbackEventSource {
  readAll(): Promise<StoredEvent[]>;
  /** Drops the entries appended before `cutoffMs`; returns how many went. */
  trimOlderThan(cutoffMs: number): Promise<number>;
}

/** The snapshot store as the refresher uses it (the RankingMaintainer over the SnapshotWriter). */
export interface FeedbackStore {
  latest(): Promise<Snapshot | null>;
  publish(change: {
    upserts: [];
    deletes: [];
    attachments: Record<string, Uint8Array | null>;
  }): Promise<PublishResult>;
}

export interface FeedbackRefresherOptions {
  /** Time between refreshes (ms). */
  intervalMs: number;
  /** Events older than this (ms, by append time) are trimmed from the stream and not learned from. */
  retentionMs: number;
  /** Visual candidates per by-id query the blend may re-order (fitted and served alike). */
  candidates: number;
  /** The label-slot fields: the ranking's label fields and its colour field. */
  slotFields: string[];
  /** Items sampled to measure the visual floor. */
  floorSample: number;
  /** The floor: this quantile of the sampled items' 10th-neighbour similarity. */
  floorQuantile: number;
  logger?: Logger;
  /** Searches between yields to the event loop (job locks must still be renewed meanwhile). */
  yieldEvery?: number;
}

export type FeedbackRefreshOutcome =
  | { published: false; reason: 'no-snapshot' | 'no-events' | 'unchanged'; events: number }
  | {
      published: true;
      version: number | null;
      events: number;
      sources: number;
      pairs: number;
      items: number;
      weights: BlendWeights;
      floor: number;
      judgedPages: number;
    };

/** The 10th visual neighbour: the floor is "as similar as a first page shows almost everywhere". */
const FLOOR_RANK = 10;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

export class FeedbackRefresher {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<FeedbackRefreshOutcome> | null = null;
  private closed = false;
  refreshes = 0;

  constructor(
    private readonly events: FeedbackEventSource,
    private readonly store: FeedbackStore,
    private readonly options: FeedbackRefresherOptions,
  ) {}

  /** Refreshes every `intervalMs`, the first time after one interval. */
  start(): void {
    if (this.closed || this.timer) return;
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.refresh()
          .catch((err: unknown) =>
            this.options.logger?.warn({ err }, 'feedback refresh failed; the published feedback stays'),
          )
          .finally(() => {
            if (!this.closed) tick();
          });
      }, this.options.intervalMs);
      this.timer.unref();
    };
    tick();
  }

  /** One refresh (a second call while one runs waits for it). */
  refresh(): Promise<FeedbackRefreshOutcome> {
    if (!this.running) {
      this.running = this.refreshOnce().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  private async refreshOnce(): Promise<FeedbackRefreshOutcome> {
    const started = performance.now();
    const { logger } = this.options;
    const cutoff = Date.now() - this.options.retentionMs;
    const trimmed = await this.events.trimOlderThan(cutoff);
    const stored = await this.events.readAll();
    // XTRIM ~ may leave a few older entries: the retention is applied exactly here. A stored event is
    // the feedback package's ShopperEvent as it is (its extra fields are not read).
    const events = stored.filter((e) => Date.parse(e.receivedAt) >= cutoff);
    const snapshot = await this.store.latest();
    if (!snapshot) return { published: false, reason: 'no-snapshot', events: events.length };
    const current = snapshot.attachment(CO_ENGAGEMENT_ATTACHMENT);
    if (events.length === 0) {
      if (!current) return { published: false, reason: 'no-events', events: 0 };
      // Every event aged out: the ranking goes back to visual.
      const result = await this.store.publish({
        upserts: [],
        deletes: [],
        attachments: { [CO_ENGAGEMENT_ATTACHMENT]: null },
      });
      logger?.info({ version: result.version }, 'feedback removed: no events left in the retention window');
      return {
        published: true,
        version: result.published ? result.version : null,
        events: 0,
        sources: 0,
        pairs: 0,
        items: 0,
        weights: { pair: 0, item: 0 },
        floor: -Infinity,
        judgedPages: 0,
      };
    }
    const { candidates: k, slotFields } = this.options;
    const yieldEvery = this.options.yieldEvery ?? 25;
    let searches = 0;
    const pause = async () => {
      if (++searches % yieldEvery === 0) await yieldToEventLoop();
    };
    // The visual candidates of every source the fit judges, searched as the API serves them.
    const candidates = new Map<string, CatalogueCandidate[]>();
    for (const source of judgedSources(events)) {
      if (!snapshot.has(source)) continue;
      candidates.set(source, rankedSearchById(snapshot, source, { k }));
      await pause();
    }
    const kth: number[] = [];
    const step = Math.max(1, Math.floor(snapshot.count / Math.max(1, this.options.floorSample)));
    let i = 0;
    for (const id of snapshot.ids()) {
      if (i++ % step !== 0) continue;
      kth.push(rankedSearchById(snapshot, id, { k: FLOOR_RANK })[FLOOR_RANK - 1]?.similarity ?? NaN);
      await pause();
    }
    const floor = similarityFloor(kth, this.options.floorQuantile);
    await yieldToEventLoop();
    const build = buildFeedback({
      events,
      candidatesOf: (source) => candidates.get(source),
      metadataOf: (id) => snapshot.get(id)?.metadata,
      isLive: (id) => snapshot.has(id),
      floor,
      settings: { slotFields, candidates: k },
    });
    const { table } = build.attachment;
    const summary = {
      events: events.length,
      trimmed,
      sources: table.sources.size,
      pairs: table.pairCount,
      items: table.items.size,
      weights: build.fit.weights,
      floor,
      judgedPages: build.fit.judgedPages,
      ndcgVisual: build.fit.ndcgVisual,
      ndcgFitted: build.fit.ndcgFitted,
      ms: Math.round(performance.now() - started),
    };
    if (sameBytes(current, build.bytes)) {
      logger?.debug(summary, 'feedback unchanged; nothing published');
      return { published: false, reason: 'unchanged', events: events.length };
    }
    const result = await this.store.publish({
      upserts: [],
      deletes: [],
      attachments: { [CO_ENGAGEMENT_ATTACHMENT]: build.bytes },
    });
    this.refreshes++;
    logger?.info({ ...summary, version: result.version }, 'feedback aggregated and published');
    return {
      published: true,
      version: result.published ? result.version : null,
      events: events.length,
      sources: table.sources.size,
      pairs: table.pairCount,
      items: table.items.size,
      weights: build.fit.weights,
      floor,
      judgedPages: build.fit.judgedPages,
    };
  }
}
