import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ImageSource, ImageSourceError, type HostResolver, type ImageSourceOptions } from '../src';
import { samplePhoto, startServer, TINY_PNG, type TestServer } from './helpers';

const photo = readFileSync(samplePhoto);
const LIMITS = { maxBytes: 1_000_000, timeoutMs: 2_000, maxRedirects: 3 };

/** Bytes written by the /endless route before the client went away. */
let endlessBytesWritten = 0;
const ENDLESS_TOTAL = 64 * 1024 * 1024;

function routes(req: IncomingMessage, res: ServerResponse, self: TestServer): void {
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
      endlessBytesWritten = 0;
      let closed = false;
      res.on('close', () => {
        closed = true;
      });
      const chunk = Buffer.concat([photo, Buffer.alloc(64 * 1024 - photo.length)]);
      const pump = () => {
        while (!closed && endlessBytesWritten < ENDLESS_TOTAL) {
          endlessBytesWritten += chunk.length;
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

async function expectSourceError(promise: Promise<unknown>, code: string, permanent?: boolean) {
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

let server: TestServer;
/** Listeners that must never be contacted: one per blocked loopback address. */
let canary1: TestServer;
let canary2: TestServer;
let canary6: TestServer;
const sources: ImageSource[] = [];

function source(options: Partial<ImageSourceOptions> = {}): ImageSource {
  const created = new ImageSource({ ...LIMITS, ...options });
  sources.push(created);
  return created;
}

beforeAll(async () => {
  server = await startServer('127.0.0.1', routes);
  canary1 = await startServer('127.0.0.1');
  canary2 = await startServer('127.0.0.2');
  canary6 = await startServer('::1');
});
afterAll(async () => {
  await Promise.all(sources.map((s) => s.close()));
  await Promise.all([server, canary1, canary2, canary6].map((s) => s.close()));
});

describe('fetching from an allowed server', () => {
  const allowed = () => source({ allowedHosts: ['127.0.0.1'] });

  it('returns the exact bytes of a JPEG', async () => {
    const bytes = await allowed().load({ imageUrl: server.url('/photo.jpg') });
    expect(bytes.equals(photo)).toBe(true);
  });

  it('accepts application/octet-stream and a missing Content-Type when the bytes are an image', async () => {
    const src = allowed();
    expect((await src.load({ imageUrl: server.url('/octet') })).equals(TINY_PNG)).toBe(true);
    expect((await src.load({ imageUrl: server.url('/no-type') })).equals(TINY_PNG)).toBe(true);
  });

  it('follows redirects up to the limit, relative ones included', async () => {
    const src = allowed();
    expect((await src.load({ imageUrl: server.url('/chain/3') })).equals(photo)).toBe(true);
    expect((await src.load({ imageUrl: server.url('/relative') })).equals(photo)).toBe(true);
    await expectSourceError(
      src.load({ imageUrl: server.url('/chain/4') }),
      'SOURCE_TOO_MANY_REDIRECTS',
      true,
    );
  });

  it('stops a redirect loop at the limit', async () => {
    const before = server.requests.filter((r) => r === '/loop').length;
    await expectSourceError(allowed().load({ imageUrl: server.url('/loop') }), 'SOURCE_TOO_MANY_REDIRECTS');
    expect(server.requests.filter((r) => r === '/loop').length - before).toBe(LIMITS.maxRedirects + 1);
  });

  it('refuses redirects when maxRedirects is 0, without Location, or to another scheme', async () => {
    await expectSourceError(
      source({ allowedHosts: ['127.0.0.1'], maxRedirects: 0 }).load({ imageUrl: server.url('/relative') }),
      'SOURCE_TOO_MANY_REDIRECTS',
    );
    await expectSourceError(
      allowed().load({ imageUrl: server.url('/no-location') }),
      'SOURCE_HTTP_ERROR',
      true,
    );
    await expectSourceError(allowed().load({ imageUrl: server.url('/to-ftp') }), 'SOURCE_BAD_URL', true);
  });

  it('refuses a wrong Content-Type before reading the body', async () => {
    const err = await expectSourceError(
      allowed().load({ imageUrl: server.url('/html') }),
      'SOURCE_BAD_CONTENT_TYPE',
      true,
    );
    expect(err.details).toMatchObject({ contentType: 'text/html; charset=utf-8' });
  });

  it('refuses bytes that are not an image even when labelled image/jpeg, and empty bodies', async () => {
    await expectSourceError(allowed().load({ imageUrl: server.url('/fake.jpg') }), 'SOURCE_NOT_IMAGE', true);
    await expectSourceError(allowed().load({ imageUrl: server.url('/empty.jpg') }), 'SOURCE_NOT_IMAGE', true);
  });

  it('reports 404 as permanent and 503 / 429 as transient HTTP errors', async () => {
    const src = allowed();
    const notFound = await expectSourceError(
      src.load({ imageUrl: server.url('/missing.jpg') }),
      'SOURCE_HTTP_ERROR',
      true,
    );
    expect(notFound.details).toMatchObject({ status: 404 });
    const unavailable = await expectSourceError(
      src.load({ imageUrl: server.url('/unavailable.jpg') }),
      'SOURCE_HTTP_ERROR',
      false,
    );
    expect(unavailable.details).toMatchObject({ status: 503 });
    await expectSourceError(src.load({ imageUrl: server.url('/throttled.jpg') }), 'SOURCE_HTTP_ERROR', false);
  });

  it('times out (transiently) when the server stalls before or during the body', async () => {
    const src = source({ allowedHosts: ['127.0.0.1'], timeoutMs: 300 });
    for (const pathname of ['/stall-headers', '/stall-body']) {
      const started = Date.now();
      await expectSourceError(src.load({ imageUrl: server.url(pathname) }), 'SOURCE_TIMEOUT', false);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(2_000);
    }
  });

  it('stops reading a chunked body at the byte cap', async () => {
    const src = source({ allowedHosts: ['127.0.0.1'], maxBytes: 200_000 });
    const err = await expectSourceError(
      src.load({ imageUrl: server.url('/endless') }),
      'SOURCE_TOO_LARGE',
      true,
    );
    expect(err.details).toMatchObject({ maxBytes: 200_000 });
    // The server noticed the client leave long before it could write the whole 64 MiB.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(endlessBytesWritten).toBeLessThan(ENDLESS_TOTAL);
  });

  it('refuses a body whose Content-Length announces too much without reading it', async () => {
    const err = await expectSourceError(
      allowed().load({ imageUrl: server.url('/declared-huge') }),
      'SOURCE_TOO_LARGE',
      true,
    );
    expect(err.details).toMatchObject({ contentLength: 50_000_000 });
  });

  it('reports a connection reset mid-body and a refused connection as transient network errors', async () => {
    const src = allowed();
    const reset = await expectSourceError(
      src.load({ imageUrl: server.url('/reset') }),
      'SOURCE_NETWORK_ERROR',
      false,
    );
    expect(reset.details).toMatchObject({ code: expect.stringMatching(/^(UND_ERR_SOCKET|ECONNRESET)$/) });
    const closed = await startServer('127.0.0.1');
    const deadUrl = closed.url('/photo.jpg');
    await closed.close();
    const refused = await expectSourceError(src.load({ imageUrl: deadUrl }), 'SOURCE_NETWORK_ERROR', false);
    expect(refused.details).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rejects with the caller’s abort reason, not a timeout, when the caller aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('client went away');
    setTimeout(() => controller.abort(reason), 100);
    await expect(allowed().load({ imageUrl: server.url('/stall-headers') }, controller.signal)).rejects.toBe(
      reason,
    );
    await expect(allowed().load({ imageUrl: server.url('/photo.jpg') }, controller.signal)).rejects.toBe(
      reason,
    );
  });

  it('refuses malformed and non-http URLs', async () => {
    const src = allowed();
    for (const imageUrl of [
      'not a url',
      '/relative/path.jpg',
      'ftp://example.com/a.jpg',
      'file:///etc/passwd',
      `http://user:secret@127.0.0.1:${server.port}/photo.jpg`,
    ]) {
      await expectSourceError(src.load({ imageUrl }), 'SOURCE_BAD_URL', true);
    }
  });

  it('fetches over IPv6 from an allowlisted address', async () => {
    const server6 = await startServer('::1', routes);
    try {
      const src = source({ allowedHosts: ['::1'] });
      expect((await src.load({ imageUrl: server6.url('/photo.jpg') })).equals(photo)).toBe(true);
      expect(server6.connections).toBe(1);
    } finally {
      await server6.close();
    }
  });

  it('works for any loopback address with allowPrivateNetworks', async () => {
    const open = source({ allowPrivateNetworks: true });
    expect((await open.load({ imageUrl: server.url('/photo.jpg') })).equals(photo)).toBe(true);
    expect((await open.load({ imageUrl: `http://localhost:${server.port}/octet` })).equals(TINY_PNG)).toBe(
      true,
    );
  });
});

describe('the SSRF guard (default settings)', () => {
  it('refuses loopback, private, link-local and metadata addresses without connecting', async () => {
    const guarded = source();
    const targets = [
      canary1.url('/x.jpg'),
      `http://localhost:${canary1.port}/x.jpg`,
      canary2.url('/x.jpg'),
      canary6.url('/x.jpg'),
      `http://[::ffff:127.0.0.1]:${canary1.port}/x.jpg`,
      `http://2130706433:${canary1.port}/x.jpg`, // 127.0.0.1 written as a decimal integer
      `http://0.0.0.0:${canary1.port}/x.jpg`,
      'http://10.0.0.1/x.jpg',
      'http://172.16.5.4/x.jpg',
      'http://192.168.1.1/x.jpg',
      'http://100.64.0.1/x.jpg',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00:ec2::254]/latest/meta-data/',
      'http://[fe80::1]/x.jpg',
      'http://metadata.google.internal/computeMetadata/v1/',
    ];
    for (const imageUrl of targets) {
      const started = Date.now();
      const err = await expectSourceError(guarded.load({ imageUrl }), 'SOURCE_BLOCKED_ADDRESS', true);
      expect(err.details).toHaveProperty('reason');
      expect(Date.now() - started).toBeLessThan(1_000); // refused, not timed out trying
    }
    expect([canary1.connections, canary2.connections, canary6.connections]).toEqual([0, 0, 0]);
  });

  it('refuses a redirect from an allowed server to a blocked address without connecting to it', async () => {
    const src = source({ allowedHosts: ['127.0.0.1'] });
    for (const target of [
      canary2.url('/x.jpg'),
      canary6.url('/x.jpg'),
      'http://169.254.169.254/latest/meta-data/',
    ]) {
      const imageUrl = server.url(`/redirect-to?target=${encodeURIComponent(target)}`);
      await expectSourceError(src.load({ imageUrl }), 'SOURCE_BLOCKED_ADDRESS', true);
    }
    expect(canary2.connections).toBe(0);
    expect(canary6.connections).toBe(0);
  });

  it('checks the address DNS returns, also after a redirect, and never dials a refused one', async () => {
    const lookups: string[] = [];
    const resolveHost: HostResolver = async (hostname) => {
      lookups.push(hostname);
      if (hostname === 'images.example.test') return [{ address: '127.0.0.2', family: 4 }];
      if (hostname === 'mixed.example.test') {
        return [
          { address: '93.184.216.34', family: 4 },
          { address: '127.0.0.2', family: 4 },
        ];
      }
      if (hostname === 'cdn.example.test') return [{ address: '127.0.0.1', family: 4 }];
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    };
    const guarded = source({ resolveHost });
    const viaName = `http://images.example.test:${canary2.port}/x.jpg`;
    const blocked = await expectSourceError(guarded.load({ imageUrl: viaName }), 'SOURCE_BLOCKED_ADDRESS');
    expect(blocked.details).toMatchObject({ host: 'images.example.test', address: '127.0.0.2' });
    await expectSourceError(
      guarded.load({ imageUrl: `http://mixed.example.test:${canary2.port}/x.jpg` }),
      'SOURCE_BLOCKED_ADDRESS',
    );
    const unknown = await expectSourceError(
      guarded.load({ imageUrl: 'http://nowhere.example.test/x.jpg' }),
      'SOURCE_NETWORK_ERROR',
      true,
    );
    expect(unknown.details).toMatchObject({ code: 'ENOTFOUND' });

    const redirecting = source({ resolveHost, allowedHosts: ['127.0.0.1'] });
    await expectSourceError(
      redirecting.load({ imageUrl: server.url(`/redirect-to?target=${encodeURIComponent(viaName)}`) }),
      'SOURCE_BLOCKED_ADDRESS',
    );
    expect(lookups).toContain('images.example.test');
    expect(canary2.connections).toBe(0);

    // The same resolver, with the resolved address (CIDR) or the host name allowlisted, goes through.
    const byCidr = source({ resolveHost, allowedHosts: ['127.0.0.0/8'] });
    const cdnUrl = `http://cdn.example.test:${server.port}/photo.jpg`;
    expect((await byCidr.load({ imageUrl: cdnUrl })).equals(photo)).toBe(true);
    const byName = source({ resolveHost, allowedHosts: ['*.example.test'] });
    expect((await byName.load({ imageUrl: cdnUrl })).equals(photo)).toBe(true);
  });

  it('does not even resolve metadata host names', async () => {
    const lookups: string[] = [];
    const guarded = source({
      resolveHost: async (hostname) => {
        lookups.push(hostname);
        return [{ address: '93.184.216.34', family: 4 }];
      },
    });
    await expectSourceError(
      guarded.load({ imageUrl: 'http://metadata.google.internal./computeMetadata/v1/' }),
      'SOURCE_BLOCKED_ADDRESS',
    );
    expect(lookups).toEqual([]);
  });

  it('an allowlisted address does not open its neighbours', async () => {
    const src = source({ allowedHosts: ['127.0.0.1'] });
    await expectSourceError(src.load({ imageUrl: canary2.url('/x.jpg') }), 'SOURCE_BLOCKED_ADDRESS');
    expect(canary2.connections).toBe(0);
  });
});
