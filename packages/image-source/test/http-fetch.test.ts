import {
  closeFetchFixture,
  endless,
  ENDLESS_TOTAL,
  expectSourceError,
  LIMITS,
  photo,
  routes,
  source,
  startFetchServers,
} from './fetch-fixture';
import { startServer, TINY_PNG, type TestServer } from './helpers';

let server: TestServer;
beforeAll(async () => {
  ({ server } = await startFetchServers());
});
afterAll(() => closeFetchFixture());

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
    expect(endless.bytesWritten).toBeLessThan(ENDLESS_TOTAL);
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
