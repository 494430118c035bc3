import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '@lookalike/config';
import { API_ENV_KEYS, API_KEY_PLACEHOLDER, loadConfig } from '../src/config';

describe('loadConfig', () => {
  test('defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'lookalike',
      API_KEY_READS: false,
      CORS_ORIGINS: [],
      RATE_LIMIT_MAX: 300,
      RATE_LIMIT_WINDOW: 60_000,
      MAX_UPLOAD_BYTES: 10 * 1024 * 1024,
      MAX_IMAGE_PIXELS: 40_000_000,
      MAX_K: 100,
      REQUEST_TIMEOUT_MS: 30_000,
      UPLOAD_TIMEOUT_MS: 30_000,
      INFERENCE_CONCURRENCY: 2,
      INFERENCE_QUEUE: 16,
      ALLOW_PRIVATE_IMAGE_URLS: false,
      IMAGE_ALLOWED_HOSTS: [],
      RELOAD_POLL_MS: 1000,
    });
    expect(config.API_KEY).toBeUndefined();
    // Room for one base64-encoded upload plus 1 MiB of JSON.
    expect(config.MAX_BODY_BYTES).toBe(Math.ceil((10 * 1024 * 1024 * 4) / 3) + 1024 * 1024);
  });

  test('parses lists, durations and booleans', () => {
    const config = loadConfig({
      PORT: '0',
      CORS_ORIGINS: 'https://a.example.com, http://localhost:3000',
      RATE_LIMIT_WINDOW: '30s',
      API_KEY: 'k'.repeat(32),
      API_KEY_READS: 'yes',
      IMAGE_ALLOWED_HOSTS: 'cdn.example.com,10.0.0.0/8',
      MAX_BODY_BYTES: '2048',
    });
    expect(config.PORT).toBe(0);
    expect(config.CORS_ORIGINS).toEqual(['https://a.example.com', 'http://localhost:3000']);
    expect(config.RATE_LIMIT_WINDOW).toBe(30_000);
    expect(config.API_KEY_READS).toBe(true);
    expect(config.IMAGE_ALLOWED_HOSTS).toEqual(['cdn.example.com', '10.0.0.0/8']);
    expect(config.MAX_BODY_BYTES).toBe(2048);
    expect(loadConfig({ RATE_LIMIT_WINDOW: '250' }).RATE_LIMIT_WINDOW).toBe(250);
    expect(loadConfig({ RATE_LIMIT_WINDOW: '2h' }).RATE_LIMIT_WINDOW).toBe(7_200_000);
    expect(loadConfig({ CORS_ORIGINS: '*' }).CORS_ORIGINS).toEqual(['*']);
  });

  test('UPLOAD_TIMEOUT_MS: milliseconds between 100 and 600000', () => {
    expect(loadConfig({ UPLOAD_TIMEOUT_MS: '2000' }).UPLOAD_TIMEOUT_MS).toBe(2000);
    for (const bad of ['50', '600001', 'soon']) {
      expect(() => loadConfig({ UPLOAD_TIMEOUT_MS: bad })).toThrow(/UPLOAD_TIMEOUT_MS/);
    }
  });

  test('durations: ms syntax, whole milliseconds from 1 ms to 24 h', () => {
    const window = (value: string) => loadConfig({ RATE_LIMIT_WINDOW: value }).RATE_LIMIT_WINDOW;
    expect(['1.5m', '90 seconds', '1 hour', ' 45s ', '24h'].map(window)).toEqual([
      90_000, 90_000, 3_600_000, 45_000, 86_400_000,
    ]);
    for (const bad of ['soon', '0', '-1s', '0.5ms', '25h', '1y']) {
      expect(() => window(bad)).toThrow(ConfigError);
    }
  });

  test('reports every bad variable at once with a clear message', () => {
    let error: unknown;
    try {
      loadConfig({
        PORT: 'eighty',
        MAX_K: '500',
        API_KEY: 'short',
        API_KEY_READS: 'maybe',
        RATE_LIMIT_WINDOW: 'soon',
        CORS_ORIGINS: 'https://ok.example.com,ftp://bad/path',
        REDIS_URL: 'http://localhost',
        INFERENCE_CONCURRENCY: '0',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((issue) => issue.key).sort();
    expect(issues).toEqual(
      [
        'API_KEY',
        'API_KEY_READS',
        'CORS_ORIGINS.1',
        'INFERENCE_CONCURRENCY',
        'MAX_K',
        'PORT',
        'RATE_LIMIT_WINDOW',
        'REDIS_URL',
      ].sort(),
    );
    expect((error as ConfigError).message).toContain('API_KEY: use at least 16 characters');
  });
});

describe('.env.example', () => {
  const text = readFileSync(path.join(__dirname, '../.env.example'), 'utf8');
  const entries = text
    .split('\n')
    .filter((line) => /^[A-Z_]+=/.test(line))
    .map((line) => line.split('=') as [string, string]);

  test('documents every variable, and only those', () => {
    expect(entries.map(([key]) => key).sort()).toEqual([...API_ENV_KEYS].sort());
  });

  test('its values are the defaults', () => {
    expect(loadConfig(Object.fromEntries(entries))).toEqual(loadConfig({}));
  });
});

describe('API_KEY placeholder of the root .env.example (compose)', () => {
  const rootExample = readFileSync(path.join(__dirname, '../../../.env.example'), 'utf8');

  test('compose ships with a placeholder key, and the API refuses to start with it', () => {
    expect(rootExample).toMatch(new RegExp(`^API_KEY=${API_KEY_PLACEHOLDER}$`, 'm'));
    let error: unknown;
    try {
      loadConfig({ API_KEY: API_KEY_PLACEHOLDER });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((issue) => issue.key)).toEqual(['API_KEY']);
    expect((error as ConfigError).message).toContain('API_KEY: still the placeholder from .env.example');
    expect(loadConfig({ API_KEY: 'a'.repeat(32) }).API_KEY).toBe('a'.repeat(32));
  });
});

describe('INDEX_SEARCH_PARAMS', () => {
  test('parses name=number pairs (none by default) and refuses anything else', () => {
    expect(loadConfig({}).INDEX_SEARCH_PARAMS).toEqual({});
    expect(loadConfig({ INDEX_SEARCH_PARAMS: 'nprobe=32,efSearch=64' }).INDEX_SEARCH_PARAMS).toEqual({
      nprobe: 32,
      efSearch: 64,
    });
    expect(() => loadConfig({ INDEX_SEARCH_PARAMS: 'nprobe=many' })).toThrow(ConfigError);
  });
});
