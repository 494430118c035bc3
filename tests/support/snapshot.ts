import { SnapshotReader } from '@lookalike/index-store';

export interface PublishedState {
  version: number;
  count: number;
  model: { id: string; sha256: string; dimension: number };
  ids: string[];
  metadataOf(id: string): Record<string, string | number> | undefined;
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
