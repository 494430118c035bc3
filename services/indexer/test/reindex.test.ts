import { copyFileSync, readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { SnapshotWriter } from '@lookalike/index-store';
import { contentHash } from '../src/hash';
import { processDelete } from '../src/processors/delete';
import { processReindex } from '../src/processors/reindex';
import { processUpsert } from '../src/processors/upsert';
import { DebouncedPublisher } from '../src/publisher';
import { ThumbnailStore } from '../src/thumbnails';
import { SAMPLE_IDS, jobContext, sampleImagesDir } from './helpers';
import { useProcessorHarness } from './processor-harness';

jest.setTimeout(120_000);

describe('reindex on the real image source, embedder and index store', () => {
  const h = useProcessorHarness();

  it('reindexes every item from its stored source (path, URL and inline upload) in one publish', async () => {
    const inline = readFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[7]}.jpg`));
    await processUpsert(
      [
        ...h.pathItems(SAMPLE_IDS.slice(0, 3)),
        { id: 'url-item', imageUrl: h.server.url(`/photo/${SAMPLE_IDS[8]}.jpg`), metadata: { k: 'v' } },
        { id: 'inline-item', imageBase64: inline.toString('base64'), metadata: {} },
      ],
      jobContext(),
      h.deps(),
    );
    const before = await h.store.latest();
    const vectorBefore = before?.vectorOf('inline-item');
    expect(before?.get('inline-item')?.source).toEqual({ blob: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(before?.get('inline-item')?.metadata).toEqual({});
    expect(before?.get('url-item')?.source).toEqual({
      imageUrl: h.server.url(`/photo/${SAMPLE_IDS[8]}.jpg`),
    });
    h.counting.calls = 0;
    const outcome = await processReindex(jobContext(), h.deps());
    expect(outcome.kind).toBe('done');
    expect(outcome.result.indexed).toHaveLength(5);
    expect(outcome.result.failed).toEqual([]);
    expect(h.counting.calls).toBe(5);
    const after = await h.store.latest();
    expect(after?.version).toBe((before?.version ?? 0) + 1);
    expect(after?.count).toBe(5);
    // Same model, same bytes: same vector and content hash.
    expect(Array.from(after?.vectorOf('inline-item') ?? [])).toEqual(Array.from(vectorBefore ?? []));
    expect(after?.get('url-item')?.contentHash).toBe(before?.get('url-item')?.contentHash);
  });

  it('keeps an item whose source disappeared during reindex (same model) and reports it', async () => {
    const vanishing = path.join(h.catalogue.root, 'vanishing.jpg');
    copyFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[9]}.jpg`), vanishing);
    await processUpsert(
      [...h.pathItems(SAMPLE_IDS.slice(0, 2)), { id: 'vanishing', imagePath: 'vanishing.jpg', metadata: {} }],
      jobContext(),
      h.deps(),
    );
    unlinkSync(vanishing);
    const nonFinal = await processReindex(jobContext({ finalAttempt: false }), h.deps());
    expect(nonFinal.kind).toBe('done'); // SOURCE_NOT_FOUND is permanent: no retry
    expect(nonFinal.result.indexed.sort()).toEqual(SAMPLE_IDS.slice(0, 2).sort());
    expect(nonFinal.result.failed).toEqual([
      expect.objectContaining({ id: 'vanishing', code: 'SOURCE_NOT_FOUND' }),
    ]);
    expect((await h.store.latest())?.get('vanishing')).toBeDefined();
  });

  it('reindexes items of a snapshot written when the source rode in the metadata as _source', async () => {
    // A snapshot as the indexer wrote them before items had a `source` field.
    const photo = readFileSync(path.join(h.catalogue.root, `${SAMPLE_IDS[0]}.jpg`));
    const legacyMetadata = { colour: 'blue', _source: `path:${SAMPLE_IDS[0]}.jpg` };
    const { vector } = await h.embedder.embed(photo);
    await h.writer.publish({
      upserts: [
        {
          id: 'legacy',
          vector,
          metadata: legacyMetadata,
          contentHash: contentHash(photo, legacyMetadata, h.embedder.model),
        },
      ],
      deletes: [],
    });
    await h.publisher.close();
    await h.writer.close();
    h.writer = await SnapshotWriter.open({ dataDir: h.dataDir, model: h.embedder.model });
    h.store = h.writer;
    h.publisher = new DebouncedPublisher(h.store, { debounceMs: 50, maxChanges: 1000, coalesceMs: 10 });
    const before = await h.store.latest();
    expect(before?.get('legacy')).toMatchObject({
      metadata: { colour: 'blue' },
      source: { imagePath: `${SAMPLE_IDS[0]}.jpg` },
    });

    h.counting.calls = 0;
    const outcome = await processReindex(jobContext(), h.deps());
    expect(outcome).toMatchObject({ kind: 'done', result: { indexed: ['legacy'], failed: [] } });
    expect(h.counting.calls).toBe(1);
    const after = await h.store.latest();
    expect(after?.get('legacy')).toMatchObject({
      metadata: { colour: 'blue' },
      source: { imagePath: `${SAMPLE_IDS[0]}.jpg` },
      // Same bytes, metadata, source and model: the hash the old indexer computed.
      contentHash: before?.get('legacy')?.contentHash,
    });
    // So re-importing the same item is recognised as unchanged, with nothing embedded.
    h.counting.calls = 0;
    const again = await processUpsert(
      [{ id: 'legacy', imagePath: `${SAMPLE_IDS[0]}.jpg`, metadata: { colour: 'blue' } }],
      jobContext(),
      h.deps(),
    );
    expect(again).toMatchObject({ kind: 'done', result: { unchanged: ['legacy'], indexed: [] } });
    expect(h.counting.calls).toBe(0);
  });

  it('replaces the whole snapshot after a model change, dropping items that cannot be re-embedded', async () => {
    const vanishing = path.join(h.catalogue.root, 'vanishing-2.jpg');
    copyFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[9]}.jpg`), vanishing);
    await processUpsert(
      [
        ...h.pathItems(SAMPLE_IDS.slice(0, 3)),
        { id: 'vanishing', imagePath: 'vanishing-2.jpg', metadata: {} },
      ],
      jobContext(),
      h.deps(),
    );
    unlinkSync(vanishing);
    const before = await h.store.latest();
    // Restart with "another model": a new writer and publisher for it, as a new deployment would.
    const anotherModel = { ...h.embedder.model, id: 'another-model', sha256: 'f'.repeat(64) };
    h.counting.modelOverride = anotherModel;
    await h.publisher.close();
    await h.writer.close();
    h.writer = await SnapshotWriter.open({ dataDir: h.dataDir, model: anotherModel });
    h.store = h.writer;
    h.publisher = new DebouncedPublisher(h.store, { debounceMs: 50, maxChanges: 1000, coalesceMs: 10 });
    // Upserts and deletes wait for the reindex instead of failing.
    const waiting = await processUpsert(h.pathItems(SAMPLE_IDS.slice(0, 1)), jobContext(), h.deps());
    expect(waiting).toMatchObject({ kind: 'defer' });
    const waitingDelete = await processDelete([SAMPLE_IDS[0]!], jobContext(), h.deps());
    expect(waitingDelete).toMatchObject({ kind: 'defer' });
    h.counting.calls = 0;
    const thumbnails = new ThumbnailStore(h.dataDir);
    const photo = readFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[0]}.jpg`));
    for (const id of [...SAMPLE_IDS.slice(0, 3), 'vanishing']) await thumbnails.put(id, photo);
    const outcome = await processReindex(jobContext(), { ...h.deps(), thumbnails });
    expect(outcome.kind).toBe('done');
    expect(outcome.result.indexed.sort()).toEqual(SAMPLE_IDS.slice(0, 3).sort());
    expect(outcome.result.failed).toEqual([
      expect.objectContaining({ id: 'vanishing', code: 'SOURCE_NOT_FOUND' }),
    ]);
    // The dropped item's thumbnail went with it; the re-embedded items keep theirs.
    expect(await thumbnails.has('vanishing')).toBe(false);
    for (const id of SAMPLE_IDS.slice(0, 3)) expect(await thumbnails.has(id)).toBe(true);
    const after = await h.store.latest();
    expect(after?.count).toBe(3);
    expect(after?.get('vanishing')).toBeUndefined();
    // The content hash includes the model: every item's hash changed.
    expect(after?.get(SAMPLE_IDS[0]!)?.contentHash).not.toBe(before?.get(SAMPLE_IDS[0]!)?.contentHash);
    expect(h.counting.calls).toBe(3);
    expect(after?.model.id).toBe('another-model');
    // Now incremental changes go through again.
    const next = await processUpsert(h.pathItems(SAMPLE_IDS.slice(3, 4)), jobContext(), h.deps());
    expect(next.kind).toBe('done');
    expect(next.result.indexed).toEqual([SAMPLE_IDS[3]]);
  });
});
