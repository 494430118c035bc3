import { embedderSuite } from './embedder';
import { eventsSuite } from './events';
import { indexerSuite } from './indexer';
import { memorySuite } from './memory';
import { publishSuite } from './publish';
import { httpSuite } from './http';
import { reloadSuite } from './reload';
import { scaleSuite } from './scale';
import { searchSuite } from './search';
import { rankingSuite } from './ranking';
import type { BenchSuite } from './types';

/** Suites in the order `pnpm bench` runs them; `pnpm bench <name>` runs one. */
export const suites: BenchSuite[] = [
  embedderSuite,
  searchSuite,
  httpSuite,
  reloadSuite,
  scaleSuite,
  memorySuite,
  publishSuite,
  indexerSuite,
  rankingSuite,
  eventsSuite,
];
