import type { ItemSource } from '@lookalike/contracts';
import { SnapshotReader } from '@lookalike/index-store';
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
  'ranking fit failed; the previous ranking stays',
];

/**
 * Waits until the indexers' learned ranking is at rest: no fit running (each 'ranking fit started' has
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
      const reader = await SnapshotReader.open({ dataDir, pollIntervalMs: 60_000 });
      try {
        const snapshot = reader.current();
        return snapshot && refitDue(snapshot, DEFAULT_RANKING_CONFIG) === null ? snapshot.version : undefined;
      } finally {
        await reader.close();
      }
    },
    { timeoutMs: 120_000, intervalMs: 500, description: 'the learned ranking at rest' },
  );
}
