import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { createLogger, type Logger } from '@lookalike/config';
import { SnapshotCorruptError, StoreClosedError } from '../errors';
import { POINTER_FILE, assertLittleEndian } from '../format/layout';
import { decodePointer, readPointerText, type Pointer } from '../format/pointer';
import { errorMessage } from '../fsutil';
import type { SearchParameters } from '../query/ann';
import type { SnapshotImpl } from '../query/snapshot';
import type { ModelIdentity, Snapshot } from '../types';
import { loadSnapshot } from './load';

/** The reader's shortest loading step between yields (see LoadOptions.minSliceMs). */
const READER_MIN_SLICE_MS = 4;

export interface SnapshotReaderOptions {
  dataDir: string;
  /** Snapshots of any other model (id, sha256, dimension) are rejected. */
  expectedModel?: ModelIdentity;
  /** The pointer is also polled at this interval, since shared volumes often deliver no fs events (default 1000). */
  pollIntervalMs?: number;
  /** A rejected pointer is retried after this long even if it has not changed (default 30 s). */
  retryRejectedMs?: number;
  logger?: Logger;
  /** Overrides the search parameters approximate indexes were published with, e.g. { nprobe: 32 }. */
  searchParameters?: SearchParameters;
  /**
   * Read and verify a new version's segment files in a worker thread (default true): the event loop
   * then only parses item records and builds the lookups (time-sliced). Measured at 200k × 256
   * (scripts/measure-load-stall.ts, 2 cores at load average 15–21): max event-loop delay 308–741 ms in a
   * worker vs 509–1509 ms on the loop, p99 72–107 ms vs 329–950 ms.
   */
  readInWorker?: boolean;
}

export interface ReaderStatus {
  version: number | null;
  count: number;
  reloads: number;
  rejections: number;
  lastRejection: { version: number; reason: string; at: string } | null;
}

/**
 * Serves the current snapshot and follows the pointer: fs.watch on the data directory plus polling.
 * A new version is loaded and verified in the background (checksums, FAISS header, model) and then
 * swapped in with one reference assignment; a query holds the Snapshot it started with, so queries in
 * flight finish on their version. A snapshot that fails verification is rejected with a logged reason
 * and the current one keeps serving.
 */
export class SnapshotReader extends EventEmitter {
  private readonly dataDir: string;
  private readonly expectedModel: ModelIdentity | undefined;
  private readonly pollIntervalMs: number;
  private readonly retryRejectedMs: number;
  private readonly logger: Logger;
  private readonly searchParameters: SearchParameters | undefined;
  private readonly readInWorker: boolean;
  private snapshot: SnapshotImpl | null = null;
  /** The pointer (text) last acted upon, loaded or rejected. */
  private lastPointerText: string | null = null;
  private lastPointerRejected = false;
  private lastRejectedAt = 0;
  /** The manifest checksum of the pointer the installed snapshot came from (null after swapTo). */
  private installedPointerSha: string | null = null;
  private lastRejection: ReaderStatus['lastRejection'] = null;
  private checking: Promise<void> | null = null;
  private checkAgain = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private watcher: FSWatcher | null = null;
  private closed = false;
  private reloadCount = 0;
  private rejectionCount = 0;

  private constructor(options: SnapshotReaderOptions) {
    super();
    this.dataDir = path.resolve(options.dataDir);
    this.expectedModel = options.expectedModel;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.retryRejectedMs = options.retryRejectedMs ?? 30_000;
    this.logger = options.logger ?? createLogger('index-store', 'silent');
    this.searchParameters = options.searchParameters;
    this.readInWorker = options.readInWorker ?? true;
  }

  /** Opens the reader and loads the current snapshot, if there is one (a bad one is rejected, not thrown). */
  static async open(options: SnapshotReaderOptions): Promise<SnapshotReader> {
    assertLittleEndian();
    const reader = new SnapshotReader(options);
    await reader.check();
    reader.startWatching();
    reader.pollTimer = setInterval(() => {
      if (!reader.watcher) reader.startWatching();
      void reader.check();
    }, reader.pollIntervalMs);
    reader.pollTimer.unref();
    return reader;
  }

  /** The snapshot to query, or null until a first valid snapshot exists. */
  current(): Snapshot | null {
    return this.snapshot;
  }

  get reloads(): number {
    return this.reloadCount;
  }

  get rejections(): number {
    return this.rejectionCount;
  }

  status(): ReaderStatus {
    return {
      version: this.snapshot?.version ?? null,
      count: this.snapshot?.count ?? 0,
      reloads: this.reloadCount,
      rejections: this.rejectionCount,
      lastRejection: this.lastRejection,
    };
  }

  override on(event: 'swap', listener: (snapshot: Snapshot) => void): this;
  override on(event: 'reject', listener: (version: number, reason: string) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  /**
   * Loads and swaps to a specific version (e.g. a rollback), verifying it like any other. The reader
   * stays on it until the pointer next changes. Throws SnapshotNotFoundError / SnapshotCorruptError /
   * ModelMismatchError; the current snapshot keeps serving then.
   */
  async swapTo(version: number): Promise<void> {
    if (this.closed) throw new StoreClosedError('SnapshotReader');
    while (this.checking) await this.checking;
    const task = (async () => {
      try {
        const snapshot = await loadSnapshot(this.dataDir, version, this.loadOptions());
        this.install(snapshot, null);
      } catch (err) {
        this.reject(version, err, false);
        throw err;
      }
    })();
    this.checking = task.catch(() => undefined);
    try {
      await task;
    } finally {
      this.checking = null;
    }
  }

  /** Checks the pointer now (also what the watcher and the poll timer do). */
  check(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.checking) {
      this.checkAgain = true;
      return this.checking;
    }
    this.checking = this.checkLoop().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.watcher?.close();
    this.watcher = null;
    while (this.checking) await this.checking;
    this.removeAllListeners();
  }

  private loadOptions(pointer?: Pointer): Parameters<typeof loadSnapshot>[2] {
    return {
      ...(this.snapshot ? { previous: this.snapshot } : {}),
      ...(pointer ? { expectedManifestSha256: pointer.manifestSha256 } : {}),
      ...(this.expectedModel ? { expectedModel: this.expectedModel } : {}),
      ...(this.searchParameters ? { searchParameters: this.searchParameters } : {}),
      loadFaiss: true,
      eager: true,
      readInWorker: this.readInWorker,
      // Short steps: a steady by-id p99 is ~10 ms at 50k × 128-d, so a 40 ms step would dominate it.
      minSliceMs: READER_MIN_SLICE_MS,
    };
  }

  private async checkLoop(): Promise<void> {
    // Bounded: each round acts on one pointer value; a pointer that moves on during a load is followed.
    for (let round = 0; round < 8 && !this.closed; round++) {
      this.checkAgain = false;
      await this.checkOnce();
      if (!this.checkAgain) return;
    }
  }

  private async checkOnce(): Promise<void> {
    let text: string | null;
    try {
      text = await readPointerText(this.dataDir);
    } catch (err) {
      this.logger.warn({ err, dataDir: this.dataDir }, 'cannot read the snapshot pointer');
      return;
    }
    if (text === null) return;
    if (text === this.lastPointerText) {
      // Acted on already. A rejected pointer is retried now and then (the failure may have been I/O).
      if (!this.lastPointerRejected || Date.now() - this.lastRejectedAt < this.retryRejectedMs) return;
    }
    this.lastPointerText = text;
    this.lastPointerRejected = false;
    let pointer: Pointer;
    try {
      pointer = decodePointer(text);
    } catch (err) {
      this.reject(-1, err);
      return;
    }
    if (this.snapshot?.version === pointer.version && this.installedPointerSha === pointer.manifestSha256)
      return;
    try {
      const snapshot = await loadSnapshot(this.dataDir, pointer.version, this.loadOptions(pointer));
      if (this.closed) return;
      this.install(snapshot, pointer.manifestSha256);
    } catch (err) {
      this.reject(pointer.version, err);
    }
  }

  private install(snapshot: SnapshotImpl, pointerSha: string | null): void {
    const previous = this.snapshot?.version ?? null;
    this.snapshot = snapshot;
    this.installedPointerSha = pointerSha;
    this.reloadCount++;
    this.logger.info({ version: snapshot.version, count: snapshot.count, previous }, 'snapshot loaded');
    this.emitSafely('swap', snapshot);
  }

  private reject(version: number, err: unknown, fromPointer = true): void {
    const reason = err instanceof SnapshotCorruptError ? err.reason : errorMessage(err);
    this.rejectionCount++;
    if (fromPointer) {
      this.lastPointerRejected = true;
      this.lastRejectedAt = Date.now();
    }
    this.lastRejection = { version, reason, at: new Date().toISOString() };
    this.logger.warn({ version, reason, serving: this.snapshot?.version ?? null }, 'snapshot rejected');
    this.emitSafely('reject', version, reason);
  }

  /** A listener that throws must not turn a good swap into a rejection (or stop the reader). */
  private emitSafely(event: 'swap' | 'reject', ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      this.logger.error({ err, event }, 'snapshot reader listener threw');
    }
  }

  private startWatching(): void {
    if (this.closed || this.watcher) return;
    try {
      this.watcher = watch(this.dataDir, { persistent: false }, (_event, filename) => {
        if (filename === null || filename === POINTER_FILE) this.scheduleCheck();
      });
      this.watcher.on('error', () => {
        // The directory went away or the watch broke: polling carries on and re-establishes it.
        this.watcher?.close();
        this.watcher = null;
      });
    } catch {
      this.watcher = null; // no such directory yet; the poll timer retries
    }
  }

  private scheduleCheck(): void {
    if (this.debounceTimer || this.closed) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      void this.check();
    }, 5);
    this.debounceTimer.unref();
  }
}
