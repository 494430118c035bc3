/**
 * SearchBatcher: concurrent searches share one searchMany call per snapshot, each gets its own answer
 * (or its own error), and a lone query is not held back. Over a fake snapshot here; the real one's
 * searchMany is tested in index-store, and the whole path over HTTP below.
 */
import net from 'node:net';
import { MAX_SEARCH_BATCH, SearchBatcher } from '../../src/search/search-batcher';
import { FakeSnapshot, buildTestApp, type FakeItem } from '../helpers';

function catalogue(count: number, dimension = 8): FakeItem[] {
  return Array.from({ length: count }, (_, i) => {
    const vector = Float32Array.from({ length: dimension }, (_, j) => Math.sin(i * 7.1 + j * 1.3));
    const norm = Math.hypot(...vector);
    return { id: `item-${i}`, vector: vector.map((x) => x / norm), metadata: { band: i % 3 } };
  });
}

describe('SearchBatcher', () => {
  const items = catalogue(60);

  test('searches started in one turn of the event loop go to searchMany together', async () => {
    const snapshot = new FakeSnapshot(1, items);
    const sizes: number[] = [];
    const batcher = new SearchBatcher((size) => sizes.push(size));
    const answers = await Promise.all([
      batcher.search(snapshot, { id: 'item-1', options: { k: 5 } }),
      batcher.search(snapshot, { vector: items[2]!.vector, options: { k: 3, filter: { band: 1 } } }),
      batcher.search(snapshot, { id: 'item-3', options: { k: 10, minScore: 0.5 } }),
    ]);
    expect(snapshot.batches).toEqual([3]);
    expect(sizes).toEqual([3]);
    expect(answers).toEqual([
      snapshot.searchById('item-1', { k: 5 }),
      snapshot.search(items[2]!.vector, { k: 3, filter: { band: 1 } }),
      snapshot.searchById('item-3', { k: 10, minScore: 0.5 }),
    ]);
    // A later query on its own is a batch of one.
    await batcher.search(snapshot, { id: 'item-4', options: { k: 1 } });
    expect(snapshot.batches).toEqual([3, 1]);
  });

  test('a failing query fails alone; the others in its batch are answered', async () => {
    const snapshot = new FakeSnapshot(1, items);
    const batcher = new SearchBatcher();
    const [missing, found] = await Promise.allSettled([
      batcher.search(snapshot, { id: 'no-such-item', options: { k: 5 } }),
      batcher.search(snapshot, { id: 'item-1', options: { k: 5 } }),
    ]);
    expect(missing).toMatchObject({ status: 'rejected', reason: { code: 'ITEM_NOT_FOUND' } });
    expect(found).toEqual({ status: 'fulfilled', value: snapshot.searchById('item-1', { k: 5 }) });
    expect(snapshot.batches).toEqual([2]);
  });

  test('batches are capped, and each snapshot gets its own (a reload between requests)', async () => {
    const older = new FakeSnapshot(1, items);
    const newer = new FakeSnapshot(2, items.slice(0, 30));
    const batcher = new SearchBatcher();
    const count = MAX_SEARCH_BATCH + 8;
    const answers = await Promise.all([
      ...Array.from({ length: count }, (_, i) =>
        batcher.search(older, { id: `item-${i}`, options: { k: 2 } }),
      ),
      batcher.search(newer, { id: 'item-0', options: { k: 2 } }),
    ]);
    expect(older.batches).toEqual([MAX_SEARCH_BATCH, 8]);
    expect(newer.batches).toEqual([1]);
    expect(answers[count]).toEqual(newer.searchById('item-0', { k: 2 }));
    expect(answers[count - 1]).toEqual(older.searchById(`item-${count - 1}`, { k: 2 }));
  });
});

/** Raw HTTP/1.1 GETs on sockets connected beforehand, all written in one go; resolves with the bodies. */
async function simultaneousGets(
  url: string,
  paths: string[],
): Promise<Array<{ status: number; body: string }>> {
  const { hostname, port } = new URL(url);
  const sockets = await Promise.all(
    paths.map(
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(Number(port), hostname, () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  // Let the server accept and start reading every connection before the requests go out together.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const replies = sockets.map(
    (socket) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        let raw = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (raw += chunk));
        socket.once('error', reject);
        socket.once('end', () => {
          const [head = '', body = ''] = raw.split('\r\n\r\n');
          resolve({ status: Number(head.split(' ')[1]), body });
        });
      }),
  );
  paths.forEach((path, i) =>
    sockets[i]!.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`),
  );
  return Promise.all(replies);
}

describe('concurrent HTTP queries by id', () => {
  test('requests read in one turn of the event loop share one searchMany, each with its own results', async () => {
    const t = await buildTestApp();
    try {
      const snapshot = new FakeSnapshot(1, catalogue(40));
      t.snapshots.swap(snapshot);
      const ids = Array.from({ length: 12 }, (_, i) => `item-${i}`);
      const replies = await simultaneousGets(
        t.url,
        ids.map((id) => `/v1/items/${id}/similar?k=4`),
      );
      replies.forEach((reply, i) => {
        expect(reply.status).toBe(200);
        const expected = snapshot.searchById(ids[i]!, { k: 4 });
        const { results } = JSON.parse(reply.body) as { results: Array<{ id: string }> };
        expect(results.map((r) => r.id)).toEqual(expected.map((hit) => hit.id));
      });
      // Every query searched exactly once, and not one by one.
      expect(snapshot.batches.reduce((a, b) => a + b, 0)).toBe(ids.length);
      expect(snapshot.batches.length).toBeLessThan(ids.length);
      const metrics = (await t.request('/metrics')).body;
      expect(metrics).toContain('lookalike_search_batch_size_sum 12');
    } finally {
      await t.app.close();
    }
  });
});
