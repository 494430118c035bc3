import { readFileSync } from 'node:fs';
import path from 'node:path';
import { processDelete } from '../src/processors/delete';
import { processUpsert } from '../src/processors/upsert';
import type { CatalogueItem } from '../src/ports';
import { SAMPLE_IDS, jobContext, sampleImagesDir } from './helpers';
import { countingCounters, useProcessorHarness } from './processor-harness';

jest.setTimeout(120_000);

describe('upsert and delete on the real image source, embedder and index store', () => {
  const h = useProcessorHarness();

  it('indexes a batch, then skips every unchanged item without embedding it', async () => {
    const counters = countingCounters();
    const first = await processUpsert(h.pathItems(SAMPLE_IDS), jobContext(), h.deps(counters));
    expect(first.kind).toBe('done');
    expect(first.result.indexed.sort()).toEqual([...SAMPLE_IDS].sort());
    expect(first.result.failed).toEqual([]);
    expect(first.result.version).not.toBeNull();
    expect(h.counting.calls).toBe(SAMPLE_IDS.length);
    expect(counters.embeddedCount).toBe(SAMPLE_IDS.length);

    const snapshot = await h.store.latest();
    expect(snapshot?.count).toBe(SAMPLE_IDS.length);
    // The caller's metadata exactly as given; where the image came from is the item's own field.
    expect(snapshot?.get('10000')?.metadata).toEqual({ colour: 'blue', n: 10000 });
    expect(snapshot?.get('10000')?.source).toEqual({ imagePath: '10000.jpg' });

    h.counting.calls = 0;
    const again = await processUpsert(h.pathItems(SAMPLE_IDS), jobContext(), h.deps());
    expect(again).toMatchObject({ kind: 'done', result: { indexed: [], version: null } });
    expect(again.result.unchanged.sort()).toEqual([...SAMPLE_IDS].sort());
    expect(h.counting.calls).toBe(0);
    expect((await h.store.latest())?.version).toBe(snapshot?.version);
  });

  it('re-embeds only the items whose metadata or bytes changed', async () => {
    await processUpsert(h.pathItems(SAMPLE_IDS.slice(0, 4)), jobContext(), h.deps());
    h.counting.calls = 0;
    const items = h.pathItems(SAMPLE_IDS.slice(0, 4));
    items[0]!.metadata = { colour: 'red', n: 1 };
    (items[1] as { imagePath: string }).imagePath = `${SAMPLE_IDS[5]}.jpg`;
    const outcome = await processUpsert(items, jobContext(), h.deps());
    expect(outcome.result.indexed.sort()).toEqual([SAMPLE_IDS[0], SAMPLE_IDS[1]].sort());
    expect(outcome.result.unchanged.sort()).toEqual([SAMPLE_IDS[2], SAMPLE_IDS[3]].sort());
    expect(h.counting.calls).toBe(2);
  });

  it('fails each broken item with its own reason and indexes the rest', async () => {
    const photo = readFileSync(path.join(sampleImagesDir, `${SAMPLE_IDS[2]}.jpg`));
    const counters = countingCounters();
    const items: CatalogueItem[] = [
      ...h.pathItems(SAMPLE_IDS.slice(0, 5)),
      { id: 'truncated', imagePath: 'truncated.jpg', metadata: {} },
      { id: 'truncated-inline', imageBase64: photo.subarray(0, 900).toString('base64'), metadata: {} },
      { id: 'not-an-image', imagePath: 'not-an-image.jpg', metadata: {} },
      { id: 'missing-url', imageUrl: h.server.url('/missing.jpg'), metadata: {} },
      { id: 'oversize', imagePath: 'oversize.jpg', metadata: {} },
      { id: 'traversal', imagePath: 'escape.jpg', metadata: {} },
      {
        id: 'reserved',
        imagePath: `${SAMPLE_IDS[6]}.jpg`,
        metadata: { _source: 'url:https://x.test/' },
      },
    ];
    const outcome = await processUpsert(items, jobContext(), h.deps(counters));
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
    const snapshot = await h.store.latest();
    expect(snapshot?.count).toBe(5);
    expect(snapshot?.get('traversal')).toBeUndefined();
  });

  it('publishes the successes and asks for a retry when an item fails transiently; gives up on the last attempt', async () => {
    const items: CatalogueItem[] = [
      ...h.pathItems(SAMPLE_IDS.slice(0, 3)),
      { id: 'flaky', imageUrl: h.server.url('/down.jpg'), metadata: {} },
      { id: 'via-url', imageUrl: h.server.url(`/photo/${SAMPLE_IDS[4]}.jpg`), metadata: {} },
    ];
    const jobCreatedAt = Date.now();
    const first = await processUpsert(items, jobContext({ finalAttempt: false }), h.deps());
    expect(first.kind).toBe('retry');
    if (first.kind !== 'retry') return;
    expect(first.transient).toEqual([expect.objectContaining({ id: 'flaky', code: 'SOURCE_HTTP_ERROR' })]);
    expect(first.result.indexed.sort()).toEqual([...SAMPLE_IDS.slice(0, 3), 'via-url'].sort());
    expect((await h.store.latest())?.count).toBe(4);

    h.counting.calls = 0;
    const last = await processUpsert(
      items,
      jobContext({ finalAttempt: true, rerunOfJobCreatedAt: jobCreatedAt }),
      h.deps(),
    );
    expect(last.kind).toBe('done');
    // Published by this job's first attempt: reported as indexed, though nothing was embedded now.
    expect(last.result.indexed).toHaveLength(4);
    expect(last.result.unchanged).toEqual([]);
    expect(last.result.failed).toEqual([expect.objectContaining({ id: 'flaky', code: 'SOURCE_HTTP_ERROR' })]);
    expect(h.counting.calls).toBe(0);
  });

  it('hands the job back on shutdown after publishing the items already done', async () => {
    const shutdown = new AbortController();
    const context = jobContext({
      shutdown: shutdown.signal,
      progress: (done) => {
        if (done === 3) shutdown.abort();
      },
    });
    const outcome = await processUpsert(h.pathItems(SAMPLE_IDS), context, {
      ...h.deps(),
      itemConcurrency: 1,
    });
    expect(outcome.kind).toBe('handBack');
    if (outcome.kind !== 'handBack') return;
    expect(outcome.remaining).toBe(SAMPLE_IDS.length - 3);
    expect(outcome.result.indexed).toHaveLength(3);
    expect((await h.store.latest())?.count).toBe(3);
  });

  it('deletes ids and lists the unknown ones', async () => {
    await processUpsert(h.pathItems(SAMPLE_IDS.slice(0, 3)), jobContext(), h.deps());
    const outcome = await processDelete([SAMPLE_IDS[0]!, 'nope', SAMPLE_IDS[0]!], jobContext(), h.deps());
    expect(outcome.result).toMatchObject({ deleted: [SAMPLE_IDS[0]], notFound: ['nope'] });
    expect((await h.store.latest())?.count).toBe(2);
  });
});
