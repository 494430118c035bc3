import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ImageSource, ImageSourceError, type ImageSourceOptions } from '../src';
import { samplePhoto, startServer, TINY_PNG, type TestServer } from './helpers';

/**
 * What the HTTP fetch tests share: an image server with a route per case on 127.0.0.1, and canary
 * listeners on blocked loopback addresses (127.0.0.1, 127.0.0.2, ::1) that must never be contacted.
 * Each test file starts its own (`startFetchServers`) and closes them with `closeFetchFixture`.
 */

export const photo = readFileSync(samplePhoto);
/** The limits every test source gets (a test may override them). */
export const LIMITS = { maxBytes: 1_000_000, timeoutMs: 2_000, maxRedirects: 3 };

/** Bytes written by the /endless route before the client went away. */
export const endless = { bytesWritten: 0 };
export const ENDLESS_TOTAL = 64 * 1024 * 1024;

/** The image server's routes: photos, wrong types, errors, stalls, redirects. */
export function routes(req: IncomingMessage, res: ServerResponse, self: TestServer): void {
  const url = new URL(req.url ?? '/', 'http://test');
  const send = (status: number, headers: Record<string, string | number>, body?: Buffer | string) => {
    res.writeHead(status, headers);
    res.end(body);
  };
  switch (url.pathname) {
    case '/photo.jpg':
      return send(200, { 'content-type': 'image/jpeg', 'content-length': photo.length }, photo);
    case '/octet':
      return send(200, { 'content-type': 'application/octet-stream' }, TINY_PNG);
    case '/no-type':
      return send(200, {}, TINY_PNG);
    case '/html':
      return send(200, { 'content-type': 'text/html; charset=utf-8' }, '<html>not found</html>');
    case '/fake.jpg':
      return send(200, { 'content-type': 'image/jpeg' }, '{"error":"this is json"}');
    case '/empty.jpg':
      return send(200, { 'content-type': 'image/jpeg' });
    case '/missing.jpg':
      return send(404, { 'content-type': 'text/plain' }, 'nope');
    case '/unavailable.jpg':
      return send(503, { 'content-type': 'text/plain' }, 'later');
    case '/throttled.jpg':
      return send(429, { 'retry-after': '1' }, 'slow down');
    case '/stall-headers':
      return; // never answers
    case '/stall-body':
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': photo.length });
      res.write(photo.subarray(0, 100));
      return; // never finishes
    case '/declared-huge':
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': 50_000_000 });
      res.write(photo.subarray(0, 100));
      return;
    case '/endless': {
      // Chunked (no Content-Length), written only as fast as the client reads, until it goes away.
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      endless.bytesWritten = 0;
      let closed = false;
      res.on('close', () => {
        closed = true;
      });
      const chunk = Buffer.concat([photo, Buffer.alloc(64 * 1024 - photo.length)]);
      const pump = () => {
        while (!closed && endless.bytesWritten < ENDLESS_TOTAL) {
          endless.bytesWritten += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!closed) res.end();
      };
      return pump();
    }
    case '/reset':
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': photo.length });
      res.write(photo.subarray(0, 100), () => res.socket?.destroy());
      return;
    case '/loop':
      return send(302, { location: '/loop' });
    case '/no-location':
      return send(302, {});
    case '/relative':
      return send(301, { location: 'photo.jpg' });
    case '/to-ftp':
      return send(302, { location: 'ftp://example.com/photo.jpg' });
    case '/redirect-to':
      return send(307, { location: url.searchParams.get('target') ?? '/' });
    default: {
      const chain = /^\/chain\/(\d+)$/.exec(url.pathname);
      if (chain) {
        const left = Number(chain[1]);
        return send(302, { location: left <= 1 ? self.url('/photo.jpg') : `/chain/${left - 1}` });
      }
      return send(404, {}, 'unknown route');
    }
  }
}

/** Awaits a load that must fail with ImageSourceError `code` (and, when given, that permanence). */
export async function expectSourceError(promise: Promise<unknown>, code: string, permanent?: boolean) {
  const err = await promise.then(
    () => {
      throw new Error(`expected ${code}, but the load succeeded`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageSourceError);
  expect((err as ImageSourceError).code).toBe(code);
  if (permanent !== undefined) expect((err as ImageSourceError).permanent).toBe(permanent);
  return err as ImageSourceError;
}

export interface FetchServers {
  server: TestServer;
  /** Listeners that must never be contacted: one per blocked loopback address. */
  canary1: TestServer;
  canary2: TestServer;
  canary6: TestServer;
}

let started: FetchServers | undefined;
const sources: ImageSource[] = [];

export async function startFetchServers(): Promise<FetchServers> {
  started = {
    server: await startServer('127.0.0.1', routes),
    canary1: await startServer('127.0.0.1'),
    canary2: await startServer('127.0.0.2'),
    canary6: await startServer('::1'),
  };
  return started;
}

/** An ImageSource with the test limits, closed by `closeFetchFixture`. */
export function source(options: Partial<ImageSourceOptions> = {}): ImageSource {
  const created = new ImageSource({ ...LIMITS, ...options });
  sources.push(created);
  return created;
}

export async function closeFetchFixture(): Promise<void> {
  await Promise.all(sources.splice(0).map((s) => s.close()));
  if (started) await Promise.all(Object.values(started).map((s: TestServer) => s.close()));
  started = undefined;
}
