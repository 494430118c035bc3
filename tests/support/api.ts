import { serviceEnv, type ServiceEnvOptions } from './indexer';
import { startService, type ServiceProcess } from './processes';

export const API_SCRIPT = 'services/api/dist/server.js';

/** The environment of an API process in a test: loopback only, fast reload polling, one inference slot. */
export function apiEnv(options: ServiceEnvOptions): Record<string, string> {
  return serviceEnv(options, { HOST: '127.0.0.1', RELOAD_POLL_MS: '200', INFERENCE_CONCURRENCY: '1' });
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
export async function startApi(
  name: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<RunningApi> {
  const process = await startService({
    name,
    script: API_SCRIPT,
    nodeArgs,
    env: { PORT: '0', ...env },
    readyMsg: 'listening',
    readyTimeoutMs: 90_000,
  });
  const listening = await process.waitForLog((l) => l.msg === 'listening', 1000, 'listening line');
  const port = Number(listening.port);
  return { process, port, url: `http://127.0.0.1:${port}` };
}
