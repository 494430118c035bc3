import { LookalikeError, isLookalikeError } from '@lookalike/config';
import type { Logger } from '@lookalike/config';
import { DataDirFullError, asDataDirFull } from './errors';
import type { ItemInput, PublishResult, SnapshotChange, SnapshotStore } from './ports';

export interface PublisherOptions {
  /** Publishes start at least this many ms apart (changes arriving in between are coalesced). */
  debounceMs: number;
  /** Once this many changes are pending, publish without waiting for the debounce. */
  maxChanges: number;
  /**
   * On an idle system the first change waits only this long (so jobs finishing together share one
   * snapshot) instead of the full debounce: a single upsert becomes visible quickly.
   */
  coalesceMs?: number;
  logger?: Logger;
  onPublished?: (info: { durationMs: number; upserts: number; deletes: number; version: number }) => void;
  onPublishFailed?: (err: unknown) => void;
}

/** What one `submit` learns once the snapshot holding its changes is published. */
export interface SubmitOutcome {
  /** The version holding the change; null when the change altered nothing (no version was made for it). */
  version: number | null;
  count: number;
  /** Of this submit's deletes: the ids that were in the index. */
  deleted: string[];
  /** Of this submit's deletes: the ids the index did not have. */
  notFound: string[];
}

export class PublisherClosedError extends LookalikeError {
  constructor() {
    super('PUBLISHER_CLOSED', 'The publisher is shutting down; the job will be retried', {
      permanent: false,
    });
  }
}

type PendingEntry = { kind: 'upsert'; item: ItemInput } | { kind: 'delete' };

interface Waiter {
  upserts: number;
  deletes: string[];
  resolve: (outcome: SubmitOutcome) => void;
  reject: (err: unknown) => void;
}

/** Changes that go out together in one snapshot. Never holds an upsert and a delete of the same id. */
class Generation {
  readonly entries = new Map<string, PendingEntry>();
  readonly waiters: Waiter[] = [];
  constructor(
    readonly createdAt: number,
    /** A full replacement (reindex) travels alone: nothing else may be merged into it. */
    readonly replaceAll = false,
  ) {}

  conflictsWith(change: SnapshotChange): boolean {
    if (this.replaceAll || change.replaceAll) return true;
    for (const item of change.upserts) if (this.entries.get(item.id)?.kind === 'delete') return true;
    for (const id of change.deletes) if (this.entries.get(id)?.kind === 'upsert') return true;
    return false;
  }

  add(change: SnapshotChange): void {
    // A later upsert of the same id replaces an earlier one: the newest content wins, as it would
    // had the two been published one after the other.
    for (const item of change.upserts) this.entries.set(item.id, { kind: 'upsert', item });
    for (const id of change.deletes) this.entries.set(id, { kind: 'delete' });
  }

  toChange(): SnapshotChange {
    const upserts: ItemInput[] = [];
    const deletes: string[] = [];
    for (const [id, entry] of this.entries) {
      if (entry.kind === 'upsert') upserts.push(entry.item);
      else deletes.push(id);
    }
    return this.replaceAll ? { upserts, deletes, replaceAll: true } : { upserts, deletes };
  }
}

/**
 * Coalesces the changes of concurrent jobs into few SnapshotStore.publish calls: at most one publish
 * per `debounceMs` (sooner once `maxChanges` are pending), one at a time. `submit` resolves only
 * after the snapshot containing the change is published — a job is acknowledged to BullMQ after
 * that, which is what makes a crash safe: an unacknowledged job is simply run again.
 */
export class DebouncedPublisher {
  private readonly generations: Generation[] = [];
  private inFlight: Generation | null = null;
  private lastStart = -Infinity;
  private pumping = false;
  private urgent = false;
  private draining = false;
  private closed = false;
  private wake: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  private readonly coalesceMs: number;
  publishes = 0;

  constructor(
    private readonly store: Pick<SnapshotStore, 'publish'>,
    private readonly options: PublisherOptions,
  ) {
    this.coalesceMs = Math.min(options.coalesceMs ?? 50, options.debounceMs);
  }

  /** Changes waiting or being published right now. */
  get pendingChanges(): number {
    let n = this.inFlight?.entries.size ?? 0;
    for (const g of this.generations) n += g.entries.size;
    return n;
  }

  /**
   * Queues a change. Changes from concurrent callers are merged into one snapshot; an upsert and a
   * delete of the same id, or a `replaceAll` change, go into separate snapshots in submission order.
   */
  submit(change: SnapshotChange): Promise<SubmitOutcome> {
    if (this.closed) return Promise.reject(new PublisherClosedError());
    let generation = this.generations[this.generations.length - 1];
    if (!generation || generation.conflictsWith(change)) {
      generation = new Generation(Date.now(), change.replaceAll === true);
      this.generations.push(generation);
    }
    generation.add(change);
    const promise = new Promise<SubmitOutcome>((resolve, reject) => {
      generation.waiters.push({
        upserts: change.upserts.length,
        deletes: [...change.deletes],
        resolve,
        reject,
      });
    });
    this.kick();
    return promise;
  }

  /**
   * The content hash a pending change will give `id`: a string for a pending upsert, null for a
   * pending delete, undefined when nothing is pending (then the latest snapshot is the truth).
   */
  pendingHashOf(id: string): string | null | undefined {
    for (let i = this.generations.length - 1; i >= 0; i--) {
      const entry = this.generations[i]?.entries.get(id);
      if (entry) return entry.kind === 'upsert' ? entry.item.contentHash : null;
    }
    const entry = this.inFlight?.entries.get(id);
    if (entry) return entry.kind === 'upsert' ? entry.item.contentHash : null;
    return undefined;
  }

  /** Publishes everything pending now, ignoring the debounce; resolves when done (or failed). */
  async flush(): Promise<void> {
    if (!this.pumping && this.generations.length === 0) return;
    this.urgent = true;
    const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.kick();
    await idle;
  }

  /**
   * Shutdown mode: from now on every change is published as soon as the previous publish ends, so
   * jobs handing themselves back on SIGTERM are not held up by the debounce.
   */
  drain(): void {
    this.draining = true;
    this.kick();
  }

  /** Flushes, then refuses new changes. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.flush();
  }

  private kick(): void {
    if (this.wake) {
      const wake = this.wake;
      this.wake = null;
      wake();
    }
    if (!this.pumping) void this.pump();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (;;) {
        const generation = this.generations[0];
        if (!generation) break;
        const now = Date.now();
        const full = generation.entries.size >= this.options.maxChanges || this.generations.length > 1;
        const dueAt =
          this.urgent || this.draining
            ? now
            : full
              ? Math.max(now, this.lastStart + Math.min(this.options.debounceMs, this.coalesceMs))
              : Math.max(generation.createdAt + this.coalesceMs, this.lastStart + this.options.debounceMs);
        if (dueAt > now) {
          await this.sleep(dueAt - now);
          continue;
        }
        this.generations.shift();
        this.inFlight = generation;
        this.lastStart = Date.now();
        await this.publishGeneration(generation);
        this.inFlight = null;
      }
    } finally {
      this.pumping = false;
      this.urgent = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async publishGeneration(generation: Generation): Promise<void> {
    const change = generation.toChange();
    const started = performance.now();
    let result: PublishResult;
    try {
      result = await this.store.publish(change);
    } catch (thrown) {
      // A full volume is the one publish failure an operator can fix without a code change: give it
      // its own code, so the log line and every job's failure reason say what to do.
      const err = asDataDirFull(thrown);
      const full = err instanceof DataDirFullError;
      this.options.logger?.error(
        {
          err,
          ...(isLookalikeError(err) ? { code: err.code } : {}),
          upserts: change.upserts.length,
          deletes: change.deletes.length,
          jobs: generation.waiters.length,
        },
        full
          ? 'publish failed: no space left on DATA_DIR; nothing was published, the jobs involved will be retried'
          : 'publish failed; the jobs involved will be retried',
      );
      this.options.onPublishFailed?.(err);
      for (const waiter of generation.waiters) waiter.reject(err);
      return;
    }
    const durationMs = performance.now() - started;
    const deleted = new Set(result.deleted);
    if (!result.published) {
      this.options.logger?.info(
        { version: result.version, deletes: change.deletes.length, jobs: generation.waiters.length },
        'nothing to publish: the changes alter nothing',
      );
      for (const waiter of generation.waiters)
        waiter.resolve({ version: null, count: result.count, deleted: [], notFound: waiter.deletes });
      return;
    }
    this.publishes++;
    this.options.onPublished?.({
      durationMs,
      upserts: change.upserts.length,
      deletes: change.deletes.length,
      version: result.version,
    });
    this.options.logger?.info(
      {
        version: result.version,
        count: result.count,
        upserts: change.upserts.length,
        deletes: change.deletes.length,
        jobs: generation.waiters.length,
        durationMs: Math.round(durationMs),
      },
      'changes published',
    );
    for (const waiter of generation.waiters) {
      const mine = waiter.deletes.filter((id) => deleted.has(id));
      waiter.resolve({
        // A job that only deleted ids the index did not have changed nothing, even when it shared
        // the snapshot of jobs that did.
        version: waiter.upserts === 0 && mine.length === 0 ? null : result.version,
        count: result.count,
        deleted: mine,
        notFound: waiter.deletes.filter((id) => !deleted.has(id)),
      });
    }
  }
}
