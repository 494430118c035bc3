import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export const repoRoot = path.resolve(__dirname, '../../..');
export const sharedDir = process.env.LOOKALIKE_SHARED_DIR ?? path.resolve(repoRoot, '../shared');
export const samplePhoto = path.join(sharedDir, 'data/fashion-sample/images/10000.jpg');

/** A valid 1×1 PNG (the well-known minimal one). */
export const TINY_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

export interface TestServer {
  server: Server;
  host: string;
  port: number;
  /** TCP connections accepted so far. */
  connections: number;
  /** Request paths seen so far. */
  requests: string[];
  url(pathname: string): string;
  close(): Promise<void>;
}

/** An HTTP server on a loopback address that records every connection and request it gets. */
export async function startServer(
  host: string,
  handler: (req: IncomingMessage, res: ServerResponse, server: TestServer) => void = (_req, res) =>
    res.end('canary'),
): Promise<TestServer> {
  const server = createServer();
  const state: TestServer = {
    server,
    host,
    port: 0,
    connections: 0,
    requests: [],
    url: (pathname) => `http://${host.includes(':') ? `[${host}]` : host}:${state.port}${pathname}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('connection', () => {
    state.connections++;
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    state.requests.push(req.url ?? '');
    handler(req, res, state);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  state.port = (server.address() as AddressInfo).port;
  return state;
}
