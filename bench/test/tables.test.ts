import { METHOD, type SizeResult } from '../src/search-methods';
import { README_ITEMS, searchReport } from '../src/search-report';
import { renderTable, tableAtSize } from '../src/tables';
import type { BenchTable } from '../src/types';

/** A search result at `items` whose every method took `ms` (the numbers do not matter here). */
function sizeResult(items: number, ms: number): SizeResult {
  return {
    items,
    publishMs: 1197,
    publishStallMs: 38,
    loadMs: 516,
    loadStallMs: 49,
    timings: Object.values(METHOD).map((method) => ({ method, samples: [ms, ms, ms] })),
    batchQueriesPerSecond: 384.7,
    memoryFloorMs: 12.53,
    sklearn: { p50: 92.05, p99: 100.16, samples: [92.05] },
  };
}

/** The Markdown rows of a rendered table (header and separator left out). */
const bodyRows = (markdown: string) =>
  markdown
    .split('\n')
    .filter((line) => line.startsWith('| '))
    .slice(2);

describe('bench results writer', () => {
  it('a table at one size carries only its own rows, not rows of other tables at that size', () => {
    const latency: BenchTable = {
      title: 'Search latency',
      columns: ['items', 'method', 'p50 ms'],
      rows: [
        [10000, 'bare', 7],
        [50000, 'bare', 36],
        [50000, 'api', 34],
      ],
    };
    const others: BenchTable[] = [
      { title: 'Targets', columns: ['items', 'ratio'], rows: [[50000, '0.93×']] },
      { title: 'Floor', columns: ['items', 'MB'], rows: [[50000, 461]] },
    ];
    const at50k = tableAtSize(latency, 50_000);
    expect(at50k.rows).toEqual([
      [50000, 'bare', 36],
      [50000, 'api', 34],
    ]);
    expect(at50k.columns).toEqual(latency.columns);
    for (const other of others) for (const row of other.rows) expect(at50k.rows).not.toContainEqual(row);
    expect(bodyRows(renderTable(at50k))).toEqual(['| 50000 | bare | 36 |', '| 50000 | api | 34 |']);
  });

  it('refuses to render a row that does not have one cell per column', () => {
    const garbled: BenchTable = {
      title: 'Search latency',
      columns: ['items', 'method', 'p50 ms'],
      rows: [
        [50000, 'bare', 36],
        [50000, 1197, 38, 516, 49],
      ],
    };
    expect(() => renderTable(garbled)).toThrow(/Search latency.*5 cells for 3 columns/);
  });

  it("the search suite's 50k table holds exactly the latency rows at 50k", () => {
    const plan: Array<[number, number]> = [
      [10_000, 30],
      [README_ITEMS, 20],
    ];
    const { tables } = searchReport([sizeResult(10_000, 8), sizeResult(README_ITEMS, 36)], plan);
    const latency = tables.find((t) => t.title.startsWith('Search latency') && !t.title.endsWith('k items'));
    const at50k = tables.find((t) => t.title.endsWith('50k items'));
    expect(latency).toBeDefined();
    expect(at50k?.rows).toEqual(latency?.rows.filter((row) => row[0] === README_ITEMS));
    // Every other table also has a 50000 row; none of those is in the 50k table.
    const others = tables.filter((t) => t !== latency && t !== at50k);
    expect(others.length).toBeGreaterThanOrEqual(3);
    for (const other of others) {
      expect(other.rows.some((row) => row[0] === README_ITEMS)).toBe(true);
      for (const row of other.rows) expect(at50k?.rows).not.toContainEqual(row);
    }
    const rendered = bodyRows(renderTable(at50k!));
    expect(rendered).toHaveLength(at50k!.rows.length);
    expect(rendered.every((line) => line.startsWith('| 50000 | ') && line.split(' | ').length === 6)).toBe(
      true,
    );
    // Every table the suite writes renders (one cell per column everywhere).
    for (const table of tables) expect(() => renderTable(table)).not.toThrow();
  });
});
