import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { ImageSource, ImageSourceError, type HostResolver } from '../src';
import { samplePhoto } from './helpers';

// The guard dials the IP address it checked, not the host name; these prove TLS still verifies the
// certificate against the host name and sends it as SNI. Needs the openssl CLI to make a certificate.
const photo = readFileSync(samplePhoto);
let tmp: string;
let cert: string;
let server: Server;
let port: number;
const sniSeen: Array<string | false | null> = [];
let available = true;

const resolveHost: HostResolver = async (hostname) => {
  if (hostname.endsWith('.example.test')) return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
};

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'lookalike-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        path.join(tmp, 'key.pem'),
        '-out',
        path.join(tmp, 'cert.pem'),
        '-subj',
        '/CN=images.example.test',
        '-addext',
        'subjectAltName=DNS:images.example.test',
      ],
      { stdio: 'ignore' },
    );
  } catch {
    available = false;
    return;
  }
  cert = await readFile(path.join(tmp, 'cert.pem'), 'utf8');
  server = createServer({ key: await readFile(path.join(tmp, 'key.pem')), cert }, (req, res) => {
    sniSeen.push((req.socket as TLSSocket).servername);
    res.writeHead(200, { 'content-type': 'image/jpeg' });
    res.end(photo);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await rm(tmp, { recursive: true, force: true });
});

function source(extraCaCertificates?: string[]): ImageSource {
  return new ImageSource({
    maxBytes: 1_000_000,
    timeoutMs: 2_000,
    maxRedirects: 0,
    allowedHosts: ['127.0.0.1'],
    resolveHost,
    ...(extraCaCertificates ? { extraCaCertificates } : {}),
  });
}

describe('https through the guarded connector', () => {
  it('verifies the certificate against the host name and sends it as SNI', async () => {
    if (!available) return;
    const src = source([cert]);
    try {
      const bytes = await src.load({ imageUrl: `https://images.example.test:${port}/a.jpg` });
      expect(bytes.equals(photo)).toBe(true);
      expect(sniSeen).toEqual(['images.example.test']);
    } finally {
      await src.close();
    }
  });

  it('refuses (permanently) an untrusted certificate and one for another host', async () => {
    if (!available) return;
    const untrusted = source();
    const trusting = source([cert]);
    try {
      for (const [src, host, code] of [
        [untrusted, 'images.example.test', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
        [trusting, 'other.example.test', 'ERR_TLS_CERT_ALTNAME_INVALID'],
      ] as const) {
        const err = await src.load({ imageUrl: `https://${host}:${port}/a.jpg` }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ImageSourceError);
        expect(err).toMatchObject({ code: 'SOURCE_NETWORK_ERROR', permanent: true, details: { code } });
      }
      expect(sniSeen).toEqual(['images.example.test']); // neither reached the request handler
    } finally {
      await Promise.all([untrusted.close(), trusting.close()]);
    }
  });
});
