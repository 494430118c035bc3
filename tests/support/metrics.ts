/**
 * The metric naming conventions of both services, checked on a real /metrics text: prom-client's
 * default process_* / nodejs_* metrics under their standard names (those include a few gauges named
 * `…_total`, e.g. nodejs_active_handles_total, which dashboards query as they are), every other
 * metric prefixed `lookalike_`, its counters ending in `_total` and its gauges never.
 */
export const PRODUCT_METRIC_PREFIX = 'lookalike_';
/** Default collectors' names that stock Node dashboards query. */
export const STANDARD_DEFAULT_METRICS = [
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'process_start_time_seconds',
  'nodejs_eventloop_lag_seconds',
  'nodejs_heap_size_used_bytes',
  'nodejs_gc_duration_seconds',
  'nodejs_version_info',
];
const DEFAULT_METRIC = /^(process|nodejs)_/;

/** Metric name → type, from the `# TYPE name type` lines of an exposition. */
export function metricTypes(text: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (match) types.set(match[1]!, match[2]!);
  }
  return types;
}

/** Every breach of the conventions, as `name (type): why`; empty when there is none. */
export function metricConventionViolations(types: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const [name, type] of types) {
    const where = `${name} (${type})`;
    if (!DEFAULT_METRIC.test(name) && !name.startsWith(PRODUCT_METRIC_PREFIX)) {
      problems.push(`${where}: product metrics start with ${PRODUCT_METRIC_PREFIX}`);
    }
    if (
      name.startsWith(`${PRODUCT_METRIC_PREFIX}api_process`) ||
      name.startsWith(`${PRODUCT_METRIC_PREFIX}api_nodejs`)
    ) {
      problems.push(`${where}: default metrics keep their standard names`);
    }
    if (DEFAULT_METRIC.test(name)) continue;
    if (type === 'gauge' && name.endsWith('_total'))
      problems.push(`${where}: a gauge must not end in _total`);
    if (type === 'counter' && !name.endsWith('_total')) problems.push(`${where}: a counter ends in _total`);
  }
  return problems;
}
