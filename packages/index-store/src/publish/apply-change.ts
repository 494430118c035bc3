import { yieldToEventLoop } from '../fsutil';
import type { ItemInput, Metadata, StoredItem } from '../types';
import type { NormalizedChange } from './validate-change';

/** Items copied between yields (at d=1280, ~10 MB of vectors: a few milliseconds). */
const YIELD_EVERY = 2_000;

/** What a change is applied to: the current version's items (index order), vectors and attachments. */
export interface ChangeBase {
  readonly count: number;
  /** count × dimension floats, index order. */
  readonly vectors: Float32Array;
  has(id: string): boolean;
  itemAt(position: number): StoredItem;
  ids(): Iterable<string>;
  attachmentMap(): ReadonlyMap<string, Uint8Array>;
}

/** The next version's content, and what the change did to the base. */
export interface NextVersion {
  items: StoredItem[];
  vectors: Float32Array;
  attachments: Map<string, Uint8Array>;
  deleted: string[];
  unknownDeletes: string[];
}

/** An upsert as it is stored: frozen, stamped with the publish time, without its vector. */
export function storedItem(item: ItemInput, indexedAt: string): StoredItem {
  return Object.freeze({
    id: item.id,
    metadata: Object.freeze({ ...item.metadata }) as Metadata,
    contentHash: item.contentHash,
    indexedAt,
    ...(item.source ? { source: Object.freeze({ ...item.source }) } : {}),
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/**
 * The base's attachments with the change's set (copied) or removed (null). `changed`: some attachment
 * now differs from the base. Setting the bytes it already has, or removing one it lacks, is no change:
 * derived attachments (the learned ranking's item features) are recomputed for every change and come
 * out identical when the items did not change, and must not make a version of their own.
 */
export function applyAttachments(
  base: ReadonlyMap<string, Uint8Array>,
  changes: ReadonlyMap<string, Uint8Array | null>,
): { attachments: Map<string, Uint8Array>; changed: boolean } {
  const attachments = new Map(base);
  let changed = false;
  for (const [name, content] of changes) {
    const before = base.get(name);
    if (content === null) {
      attachments.delete(name);
      if (before !== undefined) changed = true;
    } else {
      attachments.set(name, content.slice());
      if (before === undefined || !sameBytes(before, content)) changed = true;
    }
  }
  return { attachments, changed };
}

/**
 * The next version's items, vectors and attachments; null when the change alters nothing. No I/O:
 * it only yields to the event loop now and then, so a large change does not block a serving process.
 * An upsert of an existing id replaces it in place; new ids are appended in change order; replaceAll
 * publishes exactly the upserts.
 */
export async function applyChange(
  base: ChangeBase | null,
  change: NormalizedChange,
  dimension: number,
  indexedAt: string,
): Promise<NextVersion | null> {
  const { attachments, changed } = applyAttachments(base?.attachmentMap() ?? new Map(), change.attachments);
  if (change.replaceAll) return { ...(await replaceAll(base, change, dimension, indexedAt)), attachments };
  if (base && change.upserts.size === 0 && !changed && !change.deletes.some((id) => base.has(id)))
    return null;
  return { ...(await upsertAndDelete(base, change, dimension, indexedAt)), attachments };
}

/** replaceAll: exactly the upserts, in change order; every base item not upserted is deleted. */
export async function replaceAll(
  base: ChangeBase | null,
  change: NormalizedChange,
  dimension: number,
  indexedAt: string,
): Promise<Omit<NextVersion, 'attachments'>> {
  const upserts = [...change.upserts.values()];
  const vectors = new Float32Array(upserts.length * dimension);
  for (const [i, item] of upserts.entries()) {
    vectors.set(item.vector, i * dimension);
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
  }
  const deleted = base ? [...base.ids()].filter((id) => !change.upserts.has(id)) : [];
  // Explicit deletes change nothing more here; those naming no previous item are reported as usual.
  const unknownDeletes = change.deletes.filter((id) => !base?.has(id));
  return { items: upserts.map((item) => storedItem(item, indexedAt)), vectors, deleted, unknownDeletes };
}

/** The base minus the deletes, upserts of known ids replaced in place, new ones appended. */
export async function upsertAndDelete(
  base: ChangeBase | null,
  change: NormalizedChange,
  dimension: number,
  indexedAt: string,
): Promise<Omit<NextVersion, 'attachments'>> {
  const deleted: string[] = [];
  const unknownDeletes: string[] = [];
  const deleteSet = new Set<string>();
  for (const id of change.deletes) {
    if (base?.has(id)) {
      deleted.push(id);
      deleteSet.add(id);
    } else unknownDeletes.push(id);
  }
  const baseCount = base?.count ?? 0;
  let added = 0;
  for (const id of change.upserts.keys()) if (!base?.has(id)) added++;
  const count = baseCount - deleteSet.size + added;
  const items: StoredItem[] = new Array<StoredItem>(count);
  const vectors = new Float32Array(count * dimension);
  let position = 0;
  for (let p = 0; p < baseCount && base; p++) {
    const item = base.itemAt(p);
    if (deleteSet.has(item.id)) continue;
    const replacement = change.upserts.get(item.id);
    if (replacement) {
      items[position] = storedItem(replacement, indexedAt);
      vectors.set(replacement.vector, position * dimension);
    } else {
      items[position] = item;
      vectors.set(base.vectors.subarray(p * dimension, (p + 1) * dimension), position * dimension);
    }
    position++;
    if (p % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
  }
  for (const item of change.upserts.values()) {
    if (base?.has(item.id)) continue;
    items[position] = storedItem(item, indexedAt);
    vectors.set(item.vector, position * dimension);
    position++;
    if (position % YIELD_EVERY === 0) await yieldToEventLoop();
  }
  return { items, vectors, deleted, unknownDeletes };
}
