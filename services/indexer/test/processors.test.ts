import { copyFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Embedder } from '@lookalike/embedder';
import { ImageSource } from '@lookalike/image-source';
import { SnapshotWriter } from '@lookalike/index-store';
import { fetchModelFiles, modelRegistry } from '@lookalike/models';
import { noCounters, type ItemCounters } from '../src/processors/common';
import { processDelete } from '../src/processors/delete';
import { processReindex } from '../src/processors/reindex';
import { processUpsert } from '../src/processors/upsert';
import { DebouncedPublisher } from '../src/publisher';
import type { CatalogueItem, ImageEmbedder, SnapshotStore } from '../src/ports';
import { contentHash } from '../src/hash';
import { BlobStore } from '../src/source-ref';
import { ThumbnailStore } from '../src/thumbnails';
import {
  SAMPLE_IDS,
  jobContext,
  makeCatalogue,
  modelCacheDir,
  modelMirror,
  sampleImagesDir,
  startImageServer,
  type ImageServer,
} from './helpers';

jest.setTimeout(120_000);

/** The real embedder, with a call counter around it (to prove that unchanged items cost nothing). */
class CountingEmbedder implements ImageEmbedder {
  calls = 0;
  /** Pretend to be another model (same vectors): enough to exercise the model-change paths. */
  modelOverride: ImageEmbedder['model'] | null = null;
  constructor(private readonly inner: Embedder) {}
  get model() {
    return this.modelOverride ?? this.inner.model;
  }
  embed(image: Uint8Array) {
    this.calls++;
    return this.inner.embed(image);
  }
}

function countingCounters(): ItemCounters & { embeddedCount: number; failedCodes: string[] } {
  const c = {
    embeddedCount: 0,
    failedCodes: [] as string[],
    embedded: () => void c.embeddedCount++,
    unchanged: () => undefined,
    failed: (code: string) => void c.failedCodes.push(code),
  };
  return c;
}

describe('processors on the real image source, embedder and index store', () => {
  let embedder: Embedder;
  let counting: CountingEmbedder;
  let catalogue: ReturnType<typeof makeCatalogue>;
  let server: ImageServer;
  let images: ImageSource;
  let dataDir: string;
  let writer: SnapshotWriter;
  let store: SnapshotStore;
  let publisher: DebouncedPublisher;
  let blobs: BlobStore;

  beforeAll(async () => {
    const embeddingModel = modelRegistry.resolve('mobilenetv2-12-int8');
    const files = await fetchModelFiles(embeddingModel, { cacheDir: modelCacheDir, mirror: modelMirror });
    embedder = await Embedder.create({ embeddingModel, modelPaths: files.map((f) => f.path), sessions: 1 });
    catalogue = makeCatalogue();
    server = await startImageServer();
    images = new ImageSource({
      catalogueRoot: catalogue.root,
      maxBytes: 200_000,
      timeoutMs: 3000,
      maxRedirects: 2,
      allowPrivateNetworks: true,
    });
  });

  afterAll(async () => {
    await embedder?.close();
    await images?.close();
    await server?.close();
    catalogue?.remove();
  });

  beforeEach(async () => {
    counting = new CountingEmbedder(embedder);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'indexer-proc-'));
    writer = await SnapshotWriter.open({ dataDir, model: embedder.model });
    store = writer;
    publisher = new DebouncedPublisher(store, { debounceMs: 50, maxChanges: 1000, coalesceMs: 10 });
    blobs = new BlobStore(path.join(dataDir, 'sources'));
  });

  afterEach(async () => {
    await publisher.close();
    await writer.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const deps = (counters: ItemCounters = noCounters) => ({
    images,
    embedder: counting,
    store,
    publisher,
    blobs,
    counters,
    itemConcurrency: 4,
  });

  const pathItems = (ids: string[], extra: Record<string, string | number> = {}): CatalogueItem[] =>
    ids.map((id) => ({ id, imagePath: `${id}.jpg`, metadata: { colour: 'blue', n: Number(id), ...extra } }));

  it('indexes a batch, then skips every unchanged item without embedding it', async () => {
    const counters = countingCounters();
    const first = await processUpsert(pathItems(SAMPLE_IDS), jobContext(), deps(counters));
    expect(first.kind).toBe('done');
    expect(first.result.indexed.sort()).toEqual([...SAMPLE_IDS].sort());
    expect(first.result.failed).toEqual([]);
    expect(first.result.version).not.toBeNull();
    expect(counting.calls).toBe(SAMPLE_IDS.length);
    expect(counters.embeddedCount).toBe(SAMPLE_IDS.length);

    const snapshot = await store.latest();
    expect(snapshot?.count).toBe(SAMPLE_IDS.length);
    // The caller's metadata exactly as given; where the image came from is the item's own field.
    expect(snapshot?.get('10000')?.metadata).toEqual({ colour: 'blue', n: 10000 });
    expect(snapshot?.get('10000')?.source).toEqual({ imagePath: '10000.jpg' });

    counting.calls = 0;
    const again = await processUpsert(pathItems(SAMPLE_IDS), jobContext(), deps());
    expect(again).toMatchObject({ kind: 'done', result: { indexed: [], version: null } });
    expect(again.result.unchanged.sort()).toEqual([...SAMPLE_IDS].sort());
    expect(counting.calls).toBe(0);
    expect((await store.latest())?.version).toBe(snapshot?.version);
  });

  it('re-embeds only the items whose metadata or bytes changed', async () => {
    await processUpsert(pathItems(SAMPLE_IDS.slice(0, 4)), jobContext(), deps());
    counting.calls = 0;
    const items = pathItems(SAMPLE_IDS.slice(0, 4));
    items[0]!.metadata = { colour: 'red', n: 1 };
    (items[1] as { imagePath: string }).imagePath = `${SAMPLE_IDS[5]}.jpg`;
    const outcome = await processUpsert(items, jobContext(), deps());
    expect(outcome.result.indexed.sort()).toEqual([SAMPLE_IDS[0], SAMPLE_IDS[1]].sort());
    expect(outcome.result.unchanged.sort()).toEqual([SAMPLE_IDS[2], SAMPLE_IDS[3]].sort());
    expect(counting.calls).toBe(2);
  });

  it('fails each broken item with its own reason and indexes the rest', async () => {
    const photo = readFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[2]}.jpg`));
    const counters = countingCounters();
    const items: CatalogueItem[] = [
      ...pathItems(SAMPLE_IDS.slice(0, 5)),
      { id: 'truncated', imagePath: 'truncated.jpg', metadata: {} },
      { id: 'truncated-inline', imageBase64: photo.subarray(0, 900).toString('base64'), metadata: {} },
      { id: 'not-an-image', imagePath: 'not-an-image.jpg', metadata: {} },
      { id: 'missing-url', imageUrl: server.url('/missing.jpg'), metadata: {} },
      { id: 'oversize', imagePath: 'oversize.jpg', metadata: {} },
      { id: 'traversal', imagePath: 'escape.jpg', metadata: {} },
      {
        id: 'reserved',
        imagePath: `${SAMPLE_IDS[6]}.jpg`,
        metadata: { _source: 'url:https://x.test/' },
      },
    ];
    const outcome = await processUpsert(items, jobContext(), deps(counters));
    expect(outcome.kind).toBe('done');
    expect(outcome.result.indexed.sort()).toEqual(SAMPLE_IDS.slice(0, 5).sort());
    const codes = Object.fromEntries(outcome.result.failed.map((f) => [f.id, f.code]));
    expect(codes).toEqual({
      truncated: 'IMAGE_CORRUPT',
      'truncated-inline': 'IMAGE_CORRUPT',
      'not-an-image': 'SOURCE_NOT_IMAGE',
      'missing-url': 'SOURCE_HTTP_ERROR',
      oversize: 'SOURCE_TOO_LARGE',
      traversal: 'SOURCE_PATH_OUTSIDE_ROOT',
      reserved: 'ITEM_RESERVED_METADATA',
    });
    for (const failure of outcome.result.failed) expect(failure.reason.length).toBeGreaterThan(5);
    expect(counters.failedCodes).toHaveLength(7);
    const snapshot = await store.latest();
    expect(snapshot?.count).toBe(5);
    expect(snapshot?.get('traversal')).toBeUndefined();
  });

  it('publishes the successes and asks for a retry when an item fails transiently; gives up on the last attempt', async () => {
    const items: CatalogueItem[] = [
      ...pathItems(SAMPLE_IDS.slice(0, 3)),
      { id: 'flaky', imageUrl: server.url('/down.jpg'), metadata: {} },
      { id: 'via-url', imageUrl: server.url(`/photo/${SAMPLE_IDS[4]}.jpg`), metadata: {} },
    ];
    const jobCreatedAt = Date.now();
    const first = await processUpsert(items, jobContext({ finalAttempt: false }), deps());
    expect(first.kind).toBe('retry');
    if (first.kind !== 'retry') return;
    expect(first.transient).toEqual([expect.objectContaining({ id: 'flaky', code: 'SOURCE_HTTP_ERROR' })]);
    expect(first.result.indexed.sort()).toEqual([...SAMPLE_IDS.slice(0, 3), 'via-url'].sort());
    expect((await store.latest())?.count).toBe(4);

    counting.calls = 0;
    const last = await processUpsert(
      items,
      jobContext({ finalAttempt: true, rerunOfJobCreatedAt: jobCreatedAt }),
      deps(),
    );
    expect(last.kind).toBe('done');
    // Published by this job's first attempt: reported as indexed, though nothing was embedded now.
    expect(last.result.indexed).toHaveLength(4);
    expect(last.result.unchanged).toEqual([]);
    expect(last.result.failed).toEqual([expect.objectContaining({ id: 'flaky', code: 'SOURCE_HTTP_ERROR' })]);
    expect(counting.calls).toBe(0);
  });

  it('hands the job back on shutdown after publishing the items already done', async () => {
    const shutdown = new AbortController();
    const context = jobContext({
      shutdown: shutdown.signal,
      progress: (done) => {
        if (done === 3) shutdown.abort();
      },
    });
    const outcome = await processUpsert(pathItems(SAMPLE_IDS), context, { ...deps(), itemConcurrency: 1 });
    expect(outcome.kind).toBe('handBack');
    if (outcome.kind !== 'handBack') return;
    expect(outcome.remaining).toBe(SAMPLE_IDS.length - 3);
    expect(outcome.result.indexed).toHaveLength(3);
    expect((await store.latest())?.count).toBe(3);
  });

  it('deletes ids and lists the unknown ones', async () => {
    await processUpsert(pathItems(SAMPLE_IDS.slice(0, 3)), jobContext(), deps());
    const outcome = await processDelete([SAMPLE_IDS[0]!, 'nope', SAMPLE_IDS[0]!], jobContext(), deps());
    expect(outcome.result).toMatchObject({ deleted: [SAMPLE_IDS[0]], notFound: ['nope'] });
    expect((await store.latest())?.count).toBe(2);
  });

  it('reindexes every item from its stored source (path, URL and inline upload) in one publish', async () => {
    const inline = readFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[7]}.jpg`));
    await processUpsert(
      [
        ...pathItems(SAMPLE_IDS.slice(0, 3)),
        { id: 'url-item', imageUrl: server.url(`/photo/${SAMPLE_IDS[8]}.jpg`), metadata: { k: 'v' } },
        { id: 'inline-item', imageBase64: inline.toString('base64'), metadata: {} },
      ],
      jobContext(),
      deps(),
    );
    const before = await store.latest();
    const vectorBefore = before?.vectorOf('inline-item');
    expect(before?.get('inline-item')?.source).toEqual({ blob: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(before?.get('inline-item')?.metadata).toEqual({});
    expect(before?.get('url-item')?.source).toEqual({ imageUrl: server.url(`/photo/${SAMPLE_IDS[8]}.jpg`) });
    counting.calls = 0;
    const outcome = await processReindex(jobContext(), deps());
    expect(outcome.kind).toBe('done');
    expect(outcome.result.indexed).toHaveLength(5);
    expect(outcome.result.failed).toEqual([]);
    expect(counting.calls).toBe(5);
    const after = await store.latest();
    expect(after?.version).toBe((before?.version ?? 0) + 1);
    expect(after?.count).toBe(5);
    // Same model, same bytes: same vector and content hash.
    expect(Array.from(after?.vectorOf('inline-item') ?? [])).toEqual(Array.from(vectorBefore ?? []));
    expect(after?.get('url-item')?.contentHash).toBe(before?.get('url-item')?.contentHash);
  });

  it('keeps an item whose source disappeared during reindex (same model) and reports it', async () => {
    const vanishing = path.join(catalogue.root, 'vanishing.jpg');
    copyFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[9]}.jpg`), vanishing);
    await processUpsert(
      [...pathItems(SAMPLE_IDS.slice(0, 2)), { id: 'vanishing', imagePath: 'vanishing.jpg', metadata: {} }],
      jobContext(),
      deps(),
    );
    unlinkSync(vanishing);
    const nonFinal = await processReindex(jobContext({ finalAttempt: false }), deps());
    expect(nonFinal.kind).toBe('done'); // SOURCE_NOT_FOUND is permanent: no retry
    expect(nonFinal.result.indexed.sort()).toEqual(SAMPLE_IDS.slice(0, 2).sort());
    expect(nonFinal.result.failed).toEqual([
      expect.objectContaining({ id: 'vanishing', code: 'SOURCE_NOT_FOUND' }),
    ]);
    expect((await store.latest())?.get('vanishing')).toBeDefined();
  });

  it('reindexes items of a snapshot written when the source rode in the metadata as _source', async () => {
    // A snapshot as the indexer wrote them before items had a `source` field.
    const photo = readFileSync(path.join(catalogue.root, `${SAMPLE_IDS[0]}.jpg`));
    const legacyMetadata = { colour: 'blue', _source: `path:${SAMPLE_IDS[0]}.jpg` };
    const { vector } = await embedder.embed(photo);
    await writer.publish({
      upserts: [
        {
          id: 'legacy',
          vector,
          metadata: legacyMetadata,
          contentHash: contentHash(photo, legacyMetadata, embedder.model),
        },
      ],
      deletes: [],
    });
    await publisher.close();
    await writer.close();
    writer = await SnapshotWriter.open({ dataDir, model: embedder.model });
    store = writer;
    publisher = new DebouncedPublisher(store, { debounceMs: 50, maxChanges: 1000, coalesceMs: 10 });
    const before = await store.latest();
    expect(before?.get('legacy')).toMatchObject({
      metadata: { colour: 'blue' },
      source: { imagePath: `${SAMPLE_IDS[0]}.jpg` },
    });

    counting.calls = 0;
    const outcome = await processReindex(jobContext(), deps());
    expect(outcome).toMatchObject({ kind: 'done', result: { indexed: ['legacy'], failed: [] } });
    expect(counting.calls).toBe(1);
    const after = await store.latest();
    expect(after?.get('legacy')).toMatchObject({
      metadata: { colour: 'blue' },
      source: { imagePath: `${SAMPLE_IDS[0]}.jpg` },
      // Same bytes, metadata, source and model: the hash the old indexer computed.
      contentHash: before?.get('legacy')?.contentHash,
    });
    // So re-importing the same item is recognised as unchanged, with nothing embedded.
    counting.calls = 0;
    const again = await processUpsert(
      [{ id: 'legacy', imagePath: `${SAMPLE_IDS[0]}.jpg`, metadata: { colour: 'blue' } }],
      jobContext(),
      deps(),
    );
    expect(again).toMatchObject({ kind: 'done', result: { unchanged: ['legacy'], indexed: [] } });
    expect(counting.calls).toBe(0);
  });

  it('replaces the whole snapshot after a model change, dropping items that cannot be re-embedded', async () => {
    const vanishing = path.join(catalogue.root, 'vanishing-2.jpg');
    copyFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[9]}.jpg`), vanishing);
    await processUpsert(
      [...pathItems(SAMPLE_IDS.slice(0, 3)), { id: 'vanishing', imagePath: 'vanishing-2.jpg', metadata: {} }],
      jobContext(),
      deps(),
    );
    unlinkSync(vanishing);
    const before = await store.latest();
    // Restart with "another model": a new writer and publisher for it, as a new deployment would.
    counting.modelOverride = { ...embedder.model, id: 'another-model', sha256: 'f'.repeat(64) };
    await publisher.close();
    await writer.close();
    writer = await SnapshotWriter.open({ dataDir, model: counting.modelOverride });
    store = writer;
    publisher = new DebouncedPublisher(store, { debounceMs: 50, maxChanges: 1000, coalesceMs: 10 });
    // Upserts and deletes wait for the reindex instead of failing.
    const waiting = await processUpsert(pathItems(SAMPLE_IDS.slice(0, 1)), jobContext(), deps());
    expect(waiting).toMatchObject({ kind: 'defer' });
    const waitingDelete = await processDelete([SAMPLE_IDS[0]!], jobContext(), deps());
    expect(waitingDelete).toMatchObject({ kind: 'defer' });
    counting.calls = 0;
    const thumbnails = new ThumbnailStore(dataDir);
    const photo = readFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[0]}.jpg`));
    for (const id of [...SAMPLE_IDS.slice(0, 3), 'vanishing']) await thumbnails.put(id, photo);
    const outcome = await processReindex(jobContext(), { ...deps(), thumbnails });
    expect(outcome.kind).toBe('done');
    expect(outcome.result.indexed.sort()).toEqual(SAMPLE_IDS.slice(0, 3).sort());
    expect(outcome.result.failed).toEqual([
      expect.objectContaining({ id: 'vanishing', code: 'SOURCE_NOT_FOUND' }),
    ]);
    // The dropped item's thumbnail went with it; the re-embedded items keep theirs.
    expect(await thumbnails.has('vanishing')).toBe(false);
    for (const id of SAMPLE_IDS.slice(0, 3)) expect(await thumbnails.has(id)).toBe(true);
    const after = await store.latest();
    expect(after?.count).toBe(3);
    expect(after?.get('vanishing')).toBeUndefined();
    // The content hash includes the model: every item's hash changed.
    expect(after?.get(SAMPLE_IDS[0]!)?.contentHash).not.toBe(before?.get(SAMPLE_IDS[0]!)?.contentHash);
    expect(counting.calls).toBe(3);
    expect(after?.model.id).toBe('another-model');
    // Now incremental changes go through again.
    const next = await processUpsert(pathItems(SAMPLE_IDS.slice(3, 4)), jobContext(), deps());
    expect(next.kind).toBe('done');
    expect(next.result.indexed).toEqual([SAMPLE_IDS[3]]);
  });
});
