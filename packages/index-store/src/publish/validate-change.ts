import { METADATA_LIMITS, isItemSource } from '@lookalike/contracts';
import { LinearProjection } from '@lookalike/projection';
import { sameModel } from '@lookalike/contracts';
import { InvalidChangeError, ProjectionModelMismatchError } from '../errors';
import { ATTACHMENT_NAME, ITEM_ID } from '../format/layout';
import { yieldToEventLoop } from '../fsutil';
import type { ItemInput, ModelIdentity, Snapshot, SnapshotChange } from '../types';

const MAX_METADATA_FIELDS = METADATA_LIMITS.maxFields;
const MAX_METADATA_STRING = METADATA_LIMITS.maxStringLength;
const MAX_CONTENT_HASH = 256;
/** Validation reads every float; at d=1280 this many items take a few milliseconds. */
const VALIDATE_YIELD_EVERY = 2_000;

/** A change after validation: one upsert per id (the last wins), deletes deduplicated. */
export interface NormalizedChange {
  upserts: Map<string, ItemInput>;
  deletes: string[];
  attachments: Map<string, Uint8Array | null>;
  replaceAll: boolean;
  deriveAttachments: SnapshotChange['deriveAttachments'];
  /** Undefined: keep the base's; null: clear; else set (checked against the writer's model). */
  projection: LinearProjection | null | undefined;
  /** The projection id the change replaces (see SnapshotChange.projectionReplaces). */
  projectionReplaces: string | null;
}

export async function validateChange(
  change: SnapshotChange,
  model: ModelIdentity,
): Promise<NormalizedChange> {
  const { dimension } = model;
  if (typeof change !== 'object' || change === null) throw new InvalidChangeError('change must be an object');
  const { upserts, deletes } = change;
  if (!Array.isArray(upserts) || !Array.isArray(deletes))
    throw new InvalidChangeError('change needs upserts and deletes arrays');
  const problems: Array<{ id: unknown; reason: string }> = [];
  const byId = new Map<string, ItemInput>();
  for (const [index, item] of upserts.entries()) {
    if (index % VALIDATE_YIELD_EVERY === VALIDATE_YIELD_EVERY - 1) await yieldToEventLoop();
    const reason = itemProblem(item, dimension);
    if (reason) {
      problems.push({ id: (item as Partial<ItemInput> | null)?.id, reason });
      continue;
    }
    // A later upsert of the same id in one change wins, as it would in two consecutive changes.
    byId.delete(item.id);
    byId.set(item.id, item);
  }
  const deleteIds: string[] = [];
  const seenDeletes = new Set<string>();
  for (const id of deletes) {
    if (typeof id !== 'string') {
      problems.push({ id, reason: 'delete id is not a string' });
      continue;
    }
    if (byId.has(id)) problems.push({ id, reason: 'id is both upserted and deleted in one change' });
    if (!seenDeletes.has(id)) deleteIds.push(id);
    seenDeletes.add(id);
  }
  const attachments = new Map<string, Uint8Array | null>();
  for (const [name, content] of Object.entries(change.attachments ?? {})) {
    if (!ATTACHMENT_NAME.test(name)) problems.push({ id: name, reason: 'invalid attachment name' });
    else if (content !== null && !(content instanceof Uint8Array))
      problems.push({ id: name, reason: 'attachment must be a Uint8Array or null' });
    else attachments.set(name, content);
  }
  const replaceAll = change.replaceAll === true;
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).map((p) => `${JSON.stringify(p.id)}: ${p.reason}`);
    throw new InvalidChangeError(
      `Invalid change (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${shown.join('; ')}`,
      { problems: problems.slice(0, 100) },
    );
  }
  if (change.deriveAttachments !== undefined && typeof change.deriveAttachments !== 'function')
    throw new InvalidChangeError('deriveAttachments must be a function');
  const { projection, projectionReplaces } = change;
  if (projection !== undefined) {
    if (projection !== null && !(projection instanceof LinearProjection))
      throw new InvalidChangeError('projection must be a LinearProjection or null');
    if (
      projectionReplaces === undefined ||
      (projectionReplaces !== null && typeof projectionReplaces !== 'string')
    )
      throw new InvalidChangeError(
        'projectionReplaces (the id of the projection current when this one was fitted, or null) is required with projection',
      );
    if (projection && !sameModel(projection.descriptor.model, model))
      throw new ProjectionModelMismatchError(
        `The projection maps embeddings of model ${projection.descriptor.model.id}; this writer publishes ${model.id}`,
        { projectionModel: projection.descriptor.model, writerModel: model },
      );
  }
  return {
    projection,
    projectionReplaces: projectionReplaces ?? null,
    upserts: byId,
    deletes: deleteIds,
    attachments,
    replaceAll,
    deriveAttachments: change.deriveAttachments,
  };
}

/** The change plus what its deriveAttachments hook computes from `base` (validated like the rest). */
export async function withDerivedAttachments(
  change: NormalizedChange,
  base: Snapshot | null,
): Promise<NormalizedChange> {
  if (!change.deriveAttachments) return change;
  const derived = await change.deriveAttachments(base);
  const attachments = new Map(change.attachments);
  for (const [name, content] of Object.entries(derived)) {
    if (!ATTACHMENT_NAME.test(name))
      throw new InvalidChangeError(`derived attachment name ${name} is invalid`);
    if (content !== null && !(content instanceof Uint8Array))
      throw new InvalidChangeError(`derived attachment ${name} must be a Uint8Array or null`);
    attachments.set(name, content);
  }
  return { ...change, attachments };
}

function itemProblem(item: ItemInput, dimension: number): string | null {
  if (typeof item !== 'object' || item === null) return 'upsert is not an object';
  if (typeof item.id !== 'string' || !ITEM_ID.test(item.id))
    return 'id must be 1-128 characters of [A-Za-z0-9_.:-]';
  if (!(item.vector instanceof Float32Array)) return 'vector must be a Float32Array';
  if (item.vector.length !== dimension)
    return `vector has ${item.vector.length} floats, the model has ${dimension}`;
  for (let j = 0; j < item.vector.length; j++)
    if (!Number.isFinite(item.vector[j])) return 'vector holds a non-finite value';
  if (typeof item.contentHash !== 'string' || item.contentHash.length > MAX_CONTENT_HASH)
    return `contentHash must be a string of at most ${MAX_CONTENT_HASH} characters`;
  if (item.source !== undefined && !isItemSource(item.source))
    return 'source must be one of { imageUrl } / { imagePath } / { blob: sha256 }';
  const metadata: unknown = item.metadata;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
    return 'metadata must be an object';
  const fields = Object.keys(metadata);
  if (fields.length > MAX_METADATA_FIELDS) return `metadata has more than ${MAX_METADATA_FIELDS} fields`;
  for (const field of fields) {
    const value = (metadata as Record<string, unknown>)[field];
    if (field === '' || field.length > 128) return 'metadata field names must be 1-128 characters';
    if (typeof value === 'string') {
      if (value.length > MAX_METADATA_STRING)
        return `metadata ${field} is longer than ${MAX_METADATA_STRING}`;
    } else if (typeof value !== 'number' || !Number.isFinite(value))
      return `metadata ${field} must be a string or a finite number`;
  }
  return null;
}
