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
  log: (message: string) => void;
}
