import { sameModel, type ItemSource } from '@lookalike/contracts';
import { SnapshotReader, type Snapshot } from '@lookalike/index-store';
import {
  DEFAULT_PROJECTION_MIN_ITEMS,
  DEFAULT_PROJECTION_REFIT_FRACTION,
  decideProjection,
  parseIndexProjection,
} from '@lookalike/projection';
import { DEFAULT_RANKING_CONFIG, refitDue } from '@lookalike/ranking';
import { pollUntil } from './poll';
import type { ServiceProcess } from './processes';

export interface PublishedState {
  version: number;
  count: number;
  model: { id: string; sha256: string; dimension: number };
  ids: string[];
  metadataOf(id: string): Record<string, string | number> | undefined;
  /** Where the indexer can find the item's image again (its own field, never in the metadata). */
  sourceOf(id: string): ItemSource | undefined;
}

/** Opens the newest published snapshot in `dataDir` with the real reader (as the API does); null if none. */
export async function readPublished(dataDir: string): Promise<PublishedState | null> {
  const reader = await SnapshotReader.open({ dataDir, pollIntervalMs: 60_000 });
  try {
    const snapshot = reader.current();
    if (!snapshot) return null;
    return {
      version: snapshot.version,
      count: snapshot.count,
      model: { ...snapshot.model },
      ids: [...snapshot.ids()],
      metadataOf: (id) => snapshot.get(id)?.metadata,
      sourceOf: (id) => snapshot.get(id)?.source,
    };
  } finally {
    await reader.close();
  }
}

/** Asserts-by-return: which expected ids are missing, which ids appear more than once, which are extra. */
export function diffIds(
  actual: string[],
  expected: Iterable<string>,
): { missing: string[]; duplicates: string[]; extra: string[] } {
  const seen = new Map<string, number>();
  for (const id of actual) seen.set(id, (seen.get(id) ?? 0) + 1);
  const expectedSet = new Set(expected);
  return {
    missing: [...expectedSet].filter((id) => !seen.has(id)),
    duplicates: [...seen].filter(([, n]) => n > 1).map(([id]) => id),
    extra: [...seen.keys()].filter((id) => !expectedSet.has(id)),
  };
}

const FIT_ENDS = [
  'ranking model fitted and published',
  'ranking fit superseded by a newer one; not published',
  'ranking fit superseded by a new served space; fitting again',
  'ranking fit failed; the previous ranking stays',
];
const PROJECTION_FIT_ENDS = [
  'projection fit published',
  'projection fit superseded: another projection was published meanwhile; checking again',
  'projection check failed; the served projection stays',
];

/** Whether the indexer's projection policy (default settings) would fit or clear on `snapshot`. */
function projectionDue(snapshot: Snapshot): boolean {
  const projection = snapshot.projection;
  let indexedSinceFit = 0;
  if (projection)
    for (const id of snapshot.ids())
      if ((snapshot.get(id)?.indexedAt ?? '') > projection.fittedAt) indexedSinceFit++;
  const decision = decideProjection(
    {
      count: snapshot.count,
      projection,
      indexedSinceFit,
      projectionModelCurrent: projection ? sameModel(projection.model, snapshot.model) : true,
    },
    {
      spec: parseIndexProjection('auto'),
      minItems: DEFAULT_PROJECTION_MIN_ITEMS,
      refitFraction: DEFAULT_PROJECTION_REFIT_FRACTION,
    },
  );
  return decision.action !== 'keep';
}

/**
 * Waits until the indexers' learned ranking and projection are at rest (indexers with the default
 * projection settings): no fit running (each 'ranking fit started' / 'projection fit started' has
 * ended) and none due on the newest snapshot (fits start only after a publish). A catalogue publish is
 * followed by a fit in the background, which publishes a version of its own; a test that compares
 * versions before and after something must start from rest.
 */
export async function rankingAtRest(indexers: ServiceProcess[], dataDir: string): Promise<number> {
  return pollUntil(
    async () => {
      const lines = indexers.flatMap((indexer) => indexer.logs);
      const started = lines.filter((line) => line.msg === 'ranking fit started').length;
      const ended = lines.filter((line) => FIT_ENDS.includes(line.msg ?? '')).length;
      if (started > ended) return undefined;
      const projectionStarted = lines.filter((line) => line.msg === 'projection fit started').length;
      const projectionEnded = lines.filter((line) => PROJECTION_FIT_ENDS.includes(line.msg ?? '')).length;
      if (projectionStarted > projectionEnded) return undefined;
      const reader = await SnapshotReader.open({ dataDir, pollIntervalMs: 60_000 });
      try {
        const snapshot = reader.current();
        return snapshot && refitDue(snapshot, DEFAULT_RANKING_CONFIG) === null && !projectionDue(snapshot)
          ? snapshot.version
          : undefined;
      } finally {
        await reader.close();
      }
    },
    { timeoutMs: 120_000, intervalMs: 500, description: 'the learned ranking and projection at rest' },
  );
}
