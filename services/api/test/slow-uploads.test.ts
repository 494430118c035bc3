/** Uploads still arriving hold no inference place, and time out on their own budget (UPLOAD_TIMEOUT_MS). */
import net from 'node:net';
import { ContractChecker, FakeSnapshot, buildTestApp, fakeVector, solidPng, type TestApp } from './helpers';

const contract = new ContractChecker();
const BOUNDARY = 'unit-slow-boundary';

/** A raw connection that sent the headers and the start of a multipart upload, and no more. */
function startedUpload(url: string): { socket: net.Socket; reply: Promise<string> } {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.setEncoding('utf8');
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (chunk: string) => (received += chunk));
  const reply = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  socket.write(
    `POST /v1/similar HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
      `Content-Length: 100000\r\n\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; ` +
      'filename="q.jpg"\r\nContent-Type: image/jpeg\r\n\r\nAAAA',
  );
  return { socket, reply };
}

async function catalogueApp(env: Record<string, string>): Promise<{ t: TestApp; image: Buffer }> {
  const t = await buildTestApp(env);
  const image = await solidPng([10, 120, 200]);
  t.snapshots.swap(new FakeSnapshot(1, [{ id: 'a', vector: fakeVector(image), metadata: { kind: 'x' } }]));
  return { t, image };
}

describe('slow uploads', () => {
  test('uploads still arriving hold no inference place: a full upload is answered meanwhile', async () => {
    const { t, image } = await catalogueApp({ INFERENCE_CONCURRENCY: '1', INFERENCE_QUEUE: '0' });
    const slow = [startedUpload(t.url), startedUpload(t.url), startedUpload(t.url)];
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const fast = await t.request('/v1/similar', {
        method: 'POST',
        json: { imageBase64: image.toString('base64') },
      });
      contract.check('POST', '/v1/similar', fast);
      expect(fast.statusCode).toBe(200);
      const metrics = (await t.request('/metrics')).body;
      expect(metrics).toContain('lookalike_inference_rejected_total 0');
      expect(metrics).toContain('lookalike_inference_waiting 0');
    } finally {
      for (const { socket } of slow) socket.destroy();
      await t.app.close();
    }
  });

  test('a body still arriving after UPLOAD_TIMEOUT_MS: 408 UPLOAD_TIMEOUT, connection closed', async () => {
    const { t, image } = await catalogueApp({ UPLOAD_TIMEOUT_MS: '300' });
    try {
      const started = Date.now();
      const raw = await startedUpload(t.url).reply;
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      const [head = '', body = ''] = raw.split('\r\n\r\n');
      const headers = Object.fromEntries(
        head
          .split('\r\n')
          .slice(1)
          .map((line) => [
            line.slice(0, line.indexOf(':')).toLowerCase(),
            line.slice(line.indexOf(':') + 1).trim(),
          ]),
      );
      expect(head).toMatch(/^HTTP\/1\.1 408 /);
      expect(headers.connection).toBe('close');
      contract.check('POST', '/v1/similar', { statusCode: 408, headers, body });
      expect(JSON.parse(body)).toMatchObject({ status: 408, code: 'UPLOAD_TIMEOUT' });
      // A body sent in time is not affected.
      const fast = await t.request('/v1/similar', {
        method: 'POST',
        json: { imageBase64: image.toString('base64') },
      });
      expect(fast.statusCode).toBe(200);
    } finally {
      await t.app.close();
    }
  });
});
