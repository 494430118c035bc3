import { modelCacheDir, modelMirror } from './paths';
import { startService, type ServiceProcess } from './processes';

export const API_SCRIPT = 'services/api/dist/server.js';

export interface ApiEnvOptions {
  redisUrl: string;
  prefix: string;
  dataDir: string;
  catalogueRoot?: string;
  /** Any other variable (API_KEY, RELOAD_POLL_MS, …). */
  extra?: Record<string, string>;
}

/** The environment of an API process in a test: its own queue prefix and data dir, quiet logs. */
export function apiEnv(options: ApiEnvOptions): Record<string, string> {
  return {
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: options.prefix,
    DATA_DIR: options.dataDir,
    MODEL_CACHE_DIR: modelCacheDir,
    MODEL_MIRROR: modelMirror,
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    RELOAD_POLL_MS: '200',
    INFERENCE_CONCURRENCY: '1',
    ...(options.catalogueRoot ? { CATALOGUE_ROOT: options.catalogueRoot } : {}),
    ...options.extra,
  };
}

export interface RunningApi {
  process: ServiceProcess;
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
}

/**
 * Starts `node services/api/dist/server.js` and waits for its `listening` line. Without a PORT in
 * `env` the API binds port 0 (the OS picks a free one, no race) and the line says which.
 */
export async function startApi(name: string, env: Record<string, string>): Promise<RunningApi> {
  const process = await startService({
    name,
    script: API_SCRIPT,
    env: { PORT: '0', ...env },
    readyMsg: 'listening',
    readyTimeoutMs: 90_000,
  });
  const listening = await process.waitForLog((l) => l.msg === 'listening', 1000, 'listening line');
  const port = Number(listening.port);
  return { process, port, url: `http://127.0.0.1:${port}` };
}
