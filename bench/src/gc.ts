/** The API's main-thread major GCs so far: count and total pause (ms). */
export interface MajorGcs {
  count: number;
  ms: number;
}

/**
 * Reads the API's major GCs from its /metrics (prom-client's nodejs_gc_duration_seconds, kind
 * "major": mark-compacts of the main thread's heap, whose pauses stop every query in flight).
 */
export function parseMajorGcs(exposition: string): MajorGcs {
  const value = (series: string) => {
    const line = exposition.split('\n').find((l) => l.startsWith(`${series}{kind="major"} `));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  return {
    count: value('nodejs_gc_duration_seconds_count'),
    ms: value('nodejs_gc_duration_seconds_sum') * 1000,
  };
}

export async function majorGcsOf(apiUrl: string): Promise<MajorGcs> {
  const response = await fetch(`${apiUrl}/metrics`);
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}`);
  return parseMajorGcs(await response.text());
}
