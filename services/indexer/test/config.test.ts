import { loadConfig } from '../src/config';
import { AUTO_PROJECTION_SPEC, parseIndexProjection } from '@lookalike/projection';

describe('loadConfig', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'lookalike',
      PUBLISH_DEBOUNCE_MS: 1000,
      WORKER_CONCURRENCY: 2,
      ALLOW_PRIVATE_IMAGE_URLS: false,
    });
    expect(config.CATALOGUE_ROOT).toBeUndefined();
    expect(config.METRICS_PORT).toBeUndefined();
    expect(config.itemConcurrency).toBeGreaterThanOrEqual(2);
    expect(config.imageAllowedHosts).toEqual([]);
  });

  it('parses every variable it documents', () => {
    const config = loadConfig({
      CATALOGUE_ROOT: '/srv/images',
      WORKER_CONCURRENCY: '2',
      EMBEDDER_SESSIONS: '1',
      PUBLISH_DEBOUNCE_MS: '250',
      PUBLISH_MAX_CHANGES: '100',
      IMAGE_FETCH_TIMEOUT_MS: '5000',
      IMAGE_MAX_BYTES: '100000',
      ALLOW_PRIVATE_IMAGE_URLS: 'true',
      IMAGE_ALLOWED_HOSTS: 'cdn.example.com, 10.0.0.0/8',
      KEEP_VERSIONS: '3',
      METRICS_PORT: '9464',
      JOB_LOCK_MS: '5000',
    });
    expect(config).toMatchObject({
      CATALOGUE_ROOT: '/srv/images',
      WORKER_CONCURRENCY: 2,
      itemConcurrency: 2,
      PUBLISH_DEBOUNCE_MS: 250,
      IMAGE_MAX_BYTES: 100000,
      ALLOW_PRIVATE_IMAGE_URLS: true,
      imageAllowedHosts: ['cdn.example.com', '10.0.0.0/8'],
      METRICS_PORT: 9464,
      JOB_LOCK_MS: 5000,
    });
  });

  it('reports every bad variable at once', () => {
    expect(() =>
      loadConfig({ REDIS_URL: 'http://x', WORKER_CONCURRENCY: '0', ALLOW_PRIVATE_IMAGE_URLS: 'maybe' }),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        issues: expect.arrayContaining([
          expect.objectContaining({ key: 'REDIS_URL' }),
          expect.objectContaining({ key: 'WORKER_CONCURRENCY' }),
          expect.objectContaining({ key: 'ALLOW_PRIVATE_IMAGE_URLS' }),
        ]),
      }),
    );
  });
});

describe('approximate index settings', () => {
  it('INDEX_FACTORY is off by default; INDEX_SEARCH_PARAMS parses to numbers', () => {
    expect(loadConfig({}).INDEX_FACTORY).toBeUndefined();
    expect(loadConfig({}).INDEX_SEARCH_PARAMS).toEqual({});
    const config = loadConfig({ INDEX_FACTORY: 'IVF1024,Flat', INDEX_SEARCH_PARAMS: 'nprobe=16' });
    expect(config.INDEX_FACTORY).toBe('IVF1024,Flat');
    expect(config.INDEX_SEARCH_PARAMS).toEqual({ nprobe: 16 });
  });

  it('refuses a malformed factory or parameter list, naming the variable', () => {
    expect(() =>
      loadConfig({ INDEX_FACTORY: 'IVF1024,Flat; rm -rf /', INDEX_SEARCH_PARAMS: 'nprobe' }),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        issues: expect.arrayContaining([
          expect.objectContaining({ key: 'INDEX_FACTORY' }),
          expect.objectContaining({ key: 'INDEX_SEARCH_PARAMS' }),
        ]),
      }),
    );
  });
});

describe('projection settings', () => {
  it('default: auto (the default spec) from 2,000 items, refit at 25 %', () => {
    const config = loadConfig({});
    expect(config.INDEX_PROJECTION).toEqual(parseIndexProjection(AUTO_PROJECTION_SPEC));
    expect(config.PROJECTION_MIN_ITEMS).toBe(2000);
    expect(config.PROJECTION_REFIT_FRACTION).toBe(0.25);
  });

  it('parses none and a spec', () => {
    expect(loadConfig({ INDEX_PROJECTION: 'none' }).INDEX_PROJECTION).toEqual({ kind: 'none' });
    expect(
      loadConfig({
        INDEX_PROJECTION: 'pca:64',
        PROJECTION_MIN_ITEMS: '40',
        PROJECTION_REFIT_FRACTION: '0.5',
      }),
    ).toMatchObject({
      INDEX_PROJECTION: { kind: 'pca', outputDimension: 64 },
      PROJECTION_MIN_ITEMS: 40,
      PROJECTION_REFIT_FRACTION: 0.5,
    });
  });

  it('reports every bad projection key at once', () => {
    expect(() =>
      loadConfig({
        INDEX_PROJECTION: 'pca-whiten',
        PROJECTION_MIN_ITEMS: '1',
        PROJECTION_REFIT_FRACTION: '0',
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        issues: expect.arrayContaining([
          expect.objectContaining({ key: 'INDEX_PROJECTION' }),
          expect.objectContaining({ key: 'PROJECTION_MIN_ITEMS' }),
          expect.objectContaining({ key: 'PROJECTION_REFIT_FRACTION' }),
        ]),
      }),
    );
  });
});
