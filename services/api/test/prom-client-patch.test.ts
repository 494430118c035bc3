/**
 * patches/prom-client@15.1.3.patch: prom-client's GC histogram (`nodejs_gc_duration_seconds`, on the
 * API's /metrics) observed only the first entry of each list its PerformanceObserver received. Node
 * delivers the GC entries of one event-loop turn together, so a mark-compact right after a scavenge
 * went uncounted (the events bench reads the API's major GCs from this histogram). The patch counts
 * every entry. Two forced full collections in one turn: both are counted (unpatched: one).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry, collectDefaultMetrics } from 'prom-client';

/** Count of `nodejs_gc_duration_seconds` observations of `kind` in the registry's exposition. */
async function gcCount(registry: Registry, kind: string): Promise<number> {
  const line = (await registry.metrics())
    .split('\n')
    .find((l) => l.startsWith(`nodejs_gc_duration_seconds_count{kind="${kind}"} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

describe('prom-client patch: every GC is counted', () => {
  it('counts two full collections made in one event-loop turn', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    // Entries of GCs before the observer existed are not replayed; let any in flight arrive.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = await gcCount(registry, 'major');
    gc();
    gc();
    let after = before;
    for (let wait = 0; wait < 40 && after < before + 2; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await gcCount(registry, 'major');
    }
    expect(after).toBeGreaterThanOrEqual(before + 2);
    registry.clear();
  });
});
