import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, readdir, rm, writeFile, copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  fetchModel,
  modelRegistry,
  ModelIntegrityError,
  ModelRegistry,
  ModelUnavailableError,
  modelSources,
  verifyModelFile,
  UnknownModelError,
} from '../src';

const repoRoot = path.resolve(__dirname, '../../..');
const sharedModels = path.join(
  process.env.LOOKALIKE_SHARED_DIR ?? path.resolve(repoRoot, '../shared'),
  'models',
);
const entry = modelRegistry.get('shufflenet-v2-12-qdq'); // the smaller of the two stored models

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'lookalike-models-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('model registry', () => {
  it('lists the stored models and the upstream-only ResNet entries, with a valid default', () => {
    const names = modelRegistry.list().map((m) => m.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'mobilenetv2-12-int8',
        'shufflenet-v2-12-qdq',
        'resnet50-v1-12-int8',
        'resnet50-v1-12-qdq',
        'resnet18-v2-7',
      ]),
    );
    expect(modelRegistry.defaultModel).toBe('mobilenetv2-shufflenetv2-int8');
    expect(modelRegistry.names()).toContain(modelRegistry.defaultModel);
    expect(modelRegistry.get('mobilenetv2-12-int8').embedding).toEqual({
      tensor: '627',
      pooling: 'globalAveragePool',
      dimension: 1280,
    });
  });

  it('refuses an unknown name with a typed error naming the known models', () => {
    expect(() => modelRegistry.get('vgg16')).toThrow(UnknownModelError);
    expect(() => modelRegistry.get('vgg16')).toThrow(/mobilenetv2-12-int8/);
  });

  it('resolves a single model and an ensemble to what MODEL runs', () => {
    const single = modelRegistry.resolve('mobilenetv2-12-int8');
    expect(single).toMatchObject({ name: 'mobilenetv2-12-int8', dimension: 1280, inputSize: 224 });
    expect(single.sha256).toBe(modelRegistry.get('mobilenetv2-12-int8').sha256);
    expect(single.members.map((m) => m.weight)).toEqual([1]);
    const ensemble = modelRegistry.resolve('mobilenetv2-shufflenetv2-int8');
    expect(ensemble.dimension).toBe(1280 + 1024);
    expect(ensemble.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(ensemble.sha256).not.toBe(single.sha256);
    expect(modelRegistry.listEnsembles().map((e) => e.name)).toEqual(['mobilenetv2-shufflenetv2-int8']);
    // An ensemble is not a file: get() (files) does not know it, resolve() names both kinds when refusing.
    expect(() => modelRegistry.get('mobilenetv2-shufflenetv2-int8')).toThrow(UnknownModelError);
    expect(() => modelRegistry.resolve('vgg16')).toThrow(/mobilenetv2-shufflenetv2-int8/);
  });

  it('refuses ensembles of unknown files, of mixed preprocessing, or named like a file', () => {
    const mobile = modelRegistry.get('mobilenetv2-12-int8');
    const shuffle = modelRegistry.get('shufflenet-v2-12-qdq');
    const raw = (ensembles: unknown[], models: unknown[] = [mobile, shuffle]) => ({
      defaultModel: 'mobilenetv2-12-int8',
      models,
      ensembles,
    });
    const pair = (name: string, second = 'shufflenet-v2-12-qdq') => ({
      name,
      description: 'test',
      members: [
        { model: 'mobilenetv2-12-int8', weight: 1 },
        { model: second, weight: 0.5 },
      ],
    });
    expect(new ModelRegistry(raw([pair('both')])).resolve('both').dimension).toBe(2304);
    expect(() => new ModelRegistry(raw([pair('both', 'vgg16')]))).toThrow(/unknown model vgg16/);
    expect(() => new ModelRegistry(raw([pair('mobilenetv2-12-int8')]))).toThrow(/duplicate names/);
    const wide = { ...shuffle, preprocessing: { ...shuffle.preprocessing, resizeShorterSide: 288 } };
    expect(() => new ModelRegistry(raw([pair('both')], [mobile, wide]))).toThrow(/mixes preprocessing/);
  });

  it('rejects a malformed registry file', () => {
    expect(() => new ModelRegistry({ defaultModel: 'x', models: [{ name: 'x' }] })).toThrow();
  });
});

describe('fetchModel from a directory mirror', () => {
  it('places a verified copy in the cache, atomically, and reuses it', async () => {
    const cacheDir = path.join(tmp, 'cache');
    const first = await fetchModel(entry, { cacheDir, mirror: sharedModels });
    expect(first.source).toBe(`file://${path.join(sharedModels, entry.file)}`);
    expect(await verifyModelFile(entry, first.path)).toBeNull();
    // No temp files left behind.
    expect(await readdir(cacheDir)).toEqual([entry.file]);
    const second = await fetchModel(entry, { cacheDir, mirror: sharedModels });
    expect(second.source).toBe('cache');
  });

  it('refuses a tampered mirror file and leaves nothing in the cache', async () => {
    const mirror = path.join(tmp, 'mirror');
    await mkdir(mirror);
    const bytes = await readFile(path.join(sharedModels, entry.file));
    bytes[1000] = (bytes[1000] ?? 0) ^ 0xff; // same size, one flipped byte
    await writeFile(path.join(mirror, entry.file), bytes);
    const cacheDir = path.join(tmp, 'cache');
    const attempt = fetchModel(entry, { cacheDir, mirror });
    await expect(attempt).rejects.toBeInstanceOf(ModelIntegrityError);
    await expect(fetchModel(entry, { cacheDir, mirror })).rejects.toThrow(/sha256/);
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('refuses a file of the wrong size', async () => {
    const mirror = path.join(tmp, 'mirror');
    await mkdir(mirror);
    const bytes = await readFile(path.join(sharedModels, entry.file));
    await writeFile(path.join(mirror, entry.file), Buffer.concat([bytes, Buffer.from('extra')]));
    await expect(fetchModel(entry, { cacheDir: path.join(tmp, 'cache'), mirror })).rejects.toThrow(
      /more than 2415805 bytes/,
    );
  });

  it('replaces a corrupted cached copy with a verified one', async () => {
    const cacheDir = path.join(tmp, 'cache');
    await mkdir(cacheDir);
    await writeFile(path.join(cacheDir, entry.file), 'not a model');
    expect(await verifyModelFile(entry, path.join(cacheDir, entry.file))).toMatch(/size is 11 bytes/);
    const fetched = await fetchModel(entry, { cacheDir, mirror: sharedModels });
    expect(fetched.source).not.toBe('cache');
    expect(await verifyModelFile(entry, fetched.path)).toBeNull();
  });

  it('says how to use a mirror when no source has the file', async () => {
    const err = await fetchModel(entry, {
      cacheDir: path.join(tmp, 'cache'),
      mirror: path.join(tmp, 'empty'),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect((err as Error).message).toMatch(/MODEL_MIRROR=/);
  });
});

describe('fetchModel over HTTP', () => {
  let server: Server;
  let baseUrl: string;
  let served: Buffer;
  beforeAll(async () => {
    const good = await readFile(path.join(sharedModels, entry.file));
    served = good;
    server = createServer((req, res) => {
      if (req.url === `/models/${entry.file}`) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.end(served);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('downloads from a base-URL mirror and verifies it', async () => {
    expect(modelSources(entry, `${baseUrl}/`)).toEqual([`${baseUrl}/${entry.file}`]);
    const fetched = await fetchModel(entry, { cacheDir: path.join(tmp, 'cache'), mirror: baseUrl });
    expect(fetched.source).toBe(`${baseUrl}/${entry.file}`);
    expect(await verifyModelFile(entry, fetched.path)).toBeNull();
  });

  it('refuses tampered bytes from an HTTP mirror', async () => {
    const good = served;
    served = Buffer.from(good);
    served[5] = (served[5] ?? 0) ^ 1;
    try {
      await expect(fetchModel(entry, { cacheDir: path.join(tmp, 'cache'), mirror: baseUrl })).rejects.toThrow(
        ModelIntegrityError,
      );
      expect(existsSync(path.join(tmp, 'cache', entry.file))).toBe(false);
    } finally {
      served = good;
    }
  });

  it('reports every failed upstream source', async () => {
    const offline = { ...entry, urls: [`${baseUrl}/missing.onnx`, 'http://127.0.0.1:1/none.onnx'] };
    const err = await fetchModel(offline, { cacheDir: path.join(tmp, 'cache') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelUnavailableError);
    expect((err as Error).message).toMatch(/HTTP 404/);
    expect((err as Error).message).toMatch(/127\.0\.0\.1:1/);
  });
});

it('copies nothing when the file is already cached (no needless writes)', async () => {
  const cacheDir = path.join(tmp, 'cache');
  await mkdir(cacheDir);
  await copyFile(path.join(sharedModels, entry.file), path.join(cacheDir, entry.file));
  const fetched = await fetchModel(entry, { cacheDir, mirror: path.join(tmp, 'nowhere') });
  expect(fetched.source).toBe('cache');
});
