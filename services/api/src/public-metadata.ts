import type { Metadata, SearchHit, SnapshotView } from './ports';

/**
 * Metadata keys starting with this are internal: the indexer keeps bookkeeping there (`_source`,
 * where an item's image came from, which may name private hosts or paths). Clients can neither set
 * them (the schemas' key pattern refuses them) nor see them (every snapshot a route gets from
 * `requireSnapshot` leaves them out).
 */
export const INTERNAL_METADATA_PREFIX = '_';

const isInternal = (key: string) => key.startsWith(INTERNAL_METADATA_PREFIX);

/** The metadata without internal keys; the same object when it has none (the common case). */
export function publicMetadata(metadata: Metadata): Metadata {
  if (!Object.keys(metadata).some(isInternal)) return metadata;
  return Object.fromEntries(Object.entries(metadata).filter(([key]) => !isInternal(key)));
}

function publicHits(hits: SearchHit[]): SearchHit[] {
  return hits.map((hit) => {
    const metadata = publicMetadata(hit.metadata);
    return metadata === hit.metadata ? hit : { ...hit, metadata };
  });
}

const views = new WeakMap<SnapshotView, SnapshotView>();

/**
 * The snapshot as clients may see it: `get`, `search`, `searchById`, `searchMany` and `metadataFields` leave
 * internal keys out; everything else passes through untouched. A Proxy rather than a wrapper class,
 * so members added to SnapshotView later keep working (bound to the real snapshot, whose private
 * fields a proxy `this` could not reach). One view per snapshot, cached.
 */
export function publicSnapshot(snapshot: SnapshotView): SnapshotView {
  const cached = views.get(snapshot);
  if (cached) return cached;
  const overrides: Partial<SnapshotView> = {
    get(id) {
      const item = snapshot.get(id);
      if (!item) return item;
      const metadata = publicMetadata(item.metadata);
      return metadata === item.metadata ? item : { ...item, metadata };
    },
    search: (vector, options) => publicHits(snapshot.search(vector, options)),
    searchById: (id, options) => publicHits(snapshot.searchById(id, options)),
    searchMany: (requests) =>
      snapshot
        .searchMany(requests)
        .map((outcome) => ('hits' in outcome ? { hits: publicHits(outcome.hits) } : outcome)),
    metadataFields() {
      const fields = snapshot.metadataFields();
      return Object.fromEntries(Object.entries(fields).filter(([key]) => !isInternal(key)));
    },
  };
  const view = new Proxy(snapshot, {
    get(target, property) {
      if (typeof property === 'string' && Object.hasOwn(overrides, property)) {
        return overrides[property as keyof SnapshotView];
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  views.set(snapshot, view);
  return view;
}
