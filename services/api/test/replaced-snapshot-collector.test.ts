import { ReplacedSnapshotCollector, exposeMajorGc, type MajorGc } from '../src/replaced-snapshot-collector';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ReplacedSnapshotCollector', () => {
  test('a pair of concurrent major GCs after the last of several quick swaps, once the delay has passed', async () => {
    const calls: unknown[] = [];
    const collector = new ReplacedSnapshotCollector((options) => calls.push(options), 60);
    collector.swapped();
    await sleep(20);
    collector.swapped();
    collector.swapped();
    await sleep(30);
    expect(calls).toEqual([]); // requests on the replaced snapshot get their time first
    await sleep(50);
    expect(calls).toEqual([{ type: 'major', execution: 'async' }]);
    await sleep(60);
    expect(calls).toEqual([
      { type: 'major', execution: 'async' },
      { type: 'major', execution: 'async' },
    ]);
    collector.swapped();
    collector.close();
    await sleep(150);
    expect(calls).toHaveLength(2);
  });

  test('V8 exposes a collector that reclaims an unreachable large buffer', async () => {
    const gc = exposeMajorGc() as MajorGc;
    expect(typeof gc).toBe('function');
    let freed = false;
    const registry = new FinalizationRegistry(() => (freed = true));
    (() => {
      const big = new Float32Array(16 * 2 ** 20);
      big.fill(1);
      registry.register(big, 'big');
    })();
    await gc({ type: 'major', execution: 'async' });
    for (let i = 0; i < 50 && !freed; i++) {
      await sleep(20);
      if (!freed) await gc({ type: 'major', execution: 'async' });
    }
    expect(freed).toBe(true);
  });
});
