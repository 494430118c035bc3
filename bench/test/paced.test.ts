import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runPaced } from '../src/paced';

/** A real HTTP server on loopback: records when each request arrived, answers per `answer`. */
async function serve(answer: (n: number, response: http.ServerResponse) => void) {
  const arrivals: number[] = [];
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      arrivals.push(performance.now());
      answer(arrivals.length - 1, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const ok = (_n: number, response: http.ServerResponse) => response.end('{}');

describe('runPaced (open-loop load at a fixed rate)', () => {
  it('sends rate × seconds requests evenly over the run, not in a burst each second', async () => {
    const server = await serve(ok);
    try {
      const result = await runPaced({
        url: server.url,
        apiPid: process.pid,
        rate: 100,
        seconds: 1,
        connections: 4,
        request: (i) => ({ method: 'POST', path: '/x', body: JSON.stringify({ i }) }),
      });
      expect(result.requests).toBe(100);
      expect(result.errors).toBe(0);
      const first = server.arrivals[0] as number;
      const span = (server.arrivals[99] as number) - first;
      expect(span).toBeGreaterThan(900);
      // Autocannon's overallRate would send all 100 within the first tens of ms.
      const inFirstTenth = server.arrivals.filter((t) => t - first < 100).length;
      expect(inFirstTenth).toBeLessThanOrEqual(15);
    } finally {
      await server.close();
    }
  });

  it('counts a stall in every request due while it lasted, timed from its due time', async () => {
    // One socket; the 11th answer (due at 100 ms) takes 200 ms: the requests due at 110…290 ms wait.
    const server = await serve((n, response) => {
      if (n === 10) setTimeout(() => response.end('{}'), 200);
      else response.end('{}');
    });
    try {
      const latencies: number[] = [];
      const result = await runPaced({
        url: server.url,
        apiPid: process.pid,
        rate: 100,
        seconds: 0.5,
        connections: 1,
        request: () => ({ method: 'GET', path: '/' }),
        onLatency: (ms) => latencies.push(ms),
      });
      expect(result.requests).toBe(50);
      expect(latencies).toHaveLength(50);
      // The stalled one and the ~10 due in its first 100 ms; a closed-loop timer would see one.
      expect(latencies.filter((ms) => ms >= 100).length).toBeGreaterThanOrEqual(10);
      expect(result.p99).toBeGreaterThanOrEqual(190);
    } finally {
      await server.close();
    }
  });

  it('counts non-2xx answers and timeouts as errors, not as latencies', async () => {
    const server = await serve((n, response) => {
      if (n % 5 === 0) {
        response.statusCode = 503;
        response.end('{}');
      } else if (n === 7) {
        // never answered: the client's timeout ends it
      } else {
        response.end('{}');
      }
    });
    try {
      const result = await runPaced({
        url: server.url,
        apiPid: process.pid,
        rate: 50,
        seconds: 0.4,
        connections: 4,
        timeoutMs: 300,
        request: () => ({ method: 'GET', path: '/' }),
      });
      expect(result.errors).toBe(5);
      expect(result.requests).toBe(15);
    } finally {
      await server.close();
    }
  });

  it('refuses a rate, duration or connection count that is not positive', async () => {
    const load = {
      url: 'http://127.0.0.1:9',
      apiPid: process.pid,
      request: () => ({ method: 'GET' as const, path: '/' }),
    };
    await expect(runPaced({ ...load, rate: 0, seconds: 1, connections: 1 })).rejects.toThrow(RangeError);
    await expect(runPaced({ ...load, rate: 10, seconds: 0, connections: 1 })).rejects.toThrow(RangeError);
    await expect(runPaced({ ...load, rate: 10, seconds: 1, connections: 0 })).rejects.toThrow(RangeError);
  });
});
