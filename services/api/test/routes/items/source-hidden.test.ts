import { InProcessEventIngestor } from '@lookalike/events';
/**
 * Where an item's image came from is internal (it may name private hosts or paths): stored items
 * keep it in `source`, and snapshots written before that kept it in the metadata as `_source`. Both
 * kinds are written here through the real index-store writer and read by the real reader; no
 * response of the API (item, listing, fields, similar hits) may show either.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ImageSource } from '@lookalike/image-source';
import { SnapshotReader, SnapshotWriter } from '@lookalike/index-store';
import { buildApp, type App } from '../../../src/app';
import { ServedSnapshots } from '../../../src/served-snapshots';
import {
  ContractChecker,
  FAKE_MODEL,
  FakeEmbedder,
  FakeEventLog,
  FakeQueue,
  fakeVector,
  httpRequest,
  solidPng,
  testConfig,
  type HttpResponse,
} from '../../helpers';

const contract = new ContractChecker();
const PRIVATE_HOST = '10.9.8.7';

describe('an item’s source is never shown', () => {
  let dataDir: string;
  let reader: SnapshotReader;
  let app: App;
  let url: string;
  let red: Buffer;

  beforeAll(async () => {
    red = await solidPng([220, 20, 20]);
    const green = await solidPng([20, 200, 20]);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'api-source-hidden-'));
    const writer = await SnapshotWriter.open({ dataDir, model: FAKE_MODEL });
    await writer.publish({
      upserts: [
        {
          id: 'with-source',
          vector: fakeVector(red),
          metadata: { colour: 'red' },
          contentHash: 'a'.repeat(64),
          source: { imageUrl: `http://${PRIVATE_HOST}/new/red.png` },
        },
        {
          id: 'legacy',
          vector: fakeVector(green),
          // How the indexer kept the source before items had a `source` field.
          metadata: { colour: 'green', _source: `url:http://${PRIVATE_HOST}/old/green.png` },
          contentHash: 'b'.repeat(64),
        },
      ],
      deletes: [],
    });
    await writer.close();
    reader = await SnapshotReader.open({ dataDir, expectedModel: FAKE_MODEL });
    const config = testConfig({ DATA_DIR: dataDir });
    const images = new ImageSource({
      maxBytes: config.MAX_UPLOAD_BYTES,
      timeoutMs: 2000,
      maxRedirects: 0,
      allowPrivateNetworks: false,
    });
    app = await buildApp({
      config,
      deps: {
        embedder: new FakeEmbedder(),
        snapshots: new ServedSnapshots(reader, dataDir),
        queue: new FakeQueue(),
        images,
        events: new InProcessEventIngestor(new FakeEventLog()),
      },
    });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app?.close();
    await reader?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function call(template: string, requestPath: string, json?: unknown): Promise<HttpResponse> {
    const method = json === undefined ? 'GET' : 'POST';
    const response = await httpRequest(url, requestPath, json === undefined ? {} : { method, json });
    expect([requestPath, response.statusCode]).toEqual([requestPath, 200]);
    contract.check(method, template, response);
    return response;
  }

  function expectHidden(response: HttpResponse): void {
    expect(response.body).not.toContain(PRIVATE_HOST);
    expect(response.body).not.toContain('_source');
    expect(response.body).not.toContain('"source"');
  }

  test('GET /v1/items/{id}: metadata as given, no source', async () => {
    const item = await call('/v1/items/{id}', '/v1/items/with-source');
    expect(item.json().metadata).toEqual({ colour: 'red' });
    expectHidden(item);
    const legacy = await call('/v1/items/{id}', '/v1/items/legacy');
    expect(legacy.json().metadata).toEqual({ colour: 'green' });
    expectHidden(legacy);
  });

  test('GET /v1/items and /v1/index/fields', async () => {
    const list = await call('/v1/items', '/v1/items');
    expect(list.json().total).toBe(2);
    expectHidden(list);
    const fields = await call('/v1/index/fields', '/v1/index/fields');
    expect((fields.json().fields as Array<{ name: string }>).map((f) => f.name)).toEqual(['colour']);
    expectHidden(fields);
  });

  test('similar hits by item and by image', async () => {
    const byItem = await call('/v1/items/{id}/similar', '/v1/items/with-source/similar');
    expect((byItem.json().results as Array<{ id: string }>).map((r) => r.id)).toEqual(['legacy']);
    expectHidden(byItem);
    const byImage = await call('/v1/similar', '/v1/similar', { imageBase64: red.toString('base64') });
    expect((byImage.json().results as Array<{ id: string }>).map((r) => r.id)).toEqual([
      'with-source',
      'legacy',
    ]);
    expectHidden(byImage);
  });
});
