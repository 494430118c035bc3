import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createLogger, type Logger } from '@lookalike/config';
import { sameModel } from '@lookalike/contracts';
import type { LinearProjection } from '@lookalike/projection';
import {
  ModelMismatchError,
  ProjectionConflictError,
  SnapshotCorruptError,
  SnapshotNotFoundError,
  StaleWriterError,
  StoreClosedError,
} from '../errors';
import {
  FENCE_DIR,
  SNAPSHOTS_DIR,
  TMP_DIR,
  assertLittleEndian,
  parseVersionDirName,
  snapshotDir,
  snapshotsDir,
  tempName,
} from '../format/layout';
import { readManifestIfExists } from '../format/manifest';
import { installPointer, readPointer, stagePointer, type Pointer } from '../format/pointer';
import { fsyncDir, isErrno, removeTree, sha256Hex } from '../fsutil';
import type { AnnSpec } from '../query/ann';
import { SnapshotImpl } from '../query/snapshot';
import { loadSnapshot } from '../read/load';
import type { ModelIdentity, PublishResult, PublishStep, Snapshot, SnapshotChange } from '../types';
import { applyChange } from './apply-change';
import { writeSnapshotFiles, type BuildSettings } from './build';
import { planSegments } from './segment-plan';
import { readRawVectors, type RawVectors, type RawVectorsOptions } from './raw-vectors';
import { collectGarbage, removeSnapshotDir, type GcSettings } from './gc';
import { WriterLock } from './lock';
import { checkWriterOptions, type SnapshotWriterOptions } from './writer-options';
import { validateChange, withDerivedAttachments, type NormalizedChange } from './validate-change';

/** Thrown inside a publish attempt when a newer writer has moved on; the attempt is retried. */
class LostRace extends Error {}

interface Cached {
  pointer: Pointer;
  snapshot: SnapshotImpl;
}

/**
 * Builds and publishes snapshots. Each publish takes the data directory's writer lock, builds the next
 * version from the current one plus the change in a temp directory, fsyncs it, renames it into
 * snapshots/, and switches CURRENT atomically — after checking its fencing token is still the newest,
 * so a writer that stalled past its lock and woke up late cannot overwrite a newer snapshot (it
 * rebuilds on top of that one instead). Publishes of one writer run one at a time.
 */
export class SnapshotWriter {
  private readonly dataDir: string;
  private readonly model: ModelIdentity;
  private readonly keepVersions: number;
  private readonly gcGraceMs: number;
  private readonly logger: Logger;
  private readonly lockStaleMs: number;
  private readonly lockTimeoutMs: number;
  private readonly maxAttempts: number;
  private readonly onStep: SnapshotWriterOptions['onStep'];
  private readonly ann: AnnSpec | null;
  private queue: Promise<unknown> = Promise.resolve();
  private cache: Cached | null = null;
  private closed = false;

  private constructor(options: SnapshotWriterOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.model = { id: options.model.id, sha256: options.model.sha256, dimension: options.model.dimension };
    this.keepVersions = options.keepVersions ?? 3;
    this.gcGraceMs = options.gcGraceMs ?? 30_000;
    this.logger = options.logger ?? createLogger('index-store', 'silent');
    this.lockStaleMs = options.lockStaleMs ?? 10_000;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 120_000;
    this.maxAttempts = options.maxAttempts ?? 3;
    this.onStep = options.onStep;
    this.ann = options.indexFactory
      ? { factory: options.indexFactory, parameters: { ...(options.searchParameters ?? {}) } }
      : null;
  }

  static async open(options: SnapshotWriterOptions): Promise<SnapshotWriter> {
    assertLittleEndian();
    checkWriterOptions(options);
    const writer = new SnapshotWriter(options);
    for (const dir of [SNAPSHOTS_DIR, TMP_DIR, FENCE_DIR])
      await fsp.mkdir(path.join(writer.dataDir, dir), { recursive: true });
    const pointer = await writer.readPointer();
    if (pointer) {
      const current = await readManifestIfExists(snapshotDir(writer.dataDir, pointer.version));
      if (current && !sameModel(current.model, writer.model))
        writer.logger.warn(
          { snapshotModel: current.model, model: writer.model },
          'current snapshot was built with another model; only a replaceAll publish can follow it',
        );
    }
    return writer;
  }

  /**
   * Publishes the current snapshot plus `change` as the next version. An upsert of an existing id
   * replaces it (keeping its position); a delete of an unknown id changes nothing and is reported in
   * `unknownDeletes`. A change that alters nothing publishes nothing and returns the current version.
   */
  publish(change: SnapshotChange): Promise<PublishResult> {
    if (this.closed) return Promise.reject(new StoreClosedError('SnapshotWriter'));
    const run = this.queue.then(() => this.publishSerial(change));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The newest published snapshot (verified), or null before the first publish. */
  async latest(): Promise<Snapshot | null> {
    if (this.closed) throw new StoreClosedError('SnapshotWriter');
    const pointer = await this.readPointer();
    return pointer ? this.snapshotFor(pointer) : null;
  }

  /**
   * The raw embeddings of the newest version's live items (or an even-strided sample of at most
   * `maxRows`), with their ids and metadata, for fitting a projection; null before the first publish.
   * Read from the segments' raw files when that version serves a projection, else from its served
   * vectors (which are the raw ones). Version directories are immutable, so no lock is taken; one GC
   * removes while this reads (older than KEEP_VERSIONS and the grace period) fails with
   * SnapshotCorruptError — read again.
   */
  async readRawVectors(options: RawVectorsOptions = {}): Promise<RawVectors | null> {
    if (this.closed) throw new StoreClosedError('SnapshotWriter');
    const pointer = await this.readPointer();
    if (!pointer) return null;
    return readRawVectors(this.dataDir, await this.snapshotFor(pointer), options);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }

  private async step(step: PublishStep): Promise<void> {
    if (this.onStep) await this.onStep(step);
  }

  private buildSettings(): BuildSettings {
    return {
      model: this.model,
      ann: this.ann,
      logger: this.logger,
      step: (step) => this.step(step),
    };
  }

  private gcSettings(): GcSettings {
    return {
      dataDir: this.dataDir,
      keepVersions: this.keepVersions,
      gcGraceMs: this.gcGraceMs,
      lockStaleMs: this.lockStaleMs,
      logger: this.logger,
      step: (step) => this.step(step),
    };
  }

  private async publishSerial(change: SnapshotChange): Promise<PublishResult> {
    const normalized = await validateChange(change, this.model);
    await this.step('change-validated');
    for (let attempt = 1; ; attempt++) {
      const lock = await WriterLock.acquire(this.dataDir, {
        staleMs: this.lockStaleMs,
        timeoutMs: this.lockTimeoutMs,
        logger: this.logger,
      });
      try {
        await this.step('lock-acquired');
        await lock.takeFence();
        await this.step('fence-acquired');
        const result = await this.publishLocked(lock, normalized);
        await lock.release();
        await this.step('lock-released');
        return result;
      } catch (err) {
        await lock.release().catch(() => undefined);
        if (!(err instanceof LostRace)) throw err;
        this.cache = null;
        if (attempt >= this.maxAttempts)
          throw new StaleWriterError(`Fenced off by a newer writer ${attempt} times: ${err.message}`);
        this.logger.warn(
          { attempt, reason: err.message },
          'fenced off by a newer writer; rebuilding on its snapshot',
        );
      }
    }
  }

  private async readPointer(): Promise<Pointer | null> {
    try {
      return await readPointer(this.dataDir);
    } catch (err) {
      throw new SnapshotCorruptError(0, (err as Error).message, err);
    }
  }

  private async snapshotFor(pointer: Pointer): Promise<SnapshotImpl> {
    const cached = this.cache;
    if (
      cached &&
      cached.pointer.version === pointer.version &&
      cached.pointer.manifestSha256 === pointer.manifestSha256
    )
      return cached.snapshot;
    let snapshot: SnapshotImpl;
    try {
      snapshot = await loadSnapshot(this.dataDir, pointer.version, {
        expectedManifestSha256: pointer.manifestSha256,
        loadFaiss: false,
        eager: false,
      });
    } catch (err) {
      if (err instanceof SnapshotNotFoundError)
        throw new SnapshotCorruptError(
          pointer.version,
          'the pointer names a snapshot directory that does not exist',
        );
      throw err;
    }
    this.cache = { pointer, snapshot };
    return snapshot;
  }

  /** The commit may go ahead only while this writer still owns the lock, holds the newest fencing token and builds on the current pointer. */
  private async assertCommitAllowed(lock: WriterLock, base: Pointer | null): Promise<void> {
    if (!(await lock.stillOwned())) throw new LostRace('the writer lock was taken over');
    if (!(await lock.fenceIsNewest())) throw new LostRace(`a newer fencing token than ${lock.token} exists`);
    const now = await this.readPointer();
    if ((now?.version ?? null) !== (base?.version ?? null) || now?.manifestSha256 !== base?.manifestSha256)
      throw new LostRace(
        `the current snapshot moved from ${base?.version ?? 'none'} to ${now?.version ?? 'none'}`,
      );
  }

  private async highestSnapshotDir(): Promise<number> {
    const names = await fsp.readdir(snapshotsDir(this.dataDir));
    return Math.max(0, ...names.map(parseVersionDirName).filter((v): v is number => v !== null));
  }

  /** The projection the next version is in: the change's, else the base's while it fits the writer's model. */
  private nextProjection(base: SnapshotImpl | null, change: NormalizedChange): LinearProjection | null {
    if (change.projection !== undefined) {
      const current = base?.projection?.id ?? null;
      // Refused before anything is built: the fit was made against another projection than the current one.
      if (current !== change.projectionReplaces)
        throw new ProjectionConflictError(change.projectionReplaces, current, base?.version ?? 0);
      return change.projection;
    }
    const carried = base?.projector() ?? null;
    if (carried && !sameModel(carried.descriptor.model, this.model)) {
      this.logger.warn(
        { projection: carried.descriptor.id, model: this.model.id },
        'the current projection maps another model; publishing without a projection',
      );
      return null;
    }
    return carried;
  }

  private async publishLocked(lock: WriterLock, change: NormalizedChange): Promise<PublishResult> {
    const basePointer = await this.readPointer();
    const base = basePointer ? await this.snapshotFor(basePointer) : null;
    await this.step('base-loaded');
    if (base && !change.replaceAll && !sameModel(base.model, this.model)) {
      throw new ModelMismatchError(
        `The current snapshot (version ${base.version}) holds vectors of model ${base.model.id}; this writer embeds ` +
          `with ${this.model.id}. Publish a replaceAll change (a full reindex) to switch models.`,
        { snapshotModel: base.model, writerModel: this.model },
      );
    }
    const projection = this.nextProjection(base, change);
    const projectionChanged = (projection?.descriptor.id ?? null) !== (base?.projection?.id ?? null);
    const derived = await withDerivedAttachments(change, base);
    // A projection change alone is a change: it re-projects every item.
    const next = await applyChange(base, derived, new Date().toISOString(), projectionChanged);
    if (!next) {
      return {
        published: false,
        version: base?.version ?? 0,
        count: base?.count ?? 0,
        upserted: [],
        deleted: [],
        unknownDeletes: change.deletes,
        bytesWritten: 0,
      };
    }
    const plan = await planSegments({
      base,
      dataDir: this.dataDir,
      next,
      projection,
      projectionChanged,
      replaceAll: change.replaceAll,
      rawDimension: this.model.dimension,
      logger: this.logger,
    });
    const version = Math.max(basePointer?.version ?? 0, await this.highestSnapshotDir()) + 1;
    const createdAt = new Date().toISOString();
    const buildDir = path.join(this.dataDir, TMP_DIR, tempName('build'));
    const finalDir = snapshotDir(this.dataDir, version);
    let renamed = false;
    let committed = false;
    try {
      await fsp.mkdir(buildDir);
      await this.step('build-dir-created');
      const { manifest, manifestText, bytesWritten } = await writeSnapshotFiles(
        buildDir,
        {
          version,
          createdAt,
          basedOn: base?.version ?? null,
          fence: lock.token,
          count: next.items.length,
          served: plan.served,
          projection,
          kept: plan.kept,
          segment: plan.segment,
          attachments: next.attachments,
          base: base
            ? {
                dir: snapshotDir(this.dataDir, base.version),
                manifest: base.manifest,
                attachments: base.attachmentMap(),
              }
            : null,
        },
        this.buildSettings(),
      );
      await this.assertCommitAllowed(lock, basePointer);
      await this.step('fence-checked');
      try {
        await fsp.rename(buildDir, finalDir);
        renamed = true;
      } catch (err) {
        // Someone else published this version number meanwhile: we are the stale one.
        if (isErrno(err, 'EEXIST', 'ENOTEMPTY')) throw new LostRace(`version ${version} already exists`);
        throw err;
      }
      await this.step('snapshot-renamed');
      await fsyncDir(snapshotsDir(this.dataDir));
      await this.step('snapshots-dir-synced');
      const pointer: Pointer = { version, manifestSha256: sha256Hex(manifestText) };
      const pointerTemp = await stagePointer(this.dataDir, pointer, () => this.step('pointer-temp-written'));
      await this.step('pointer-temp-synced');
      try {
        await this.assertCommitAllowed(lock, basePointer);
        await installPointer(this.dataDir, pointerTemp);
      } catch (err) {
        await fsp.rm(pointerTemp, { force: true });
        throw err;
      }
      committed = true;
      await this.step('pointer-renamed');
      await fsyncDir(this.dataDir);
      await this.step('data-dir-synced');
      const snapshot = await SnapshotImpl.create({
        version,
        builtAt: createdAt,
        basedOn: base?.version ?? null,
        model: this.model,
        manifest,
        projection,
        items: next.items,
        vectors: plan.served,
        attachments: next.attachments,
      });
      this.cache = { pointer, snapshot };
      this.logger.info(
        {
          version,
          count: snapshot.count,
          fence: lock.token,
          segments: manifest.segments?.length ?? 0,
          rewritten: plan.full,
          bytesWritten,
        },
        'snapshot published',
      );
      await collectGarbage(this.gcSettings(), version, basePointer?.version ?? null);
      return {
        published: true,
        version,
        count: snapshot.count,
        upserted: [...change.upserts.keys()],
        deleted: next.deleted,
        unknownDeletes: next.unknownDeletes,
        bytesWritten,
      };
    } finally {
      if (!committed) {
        await removeTree(buildDir).catch(() => undefined);
        // Renamed into snapshots/ but never named by the pointer (fenced off): no reader can be on it.
        if (renamed) await removeSnapshotDir(this.dataDir, finalDir).catch(() => undefined);
      }
    }
  }
}
