import { DataDirFullError } from '../src/errors';
import { DebouncedPublisher } from '../src/publisher';
import type { ItemInput, PublishResult, SnapshotChange } from '../src/ports';

/** A store that records publishes and keeps the id → hash state, like the index store would. */
class RecordingStore {
  readonly published: Array<{ at: number; change: SnapshotChange }> = [];
  readonly items = new Map<string, string>();
  delayMs = 0;
  failNext: Error | null = null;
  private version = 0;

  async publish(change: SnapshotChange): Promise<PublishResult> {
    const at = Date.now();
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = null;
      throw err;
    }
    this.published.push({ at, change });
    const deleted: string[] = [];
    const unknownDeletes: string[] = [];
    for (const id of change.deletes) {
      if (this.items.delete(id)) deleted.push(id);
      else unknownDeletes.push(id);
    }
    for (const item of change.upserts) this.items.set(item.id, item.contentHash);
    // As the real writer: a change that alters nothing makes no version.
    const published = change.replaceAll === true || change.upserts.length > 0 || deleted.length > 0;
    if (published) this.version++;
    return {
      published,
      version: this.version,
      count: this.items.size,
      upserted: change.upserts.map((u) => u.id),
      deleted,
      unknownDeletes,
      bytesWritten: 0,
    };
  }
}

const item = (id: string, hash = `h-${id}`): ItemInput => ({
  id,
  vector: new Float32Array([1, 0]),
  metadata: {},
  contentHash: hash,
});

describe('DebouncedPublisher', () => {
  it('publishes a single change on an idle system almost at once', async () => {
    const store = new RecordingStore();
    const publisher = new DebouncedPublisher(store, { debounceMs: 1000, maxChanges: 100 });
    const started = Date.now();
    const outcome = await publisher.submit({ upserts: [item('a')], deletes: [] });
    expect(Date.now() - started).toBeLessThan(500);
    expect(outcome.version).toBe(1);
    expect(store.published).toHaveLength(1);
  });

  it('coalesces concurrent submits into one snapshot and resolves each only after it is published', async () => {
    const store = new RecordingStore();
    const publisher = new DebouncedPublisher(store, { debounceMs: 200, maxChanges: 1000, coalesceMs: 30 });
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_v, i) => publisher.submit({ upserts: [item(`i${i}`)], deletes: [] })),
    );
    expect(store.published).toHaveLength(1);
    expect(store.published[0]?.change.upserts).toHaveLength(20);
    expect(new Set(outcomes.map((o) => o.version))).toEqual(new Set([1]));
  });

  it('publishes at most once per debounce window under a steady stream of changes', async () => {
    const store = new RecordingStore();
    const publisher = new DebouncedPublisher(store, { debounceMs: 150, maxChanges: 10_000, coalesceMs: 10 });
    const submits: Array<Promise<unknown>> = [];
    for (let i = 0; i < 40; i++) {
      submits.push(publisher.submit({ upserts: [item(`s${i}`)], deletes: [] }));
      await new Promise((r) => setTimeout(r, 15));
    }
    await Promise.all(submits);
    const starts = store.published.map((p) => p.at);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(145);
    // 40 changes over ~600 ms: a handful of publishes, not 40.
    expect(store.published.length).toBeLessThanOrEqual(6);
    expect(store.items.size).toBe(40);
  });

  it('publishes early once maxChanges are pending', async () => {
    const store = new RecordingStore();
    const publisher = new DebouncedPublisher(store, { debounceMs: 10_000, maxChanges: 5, coalesceMs: 10 });
    await publisher.submit({ upserts: [item('first')], deletes: [] }); // opens the debounce window
    const started = Date.now();
    await publisher.submit({ upserts: ['a', 'b', 'c', 'd', 'e'].map((id) => item(id)), deletes: [] });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(store.published).toHaveLength(2);
  });

  it('keeps an upsert and a later delete of the same id in order (separate snapshots)', async () => {
    const store = new RecordingStore();
    const publisher = new DebouncedPublisher(store, { debounceMs: 50, maxChanges: 100, coalesceMs: 20 });
    const [up, del, upAgain] = await Promise.all([
      publisher.submit({ upserts: [item('x', 'h1')], deletes: [] }),
      publisher.submit({ upserts: [], deletes: ['x', 'never-there'] }),
      publisher.submit({ upserts: [item('x', 'h2')], deletes: [] }),
    ]);
    expect(store.published).toHaveLength(3);
    expect(up.version).toBeLessThan(del.version!);
    expect(del.deleted).toEqual(['x']);
    expect(del.notFound).toEqual(['never-there']);
    expect(upAgain.version).toBeGreaterThan(del.version!);
    expect(store.items.get('x')).toBe('h2');
  });

  it('answers version null to a change that altered nothing, alone or sharing a snapshot', async () => {
    const store = new RecordingStore();
    const published: number[] = [];
    const publisher = new DebouncedPublisher(store, {
      debounceMs: 50,
      maxChanges: 100,
      coalesceMs: 20,
      onPublished: (info) => published.push(info.version),
    });
    await publisher.submit({ upserts: [item('a')], deletes: [] });
    const alone = await publisher.submit({ upserts: [], deletes: ['ghost'] });
    expect(alone).toEqual({ version: null, count: 1, deleted: [], notFound: ['ghost'] });
    expect(published).toEqual([1]);
    expect(publisher.publishes).toBe(1);
    const [ghostOnly, realDelete, upsert] = await Promise.all([
      publisher.submit({ upserts: [], deletes: ['ghost'] }),
      publisher.submit({ upserts: [], deletes: ['a'] }),
      publisher.submit({ upserts: [item('b')], deletes: [] }),
    ]);
    expect(ghostOnly).toMatchObject({ version: null, notFound: ['ghost'] });
    expect(realDelete).toMatchObject({ version: 2, deleted: ['a'] });
    expect(upsert.version).toBe(2);
    expect(published).toEqual([1, 2]);
  });

  it('lets a later upsert of the same id win within one snapshot', async () => {
    const store = new RecordingStore();
    const publisher = new DebouncedPublisher(store, { debounceMs: 50, maxChanges: 100, coalesceMs: 20 });
    await Promise.all([
      publisher.submit({ upserts: [item('x', 'old')], deletes: [] }),
      publisher.submit({ upserts: [item('x', 'new')], deletes: [] }),
    ]);
    expect(store.published).toHaveLength(1);
    expect(store.items.get('x')).toBe('new');
  });

  it('reports pending hashes (upsert → hash, delete → null) until published', async () => {
    const store = new RecordingStore();
    store.delayMs = 50;
    const publisher = new DebouncedPublisher(store, { debounceMs: 100, maxChanges: 100, coalesceMs: 20 });
    const a = publisher.submit({ upserts: [item('a', 'ha')], deletes: [] });
    expect(publisher.pendingHashOf('a')).toBe('ha');
    await new Promise((r) => setTimeout(r, 40)); // now in flight
    expect(publisher.pendingHashOf('a')).toBe('ha');
    const b = publisher.submit({ upserts: [], deletes: ['b'] });
    expect(publisher.pendingHashOf('b')).toBeNull();
    expect(publisher.pendingHashOf('c')).toBeUndefined();
    await Promise.all([a, b]);
    expect(publisher.pendingHashOf('a')).toBeUndefined();
    expect(publisher.pendingChanges).toBe(0);
  });

  it('rejects every submit of a failed publish and keeps working afterwards', async () => {
    const store = new RecordingStore();
    store.failNext = new Error('disk full');
    const publisher = new DebouncedPublisher(store, { debounceMs: 20, maxChanges: 100, coalesceMs: 10 });
    const results = await Promise.allSettled([
      publisher.submit({ upserts: [item('a')], deletes: [] }),
      publisher.submit({ upserts: [item('b')], deletes: [] }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await expect(publisher.submit({ upserts: [item('c')], deletes: [] })).resolves.toMatchObject({
      version: 1,
    });
  });

  it('turns ENOSPC from the store into DATA_DIR_FULL (transient, code first in the message)', async () => {
    const store = new RecordingStore();
    store.failNext = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const publisher = new DebouncedPublisher(store, { debounceMs: 20, maxChanges: 100, coalesceMs: 10 });
    const failure = await publisher
      .submit({ upserts: [item('a')], deletes: [] })
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(DataDirFullError);
    expect(failure).toMatchObject({ code: 'DATA_DIR_FULL', permanent: false });
    expect((failure as Error).message).toMatch(/^DATA_DIR_FULL: no space left on DATA_DIR \(ENOSPC\)/);
    await expect(publisher.submit({ upserts: [item('b')], deletes: [] })).resolves.toMatchObject({
      version: 1,
    });
  });

  it('flushes pending changes at once on drain/close and refuses changes afterwards', async () => {
    const store = new RecordingStore();
    const publisher = new DebouncedPublisher(store, { debounceMs: 60_000, maxChanges: 1000, coalesceMs: 10 });
    await publisher.submit({ upserts: [item('a')], deletes: [] }); // next publish would wait a minute
    const pending = publisher.submit({ upserts: [item('b')], deletes: [] });
    const started = Date.now();
    publisher.drain();
    await pending;
    await publisher.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(store.items.has('b')).toBe(true);
    await expect(publisher.submit({ upserts: [item('c')], deletes: [] })).rejects.toMatchObject({
      code: 'PUBLISHER_CLOSED',
    });
  });
});
