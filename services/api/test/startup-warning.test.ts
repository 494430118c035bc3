/**
 * Start-up warnings of the real server (startServer: real embedder, snapshot reader, queue on real
 * Redis, real HTTP), read from the pino logger it is given: open writes on a non-loopback HOST warn
 * in one line; a key, or a loopback HOST, does not.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig } from '../src/config';
import { openWritesWarning, startServer } from '../src/server';
import { deleteQueueKeys } from '../../../tests/support/indexer';
import { hasSharedModels, httpRequest, modelCacheDir, modelMirror, redisUrl } from './helpers';

const describeReal = hasSharedModels ? describe : describe.skip;

interface LogLine {
  level: number;
  msg: string;
  host?: string;
}

/** Starts the server with `env`, returns every log line of its start, and closes it again. */
async function startLines(env: Record<string, string>): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'api-startup-'));
  const prefix = `api-startup-${process.pid}-${Date.now()}`;
  try {
    const server = await startServer(
      {
        PORT: '0',
        DATA_DIR: dataDir,
        REDIS_URL: redisUrl,
        QUEUE_PREFIX: prefix,
        MODEL_CACHE_DIR: modelCacheDir,
        MODEL_MIRROR: modelMirror,
        INFERENCE_CONCURRENCY: '1',
        ...env,
      },
      pino({ level: 'info' }, sink),
    );
    try {
      expect((await httpRequest(server.url, '/healthz')).statusCode).toBe(200);
    } finally {
      await server.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await deleteQueueKeys(redisUrl, prefix);
  }
  return lines;
}

const PINO_WARN = 40;
const openWrites = (lines: LogLine[]) => lines.filter((line) => line.msg.startsWith('writes are open'));

describeReal('start-up warning: open writes', () => {
  test('no API_KEY on HOST=0.0.0.0: one warn line naming the host and the fix', async () => {
    const lines = await startLines({ HOST: '0.0.0.0' });
    const warnings = openWrites(lines);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: PINO_WARN, host: '0.0.0.0' });
    expect(warnings[0]!.msg).toContain('API_KEY is not set');
    expect(warnings[0]!.msg).toContain('HOST=127.0.0.1');
    // Said at start: right after the `listening` line.
    const listening = lines.findIndex((line) => line.msg === 'listening');
    expect(lines.indexOf(warnings[0]!)).toBe(listening + 1);
  }, 120_000);

  test('no warning with a key, or on a loopback HOST', async () => {
    expect(openWrites(await startLines({ HOST: '0.0.0.0', API_KEY: 'startup-test-key-0123456789' }))).toEqual(
      [],
    );
    expect(openWrites(await startLines({ HOST: '127.0.0.1' }))).toEqual([]);
  }, 120_000);
});

test('which hosts count as loopback', () => {
  const warns = (HOST: string) => openWritesWarning(loadConfig({ HOST })) !== null;
  expect(['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'].filter(warns)).toEqual(
    [],
  );
  expect(['0.0.0.0', '::', '10.0.0.5', 'api.internal', '128.0.0.1'].filter(warns)).toHaveLength(5);
});
