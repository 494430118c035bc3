/** What every benchmark suite returns: rows for the README table plus raw numbers for the JSON file. */
export interface BenchTable {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
  notes?: string[];
}

export interface BenchSuite {
  name: string;
  run(context: BenchContext): Promise<{ tables: BenchTable[]; raw: unknown }>;
}

export interface BenchContext {
  repoRoot: string;
  sharedDir: string;
  modelCacheDir: string;
  modelMirror: string | undefined;
  /** Quick mode for smoke runs: fewer samples, smaller sizes. */
  quick: boolean;
  /** Redis for the API processes the HTTP suites start (REDIS_URL). */
  redisUrl: string;
  /** A python3 with scikit-learn to prefer for the seed's method (BENCH_PYTHON). */
  python: string | undefined;
  /** The scale suite's largest flat size (BENCH_SCALE_ITEMS); default: what fits the time budget. */
  scaleItems: number | undefined;
  log: (message: string) => void;
}
