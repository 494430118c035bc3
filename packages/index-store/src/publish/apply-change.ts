import { yieldToEventLoop } from '../fsutil';
import type { ItemInput, Metadata, StoredItem } from '../types';
import type { NormalizedChange } from './validate-change';

/** Items looked at between yields. */
const YIELD_EVERY = 2_000;

/** What a change is applied to: the current version's items (index order) and attachments. */
export interface ChangeBase {
  readonly count: number;
  has(id: string): boolean;
  itemAt(position: number): StoredItem;
  ids(): Iterable<string>;
  attachmentMap(): ReadonlyMap<string, Uint8Array>;
}

/**
 * The next version's content, and what the change did to the base. Index order of the next version:
 * the base items kept (`kept`, ascending base positions), then `upserts` in change order — an upsert
 * of an existing id replaces it by moving it to the end (its row is a new segment's; see layout.ts).
 */
export interface NextVersion {
  items: StoredItem[];
  /** Base positions carried over unchanged, ascending. */
  kept: Int32Array;
  /** The upserts (new and replacing ones), in change order: items[kept.length + i]. */
  upserts: ItemInput[];
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
 * The next version's items and attachments; null when the change alters nothing. No I/O: it only
 * yields to the event loop now and then, so a large change does not block a serving process.
 * replaceAll publishes exactly the upserts.
 */
export async function applyChange(
  base: ChangeBase | null,
  change: NormalizedChange,
  indexedAt: string,
  /** Something else changes (the projection): never null. */
  force = false,
): Promise<NextVersion | null> {
  const { attachments, changed } = applyAttachments(base?.attachmentMap() ?? new Map(), change.attachments);
  if (
    !force &&
    !change.replaceAll &&
    base &&
    change.upserts.size === 0 &&
    !changed &&
    !change.deletes.some((id) => base.has(id))
  )
    return null;
  const upserts = [...change.upserts.values()];
  const deleted: string[] = [];
  const unknownDeletes: string[] = [];
  const dropped = new Set<string>();
  if (change.replaceAll) {
    if (base) for (const id of base.ids()) if (!change.upserts.has(id)) deleted.push(id);
    // Explicit deletes change nothing more here; those naming no previous item are reported as usual.
    for (const id of change.deletes) if (!base?.has(id)) unknownDeletes.push(id);
  } else {
    for (const id of change.deletes) {
      if (base?.has(id)) {
        deleted.push(id);
        dropped.add(id);
      } else unknownDeletes.push(id);
    }
    for (const id of change.upserts.keys()) dropped.add(id);
  }
  const keptPositions: number[] = [];
  const items: StoredItem[] = [];
  if (base && !change.replaceAll) {
    for (let p = 0; p < base.count; p++) {
      const item = base.itemAt(p);
      if (!dropped.has(item.id)) {
        keptPositions.push(p);
        items.push(item);
      }
      if (p % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
    }
  }
  for (const item of upserts) items.push(storedItem(item, indexedAt));
  return { items, kept: Int32Array.from(keptPositions), upserts, attachments, deleted, unknownDeletes };
}
