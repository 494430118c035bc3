import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createLogger, type Logger } from '@lookalike/config';
import { METADATA_LIMITS, isItemSource } from '@lookalike/contracts';
import {
  InvalidChangeError,
  ModelMismatchError,
  SnapshotCorruptError,
  SnapshotNotFoundError,
  StaleWriterError,
  StoreClosedError,
} from './errors';
import {
  ATTACHMENTS_DIR,
  ATTACHMENT_NAME,
  FENCE_DIR,
  FORMAT,
  HOST_TAG,
  ITEMS_FILE,
  ITEM_ID,
  MANIFEST_FILE,
  POINTER_FILE,
  RETIRED_FILE,
  SNAPSHOTS_DIR,
  TMP_DIR,
  assertLittleEndian,
  attachmentPath,
  defaultShardSize,
  encodeFaissHeader,
  indexShardFile,
  parseManifest,
  parsePointer,
  parseTempName,
  parseVersionDirName,
  processAlive,
  sameModel,
  serializePointer,
  sha256Hex,
  shardCount,
  snapshotDir,
  tempName,
  type FileEntry,
  type Manifest,
  type Pointer,
} from './format';
import {
  fsyncDir,
  isErrno,
  readFileIfExists,
  removeTree,
  slices,
  writeFileAtomic,
  writeFileSynced,
  yieldToEventLoop,
} from './fsutil';
import { loadSnapshot } from './load';
import {
  ANN_FILE,
  buildAnnIndex,
  checkAnnSpec,
  hashAndSyncFile,
  type AnnSpec,
  type SearchParameters,
} from './ann';
import { WriterLock } from './lock';
import { SnapshotImpl } from './snapshot';
import type {
  ItemInput,
  Metadata,
  ModelIdentity,
  PublishResult,
  PublishStep,
  Snapshot,
  SnapshotChange,
  StoredItem,
} from './types';

export interface SnapshotWriterOptions {
  dataDir: string;
  /** The model whose vectors this writer publishes; a snapshot of another model is only replaced. */
  model: ModelIdentity;
  /** Published versions kept on disk, the current one included (default 3). */
  keepVersions?: number;
  /**
   * An old version is deleted only this long after it stopped being current, so a reader that read
   * the pointer just before a switch can finish loading it (default 30 s).
   */
  gcGraceMs?: number;
  logger?: Logger;
  /** A lock without a heartbeat for this long is taken over (default 10 s). */
  lockStaleMs?: number;
  /** How long publish() waits for another writer's lock (default 120 s). */
  lockTimeoutMs?: number;
  /** Publish attempts when this writer is fenced off by a newer one (default 3). */
  maxAttempts?: number;
  /** Vectors per FAISS shard file (default: 32 MB worth, 6553 at d=1280). */
  shardSize?: number;
  /**
   * Also publish an approximate index built with this faiss index_factory description (inner product),
   * e.g. "IVF1024,Flat" or "HNSW32"; readers search it instead of the flat shards. Unset (the default):
   * flat inner product only. Rebuilt (trained and filled) on every publish.
   */
  indexFactory?: string;
  /** Search-time parameters saved with the approximate index, e.g. { nprobe: 16 } or { efSearch: 64 }. */
  searchParameters?: SearchParameters;
  /** Test hook: called at every step of a publish (the crash tests kill the process here). */
  onStep?: (step: PublishStep) => void | Promise<void>;
}

const VECTOR_WRITE_CHUNK = 8 * 1024 * 1024;
const ITEMS_WRITE_CHUNK = 1024 * 1024;
const MAX_METADATA_FIELDS = METADATA_LIMITS.maxFields;
const MAX_METADATA_STRING = METADATA_LIMITS.maxStringLength;
const MAX_CONTENT_HASH = 256;
/** Items copied between yields (at d=1280, ~10 MB of vectors: a few milliseconds). */
const YIELD_EVERY = 2_000;
/** Validation reads every float; at d=1280 this many items take a few milliseconds. */
const VALIDATE_YIELD_EVERY = 2_000;

/** Thrown inside a publish attempt when a newer writer has moved on; the attempt is retried. */
class LostRace extends Error {}

interface NormalizedChange {
  upserts: Map<string, ItemInput>;
  deletes: string[];
  attachments: Map<string, Uint8Array | null>;
  replaceAll: boolean;
  deriveAttachments: SnapshotChange['deriveAttachments'];
}

interface Cached {
  pointer: Pointer;
  snapshot: SnapshotImpl;
}

async function validateChange(change: SnapshotChange, dimension: number): Promise<NormalizedChange> {
  if (typeof change !== 'object' || change === null) throw new InvalidChangeError('change must be an object');
  const { upserts, deletes } = change;
  if (!Array.isArray(upserts) || !Array.isArray(deletes))
    throw new InvalidChangeError('change needs upserts and deletes arrays');
  const problems: Array<{ id: unknown; reason: string }> = [];
  const byId = new Map<string, ItemInput>();
  for (const [index, item] of upserts.entries()) {
    if (index % VALIDATE_YIELD_EVERY === VALIDATE_YIELD_EVERY - 1) await yieldToEventLoop();
    const reason = itemProblem(item, dimension);
    if (reason) {
      problems.push({ id: (item as Partial<ItemInput> | null)?.id, reason });
      continue;
    }
    // A later upsert of the same id in one change wins, as it would in two consecutive changes.
    byId.delete(item.id);
    byId.set(item.id, item);
  }
  const deleteIds: string[] = [];
  const seenDeletes = new Set<string>();
  for (const id of deletes) {
    if (typeof id !== 'string') {
      problems.push({ id, reason: 'delete id is not a string' });
      continue;
    }
    if (byId.has(id)) problems.push({ id, reason: 'id is both upserted and deleted in one change' });
    if (!seenDeletes.has(id)) deleteIds.push(id);
    seenDeletes.add(id);
  }
  const attachments = new Map<string, Uint8Array | null>();
  for (const [name, content] of Object.entries(change.attachments ?? {})) {
    if (!ATTACHMENT_NAME.test(name)) problems.push({ id: name, reason: 'invalid attachment name' });
    else if (content !== null && !(content instanceof Uint8Array))
      problems.push({ id: name, reason: 'attachment must be a Uint8Array or null' });
    else attachments.set(name, content);
  }
  const replaceAll = change.replaceAll === true;
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).map((p) => `${JSON.stringify(p.id)}: ${p.reason}`);
    throw new InvalidChangeError(
      `Invalid change (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${shown.join('; ')}`,
      { problems: problems.slice(0, 100) },
    );
  }
  if (change.deriveAttachments !== undefined && typeof change.deriveAttachments !== 'function')
    throw new InvalidChangeError('deriveAttachments must be a function');
  return {
    upserts: byId,
    deletes: deleteIds,
    attachments,
    replaceAll,
    deriveAttachments: change.deriveAttachments,
  };
}

/** The change plus what its deriveAttachments hook computes from `base` (validated like the rest). */
async function withDerivedAttachments(
  change: NormalizedChange,
  base: SnapshotImpl | null,
): Promise<NormalizedChange> {
  if (!change.deriveAttachments) return change;
  const derived = await change.deriveAttachments(base);
  const attachments = new Map(change.attachments);
  for (const [name, content] of Object.entries(derived)) {
    if (!ATTACHMENT_NAME.test(name))
      throw new InvalidChangeError(`derived attachment name ${name} is invalid`);
    if (content !== null && !(content instanceof Uint8Array))
      throw new InvalidChangeError(`derived attachment ${name} must be a Uint8Array or null`);
    attachments.set(name, content);
  }
  return { ...change, attachments };
}

function itemProblem(item: ItemInput, dimension: number): string | null {
  if (typeof item !== 'object' || item === null) return 'upsert is not an object';
  if (typeof item.id !== 'string' || !ITEM_ID.test(item.id))
    return 'id must be 1-128 characters of [A-Za-z0-9_.:-]';
  if (!(item.vector instanceof Float32Array)) return 'vector must be a Float32Array';
  if (item.vector.length !== dimension)
    return `vector has ${item.vector.length} floats, the model has ${dimension}`;
  for (let j = 0; j < item.vector.length; j++)
    if (!Number.isFinite(item.vector[j])) return 'vector holds a non-finite value';
  if (typeof item.contentHash !== 'string' || item.contentHash.length > MAX_CONTENT_HASH)
    return `contentHash must be a string of at most ${MAX_CONTENT_HASH} characters`;
  if (item.source !== undefined && !isItemSource(item.source))
    return 'source must be one of { imageUrl } / { imagePath } / { blob: sha256 }';
  const metadata: unknown = item.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    return 'metadata must be an object';
  const fields = Object.keys(metadata);
  if (fields.length > MAX_METADATA_FIELDS) return `metadata has more than ${MAX_METADATA_FIELDS} fields`;
  for (const field of fields) {
    const value = (metadata as Record<string, unknown>)[field];
    if (field === '' || field.length > 128) return 'metadata field names must be 1-128 characters';
    if (typeof value === 'string') {
      if (value.length > MAX_METADATA_STRING)
        return `metadata ${field} is longer than ${MAX_METADATA_STRING}`;
    } else if (typeof value !== 'number' || !Number.isFinite(value))
      return `metadata ${field} must be a string or a finite number`;
  }
  return null;
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
  private readonly shardSize: number;
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
    this.shardSize = options.shardSize ?? defaultShardSize(this.model.dimension);
    this.ann = options.indexFactory
      ? { factory: options.indexFactory, parameters: { ...(options.searchParameters ?? {}) } }
      : null;
  }

  static async open(options: SnapshotWriterOptions): Promise<SnapshotWriter> {
    assertLittleEndian();
    const { model } = options;
    if (
      !model ||
      typeof model.id !== 'string' ||
      typeof model.sha256 !== 'string' ||
      !Number.isInteger(model.dimension) ||
      model.dimension < 1
    )
      throw new InvalidChangeError('model must be { id, sha256, dimension ≥ 1 }');
    if (options.shardSize !== undefined && !(Number.isInteger(options.shardSize) && options.shardSize >= 1))
      throw new InvalidChangeError('shardSize must be an integer ≥ 1');
    if (
      options.keepVersions !== undefined &&
      !(Number.isInteger(options.keepVersions) && options.keepVersions >= 1)
    )
      throw new InvalidChangeError('keepVersions must be an integer ≥ 1');
    if (options.indexFactory)
      checkAnnSpec(
        { factory: options.indexFactory, parameters: options.searchParameters ?? {} },
        model.dimension,
      );
    const writer = new SnapshotWriter(options);
    for (const dir of [SNAPSHOTS_DIR, TMP_DIR, FENCE_DIR])
      await fsp.mkdir(path.join(writer.dataDir, dir), { recursive: true });
    const pointer = await writer.readPointer();
    if (pointer) {
      const manifestText = await readFileIfExists(
        path.join(snapshotDir(writer.dataDir, pointer.version), MANIFEST_FILE),
      );
      const current = manifestText ? parseManifest(manifestText.toString('utf8')) : null;
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

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }

  private async step(step: PublishStep): Promise<void> {
    if (this.onStep) await this.onStep(step);
  }

  private async publishSerial(change: SnapshotChange): Promise<PublishResult> {
    const normalized = await validateChange(change, this.model.dimension);
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
    const text = await readFileIfExists(path.join(this.dataDir, POINTER_FILE));
    if (!text) return null;
    try {
      return parsePointer(text.toString('utf8'));
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
    const names = await fsp.readdir(path.join(this.dataDir, SNAPSHOTS_DIR));
    return Math.max(0, ...names.map(parseVersionDirName).filter((v): v is number => v !== null));
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
    const next = await this.applyChange(base, await withDerivedAttachments(change, base));
    if (!next) {
      return {
        version: base?.version ?? 0,
        count: base?.count ?? 0,
        upserted: [],
        deleted: [],
        unknownDeletes: change.deletes,
      };
    }
    const version = Math.max(basePointer?.version ?? 0, await this.highestSnapshotDir()) + 1;
    const createdAt = new Date().toISOString();
    const buildDir = path.join(this.dataDir, TMP_DIR, tempName('build'));
    const finalDir = snapshotDir(this.dataDir, version);
    let renamed = false;
    let committed = false;
    try {
      await fsp.mkdir(buildDir);
      await this.step('build-dir-created');
      const manifestText = await this.writeSnapshotFiles(buildDir, {
        version,
        createdAt,
        basedOn: base?.version ?? null,
        fence: lock.token,
        items: next.items,
        vectors: next.vectors,
        attachments: next.attachments,
      });
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
      await fsyncDir(path.join(this.dataDir, SNAPSHOTS_DIR));
      await this.step('snapshots-dir-synced');
      const pointer: Pointer = { version, manifestSha256: sha256Hex(manifestText) };
      const pointerTemp = path.join(this.dataDir, tempName('pointer'));
      await writeFileSynced(pointerTemp, [Buffer.from(serializePointer(pointer))], () =>
        this.step('pointer-temp-written'),
      );
      await this.step('pointer-temp-synced');
      try {
        await this.assertCommitAllowed(lock, basePointer);
        await fsp.rename(pointerTemp, path.join(this.dataDir, POINTER_FILE));
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
        shardSize: this.shardSize,
        items: next.items,
        vectors: next.vectors,
        attachments: next.attachments,
      });
      this.cache = { pointer, snapshot };
      this.logger.info({ version, count: snapshot.count, fence: lock.token }, 'snapshot published');
      await this.collectGarbage(version, basePointer?.version ?? null);
      return {
        version,
        count: snapshot.count,
        upserted: [...change.upserts.keys()],
        deleted: next.deleted,
        unknownDeletes: next.unknownDeletes,
      };
    } finally {
      if (!committed) {
        await removeTree(buildDir).catch(() => undefined);
        // Renamed into snapshots/ but never named by the pointer (fenced off): no reader can be on it.
        if (renamed) await this.removeSnapshotDir(finalDir).catch(() => undefined);
      }
    }
  }

  /** The next version's items, vectors and attachments; null when the change alters nothing. */
  private async applyChange(
    base: SnapshotImpl | null,
    change: NormalizedChange,
  ): Promise<{
    items: StoredItem[];
    vectors: Float32Array;
    attachments: Map<string, Uint8Array>;
    deleted: string[];
    unknownDeletes: string[];
  } | null> {
    const { dimension } = this.model;
    const indexedAt = new Date().toISOString();
    const attachments = new Map(base?.attachmentMap() ?? []);
    let attachmentsChanged = false;
    for (const [name, content] of change.attachments) {
      attachmentsChanged = true;
      if (content === null) attachments.delete(name);
      else attachments.set(name, content.slice());
    }
    const stored = (item: ItemInput): StoredItem =>
      Object.freeze({
        id: item.id,
        metadata: Object.freeze({ ...item.metadata }) as Metadata,
        contentHash: item.contentHash,
        indexedAt,
        ...(item.source ? { source: Object.freeze({ ...item.source }) } : {}),
      });

    if (change.replaceAll) {
      const upserts = [...change.upserts.values()];
      const vectors = new Float32Array(upserts.length * dimension);
      for (const [i, item] of upserts.entries()) {
        vectors.set(item.vector, i * dimension);
        if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
      }
      const deleted = base ? [...base.ids()].filter((id) => !change.upserts.has(id)) : [];
      // Explicit deletes change nothing more here; those naming no previous item are reported as usual.
      const unknownDeletes = change.deletes.filter((id) => !base?.has(id));
      return { items: upserts.map(stored), vectors, attachments, deleted, unknownDeletes };
    }

    const deleted: string[] = [];
    const unknownDeletes: string[] = [];
    const deleteSet = new Set<string>();
    for (const id of change.deletes) {
      if (base?.has(id)) {
        deleted.push(id);
        deleteSet.add(id);
      } else unknownDeletes.push(id);
    }
    if (base && change.upserts.size === 0 && deleteSet.size === 0 && !attachmentsChanged) return null;

    const baseCount = base?.count ?? 0;
    let added = 0;
    for (const id of change.upserts.keys()) if (!base?.has(id)) added++;
    const count = baseCount - deleteSet.size + added;
    const items: StoredItem[] = new Array<StoredItem>(count);
    const vectors = new Float32Array(count * dimension);
    let position = 0;
    for (let p = 0; p < baseCount && base; p++) {
      const item = base.itemAt(p);
      if (deleteSet.has(item.id)) continue;
      const replacement = change.upserts.get(item.id);
      if (replacement) {
        items[position] = stored(replacement);
        vectors.set(replacement.vector, position * dimension);
      } else {
        items[position] = item;
        vectors.set(base.vectors.subarray(p * dimension, (p + 1) * dimension), position * dimension);
      }
      position++;
      if (p % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
    }
    for (const item of change.upserts.values()) {
      if (base?.has(item.id)) continue;
      items[position] = stored(item);
      vectors.set(item.vector, position * dimension);
      position++;
      if (position % YIELD_EVERY === 0) await yieldToEventLoop();
    }
    return { items, vectors, attachments, deleted, unknownDeletes };
  }

  /** Writes and fsyncs every file of a snapshot into `dir`; returns the manifest text. */
  private async writeSnapshotFiles(
    dir: string,
    snapshot: {
      version: number;
      createdAt: string;
      basedOn: number | null;
      fence: number;
      items: StoredItem[];
      vectors: Float32Array;
      attachments: Map<string, Uint8Array>;
    },
  ): Promise<string> {
    const { dimension } = this.model;
    const count = snapshot.items.length;
    const files: Record<string, FileEntry> = {};

    const { shardSize } = this;
    const shards = shardCount(count, shardSize);
    for (let shard = 0; shard < shards; shard++) {
      const first = shard * shardSize;
      const shardItems = Math.min(shardSize, count - first);
      const payload = Buffer.from(
        snapshot.vectors.buffer,
        snapshot.vectors.byteOffset + first * dimension * 4,
        shardItems * dimension * 4,
      );
      files[indexShardFile(shard)] = await writeFileSynced(
        path.join(dir, indexShardFile(shard)),
        [encodeFaissHeader(dimension, shardItems), ...slices(payload, VECTOR_WRITE_CHUNK)],
        async (part) => {
          if (shard === 0 && part === 0) await this.step('index-header-written');
          await yieldToEventLoop();
        },
      );
    }
    if (shards === 0) await this.step('index-header-written');
    const ann = await this.writeAnnIndex(dir, snapshot.vectors, files);
    await this.step('index-written');

    files[ITEMS_FILE] = await writeFileSynced(
      path.join(dir, ITEMS_FILE),
      itemChunks(snapshot.items),
      async (part) => {
        if (part === 0) await this.step('items-partly-written');
        await yieldToEventLoop();
      },
    );
    await this.step('items-written');

    if (snapshot.attachments.size > 0) {
      await fsp.mkdir(path.join(dir, ATTACHMENTS_DIR));
      for (const [name, content] of snapshot.attachments)
        files[attachmentPath(name)] = await writeFileSynced(path.join(dir, ATTACHMENTS_DIR, name), [content]);
      await fsyncDir(path.join(dir, ATTACHMENTS_DIR));
    }

    const manifest: Manifest = {
      format: FORMAT,
      version: snapshot.version,
      createdAt: snapshot.createdAt,
      basedOn: snapshot.basedOn,
      fence: snapshot.fence,
      model: this.model,
      dimension,
      count,
      shardSize,
      metric: 'inner_product',
      files,
      attachments: [...snapshot.attachments.keys()].sort(),
      ...(ann ? { ann } : {}),
    };
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    await writeFileSynced(path.join(dir, MANIFEST_FILE), [Buffer.from(manifestText)], () =>
      this.step('manifest-written'),
    );
    await this.step('manifest-synced');
    await fsyncDir(dir);
    await this.step('build-dir-synced');
    return manifestText;
  }

  /**
   * Builds, writes and checksums the approximate index when this writer has a factory. A snapshot too
   * small for it (fewer items than IVF lists, say) is published flat, with a warning: it stays correct.
   */
  private async writeAnnIndex(
    dir: string,
    vectors: Float32Array,
    files: Record<string, FileEntry>,
  ): Promise<Manifest['ann']> {
    if (!this.ann || vectors.length === 0) return undefined;
    const started = Date.now();
    let index;
    try {
      index = await buildAnnIndex(vectors, this.model.dimension, this.ann);
    } catch (err) {
      if (!(err instanceof InvalidChangeError)) throw err;
      this.logger.warn(
        { factory: this.ann.factory, count: vectors.length / this.model.dimension, reason: err.message },
        'approximate index not built; publishing flat only',
      );
      return undefined;
    }
    const file = path.join(dir, ANN_FILE);
    index.write(file);
    files[ANN_FILE] = await hashAndSyncFile(file);
    this.logger.info(
      { factory: this.ann.factory, ms: Date.now() - started, bytes: files[ANN_FILE].bytes },
      'approximate index built',
    );
    return { factory: this.ann.factory, file: ANN_FILE, parameters: { ...this.ann.parameters } };
  }

  /**
   * Keeps the current version and the keepVersions − 1 before it; deletes older ones once they have
   * been retired for gcGraceMs, orphans of crashed writers, and temp entries whose owner is gone.
   * Never fails the publish that ran it (that one is already committed).
   */
  private async collectGarbage(current: number, retiredVersion: number | null): Promise<void> {
    try {
      const now = Date.now();
      const retiredFile = path.join(this.dataDir, RETIRED_FILE);
      const retired = parseRetired(await readFileIfExists(retiredFile));
      let retiredChanged = false;
      if (retiredVersion !== null && retired[retiredVersion] === undefined) {
        retired[retiredVersion] = new Date(now).toISOString();
        retiredChanged = true;
      }
      if (retiredChanged) await writeFileAtomic(retiredFile, JSON.stringify(retired), tempName('retired'));
      await this.step('retired-recorded');

      const snapshotsDir = path.join(this.dataDir, SNAPSHOTS_DIR);
      const versions = (await fsp.readdir(snapshotsDir))
        .map(parseVersionDirName)
        .filter((v): v is number => v !== null);
      const keep = await this.publishedChain(current);
      const removed: number[] = [];
      for (const version of versions) {
        if (keep.has(version)) continue;
        const dir = snapshotDir(this.dataDir, version);
        let since: number;
        if (version > current) {
          // Built by a writer that crashed (or was fenced off) before switching the pointer.
          since = (await fsp.stat(dir)).mtimeMs;
        } else {
          const at = retired[version];
          if (at === undefined) {
            retired[version] = new Date(now).toISOString();
            retiredChanged = true;
            since = now;
          } else since = Date.parse(at);
        }
        if (now - since < this.gcGraceMs) continue;
        await this.removeSnapshotDir(dir);
        delete retired[version];
        retiredChanged = true;
        removed.push(version);
      }
      for (const key of Object.keys(retired)) {
        if (!versions.includes(Number(key))) {
          delete retired[Number(key)];
          retiredChanged = true;
        }
      }
      if (retiredChanged) await writeFileAtomic(retiredFile, JSON.stringify(retired), tempName('retired'));
      await this.removeAbandonedTemps(path.join(this.dataDir, TMP_DIR), now);
      await this.removeAbandonedTemps(this.dataDir, now);
      if (removed.length > 0) this.logger.info({ removed }, 'old snapshots removed');
      await this.step('gc-done');
    } catch (err) {
      this.logger.warn({ err }, 'snapshot garbage collection failed; will retry after the next publish');
    }
  }

  /**
   * The current version and the ones that were current before it (following each manifest's basedOn),
   * keepVersions in all. Directories of writers that died before switching the pointer are not on
   * this chain, so they never take the place of a version readers actually served.
   */
  private async publishedChain(current: number): Promise<Set<number>> {
    const chain = new Set<number>();
    let version: number | null = current;
    while (version !== null && chain.size < this.keepVersions && !chain.has(version)) {
      chain.add(version);
      const text = await readFileIfExists(path.join(snapshotDir(this.dataDir, version), MANIFEST_FILE));
      if (!text) break;
      try {
        version = parseManifest(text.toString('utf8')).basedOn;
      } catch {
        break;
      }
    }
    return chain;
  }

  /** Moves a snapshot directory out of snapshots/ first, so no one ever sees it half deleted. */
  private async removeSnapshotDir(dir: string): Promise<void> {
    const aside = path.join(this.dataDir, TMP_DIR, tempName('trash'));
    await fsp.rename(dir, aside);
    await removeTree(aside);
  }

  /** Temp entries (build dirs, lock candidates, pointer temps) of processes that are gone. */
  private async removeAbandonedTemps(dir: string, now: number): Promise<void> {
    for (const name of await fsp.readdir(dir)) {
      const owner = parseTempName(name);
      if (dir === this.dataDir && !owner) continue;
      let abandoned: boolean;
      if (owner?.kind === 'trash') abandoned = true;
      else if (owner && owner.hostTag === HOST_TAG)
        abandoned = owner.pid !== process.pid && !processAlive(owner.pid);
      else {
        const stat = await fsp.stat(path.join(dir, name)).catch(() => null);
        abandoned = stat !== null && now - stat.mtimeMs >= Math.max(this.gcGraceMs, this.lockStaleMs);
      }
      if (abandoned) await removeTree(path.join(dir, name)).catch(() => undefined);
    }
  }
}

function parseRetired(text: Buffer | null): Record<number, string> {
  if (!text) return {};
  try {
    const value = JSON.parse(text.toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null) return {};
    const result: Record<number, string> = {};
    for (const [key, at] of Object.entries(value)) {
      if (/^\d+$/.test(key) && typeof at === 'string' && !Number.isNaN(Date.parse(at)))
        result[Number(key)] = at;
    }
    return result;
  } catch {
    return {};
  }
}

/** items.ndjson in ~1 MB parts, always at least two (so a crash can land between them). */
function* itemChunks(items: StoredItem[]): Generator<Uint8Array> {
  let lines: string[] = [];
  let size = 0;
  let emitted = 0;
  for (const item of items) {
    const line = `${JSON.stringify({ id: item.id, metadata: item.metadata, contentHash: item.contentHash, indexedAt: item.indexedAt, ...(item.source ? { source: item.source } : {}) })}\n`;
    lines.push(line);
    size += line.length;
    if (size >= ITEMS_WRITE_CHUNK) {
      yield Buffer.from(lines.join(''));
      emitted++;
      lines = [];
      size = 0;
    }
  }
  const rest = Buffer.from(lines.join(''));
  if (emitted === 0) {
    const half = rest.length >> 1;
    yield rest.subarray(0, half);
    yield rest.subarray(half);
  } else yield rest;
}
