import { InProcessEventIngestor } from '@lookalike/events';
/**
 * Node's own request timeout (requestTimeout = 2 × REQUEST_TIMEOUT_MS): a client that never finishes
 * sending its request is answered 408 CLIENT_TIMEOUT problem+json on the socket by
 * clientErrorHandler, the connection is closed, and the server carries on. Real HTTP, raw sockets.
 */
import net from 'node:net';
import { ImageSource } from '@lookalike/image-source';
import { buildApp, type App } from '../src/app';
import {
  ContractChecker,
  FakeEmbedder,
  FakeEventLog,
  FakeQueue,
  FakeSnapshots,
  httpRequest,
  testConfig,
} from './helpers';

const contract = new ContractChecker();

/** REQUEST_TIMEOUT_MS=100: Node gives each request 200 ms to arrive in full. */
async function listeningApp(): Promise<{ app: App; url: string }> {
  const config = testConfig({ REQUEST_TIMEOUT_MS: '100' });
  const app = await buildApp({
    config,
    deps: {
      embedder: new FakeEmbedder(),
      snapshots: new FakeSnapshots(),
      queue: new FakeQueue(),
      images: new ImageSource({ maxBytes: config.MAX_UPLOAD_BYTES, timeoutMs: 1000, maxRedirects: 0 }),
      events: new InProcessEventIngestor(new FakeEventLog()),
    },
    docsUi: false,
  });
  // Node looks for timed-out requests every connectionsCheckingInterval (30 s by default), read when
  // the server starts listening; checking every 20 ms lets the test see the 408 near the deadline.
  // (It is a createServer option; Fastify does not pass it on, and @types/node types no property.)
  (app.server as typeof app.server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    20;
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url };
}

/** Sends `partial` on a raw connection and returns everything received until the server closes it. */
function sendAndWait(url: string, partial: string): Promise<{ raw: string; elapsedMs: number }> {
  const started = Date.now();
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.setEncoding('utf8');
  socket.on('error', () => undefined);
  let raw = '';
  socket.on('data', (chunk: string) => (raw += chunk));
  socket.write(partial);
  return new Promise((resolve) =>
    socket.once('close', () => resolve({ raw, elapsedMs: Date.now() - started })),
  );
}

function parseResponse(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  );
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('client timeout (Node requestTimeout)', () => {
  test('headers that never end: 408 CLIENT_TIMEOUT problem+json, connection closed, server carries on', async () => {
    const { app, url } = await listeningApp();
    try {
      const { raw, elapsedMs } = await sendAndWait(
        url,
        'GET /v1/index HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a',
      );
      const response = parseResponse(raw);
      expect(response.status).toBe(408);
      // Not before the 200 ms Node allows, and well before the 30 s a default check interval could take.
      expect(elapsedMs).toBeGreaterThanOrEqual(180);
      expect(elapsedMs).toBeLessThan(5000);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.headers.connection).toBe('close');
      expect(JSON.parse(response.body)).toEqual({
        type: 'urn:lookalike:problem:client-timeout',
        title: 'Request Timeout',
        status: 408,
        code: 'CLIENT_TIMEOUT',
        detail: 'The request was not received in time',
        requestId: response.headers['x-request-id'],
      });
      expect((await httpRequest(url, '/healthz')).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  test('a body that stops arriving: the deadline answers 503 REQUEST_TIMEOUT first, and the connection is closed', async () => {
    const { app, url } = await listeningApp();
    try {
      const { raw, elapsedMs } = await sendAndWait(
        url,
        'POST /v1/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
          'Content-Length: 1000\r\n\r\n{"items":[',
      );
      const response = parseResponse(raw);
      expect(response.status).toBe(503);
      expect(response.headers.connection).toBe('close');
      // Closed by the server right after the answer, not left waiting for the rest of the body.
      expect(elapsedMs).toBeLessThan(5000);
      contract.check('POST', '/v1/items', {
        statusCode: 503,
        headers: response.headers,
        body: response.body,
      });
      expect(JSON.parse(response.body)).toMatchObject({ status: 503, code: 'REQUEST_TIMEOUT' });
      expect((await httpRequest(url, '/healthz')).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});
