import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { RssSampler } from './common';

/**
 * Closed-loop load against a real API process (autocannon, loopback), shared by the HTTP suites: each
 * connection sends its next request when the previous answer came. Load at a fixed rate: paced.ts.
 */

export interface LoadResult {
  connections: number;
  seconds: number;
  requests: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  /** Socket errors + timeouts + non-2xx answers. */
  errors: number;
  rssMaxMiB: number;
}

/** GET /v1/items/:id/similar over ids spread across the catalogue. */
export function byIdRequests(items: number, k = 10, variety = 64): autocannon.Request[] {
  return Array.from({ length: variety }, (_, i) => ({
    method: 'GET',
    path: `/v1/items/item-${(i * 7919 + 13) % items}/similar?k=${k}`,
  }));
}

const BOUNDARY = '----lookalike-bench-boundary';

/** A multipart/form-data body like a browser's upload: the photo as `image`, then `k`. */
export function multipartBody(image: Buffer, k = 10): Buffer {
  return Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="query.jpg"\r\n` +
        'Content-Type: image/jpeg\r\n\r\n',
    ),
    image,
    Buffer.from(
      `\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="k"\r\n\r\n${k}\r\n--${BOUNDARY}--\r\n`,
    ),
  ]);
}

export function uploadRequests(images: Buffer[], k = 10): autocannon.Request[] {
  return images.map((image) => ({
    method: 'POST',
    path: '/v1/similar',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    body: multipartBody(image, k),
  }));
}

/** The first `count` fashion-sample photos (sorted by name, so every run uses the same ones). */
export function samplePhotos(sharedDir: string, count: number): Buffer[] {
  const dir = path.join(sharedDir, 'data/fashion-sample/images');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, count)
    .map((f) => readFileSync(path.join(dir, f)));
}

export interface RunningLoad {
  /** Ends the run early (the result still covers everything sent so far). */
  stop(): void;
  done: Promise<LoadResult>;
}

/**
 * Starts a load run with the API's RSS sampled throughout. Bounded in time (`seconds`) and, when
 * `amount` is given, in count too: it ends after `amount` requests or `seconds`, whichever comes first
 * (a count keeps deep-queue runs, where the first answers take seconds, from measuring only a ramp-up).
 */
export function startLoad(
  url: string,
  apiPid: number,
  requests: autocannon.Request[],
  connections: number,
  seconds: number,
  amount?: number,
): RunningLoad {
  const sampler = new RssSampler(apiPid);
  const started = performance.now();
  let instance: autocannon.Instance | null = null;
  let cap: NodeJS.Timeout | undefined;
  const bound = amount ? { amount } : { duration: seconds };
  const done = new Promise<LoadResult>((resolve, reject) => {
    instance = autocannon({ url, connections, timeout: 60, requests, ...bound }, (err, result) => {
      clearTimeout(cap);
      sampler.stop();
      if (err) {
        reject(err);
        return;
      }
      const elapsed = (performance.now() - started) / 1000;
      const total = result['2xx'] + result.non2xx;
      resolve({
        connections,
        seconds: elapsed,
        requests: total,
        requestsPerSecond: total / elapsed,
        p50: result.latency.p50,
        p99: result.latency.p99,
        errors: result.errors + result.timeouts + result.non2xx,
        rssMaxMiB: sampler.max(),
      });
    });
  });
  if (amount) cap = setTimeout(() => instance?.stop(), seconds * 1000);
  return { stop: () => instance?.stop(), done };
}

export function runLoad(
  url: string,
  apiPid: number,
  requests: autocannon.Request[],
  connections: number,
  seconds: number,
  amount?: number,
): Promise<LoadResult> {
  return startLoad(url, apiPid, requests, connections, seconds, amount).done;
}
