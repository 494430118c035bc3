import http from 'node:http';
import { percentile, RssSampler } from './common';
import type { LoadResult } from './load';

/**
 * Open-loop load at a constant rate: request i is due at start + i / rate, whatever the answers
 * before it, and its latency runs from that due time to the end of its answer (as wrk2 measures).
 * A server that stalls therefore shows the stall in every request that was due meanwhile, with no
 * after-the-fact correction for coordinated omission.
 *
 * Why not autocannon's `overallRate`: it is a per-second budget, not a pace. Each connection sends
 * back to back, each request as soon as the previous answer came, until it has used its share of
 * the second, then idles until the next one-second tick (autocannon 9, lib/httpClient.js
 * `reqsMadeThisSecond`). 200 "req/s" over 8 connections is then a burst that keeps the server
 * saturated for the first part of every second, and a second paced load (the events) bursts at the
 * same instants: the measured latencies are those of a saturated server, and any CPU taken from it
 * shows up many times over.
 */

export interface PacedRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface PacedLoad {
  url: string;
  /** Whose RSS to sample during the run (the API's). */
  apiPid: number;
  /** Requests per second, evenly spaced. */
  rate: number;
  seconds: number;
  /** Keep-alive sockets at most; requests due while all are busy wait for one (their wait counts). */
  connections: number;
  /** The i-th request of the run (0-based). */
  request: (i: number) => PacedRequest;
  /** Each answer's latency (ms from its due time), for suites that pool latencies over runs. */
  onLatency?: (ms: number) => void;
  /** An answer slower than this counts as an error (ms; default 60,000). */
  timeoutMs?: number;
}

/** Runs `load` to its end: every request due within `seconds` sent, and answered or failed. */
export function runPaced(load: PacedLoad): Promise<LoadResult> {
  if (!(load.rate > 0) || !(load.seconds > 0) || !(load.connections >= 1)) {
    return Promise.reject(new RangeError('rate, seconds and connections must be positive'));
  }
  const base = new URL(load.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: load.connections });
  const sampler = new RssSampler(load.apiPid);
  const total = Math.max(1, Math.round(load.rate * load.seconds));
  const interval = 1000 / load.rate;
  const latencies: number[] = [];
  let sent = 0;
  let settled = 0;
  let errors = 0;
  const started = performance.now();

  return new Promise<LoadResult>((resolve) => {
    const finish = () => {
      sampler.stop();
      agent.destroy();
      const elapsed = (performance.now() - started) / 1000;
      resolve({
        connections: load.connections,
        seconds: elapsed,
        requests: latencies.length,
        requestsPerSecond: latencies.length / elapsed,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        errors,
        rssMaxMiB: sampler.max(),
      });
    };
    const settle = (due: number, ok: boolean) => {
      if (ok) {
        const ms = performance.now() - due;
        latencies.push(ms);
        load.onLatency?.(ms);
      } else {
        errors++;
      }
      if (++settled === total) finish();
    };
    const send = (i: number, due: number) => {
      const { method, path, headers = {}, body } = load.request(i);
      let done = false;
      const once = (ok: boolean) => {
        if (done) return;
        done = true;
        settle(due, ok);
      };
      const request = http.request(
        {
          host: base.hostname,
          port: base.port,
          method,
          path,
          agent,
          headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
          timeout: load.timeoutMs ?? 60_000,
        },
        (response) => {
          const ok = (response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 300;
          response.on('end', () => once(ok));
          response.on('error', () => once(false));
          response.resume();
        },
      );
      request.on('timeout', () => request.destroy(new Error('timeout')));
      request.on('error', () => once(false));
      request.end(body);
    };
    const tick = () => {
      // Send everything due by now (a late timer catches up), each with its own due time.
      const now = performance.now();
      while (sent < total && started + sent * interval <= now) {
        send(sent, started + sent * interval);
        sent++;
      }
      if (sent < total) setTimeout(tick, Math.max(0, started + sent * interval - performance.now()));
    };
    tick();
  });
}
