import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { parseMajorGcs } from '../src/gc';

/** A full (major) collection of this process's heap, as the API's mark-compacts are. */
function forceMajorGc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('the events bench reads the API major GCs from prom-client exposition', () => {
  it('counts the major GCs of a real registry, and their pause time', async () => {
    // The API's /metrics is prom-client's default metrics (services/api plugins/metrics.ts).
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const before = parseMajorGcs(await registry.metrics());
    // Two in one turn: their entries arrive together (patches/prom-client@15.1.3.patch counts both).
    forceMajorGc();
    forceMajorGc();
    // The gc histogram observes PerformanceObserver 'gc' entries, which arrive asynchronously.
    let after = before;
    for (let wait = 0; wait < 40 && after.count < before.count + 2; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = parseMajorGcs(await registry.metrics());
    }
    expect(after.count).toBeGreaterThanOrEqual(before.count + 2);
    expect(after.ms).toBeGreaterThan(before.ms);
    registry.clear();
  });

  it('reads no major GC as zero, and ignores the other kinds', () => {
    const exposition = [
      '# TYPE nodejs_gc_duration_seconds histogram',
      'nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 40',
      'nodejs_gc_duration_seconds_sum{kind="minor"} 0.031',
      'nodejs_gc_duration_seconds_count{kind="minor"} 41',
    ].join('\n');
    expect(parseMajorGcs(exposition)).toEqual({ count: 0, ms: 0 });
    const withMajor = `${exposition}\nnodejs_gc_duration_seconds_sum{kind="major"} 0.0125\nnodejs_gc_duration_seconds_count{kind="major"} 3\n`;
    expect(parseMajorGcs(withMajor)).toEqual({ count: 3, ms: 12.5 });
  });
});
