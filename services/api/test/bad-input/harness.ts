import { InProcessEventIngestor } from '@lookalike/events';
/**
 * The app on a real port with the real Embedder (ONNX + sharp), the real ImageSource and a real
 * snapshot (SnapshotWriter → SnapshotReader in a temp dir), for the bad-input cases of every route
 * folder (test/routes/<resource>/bad-input.cases.ts, run by test/bad-input.test.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEmbedder, type Embedder } from '@lookalike/embedder';
import { ImageSource } from '@lookalike/image-source';
import { SnapshotReader, SnapshotWriter } from '@lookalike/index-store';
import { buildApp, type App } from '../../src/app';
import { ServedSnapshots } from '../../src/served-snapshots';
import {
  FakeEventLog,
  FakeQueue,
  modelCacheDir,
  modelMirror,
  multipartBody,
  sceneJpeg,
  testConfig,
  type RequestOptions,
} from '../helpers';

export const MAX_UPLOAD = 256 * 1024;

export interface BadCase {
  name: string;
  template: string;
  path: string;
  request: RequestOptions;
  status: number;
  code: string;
}

/** What the case lists build their requests from. */
export interface BadInputEnv {
  /** The server's base URL. */
  url: string;
  /** A good JPEG (it finds item-1). */
  good: Buffer;
  truncatedJpeg: Buffer;
  /** A CSV file, not an image. */
  text: Buffer;
  /** A real image server on loopback: the SSRF guard must refuse it even though it would answer. */
  loopbackUrl: string;
  /** A multipart upload form with k=3 and the file (field `image` unless named otherwise). */
  upload(file: {
    data: Buffer;
    contentType?: string;
    name?: string;
    filename?: string;
  }): Promise<{ body: Buffer; contentType: string }>;
  post(json: unknown): RequestOptions;
  form(f: { body: Buffer; contentType: string }): RequestOptions;
}

/** Starts the server before the file's tests and stops it after; `env()` inside a test. */
export function badInputServer(): { env(): BadInputEnv } {
  let app: App;
  let url: string;
  let embedder: Embedder;
  let catalogueRoot: string;
  let dataDir: string;
  let reader: SnapshotReader;
  let images: ImageSource;
  let good: Buffer;
  let loopbackServer: http.Server;
  let loopbackUrl: string;

  beforeAll(async () => {
    embedder = await createEmbedder({
      model: 'mobilenetv2-shufflenetv2-int8',
      cacheDir: modelCacheDir,
      mirror: modelMirror,
      sessions: 1,
      maxBytes: MAX_UPLOAD,
      maxPixels: 4_000_000,
    });
    const config = testConfig({ MAX_UPLOAD_BYTES: String(MAX_UPLOAD), MAX_BODY_BYTES: String(512 * 1024) });
    catalogueRoot = await mkdtemp(path.join(os.tmpdir(), 'api-bad-input-'));
    images = new ImageSource({
      catalogueRoot,
      maxBytes: MAX_UPLOAD,
      timeoutMs: 2000,
      maxRedirects: 0,
      allowPrivateNetworks: false,
    });
    loopbackServer = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(good);
    });
    await new Promise<void>((resolve) => loopbackServer.listen(0, '127.0.0.1', resolve));
    loopbackUrl = `http://127.0.0.1:${(loopbackServer.address() as AddressInfo).port}/x.jpg`;

    good = await sceneJpeg(1);
    const items = await Promise.all(
      [1, 2, 3].map(async (seed) => ({
        id: `item-${seed}`,
        vector: (await embedder.embed(await sceneJpeg(seed))).vector,
        metadata: { colour: seed === 1 ? 'red' : 'blue', size: seed },
        contentHash: String(seed).repeat(64),
      })),
    );
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'api-bad-input-data-'));
    const writer = await SnapshotWriter.open({ dataDir, model: embedder.model });
    await writer.publish({ upserts: items, deletes: [] });
    await writer.close();
    reader = await SnapshotReader.open({ dataDir, expectedModel: embedder.model });
    app = await buildApp({
      config,
      deps: {
        embedder,
        snapshots: new ServedSnapshots(reader, dataDir),
        queue: new FakeQueue(),
        images,
        events: new InProcessEventIngestor(new FakeEventLog()),
      },
    });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await embedder?.close();
    await images?.close();
    await reader?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    await new Promise((resolve) => loopbackServer?.close(resolve));
    if (catalogueRoot) await rm(catalogueRoot, { recursive: true, force: true });
  });

  return {
    env: () => ({
      url,
      good,
      truncatedJpeg: good.subarray(0, Math.floor(good.length / 2)),
      text: Buffer.from('name,price\nshirt,10\n'.repeat(20)),
      loopbackUrl,
      upload: async (file) =>
        multipartBody([
          { name: 'k', value: '3' },
          {
            name: file.name ?? 'image',
            filename: file.filename ?? 'query.jpg',
            contentType: file.contentType ?? 'image/jpeg',
            data: file.data,
          },
        ]),
      post: (json) => ({ method: 'POST', json }),
      form: (f) => ({ method: 'POST', body: f.body, headers: { 'content-type': f.contentType } }),
    }),
  };
}
