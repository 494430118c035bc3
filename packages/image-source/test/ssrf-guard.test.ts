import type { HostResolver } from '../src';
import { closeFetchFixture, expectSourceError, photo, source, startFetchServers } from './fetch-fixture';
import type { TestServer } from './helpers';

let server: TestServer;
let canary1: TestServer;
let canary2: TestServer;
let canary6: TestServer;
beforeAll(async () => {
  ({ server, canary1, canary2, canary6 } = await startFetchServers());
});
afterAll(() => closeFetchFixture());

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
