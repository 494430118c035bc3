import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Embedder } from '@lookalike/embedder';
import { ImageSource } from '@lookalike/image-source';
import { SnapshotWriter } from '@lookalike/index-store';
import { fetchModelFiles, modelRegistry } from '@lookalike/models';
import { noCounters, type ItemCounters } from '../src/processors/common';
import { DebouncedPublisher } from '../src/publisher';
import type { CatalogueItem, ImageEmbedder, SnapshotStore } from '../src/ports';
import { BlobStore } from '../src/source-ref';
import { makeCatalogue, modelCacheDir, modelMirror, startImageServer, type ImageServer } from './helpers';

/** The real embedder, with a call counter around it (to prove that unchanged items cost nothing). */
export class CountingEmbedder implements ImageEmbedder {
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

export function countingCounters(): ItemCounters & { embeddedCount: number; failedCodes: string[] } {
  const c = {
    embeddedCount: 0,
    failedCodes: [] as string[],
    embedded: () => void c.embeddedCount++,
    unchanged: () => undefined,
    failed: (code: string) => void c.failedCodes.push(code),
  };
  return c;
}

/**
 * The processors' real surroundings: the image source on a temporary catalogue and a photo server,
 * the embedder (shared by the file's tests), and per test a fresh data dir with its SnapshotWriter,
 * publisher and blob store. A test may replace `writer`, `store` and `publisher` (a restart with
 * another model); whatever they are at the end is closed.
 */
export interface ProcessorHarness {
  embedder: Embedder;
  counting: CountingEmbedder;
  catalogue: ReturnType<typeof makeCatalogue>;
  server: ImageServer;
  images: ImageSource;
  dataDir: string;
  writer: SnapshotWriter;
  store: SnapshotStore;
  publisher: DebouncedPublisher;
  blobs: BlobStore;
  /** The processors' deps on the current store and publisher. */
  deps(counters?: ItemCounters): {
    images: ImageSource;
    embedder: CountingEmbedder;
    store: SnapshotStore;
    publisher: DebouncedPublisher;
    blobs: BlobStore;
    counters: ItemCounters;
    itemConcurrency: number;
  };
  /** Items `<id>.jpg` of the catalogue with metadata `{ colour: 'blue', n: <id>, ...extra }`. */
  pathItems(ids: string[], extra?: Record<string, string | number>): CatalogueItem[];
}

/** Registers the hooks of a processor test file and returns the harness they fill in. */
export function useProcessorHarness(): ProcessorHarness {
  const h = {
    deps(counters: ItemCounters = noCounters) {
      return {
        images: h.images,
        embedder: h.counting,
        store: h.store,
        publisher: h.publisher,
        blobs: h.blobs,
        counters,
        itemConcurrency: 4,
      };
    },
    pathItems(ids: string[], extra: Record<string, string | number> = {}): CatalogueItem[] {
      return ids.map((id) => ({
        id,
        imagePath: `${id}.jpg`,
        metadata: { colour: 'blue', n: Number(id), ...extra },
      }));
    },
  } as ProcessorHarness;

  beforeAll(async () => {
    const embeddingModel = modelRegistry.resolve('mobilenetv2-12-int8');
    const files = await fetchModelFiles(embeddingModel, { cacheDir: modelCacheDir, mirror: modelMirror });
    h.embedder = await Embedder.create({ embeddingModel, modelPaths: files.map((f) => f.path), sessions: 1 });
    h.catalogue = makeCatalogue();
    h.server = await startImageServer();
    h.images = new ImageSource({
      catalogueRoot: h.catalogue.root,
      maxBytes: 200_000,
      timeoutMs: 3000,
      maxRedirects: 2,
      allowPrivateNetworks: true,
    });
  });

  afterAll(async () => {
    await h.embedder?.close();
    await h.images?.close();
    await h.server?.close();
    h.catalogue?.remove();
  });

  beforeEach(async () => {
    h.counting = new CountingEmbedder(h.embedder);
    h.dataDir = mkdtempSync(path.join(os.tmpdir(), 'indexer-proc-'));
    h.writer = await SnapshotWriter.open({ dataDir: h.dataDir, model: h.embedder.model });
    h.store = h.writer;
    h.publisher = new DebouncedPublisher(h.store, { debounceMs: 50, maxChanges: 1000, coalesceMs: 10 });
    h.blobs = new BlobStore(path.join(h.dataDir, 'sources'));
  });

  afterEach(async () => {
    await h.publisher.close();
    await h.writer.close();
    rmSync(h.dataDir, { recursive: true, force: true });
  });

  return h;
}
